//! `ns-mnt`: mount propagation as /proc/PID/mountinfo shows it (shared:N, master:N, none);
//! why runtimes make the tree private first (a shared copy leaks mounts out, pivot_root
//! refuses with EINVAL); a private mount is invisible outside; a slave receives but never sends.

use super::{link, start};
use crate::spawn::{NsChild, Spawner};
use anyhow::Context;
use labkit::mountinfo::Mount;
use labkit::{tr, Ctx, Fact, Failure, Observation, Undo, Walkthrough};
use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use std::path::{Path, PathBuf};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-mnt",
    source: file!(),
    steps: &[
        ("propagation", propagation),
        ("shared-copy", shared_copy),
        ("private", private),
        ("slave", slave),
        ("pivot-root", pivot_root),
        ("cleanup", cleanup),
    ],
    check,
};

#[derive(Default)]
pub struct State {
    base: PathBuf,
    group: Option<String>,
    children: Vec<NsChild>,
}

fn mountinfo(pid: Option<i32>) -> anyhow::Result<Vec<Mount>> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/mountinfo"),
        None => "/proc/thread-self/mountinfo".into(),
    };
    labkit::mountinfo::read(&path).with_context(|| format!("reading {path}"))
}

/// The top mount at `point` (the last one listed wins: it covers the others).
fn at<'a>(lines: &'a [Mount], point: &Path) -> Option<&'a Mount> {
    lines.iter().rev().find(|l| Path::new(&l.mount_point) == point)
}

fn tag(line: &Mount, name: &str) -> Option<String> {
    line.optional.iter().find_map(|o| o.strip_prefix(&format!("{name}:")).map(String::from))
}

/// `shared`, `slave`, `shared+slave` or `private`, from the optional fields.
fn kind(line: &Mount) -> &'static str {
    match (tag(line, "shared").is_some(), tag(line, "master").is_some()) {
        (true, true) => "shared+slave",
        (true, false) => "shared",
        (false, true) => "slave",
        (false, false) => "private",
    }
}

/// Whose mount table a row is from, in the run's language.
fn whose(ctx: &Ctx, en: &str) -> String {
    let zh = match en {
        "ours" => "我们",
        "copy" => "副本",
        "inside" => "里面",
        "slave" => "slave 副本",
        _ => en,
    };
    ctx.t(&tr!(en, zh))
}

/// Is a mount visible in our own namespace, as a found value.
fn here(ctx: &Ctx, mounted: bool) -> String {
    ctx.t(&if mounted { tr!("mounted here", "我们这边有") } else { tr!("not here", "我们这边没有") })
}

fn row(ctx: &Ctx, label: &str, point: &Path, line: Option<&Mount>) -> Vec<Fact> {
    let label = whose(ctx, label);
    let cell = |v: Option<String>| v.map(Fact::Measured).unwrap_or_else(|| Fact::text("-"));
    match line {
        Some(l) => vec![
            Fact::text(label),
            Fact::text(l.mount_point.clone()),
            // The root's filesystem depends on the machine.
            if l.mount_point == "/" { Fact::Host(l.fstype.clone()) } else { Fact::text(l.fstype.clone()) },
            Fact::text(kind(l)),
            cell(tag(l, "shared")),
            cell(tag(l, "master")),
        ],
        None => vec![
            Fact::text(label),
            Fact::text(
                ctx.t(&tr!(format!("{} (not mounted)", point.display()), format!("{}（未挂载）", point.display()))),
            ),
            Fact::text("-"),
            Fact::text("-"),
            Fact::text("-"),
            Fact::text("-"),
        ],
    }
}

fn table(ctx: &Ctx, title: labkit::Text, rows: Vec<Vec<Fact>>) -> Observation {
    Observation::Table {
        title,
        columns: super::headers(
            ctx,
            &[
                ("WHERE", "哪边"),
                ("MOUNT POINT", "挂载点"),
                ("FSTYPE", "FSTYPE"),
                ("PROPAGATION", "传播类型"),
                ("PEER GROUP", "PEER GROUP"),
                ("MASTER", "MASTER"),
            ],
        ),
        rows,
    }
}

