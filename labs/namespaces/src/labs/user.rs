//! `ns-user`: a user namespace made by an unprivileged user. The child waits while the parent
//! writes its uid_map and gid_map; then it is root inside and an ordinary uid outside, with a
//! full CapEff that counts only for what its user namespace owns: it may rename its own UTS
//! namespace but cannot read a file only the host's root may read.
//!
//! Run as root, the lab drops the child to nobody (65534) before it unshares, so the namespace
//! is made by an unprivileged user; run as an ordinary user, it needs no root at all.

use super::{alive, link, listed};
use crate::spawn::{NsChild, Pending, Spawner, Stdio};
use crate::userns::UsernsPolicy;
use anyhow::Context;
use labkit::probe::NsId;
use labkit::sys;
use labkit::{tr, Ctx, Fact, Failure, Observation, Undo, Walkthrough};
use nix::sched::CloneFlags;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-user",
    source: file!(),
    steps: &[
        ("policy", policy),
        ("waiting-child", waiting_child),
        ("maps", maps),
        ("capabilities", capabilities),
        ("can-and-cannot", can_and_cannot),
        ("cleanup", cleanup),
    ],
    check,
};

const NOBODY: u32 = 65534;
const HOSTNAME: &str = "labctl-userns";

/// What root inside does, writing what it saw into $1 (a directory it may write); $2 is the
/// file only the host's root may read. Then it stays, so we can look at it from outside.
const SCRIPT: &str = r#"out=$1 secret=$2
cat /proc/self/status > "$out/status"
cat /proc/sys/kernel/hostname > "$out/hostname"
stat -c '%u %g %a' "$secret" > "$out/secret.stat" 2>&1
cat "$secret" > /dev/null 2> "$out/secret.err"; echo $? > "$out/secret.rc"
exec sleep infinity"#;

#[derive(Default)]
pub struct State {
    dir: Option<PathBuf>,
    secret: Option<PathBuf>,
    ids: (u32, u32),
    pending: Option<Pending>,
    child: Option<NsChild>,
    userns: Option<NsId>,
}

impl State {
    fn out(&self) -> anyhow::Result<PathBuf> {
        Ok(self.dir.as_ref().context("step waiting-child did not run")?.join("out"))
    }

    fn child(&self) -> anyhow::Result<&NsChild> {
        self.child.as_ref().context("the child of step maps is not running")
    }
}

/// Capability names by bit number (linux/capability.h).
const CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The capability names of a CapEff hex mask.
fn decode_caps(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| CAPS.get(bit).map(|s| s.to_string()).unwrap_or_else(|| format!("cap_{bit}")))
        .collect()
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn policy_values(ctx: &Ctx, p: &UsernsPolicy) -> Vec<(String, Fact)> {
    // Which of these sysctls exist depends on the kernel: all of it is a property of the machine.
    let show =
        |v: Option<u64>| Fact::Host(v.map(|n| n.to_string()).unwrap_or_else(|| ctx.t(&tr!("(absent)", "（不存在）"))));
    vec![
        ("user.max_user_namespaces".into(), show(p.max_user_namespaces)),
        ("kernel.unprivileged_userns_clone".into(), show(p.unprivileged_userns_clone)),
        ("kernel.apparmor_restrict_unprivileged_userns".into(), show(p.apparmor_restrict_unprivileged_userns)),
    ]
}