fn tmpfs(source: &str, target: &Path) -> nix::Result<()> {
    mount(Some(source), target, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("size=1m"))
}

fn set_propagation(target: &Path, flags: MsFlags) -> nix::Result<()> {
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
}

/// Runs `f` on a thread inside `pid`'s mount namespace.
fn inside<T: Send>(pid: i32, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let ns = labkit::probe::ns_path(Some(pid), "mnt");
    labkit::sys::in_namespaces(&[(Path::new(&ns), CloneFlags::CLONE_NEWNS)], f).with_context(|| format!("setns {ns}"))
}

fn propagation(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let host_root = mountinfo(None)?;
    let root_kind = at(&host_root, Path::new("/")).map(|l| {
        if l.optional.is_empty() {
            "private".to_string()
        } else {
            l.optional.join(" ")
        }
    });
    // From here on the lab works in a private copy of this mount table (unshare -m): nothing it
    // mounts can reach the machine's own mount namespace.
    nix::sched::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS).context("unshare(CLONE_NEWNS)")?;
    set_propagation(Path::new("/"), MsFlags::MS_REC | MsFlags::MS_PRIVATE).context("mount --make-rprivate /")?;
    let base = labkit::paths::run_dir().join("ns-mnt");
    ctx.register(Undo::RemoveDir { path: base.clone() });
    std::fs::create_dir_all(&base).with_context(|| format!("mkdir {}", base.display()))?;
    ctx.register(Undo::Unmount { path: base.clone() });
    tmpfs("labctl-ns-mnt", &base).context("mounting the demo tmpfs")?;
    set_propagation(&base, MsFlags::MS_SHARED).context("mount --make-shared")?;
    for dir in ["from-a", "from-b", "from-c", "from-host", "newroot"] {
        std::fs::create_dir(base.join(dir))?;
    }
    let ours = mountinfo(None)?;
    let line = at(&ours, &base).cloned();
    ctx.observe(Observation::Values {
        title: tr!(
            "This machine's / (optional fields of its mountinfo line):",
            "本机的 /（其 mountinfo 行的可选字段）："
        ),
        values: vec![("/".into(), Fact::Host(root_kind.unwrap_or_else(|| ctx.t(&tr!("unknown", "未知")))))],
    });
    ctx.observe(table(
        ctx,
        tr!("Our private copy, with the demo tmpfs made shared:", "我们的私有副本，其中演示用的 tmpfs 设为 shared："),
        vec![row(ctx, "ours", Path::new("/"), at(&ours, Path::new("/"))), row(ctx, "ours", &base, line.as_ref())],
    ));
    ctx.set("base", Fact::text(base.display().to_string()));
    let shared = line.as_ref().map(kind) == Some("shared");
    ctx.expect(
        tr!("the demo mount is shared (shared:N in mountinfo)", "演示挂载点是 shared 的（mountinfo 中有 shared:N）"),
        "shared",
        line.as_ref().map(|l| kind(l).to_string()).unwrap_or_else(|| ctx.word("not mounted")),
        shared,
        tr!("mount --make-shared sets MS_SHARED", "mount --make-shared 设置的是 MS_SHARED"),
    );
    state.group = line.and_then(|l| tag(&l, "shared"));
    state.base = base;
    Ok(())
}

fn shared_copy(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = state.base.clone();
    // Like `unshare -m --propagation unchanged`: a copy whose shared mounts stay peers of ours.
    let a = start(ctx, Spawner::new(CloneFlags::CLONE_NEWNS).make_private(false), &["sleep", "infinity"])?;
    let theirs = mountinfo(Some(a.pid))?;
    let their_line = at(&theirs, &base).cloned();
    let target = base.join("from-a");
    ctx.register(Undo::Unmount { path: target.clone() });
    inside(a.pid, || tmpfs("labctl-from-a", &target))?.context("mounting a tmpfs inside")?;
    let ours = mountinfo(None)?;
    let leaked = at(&ours, &target).cloned();
    ctx.observe(table(
        ctx,
        tr!(
            "The demo mount in the copy, and what we see after it mounted from-a:",
            "副本中的演示挂载点，以及它挂载 from-a 之后我们看到的："
        ),
        vec![row(ctx, "copy", &base, their_line.as_ref()), row(ctx, "ours", &target, leaked.as_ref())],
    ));
    let same_group = their_line.as_ref().and_then(|l| tag(l, "shared")) == state.group;
    ctx.expect(
        tr!("the copy's mount is in our peer group", "副本中的挂载点与我们同属一个 peer group"),
        ctx.t(&tr!("the same shared:N", "相同的 shared:N")),
        if same_group { ctx.t(&tr!("the same", "相同")) } else { ctx.word("different") },
        same_group,
        tr!(
            "a new mount namespace copies shared mounts as peers",
            "新的 mount namespace 会把 shared 挂载点复制为 peer"
        ),
    );
    ctx.expect(
        tr!("its mount propagated out to us", "它的挂载传播到了我们这边"),
        ctx.t(&tr!("mounted here too", "我们这边也有")),
        if leaked.is_some() { ctx.t(&tr!("mounted here too", "我们这边也有")) } else { here(ctx, false) },
        leaked.is_some(),
        tr!("peers receive each other's mounts", "peer 之间会互相收到挂载事件"),
    );
    state.children.push(a);
    Ok(())
}

fn private(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = state.base.clone();
    // `unshare -m` (and every container runtime): mount --make-rprivate / first.
    let b = start(ctx, Spawner::new(CloneFlags::CLONE_NEWNS), &["sleep", "infinity"])?;
    let target = base.join("from-b");
    inside(b.pid, || tmpfs("labctl-from-b", &target))?.context("mounting a tmpfs inside")?;
    let theirs = mountinfo(Some(b.pid))?;
    let ours = mountinfo(None)?;
    ctx.observe(table(
        ctx,
        tr!("Inside the private copy, and here:", "私有副本里面，以及我们这边："),
        vec![
            row(ctx, "inside", &base, at(&theirs, &base)),
            row(ctx, "inside", &target, at(&theirs, &target)),
            row(ctx, "ours", &target, at(&ours, &target)),
        ],
    ));
    let private = at(&theirs, &base).map(kind) == Some("private");
    ctx.expect(
        tr!("inside, the demo mount has no optional field (private)", "里面的演示挂载点没有可选字段（private）"),
        "private",
        at(&theirs, &base).map(|l| kind(l).to_string()).unwrap_or_else(|| ctx.word("not mounted")),
        private,
        tr!("the child runs mount --make-rprivate / before anything else", "子进程首先执行 mount --make-rprivate /"),
    );
    ctx.expect(
        tr!("the tmpfs mounted inside is invisible outside", "里面挂载的 tmpfs 在外面不可见"),
        here(ctx, false),
        here(ctx, at(&ours, &target).is_some()),
        at(&ours, &target).is_none() && at(&theirs, &target).is_some(),
        tr!("private mounts send no events", "private 挂载点不发送任何事件"),
    );
    // --explore: a shell in the private copy (findmnt shows from-b here, not on the host).
    ctx.explore_in(b.pid);
    state.children.push(b);
    Ok(())
}