fn policy(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let p = UsernsPolicy::current();
    ctx.observe(Observation::Values {
        title: tr!("The switches that may forbid user namespaces:", "可能禁止 user namespace 的几个开关："),
        values: policy_values(ctx, &p),
    });
    state.ids = if sys::is_root() {
        (NOBODY, NOBODY)
    } else {
        (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
    };
    ctx.observe(Observation::Values {
        title: tr!("Who will create the user namespace:", "由谁来创建 user namespace："),
        values: vec![
            ("uid".into(), Fact::Number(state.ids.0.into())),
            ("gid".into(), Fact::Number(state.ids.1.into())),
        ],
    });
    ctx.set("uid", Fact::Number(state.ids.0.into()));
    let blocker = p.unprivileged_blocker();
    let hint = blocker.clone().unwrap_or_default();
    ctx.expect(
        tr!("nothing forbids an unprivileged user namespace", "没有任何东西禁止非特权 user namespace"),
        ctx.t(&tr!("nothing blocks", "没有任何阻止")),
        if blocker.is_some() { ctx.word("blocked") } else { ctx.t(&tr!("nothing blocks", "没有任何阻止")) },
        blocker.is_none(),
        labkit::Text::new(hint.clone(), hint),
    );
    Ok(())
}

/// The demo directory: out/ for what the child reports (writable by the child's uid) and, as
/// root, a file only root may read.
fn prepare(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let dir = labkit::paths::run_dir().join("ns-user");
    std::fs::create_dir_all(labkit::paths::run_dir())?;
    ctx.create(Undo::RemoveDir { path: dir.clone() }, || std::fs::create_dir(&dir))
        .with_context(|| format!("creating {} (left by an earlier run? labctl clean)", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let out = dir.join("out");
    std::fs::create_dir(&out)?;
    let secret = if sys::is_root() {
        std::os::unix::fs::chown(&out, Some(state.ids.0), Some(state.ids.1))?;
        let secret = dir.join("secret");
        std::fs::write(&secret, "only the host's root may read this\n")?;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
        secret
    } else {
        // We cannot make a root-owned file without root: use one the system has.
        PathBuf::from("/etc/shadow")
    };
    state.dir = Some(dir);
    state.secret = Some(secret);
    Ok(())
}

fn waiting_child(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    prepare(ctx, state)?;
    let (uid, gid) = state.ids;
    let mut spawner = Spawner::new(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWUTS)
        .hostname(HOSTNAME)
        .map_root(uid, gid)
        .deny_setgroups(true)
        .stdio(Stdio::Null)
        .kill_with_parent(true);
    if sys::is_root() {
        spawner = spawner.as_user(uid, gid);
    }
    let out = state.out()?;
    let secret = state.secret.clone().context("no secret file")?;
    let argv: Vec<OsString> =
        vec!["sh".into(), "-c".into(), SCRIPT.into(), "sh".into(), out.into_os_string(), secret.into_os_string()];
    let pending = spawner.start(&argv).context("creating the user namespace")?;
    ctx.register(pending.child().undo());
    let pid = pending.pid();
    let ours = link(None, "user")?;
    let theirs = link(Some(pid), "user")?;
    let uid_map = read(Path::new(&format!("/proc/{pid}/uid_map")))?;
    let status = read(Path::new(&format!("/proc/{pid}/status")))?;
    ctx.observe(Observation::ns_link(None, &ours));
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::Values {
        title: tr!("The child, waiting for its maps, seen from outside:", "等待映射的子进程，从外面看："),
        values: vec![
            (
                "/proc/PID/uid_map".into(),
                Fact::text(if uid_map.trim().is_empty() {
                    ctx.t(&tr!("(empty)", "空"))
                } else {
                    uid_map.trim().to_string()
                }),
            ),
            (
                ctx.t(&tr!("Uid (real, effective, saved, fs)", "Uid（真实、有效、保存、文件系统）")),
                Fact::text(field(&status, "Uid:")),
            ),
        ],
    });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.expect(
        tr!("the child is in a new user namespace", "子进程位于新的 user namespace"),
        ctx.word("a different inode"),
        Fact::Inode(theirs.inode),
        theirs != ours,
        tr!("unshare(CLONE_NEWUSER) did not take effect", "unshare(CLONE_NEWUSER) 没有生效"),
    );
    ctx.expect_eq(
        tr!("its uid_map is still empty", "它的 uid_map 还是空的"),
        ctx.t(&tr!("(empty)", "空")),
        if uid_map.trim().is_empty() { ctx.t(&tr!("(empty)", "空")) } else { uid_map.trim().to_string() },
        tr!("the parent has not written it yet", "父进程还没有写入"),
    );
    state.userns = Some(theirs);
    state.pending = Some(pending);
    Ok(())
}

fn maps(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pending = state.pending.take().context("the child of step waiting-child is not waiting")?;
    let child = pending.finish().context("writing the maps")?;
    let pid = child.pid;
    labkit::process::wait_for_exec(pid, "sleep");
    state.child = Some(child);
    let out = state.out()?;
    let uid_map = read(Path::new(&format!("/proc/{pid}/uid_map")))?;
    let gid_map = read(Path::new(&format!("/proc/{pid}/gid_map")))?;
    let setgroups = read(Path::new(&format!("/proc/{pid}/setgroups")))?;
    let outside = read(Path::new(&format!("/proc/{pid}/status")))?;
    let inside = read(&out.join("status")).context("the child did not report (its script failed?)")?;
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    ctx.observe(Observation::Values {
        title: tr!("What the parent wrote (read back from /proc/PID):", "父进程写入的内容（从 /proc/PID 读回）："),
        values: vec![
            ("uid_map".into(), Fact::text(norm(&uid_map))),
            ("gid_map".into(), Fact::text(norm(&gid_map))),
            ("setgroups".into(), Fact::text(setgroups.trim())),
        ],
    });
    ctx.observe(Observation::Table {
        title: tr!("/proc/PID/status, read from both sides:", "从两边读取 /proc/PID/status："),
        columns: ["", "Uid", "Gid"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                Fact::text(ctx.t(&tr!("inside", "里面"))),
                Fact::text(field(&inside, "Uid:")),
                Fact::text(field(&inside, "Gid:")),
            ],
            vec![
                Fact::text(ctx.t(&tr!("outside", "外面"))),
                Fact::text(field(&outside, "Uid:")),
                Fact::text(field(&outside, "Gid:")),
            ],
        ],
    });
    let (uid, _) = state.ids;
    ctx.set("uid", Fact::Number(uid.into()));
    ctx.set("setgroups", Fact::text(setgroups.trim()));
    ctx.expect_eq(
        tr!("uid_map maps root inside to our uid outside", "uid_map 把里面的 root 映射到外面我们的 uid"),
        format!("0 {uid} 1"),
        norm(&uid_map),
        tr!("an unprivileged writer may map only its own uid", "非特权的写入者只能映射自己的 uid"),
    );
    ctx.expect_eq(
        tr!("setgroups was denied before gid_map", "写 gid_map 之前 setgroups 已被禁止"),
        "deny",
        setgroups.trim(),
        tr!(
            "an unprivileged writer must deny setgroups before it may write gid_map",
            "非特权写入者必须先禁止 setgroups，才能写 gid_map"
        ),
    );
    ctx.expect_eq(
        tr!("inside, the process is root", "在里面，进程是 root"),
        "0 0 0 0",
        field(&inside, "Uid:"),
        tr!("uid 0 inside maps to our uid", "里面的 uid 0 映射到我们的 uid"),
    );
    ctx.expect_eq(
        tr!("outside, the same process is an ordinary uid", "在外面，同一个进程是普通 uid"),
        format!("{uid} {uid} {uid} {uid}"),
        field(&outside, "Uid:"),
        tr!("the kernel translates uids for each reader", "内核按读取者翻译 uid"),
    );
    ctx.explore_in(pid);
    Ok(())
}

fn capabilities(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.child()?.pid;
    let outside = read(Path::new(&format!("/proc/{pid}/status")))?;
    let inside = read(&state.out()?.join("status"))?;
    let last: usize = read(Path::new("/proc/sys/kernel/cap_last_cap"))?.trim().parse().unwrap_or(40);
    let cap_eff = field(&inside, "CapEff:");
    let names = decode_caps(&cap_eff);
    let key = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID", "CAP_DAC_OVERRIDE", "CAP_SYS_MODULE"];
    let mut values = vec![
        (ctx.t(&tr!("CapEff inside", "里面的 CapEff")), Fact::Host(cap_eff.clone())),
        (ctx.t(&tr!("CapEff read from outside", "从外面读到的 CapEff")), Fact::Host(field(&outside, "CapEff:"))),
        (ctx.t(&tr!("capabilities set", "置位的 capability 数")), Fact::Measured(names.len().to_string())),
    ];
    for k in key {
        values.push((k.into(), Fact::text(ctx.word(if names.iter().any(|n| n == k) { "yes" } else { "no" }))));
    }
    ctx.observe(Observation::Values {
        title: tr!("Root's capabilities inside, decoded:", "里面 root 的 capability，解码后："),
        values,
    });
    ctx.expect(
        tr!("root inside has every capability", "里面的 root 拥有全部 capability"),
        ctx.t(&tr!("all of 0..cap_last_cap", "0..cap_last_cap 全部")),
        Fact::Measured(names.len().to_string()),
        names.len() == last + 1,
        tr!(
            "a new user namespace gives its first process a full set (AppArmor may restrict it)",
            "新 user namespace 的第一个进程会得到全套 capability（AppArmor 可能会限制）"
        ),
    );
    ctx.expect_eq(
        tr!("outside shows the same bits", "从外面看是同样的位"),
        Fact::Host(cap_eff.clone()),
        Fact::Host(field(&outside, "CapEff:")),
        tr!(
            "capabilities are not translated, they are relative to the process's user namespace",
            "capability 不做翻译，它们相对于进程自己的 user namespace"
        ),
    );
    Ok(())
}

fn can_and_cannot(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let out = state.out()?;
    let secret = state.secret.clone().context("no secret file")?;
    let inside_host = read(&out.join("hostname"))?.trim().to_string();
    let outside_host = read(Path::new("/proc/sys/kernel/hostname"))?.trim().to_string();
    let meta = std::fs::metadata(&secret).with_context(|| format!("stat {}", secret.display()))?;
    let stat_inside = read(&out.join("secret.stat"))?.trim().to_string();
    let rc: i32 = read(&out.join("secret.rc"))?.trim().parse().unwrap_or(-1);
    let err = read(&out.join("secret.err"))?;
    let shown_path = if sys::is_root() {
        Fact::TempPath(secret.display().to_string())
    } else {
        Fact::text(secret.display().to_string())
    };
    ctx.observe(Observation::Values {
        title: tr!("The hostname of the UTS namespace it owns:", "它所拥有的 UTS namespace 的主机名："),
        values: vec![
            (ctx.t(&tr!("inside", "里面")), Fact::text(inside_host.clone())),
            (ctx.t(&tr!("outside", "外面")), Fact::Host(outside_host.clone())),
        ],
    });
    ctx.observe(Observation::Table {
        title: tr!(
            "The file only the host's root may read (uid gid mode):",
            "只有主机 root 能读的文件（uid gid 权限）："
        ),
        columns: super::headers(ctx, &[("FILE", "文件"), ("VIEW", "从哪边看"), ("OWNER", "属主和权限")]),
        rows: vec![
            vec![
                shown_path.clone(),
                Fact::text(ctx.t(&tr!("outside", "外面"))),
                Fact::text(format!(
                    "{} {} {:o}",
                    std::os::unix::fs::MetadataExt::uid(&meta),
                    std::os::unix::fs::MetadataExt::gid(&meta),
                    meta.permissions().mode() & 0o7777
                )),
            ],
            vec![shown_path, Fact::text(ctx.t(&tr!("inside", "里面"))), Fact::text(stat_inside.clone())],
        ],
    });
    ctx.set("hostname", Fact::text(inside_host.clone()));
    ctx.set("overflow", Fact::text(stat_inside.split_whitespace().next().unwrap_or("?").to_string()));
    ctx.expect_eq(
        tr!("root inside set the hostname of its own UTS namespace", "里面的 root 设置了它自己 UTS namespace 的主机名"),
        HOSTNAME,
        inside_host,
        tr!(
            "sethostname needs CAP_SYS_ADMIN over the UTS namespace's owner",
            "sethostname 需要对 UTS namespace 的所有者有 CAP_SYS_ADMIN"
        ),
    );
    ctx.expect(
        tr!("the machine's hostname did not change", "本机的主机名没有变"),
        ctx.t(&tr!(format!("not {HOSTNAME}"), format!("不是 {HOSTNAME}"))),
        Fact::Host(outside_host.clone()),
        outside_host != HOSTNAME,
        tr!("the rename escaped the namespace", "改名逃出了 namespace"),
    );
    let result: Result<(), std::io::Error> = if rc == 0 {
        Ok(())
    } else if err.contains("Permission denied") {
        Err(std::io::Error::from_raw_os_error(libc::EACCES))
    } else {
        Err(std::io::Error::other(err.trim().to_string()))
    };
    let eacces = result.as_ref().err().and_then(|e| e.raw_os_error()) == Some(libc::EACCES);
    ctx.expect_failure(
        tr!("root inside cannot read the host root's file", "里面的 root 读不了主机 root 的文件"),
        Failure::Errno(nix::errno::Errno::EACCES),
        result,
        tr!(
            "CAP_DAC_OVERRIDE inside must not reach files of unmapped owners",
            "里面的 CAP_DAC_OVERRIDE 不应作用于属主未映射的文件"
        ),
    );
    ctx.expect(
        tr!("the refusal is a permission check (EACCES)", "拒绝来自权限检查（EACCES）"),
        "EACCES",
        if eacces { "EACCES".to_string() } else { err.trim().to_string() },
        eacces,
        tr!("cat should fail with Permission denied", "cat 应当以 Permission denied 失败"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.child()?.pid;
    let userns = state.userns.clone().context("step waiting-child did not run")?;
    let dir = state.dir.clone().context("step waiting-child did not run")?;
    let undone = ctx.undo_now();
    let gone = !alive(pid);
    let still = listed(&userns);
    ctx.observe(Observation::Values {
        title: tr!("After killing the child:", "杀掉子进程之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("user namespace held", "user namespace 仍被持有")), Fact::text(ctx.boolean(still))),
            (ctx.t(&tr!("demo directory exists", "演示目录仍然存在")), Fact::text(ctx.boolean(dir.exists()))),
        ],
    });
    super::expect_child_and_namespace_gone(ctx, gone, &userns, "user");
    ctx.expect(
        tr!("the demo directory is removed", "演示目录已删除"),
        ctx.word("removed"),
        ctx.word(if dir.exists() { "present" } else { "removed" }),
        !dir.exists(),
        tr!("the RemoveDir undo failed", "RemoveDir 撤销失败"),
    );
    Ok(())
}

/// The challenge: a running process that is root in a user namespace of its own, mapped to a
/// non-root uid outside (made without sudo).
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let ours = link(None, "user")?;
    let mut found = None;
    let Ok(dir) = std::fs::read_dir("/proc") else { anyhow::bail!("cannot list /proc") };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(theirs) = link(Some(pid), "user") else { continue };
        if theirs == ours || !alive(pid) {
            continue;
        }
        let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap_or_default();
        let first: Vec<&str> = map.split_whitespace().collect();
        if first.len() >= 3 && first[0] == "0" && first[1] != "0" {
            found = Some((pid, first[..3].join(" ")));
            break;
        }
    }
    if let Some((pid, map)) = &found {
        ctx.observe(Observation::Values {
            title: tr!("Found:", "找到："),
            values: vec![
                (ctx.t(&tr!("pid", "PID")), Fact::Pid((*pid).into())),
                (ctx.t(&tr!("command", "命令")), Fact::text(labkit::probe::command_line(*pid))),
                ("uid_map".into(), Fact::text(map.clone())),
            ],
        });
    }
    ctx.expect(
        tr!(
            "a process is root in a user namespace of its own, mapped to an ordinary uid outside",
            "有进程在自己的 user namespace 里是 root，映射到外面的普通 uid"
        ),
        ctx.t(&tr!("uid_map 0 UID 1 with UID != 0", "uid_map 为 0 UID 1，且 UID != 0")),
        ctx.word(if found.is_some() { "found" } else { "none found" }),
        found.is_some(),
        tr!(
            "as an ordinary user (no sudo): unshare --user --map-root-user sleep 600 &",
            "以普通用户身份（不用 sudo）：unshare --user --map-root-user sleep 600 &"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_masks_decode_to_names() {
        assert_eq!(decode_caps("0000000000000000"), Vec::<String>::new());
        assert_eq!(decode_caps("0000000000200000"), ["CAP_SYS_ADMIN"]);
        let all = decode_caps("000001ffffffffff");
        assert_eq!(all.len(), 41);
        assert_eq!(all.last().map(String::as_str), Some("CAP_CHECKPOINT_RESTORE"));
    }

    #[test]
    fn status_fields_are_normalised() {
        let status = "Name:\tsleep\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n";
        assert_eq!(field(status, "Uid:"), "0 0 0 0");
        assert_eq!(field(status, "CapEff:"), "000001ffffffffff");
    }
}