fn slave(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = state.base.clone();
    let c = start(ctx, Spawner::new(CloneFlags::CLONE_NEWNS).make_private(false), &["sleep", "infinity"])?;
    inside(c.pid, || set_propagation(&base, MsFlags::MS_SLAVE))?.context("mount --make-slave inside")?;
    let from_host = base.join("from-host");
    ctx.register(Undo::Unmount { path: from_host.clone() });
    tmpfs("labctl-from-host", &from_host).context("mounting from-host here")?;
    let from_c = base.join("from-c");
    inside(c.pid, || tmpfs("labctl-from-c", &from_c))?.context("mounting from-c inside")?;
    let theirs = mountinfo(Some(c.pid))?;
    let ours = mountinfo(None)?;
    ctx.observe(table(
        ctx,
        tr!(
            "The slave copy and us, after each side mounted something:",
            "slave 副本和我们这边，在双方各挂载了一些东西之后："
        ),
        vec![
            row(ctx, "slave", &base, at(&theirs, &base)),
            row(ctx, "slave", &from_host, at(&theirs, &from_host)),
            row(ctx, "slave", &from_c, at(&theirs, &from_c)),
            row(ctx, "ours", &from_c, at(&ours, &from_c)),
        ],
    ));
    let master = at(&theirs, &base).and_then(|l| tag(l, "master"));
    ctx.expect(
        tr!(
            "the copy is a slave of our peer group (master:N = our shared:N)",
            "副本是我们 peer group 的 slave（master:N 等于我们的 shared:N）"
        ),
        ctx.t(&tr!("master = our group", "master 就是我们的 peer group")),
        if master.is_some() && master == state.group {
            ctx.t(&tr!("master = our group", "master 就是我们的 peer group"))
        } else {
            ctx.word("no")
        },
        master.is_some() && master == state.group,
        tr!("mount --make-slave keeps receiving from the old peers", "mount --make-slave 之后仍会接收原来 peer 的事件"),
    );
    ctx.expect(
        tr!("it received our new mount", "它收到了我们的新挂载"),
        ctx.t(&tr!("mounted there", "它那边有")),
        if at(&theirs, &from_host).is_some() {
            ctx.t(&tr!("mounted there", "它那边有"))
        } else {
            ctx.word("missing")
        },
        at(&theirs, &from_host).is_some(),
        tr!("a slave receives from its master", "slave 会接收 master 的事件"),
    );
    ctx.expect(
        tr!("its own mount did not come back to us", "它自己的挂载没有传回我们这边"),
        here(ctx, false),
        here(ctx, at(&ours, &from_c).is_some()),
        at(&ours, &from_c).is_none(),
        tr!("a slave never sends", "slave 从不发送事件"),
    );
    state.children.push(c);
    Ok(())
}

fn pivot_root(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = state.base.clone();
    let newroot = base.join("newroot");
    let (first, second, listing) =
        labkit::sys::in_new_namespaces(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS, || -> anyhow::Result<_> {
            // A throwaway namespace of this thread: private first, then only the demo mount shared
            // again (a peer group of its own), as systemd leaves / on a host.
            set_propagation(Path::new("/"), MsFlags::MS_REC | MsFlags::MS_PRIVATE)?;
            set_propagation(&base, MsFlags::MS_SHARED)?;
            // new_root must be a mount point: bind it onto itself.
            mount(Some(&newroot), &newroot, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
            std::fs::create_dir_all(newroot.join("old"))?;
            let first = nix::unistd::pivot_root(&newroot, &newroot.join("old"));
            set_propagation(&base, MsFlags::MS_REC | MsFlags::MS_PRIVATE)?;
            let second = nix::unistd::pivot_root(&newroot, &newroot.join("old"));
            let mut listing = Vec::new();
            if second.is_ok() {
                nix::unistd::chdir("/")?;
                nix::mount::umount2("/old", nix::mount::MntFlags::MNT_DETACH)?;
                listing =
                    std::fs::read_dir("/")?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                listing.sort();
            }
            Ok((first, second, listing))
        })??;
    ctx.expect_failure(
        tr!("pivot_root while the new root's parent mount is shared", "新根的父挂载点为 shared 时执行 pivot_root"),
        Failure::Errno(nix::errno::Errno::EINVAL),
        first,
        tr!("pivot_root must refuse shared parents", "pivot_root 必须拒绝 shared 的父挂载点"),
    );
    ctx.observe(Observation::Values {
        title: tr!(
            "After mount --make-rprivate, pivot_root and umount -l /old, / holds:",
            "mount --make-rprivate、pivot_root 并 umount -l /old 之后，/ 里面有："
        ),
        values: vec![("ls /".into(), Fact::text(listing.join(" ")))],
    });
    ctx.expect(
        tr!("pivot_root succeeds once the tree is private", "挂载树变为 private 之后 pivot_root 成功"),
        ctx.t(&tr!("ok", "成功")),
        match &second {
            Ok(()) => ctx.t(&tr!("ok", "成功")),
            Err(e) => e.to_string(),
        },
        second.is_ok(),
        tr!("the parent mounts must not be shared", "父挂载点不能是 shared"),
    );
    ctx.expect_eq(
        tr!("the new root holds only the empty old/ directory", "新的根目录里只有空的 old/ 目录"),
        "old",
        listing.join(" "),
        tr!("the old root was detached", "旧的根已被卸载"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = state.base.clone();
    let undone = ctx.undo_now();
    let left = mountinfo(None)?.iter().filter(|l| Path::new(&l.mount_point).starts_with(&base)).count();
    let alive = state.children.iter().filter(|c| super::alive(c.pid)).count();
    ctx.observe(Observation::Values {
        title: tr!("After the undo:", "撤销之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("mounts under the demo dir", "演示目录下剩下的挂载")), Fact::Number(left as i64)),
            (ctx.t(&tr!("children alive", "仍在运行的子进程")), Fact::Number(alive as i64)),
        ],
    });
    ctx.expect_eq(
        tr!("no demo mount is left", "没有残留的演示挂载"),
        Fact::Number(0),
        Fact::Number(left as i64),
        tr!("umount -l should detach them", "umount -l 应当卸载它们"),
    );
    ctx.expect_eq(
        tr!("the three copies are gone", "三个副本都已消失"),
        Fact::Number(0),
        Fact::Number(alive as i64),
        tr!("SIGKILL should end them", "SIGKILL 应当结束它们"),
    );
    Ok(())
}

/// The challenge: some mount namespace other than ours has a tmpfs whose mount point contains
/// `labctl-challenge`, and ours does not.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const NAME: &str = "labctl-challenge";
    let ours = link(None, "mnt")?;
    let here = mountinfo(None)?.iter().any(|l| l.mount_point.contains(NAME));
    let mut found = false;
    for entry in labkit::probe::list_namespaces(Some("mnt")) {
        if entry.id == ours {
            continue;
        }
        if mountinfo(Some(entry.lowest_pid))
            .is_ok_and(|m| m.iter().any(|l| l.mount_point.contains(NAME) && l.fstype == "tmpfs"))
        {
            found = true;
        }
    }
    ctx.expect(
        tr!("another mount namespace has a tmpfs at …labctl-challenge", "另一个 mount namespace 在 …labctl-challenge 挂载了 tmpfs"),
        ctx.word("found"),
        ctx.word(if found { "found" } else { "none found" }),
        found,
        tr!(
            "sudo unshare -m sh -c 'mkdir -p /tmp/labctl-challenge; mount -t tmpfs none /tmp/labctl-challenge; exec sleep 600' &",
            "sudo unshare -m sh -c 'mkdir -p /tmp/labctl-challenge; mount -t tmpfs none /tmp/labctl-challenge; exec sleep 600' &"
        ),
    );
    ctx.expect(
        tr!("it is invisible in our mount namespace", "它在我们的 mount namespace 中不可见"),
        self::here(ctx, false),
        self::here(ctx, here),
        !here,
        tr!(
            "make the namespace private (unshare -m does by default) before mounting",
            "挂载前先把 namespace 设为 private（unshare -m 默认如此）"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_optional_fields_give_the_propagation() {
        let text = "36 35 98:0 /mnt1 /mnt1 rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 0:5 / /run/x rw shared:7 master:2 - tmpfs tmpfs rw\n\
                    38 35 0:6 / /p rw - tmpfs tmpfs rw\n";
        let lines = labkit::mountinfo::parse(text);
        assert_eq!(kind(&lines[0]), "slave");
        assert_eq!(tag(&lines[0], "master").as_deref(), Some("1"));
        assert_eq!(kind(&lines[1]), "shared+slave");
        assert_eq!(kind(&lines[2]), "private");
        assert_eq!(lines[1].fstype, "tmpfs");
    }
}
