//! `container-security`: escapes that work without the runtime's defaults and fail with them.
//! Every attempt runs inside a real container (`labctl runtime create|start|exec`, the same
//! program as lcrun, as a subprocess: the lab runner holds a signal thread, and the runtime
//! forks only from a single-threaded process) and its errno is compared exactly.
//!
//! The attempts themselves are [`probe`]: labctl bind-mounted read-only into the container and
//! run there as `labctl security-probe ATTEMPT …`, printing one `name=result` line per call.

use crate::client::Client as Runtime;
use anyhow::{bail, Context};
use labkit::failure::Failure;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use nix::errno::Errno;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "container-security",
    source: file!(),
    steps: &[
        ("bundle", bundle),
        ("chroot-escape", chroot_escape),
        ("capabilities", capabilities),
        ("proc-paths", proc_paths),
        ("devices", devices),
        ("no-new-privs", no_new_privs),
        ("seccomp", seccomp),
        ("leaked-fd", leaked_fd),
        ("privileged", privileged),
        ("cleanup", cleanup),
    ],
    check,
};

/// Container ids (lcrun state names) of this lab.
const CHROOTED: &str = "lcsec-chroot";
const DEFAULT: &str = "lcsec-default";
const FD: &str = "lcsec-fd";
const CVE: &str = "lcsec-cve";
const PRIVILEGED: &str = "lcsec-privileged";
const PRIVILEGED_CVE: &str = "lcsec-privileged-cve";
/// Where labctl itself appears inside the containers.
const PROBE: &str = "/.labctl/labctl";
/// A host file outside every rootfs: reading it from inside is an escape.
const MARKER_TEXT: &str = "labctl: a file of the host, outside the container's root";
const MASKED: [&str; 2] = ["/proc/kcore", "/proc/timer_list"];
const READ_ONLY: [&str; 2] = ["/proc/sysrq-trigger", "/proc/sys/kernel/hostname"];
/// The device node the devices step makes inside the container.
const NODE: &str = "/dev/lcdisk";

#[derive(Default)]
pub struct State {
    base: PathBuf,
    rt: Option<Runtime>,
    rootfs: PathBuf,
    marker: PathBuf,
    /// The host's root disk (or loop0): major, minor, and what opening it on the host answers.
    block: (u64, u64),
    block_on_host: String,
    inits: Vec<(String, i32)>,
    /// What each attempt answered under the defaults, for the privileged comparison.
    defaults: Vec<(&'static str, String)>,
    /// The cwd of the CVE-2024-21626 attempt (/proc/self/fd/N).
    cve_cwd: String,
}

impl State {
    fn rt(&self) -> anyhow::Result<&Runtime> {
        self.rt.as_ref().context("the bundle step has not run")
    }

    fn init(&self, id: &str) -> anyhow::Result<i32> {
        self.inits.iter().find(|(i, _)| i == id).map(|(_, p)| *p).with_context(|| format!("no container {id}"))
    }

    fn remember(&mut self, attempt: &'static str, result: impl Into<String>) {
        self.defaults.push((attempt, result.into()));
    }
}

/// Runs one attempt of [`probe`] inside `id` and parses its `name=result` lines.
fn run_probe(rt: &Runtime, id: &str, args: &[&str]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut all = vec![PROBE, "security-probe"];
    all.extend_from_slice(args);
    let a = rt.exec(id, None, &all)?;
    if !a.ok {
        bail!("the probe {args:?} in {id} failed: {}", a.stderr);
    }
    Ok(a.stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn get<'a>(results: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    results.get(key).map(String::as_str).unwrap_or("(no answer)")
}

fn status_field(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "(missing)".into())
}

/// The capability names of a /proc/PID/status mask (`CapEff: 00000000a80425fb`).
fn cap_names(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    let mut names: Vec<(u8, String)> =
        caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).map(|c| (c.index(), c.to_string())).collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

fn dev_ino(path: &Path) -> anyhow::Result<String> {
    let m = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    Ok(format!("{}:{}", m.dev(), m.ino()))
}

// ---------------------------------------------------------------------------------------
// The bundle

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn busybox() -> anyhow::Result<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"].iter().map(PathBuf::from).find(|p| p.exists()).context(
        "this lab builds its containers from a static busybox, and none is installed: \
         sudo apt-get install busybox-static",
    )
}

/// A static busybox with its applets, /etc for the users, a setuid copy of busybox whose `id`
/// keeps root (busybox.conf), and what a dynamically linked labctl needs to start.
fn make_rootfs(rootfs: &Path, exe: &Path) -> anyhow::Result<()> {
    let busybox = busybox()?;
    for dir in ["bin", "proc", "sys", "dev", "etc", "tmp", "suid", ".labctl"] {
        std::fs::create_dir_all(rootfs.join(dir)).with_context(|| format!("mkdir {}", rootfs.join(dir).display()))?;
    }
    std::fs::copy(&busybox, rootfs.join("bin/busybox")).with_context(|| format!("copying {}", busybox.display()))?;
    let list = Command::new(&busybox).arg("--list").output().context("busybox --list")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
    }
    write_file(&rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")?;
    write_file(&rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    // busybox drops a setuid bit for applets that do not need it; this file keeps it for `id`.
    write_file(&rootfs.join("etc/busybox.conf"), "[SUID]\nid = sxx 0.0\n")?;
    let suid = rootfs.join("suid/busybox");
    std::fs::copy(&busybox, &suid)?;
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755))?;
    std::os::unix::fs::symlink("busybox", rootfs.join("suid/id"))?;
    write_file(&rootfs.join(PROBE.trim_start_matches('/')), "")?;
    copy_loader_and_libraries(rootfs, exe)
}

/// A static labctl needs nothing; a dynamic one needs its ELF interpreter and the libraries
/// it has mapped (/proc/self/maps), copied to the same paths inside.
fn copy_loader_and_libraries(rootfs: &Path, exe: &Path) -> anyhow::Result<()> {
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    let maps = std::fs::read_to_string("/proc/self/maps").context("reading /proc/self/maps")?;
    for path in maps.lines().filter_map(|l| l.split_whitespace().nth(5)).filter(|p| p.contains(".so")) {
        files.push((PathBuf::from(path), PathBuf::from(path)));
    }
    if let Some(interp) = elf_interpreter(exe)? {
        let real = std::fs::canonicalize(&interp).with_context(|| format!("resolving {}", interp.display()))?;
        files.push((real, interp));
    }
    for (from, to) in files {
        let dest = rootfs.join(to.strip_prefix("/").unwrap_or(&to));
        if dest.exists() {
            continue;
        }
        std::fs::create_dir_all(dest.parent().context("a library path has a parent")?)?;
        std::fs::copy(&from, &dest).with_context(|| format!("copying {} into the rootfs", from.display()))?;
    }
    Ok(())
}

/// PT_INTERP of a 64-bit little-endian ELF file (the dynamic loader's path), if it has one.
fn elf_interpreter(exe: &Path) -> anyhow::Result<Option<PathBuf>> {
    let bytes = std::fs::read(exe).with_context(|| format!("reading {}", exe.display()))?;
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize);
    if bytes.get(..5) != Some(b"\x7fELF\x02".as_slice()) {
        return Ok(None);
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return Ok(None);
    };
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = bytes.get(ph..ph + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
        if p_type == Some(3) {
            let (Some(offset), Some(size)) = (u64_at(ph + 8), u64_at(ph + 32)) else { return Ok(None) };
            let raw = bytes.get(offset..offset + size).unwrap_or_default();
            let text = String::from_utf8_lossy(raw).trim_end_matches('\0').to_string();
            return Ok(Some(PathBuf::from(text)));
        }
    }
    Ok(None)
}

/// A tmpfs of the lab's own at `rootfs`, without nosuid: /run is nosuid on systemd machines, and
/// there the kernel would ignore the setuid bit the no-new-privs and privileged steps are about.
/// Returns the mount's options as the kernel reports them (/proc/self/mountinfo).
fn mount_rootfs(ctx: &Ctx, rootfs: &Path) -> anyhow::Result<String> {
    use nix::mount::{mount, MsFlags};
    std::fs::create_dir_all(rootfs).with_context(|| format!("mkdir {}", rootfs.display()))?;
    ctx.register(Undo::Unmount { path: rootfs.to_path_buf() });
    mount(Some("labctl-rootfs"), rootfs, Some("tmpfs"), MsFlags::MS_NODEV, Some("mode=755"))
        .with_context(|| format!("mounting a tmpfs on {}", rootfs.display()))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    // Field 5 is the mount point, field 6 the per-mount options; the last line for a path is on top.
    let target = rootfs.to_str().context("rootfs path")?;
    mountinfo
        .lines()
        .rev()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            (fields.get(4) == Some(&target)).then(|| fields.get(5).unwrap_or(&"").to_string())
        })
        .with_context(|| format!("the tmpfs on {} is not in /proc/self/mountinfo", rootfs.display()))
}

/// `lcrun spec` in `dir`, edited: our rootfs, no terminal, `sleep 600`, a tmpfs on /tmp, and
/// labctl bind-mounted read-only as the probe; then `edit`.
fn write_bundle(rt: &Runtime, dir: &Path, rootfs: &Path, edit: impl FnOnce(&mut Value)) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let a = rt.run(&["spec", "--bundle", dir.to_str().context("bundle path")?])?;
    if !a.ok {
        bail!("lcrun spec: {}", a.stderr);
    }
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path)?).context("lcrun spec's config")?;
    config["root"]["path"] = json!(rootfs);
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["sleep", "600"]);
    let mounts = config["mounts"].as_array_mut().context("the spec has mounts")?;
    mounts.push(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}),
    );
    mounts.push(json!({"destination": PROBE, "type": "bind", "source": rt.exe, "options": ["bind", "ro"]}));
    edit(&mut config);
    write_file(&path, &serde_json::to_string_pretty(&config)?)?;
    Ok(config)
}

/// Docker's defaults: its 14 capabilities, its seccomp profile (with `chroot`, which docker
/// allows when CAP_SYS_CHROOT is granted), every device refused but the standard ones.
fn docker_defaults(config: &mut Value) {
    config["process"]["capabilities"] = serde_json::to_value(crate::caps::docker_defaults()).expect("serialises");
    let mut seccomp = serde_json::to_value(crate::seccomp::docker_default()).expect("serialises");
    if let Some(rules) = seccomp["syscalls"].as_array_mut() {
        rules.push(json!({"names": ["chroot"], "action": "SCMP_ACT_ALLOW"}));
    }
    config["linux"]["seccomp"] = seccomp;
    config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
}

/// `docker run --privileged`: every capability, no seccomp, no masked or read-only paths,
/// every device, no no_new_privs.
fn privileged_config(config: &mut Value) {
    let mut all: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    all.sort();
    config["process"]["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
    config["process"]["noNewPrivileges"] = json!(false);
    if let Some(linux) = config["linux"].as_object_mut() {
        linux.remove("seccomp");
        linux.insert("maskedPaths".into(), json!([]));
        linux.insert("readonlyPaths".into(), json!([]));
    }
    config["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
}

/// Opens block device MAJOR:MINOR read-only on the host, through its /dev name (sysfs's uevent).
fn host_open(major: u64, minor: u64) -> String {
    let uevent = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).unwrap_or_default();
    let Some(name) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) else { return "ENOENT".into() };
    match std::fs::File::open(Path::new("/dev").join(name)) {
        Ok(_) => "ok".into(),
        Err(e) => errno_of(&e),
    }
}

fn bundle(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = labkit::paths::run_dir().join("container-security");
    let exe = std::env::current_exe().context("finding labctl's own binary")?;
    if base.exists() {
        bail!(
            "{} exists: another run of container-security is going on, or one was killed (sudo labctl clean)",
            base.display()
        );
    }
    ctx.register(Undo::RemoveDir { path: base.clone() });
    std::fs::create_dir_all(&base).with_context(|| format!("mkdir {}", base.display()))?;
    let rootfs = base.join("rootfs");
    let rootfs_options = mount_rootfs(ctx, &rootfs)?;
    make_rootfs(&rootfs, &exe)?;
    let marker = base.join("lchost-file");
    write_file(&marker, MARKER_TEXT)?;
    let rt = Runtime { exe, root: base.join("state"), base: base.clone() };
    let config = write_bundle(&rt, &base.join(DEFAULT), &rootfs, docker_defaults)?;

    let process = &config["process"];
    let linux = &config["linux"];
    let caps: Vec<&str> =
        process["capabilities"]["effective"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let rules = linux["seccomp"]["syscalls"].as_array().map_or(0, Vec::len);
    let list = |v: &Value| v.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(" ");
    ctx.observe(Observation::Values {
        title: tr!(
            "The defaults in config.json (docker's, written by the lab):",
            "config.json 中的默认设置（docker 的，由实验写入）："
        ),
        values: vec![
            (
                "process.capabilities.effective".into(),
                Fact::text(
                    ctx.t(&tr!(format!("{} capabilities", caps.len()), format!("{} 个 capability", caps.len()))),
                ),
            ),
            ("process.noNewPrivileges".into(), Fact::text(process["noNewPrivileges"].to_string())),
            (
                "linux.seccomp".into(),
                Fact::text({
                    let (action, errno) = (
                        linux["seccomp"]["defaultAction"].as_str().unwrap_or("?"),
                        &linux["seccomp"]["defaultErrnoRet"],
                    );
                    ctx.t(&tr!(
                        format!("defaultAction {action}, errno {errno}, {rules} rules"),
                        format!("defaultAction {action}，errno {errno}，{rules} 条规则")
                    ))
                }),
            ),
            ("linux.maskedPaths".into(), Fact::text(list(&linux["maskedPaths"]))),
            ("linux.readonlyPaths".into(), Fact::text(list(&linux["readonlyPaths"]))),
            ("linux.resources.devices".into(), Fact::text(linux["resources"]["devices"].to_string())),
            ("root.readonly".into(), Fact::text(config["root"]["readonly"].to_string())),
            (
                ctx.t(&tr!("rootfs mount (mountinfo)", "rootfs 所在的挂载（mountinfo）")),
                Fact::text(format!("tmpfs {rootfs_options}")),
            ),
        ],
    });
    let honours_setuid = !rootfs_options.split(',').any(|o| o == "nosuid");
    ctx.expect(
        tr!("the rootfs's mount honours setuid bits (no nosuid)", "rootfs 所在的挂载承认 setuid 位（没有 nosuid）"),
        ctx.t(&tr!("no nosuid", "没有 nosuid")),
        if honours_setuid { ctx.t(&tr!("no nosuid", "没有 nosuid")) } else { rootfs_options.clone() },
        honours_setuid,
        tr!(
            "on a nosuid mount execve ignores the setuid bit, no_new_privs or not",
            "在 nosuid 的挂载上，不管有没有 no_new_privs，execve 都会忽略 setuid 位"
        ),
    );
    ctx.set("caps", Fact::Number(caps.len() as i64));
    ctx.set("rules", Fact::Number(rules as i64));
    let no_sys_admin = !caps.contains(&"CAP_SYS_ADMIN") && caps.contains(&"CAP_SYS_CHROOT");
    ctx.expect(
        tr!(
            "the defaults grant CAP_SYS_CHROOT but not CAP_SYS_ADMIN",
            "默认设置给了 CAP_SYS_CHROOT，但没有 CAP_SYS_ADMIN"
        ),
        ctx.t(&tr!("CAP_SYS_CHROOT, no CAP_SYS_ADMIN", "有 CAP_SYS_CHROOT，没有 CAP_SYS_ADMIN")),
        if no_sys_admin {
            ctx.t(&tr!("CAP_SYS_CHROOT, no CAP_SYS_ADMIN", "有 CAP_SYS_CHROOT，没有 CAP_SYS_ADMIN"))
        } else {
            ctx.word("different")
        },
        no_sys_admin,
        tr!(
            "docker's default set is labruntime::caps::docker_defaults",
            "docker 的默认集合见 labruntime::caps::docker_defaults"
        ),
    );
    let masked = list(&linux["maskedPaths"]);
    ctx.expect(
        tr!("/proc/kcore and /proc/timer_list are masked", "/proc/kcore 和 /proc/timer_list 被屏蔽"),
        ctx.word("both listed"),
        ctx.word(if MASKED.iter().all(|p| masked.split(' ').any(|m| m == *p)) { "both listed" } else { "missing" }),
        MASKED.iter().all(|p| masked.split(' ').any(|m| m == *p)),
        tr!("lcrun spec writes runc's maskedPaths", "lcrun spec 写入的是 runc 的 maskedPaths"),
    );

    let root_meta = std::fs::metadata("/").context("stat /")?;
    let (major, minor) = (nix::sys::stat::major(root_meta.dev()), nix::sys::stat::minor(root_meta.dev()));
    // The root's disk if this host may open it (a root on a virtual filesystem has none, and a
    // sandboxed host may be refused its own disk), else the first loop device.
    let candidates = [(major, minor), (7, 0)];
    let chosen = candidates.iter().find(|(ma, mi)| *ma != 0 && host_open(*ma, *mi) == "ok").unwrap_or(&candidates[1]);
    state.block = *chosen;
    state.block_on_host = host_open(chosen.0, chosen.1);
    state.base = base;
    state.rootfs = rootfs;
    state.marker = marker;
    state.rt = Some(rt);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The attempts

fn escape_row(
    ctx: &Ctx,
    label: String,
    results: &BTreeMap<String, String>,
    host_root: &str,
    rootfs: &str,
) -> Vec<Fact> {
    let root = get(results, "root");
    let landed = if root == host_root {
        ctx.t(&tr!("the host's /", "主机的 /"))
    } else if root == rootfs {
        ctx.t(&tr!("the container's rootfs", "容器的 rootfs"))
    } else {
        ctx.word("elsewhere")
    };
    let marker = get(results, "marker");
    vec![
        Fact::text(label),
        Fact::text(get(results, "chroot")),
        Fact::text(landed),
        Fact::text(if marker == MARKER_TEXT {
            ctx.t(&tr!("read: it is the host's file", "读到了：正是主机的文件"))
        } else {
            marker.to_string()
        }),
    ]
}

fn chroot_escape(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.rt()?;
    let bundle = state.base.join(DEFAULT);
    let mut inits = Vec::new();
    for (id, no_pivot) in [(CHROOTED, true), (DEFAULT, false)] {
        let pid = rt
            .create(ctx, id, &bundle, if no_pivot { &["--no-pivot"] } else { &[] })?
            .map_err(|e| anyhow::anyhow!("lcrun create {id}: {e}"))?;
        rt.start(id)?;
        inits.push((id.to_string(), pid));
    }
    let marker = state.marker.to_str().context("marker path")?;
    // A chroot jail: chroot(8) into the rootfs directory, no mount namespace, no mount on top.
    let jail = Command::new(&rt.exe)
        .args(["security-probe", "chroot-escape", "--jail"])
        .arg(&state.rootfs)
        .arg(marker)
        .stdin(Stdio::null())
        .output()
        .context("running the probe in a chroot jail")?;
    let jailed: BTreeMap<String, String> = String::from_utf8_lossy(&jail.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let chrooted = run_probe(rt, CHROOTED, &["chroot-escape", marker])?;
    let pivoted = run_probe(rt, DEFAULT, &["chroot-escape", marker])?;
    let (host_root, rootfs) = (dev_ino(Path::new("/"))?, dev_ino(&state.rootfs)?);
    ctx.observe(Observation::Table {
        title: tr!(
            "mkdir /tmp/lcjail; chroot(\"/tmp/lcjail\"); chdir(\"..\") ×64; chroot(\".\"), then cat the host file:",
            "mkdir /tmp/lcjail；chroot(\"/tmp/lcjail\")；chdir(\"..\") ×64；chroot(\".\")，然后 cat 主机上的文件："
        ),
        columns: vec![
            "CONTAINER".into(),
            "CHROOT".into(),
            ctx.t(&tr!("/ IS NOW", "/ 现在是")),
            ctx.t(&tr!("HOST FILE", "主机文件")),
        ],
        rows: vec![
            escape_row(
                ctx,
                ctx.t(&tr!("chroot jail (chroot rootfs)", "chroot 监狱（chroot rootfs）")),
                &jailed,
                &host_root,
                &rootfs,
            ),
            escape_row(ctx, "lcrun --no-pivot".into(), &chrooted, &host_root, &rootfs),
            escape_row(ctx, "lcrun (pivot_root)".into(), &pivoted, &host_root, &rootfs),
        ],
    });
    let escaped = get(&jailed, "root") == host_root && get(&jailed, "marker") == MARKER_TEXT;
    ctx.expect(
        tr!(
            "from a chroot jail the escape reaches the host's / and reads its file",
            "从 chroot 监狱中，逃逸到达主机的 / 并读到了它的文件"
        ),
        ctx.t(&tr!("the host's / and its file", "主机的 / 和它的文件")),
        if escaped {
            ctx.t(&tr!("the host's / and its file", "主机的 / 和它的文件"))
        } else {
            ctx.t(&tr!("no escape", "没有逃逸"))
        },
        escaped,
        tr!(
            "chroot moves only the root: the cwd stays outside and \"..\" climbs past the old root",
            "chroot 只移动根：cwd 留在外面，\"..\" 可以越过原来的根往上走"
        ),
    );
    ctx.expect(
        tr!(
            "under lcrun --no-pivot \"..\" climbs out of the moved rootfs and the kernel steps back into it",
            "在 lcrun --no-pivot 下，\"..\" 爬出被移动的 rootfs 之后，内核又沿着挂载点回到它里面"
        ),
        "rootfs, ENOENT",
        format!("{}, {}", if get(&chrooted, "root") == rootfs { "rootfs".to_string() } else { ctx.word("elsewhere") }, get(&chrooted, "marker")),
        get(&chrooted, "root") == rootfs && get(&chrooted, "marker") == "ENOENT",
        tr!(
            "the rootfs is mounted on the host's /: the lookup of \"..\" lands on that mount point and follows the mount down",
            "rootfs 挂在主机的 / 上：\"..\" 的查找落在那个挂载点上，并顺着挂载回到下面"
        ),
    );
    ctx.expect(
        tr!(
            "under pivot_root the same moves end in the container's rootfs, the host file is ENOENT",
            "在 pivot_root 下，同样的操作停在容器的 rootfs 里，主机文件为 ENOENT"
        ),
        "rootfs, ENOENT",
        format!(
            "{}, {}",
            if get(&pivoted, "root") == rootfs { "rootfs".to_string() } else { ctx.word("elsewhere") },
            get(&pivoted, "marker")
        ),
        get(&pivoted, "root") == rootfs && get(&pivoted, "marker") == "ENOENT",
        tr!(
            "pivot_root + umount -l of the old root leaves nothing above the rootfs",
            "pivot_root 加上 umount -l 旧根之后，rootfs 之上什么也没有"
        ),
    );
    state.remember("chroot escape (pivot_root)", get(&pivoted, "marker"));
    let chrooted_pid = inits[0].1;
    state.rt()?.delete(ctx, CHROOTED, true, Some(chrooted_pid))?;
    state.inits.push(inits.remove(1));
    ctx.explore_in(state.init(DEFAULT)?);
    Ok(())
}

fn capabilities(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.init(DEFAULT)?;
    let eff = status_field(pid, "CapEff");
    let names = cap_names(&eff);
    let results = run_probe(state.rt()?, DEFAULT, &["mount"])?;
    ctx.observe(Observation::Values {
        title: tr!(
            "The init's capabilities (/proc/PID/status), and mount(2) inside:",
            "init 的 capability（/proc/PID/status），以及在里面调用 mount(2)："
        ),
        values: vec![
            ("CapEff".into(), Fact::text(eff.clone())),
            (ctx.t(&tr!("decoded", "解码")), Fact::text(names.join(" "))),
            ("mount -t tmpfs none /tmp".into(), Fact::text(get(&results, "mount"))),
        ],
    });
    ctx.set("count", Fact::Number(names.len() as i64));
    ctx.expect(
        tr!("CAP_SYS_ADMIN is not in the effective set", "有效集合里没有 CAP_SYS_ADMIN"),
        ctx.word("absent"),
        ctx.word(if names.iter().any(|n| n == "CAP_SYS_ADMIN") { "present" } else { "absent" }),
        !names.iter().any(|n| n == "CAP_SYS_ADMIN") && names.len() == 14,
        tr!("the config grants docker's 14 capabilities", "配置给的是 docker 的 14 个 capability"),
    );
    let mount = get(&results, "mount").to_string();
    ctx.expect_failure(
        tr!("mount(2) without CAP_SYS_ADMIN", "没有 CAP_SYS_ADMIN 时调用 mount(2)"),
        Failure::Errno(Errno::EPERM),
        answered(&mount),
        tr!(
            "mount needs CAP_SYS_ADMIN in the mount namespace's user namespace",
            "mount 需要 mount namespace 所属 user namespace 中的 CAP_SYS_ADMIN"
        ),
    );
    state.remember("mount(2)", mount);
    Ok(())
}

fn mountinfo_line(pid: i32, point: &str) -> String {
    // The last line for a mount point is the top mount, the one a lookup sees.
    labkit::mountinfo::read(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|m| m.mount_point == point)
        .map(|m| format!("{} - {}", m.options, m.fstype))
        .unwrap_or_else(|| "(no mount of its own)".into())
}

fn proc_paths(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.init(DEFAULT)?;
    let rt = state.rt()?;
    let mut args = vec!["open-write"];
    args.extend(READ_ONLY);
    let written = run_probe(rt, DEFAULT, &args)?;
    let mut args = vec!["read"];
    args.extend(MASKED);
    let read = run_probe(rt, DEFAULT, &args)?;
    let mut rows = Vec::new();
    // Whether /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ) and /proc/kcore (CONFIG_PROC_KCORE)
    // exist depends on the kernel: their results are host facts.
    let result = |path: &str, value: &str| {
        if path == READ_ONLY[0] || path == MASKED[0] {
            Fact::Host(value.to_string())
        } else {
            Fact::text(value)
        }
    };
    for path in READ_ONLY {
        rows.push(vec![Fact::text(path), Fact::text("open(O_WRONLY)"), result(path, get(&written, path))]);
    }
    for path in MASKED {
        rows.push(vec![Fact::text(path), Fact::text("read"), result(path, &read_shown(ctx, get(&read, path)))]);
    }
    ctx.observe(Observation::Table {
        title: tr!("Inside the container:", "在容器里："),
        columns: vec![ctx.t(&tr!("PATH", "路径")), ctx.t(&tr!("CALL", "调用")), "RESULT".into()],
        rows,
    });
    ctx.observe(Observation::Table {
        title: tr!(
            "What covers them (/proc/PID/mountinfo of the init):",
            "是什么盖住了它们（init 的 /proc/PID/mountinfo）："
        ),
        columns: vec![ctx.t(&tr!("PATH", "路径")), ctx.t(&tr!("OPTIONS - FSTYPE", "选项 - FSTYPE"))],
        rows: ["/proc/sys", "/proc/timer_list"]
            .iter()
            .map(|p| vec![Fact::text(*p), Fact::text(mountinfo_line(pid, p))])
            .collect(),
    });
    for path in READ_ONLY {
        let expected = if Path::new(path).exists() { "EROFS" } else { "ENOENT" };
        let found = get(&written, path).to_string();
        let label = tr!(
            format!("open({path}, O_WRONLY) on a read-only path"),
            format!("对只读路径执行 open({path}, O_WRONLY)")
        );
        let hint =
            tr!("readonlyPaths are bind mounts remounted read-only", "readonlyPaths 是重新挂载为只读的 bind mount");
        if path == READ_ONLY[0] {
            // Absent on kernels without CONFIG_MAGIC_SYSRQ: then the kernel says ENOENT.
            ctx.expect(label, expected, Fact::Host(found.clone()), found == expected, hint);
        } else {
            ctx.expect_failure(label, Failure::Errno(Errno::EROFS), answered(&found), hint);
        }
    }
    for path in MASKED {
        let expected = if Path::new(path).exists() { "0 bytes, char 1:3" } else { "ENOENT" };
        let found = get(&read, path).to_string();
        let (shown_expected, shown) = (read_shown(ctx, expected), read_shown(ctx, &found));
        let label = tr!(format!("{path} reads as /dev/null"), format!("{path} 读出来就是 /dev/null"));
        let hint = tr!("a masked file is /dev/null bind-mounted over it", "被屏蔽的文件上 bind mount 了 /dev/null");
        if path == MASKED[0] {
            ctx.expect(label, shown_expected, Fact::Host(shown), found == expected, hint);
        } else {
            ctx.expect(label, shown_expected, shown, found == expected, hint);
        }
    }
    state.remember("open /proc/sys/kernel/hostname for writing", get(&written, READ_ONLY[1]));
    state.remember("read /proc/timer_list", read_shown(ctx, get(&read, MASKED[1])));
    Ok(())
}

/// The container's cgroup directory in the devices hierarchy (v1), or its v2 directory.
fn cgroup_dir(pid: i32, v2: bool) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if v2 && controllers.is_empty() {
            Some(Path::new("/sys/fs/cgroup").join(rel))
        } else if !v2 && controllers.split(',').any(|c| c == "devices") {
            Some(Path::new("/sys/fs/cgroup/devices").join(rel))
        } else {
            None
        }
    })
}

fn is_v2() -> anyhow::Result<bool> {
    Ok(labcgroup::System::detect().context("detecting the cgroup layout")?.version() == labcgroup::Version::V2)
}

fn devices(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.init(DEFAULT)?;
    let v2 = is_v2()?;
    let (major, minor) = state.block;
    let (maj, min) = (major.to_string(), minor.to_string());
    let results = run_probe(state.rt()?, DEFAULT, &["device", NODE, &maj, &min])?;
    ctx.observe(Observation::Values {
        title: tr!("The host's root disk, made inside the container:", "在容器里创建的主机根磁盘设备节点："),
        values: vec![
            (
                ctx.t(&tr!("device (stat / on the host, else loop0)", "设备（主机上 stat / 所得，否则 loop0）")),
                Fact::Host(format!("b {major}:{minor}")),
            ),
            (ctx.t(&tr!("open on the host", "在主机上打开")), Fact::text(state.block_on_host.clone())),
            (format!("mknod {NODE} b MAJOR MINOR"), Fact::text(get(&results, "mknod"))),
            (format!("open({NODE}, O_RDONLY)"), Fact::text(get(&results, "open"))),
        ],
    });
    let dir = cgroup_dir(pid, v2);
    ctx.set("world", Fact::text(if v2 { "cgroup v2" } else { "cgroup v1" }));
    let mknod_ok = get(&results, "mknod") == "ok";
    ctx.expect(
        tr!(
            "mknod of a block device is allowed (CAP_MKNOD, rule b *:* m)",
            "允许 mknod 块设备（CAP_MKNOD，规则 b *:* m）"
        ),
        "ok",
        get(&results, "mknod"),
        mknod_ok,
        tr!(
            "docker's defaults keep CAP_MKNOD and allow mknod of any device",
            "docker 的默认设置保留 CAP_MKNOD，并允许 mknod 任何设备"
        ),
    );
    let open = get(&results, "open").to_string();
    if v2 {
        let files: Vec<String> = dir
            .as_ref()
            .and_then(|d| std::fs::read_dir(d).ok())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("devices."))
            .collect();
        let programs = match &dir {
            Some(d) => {
                labcgroup::devices::attached(d).map(|ids| ids.len().to_string()).unwrap_or_else(|e| e.to_string())
            }
            None => "(no cgroup found)".to_string(),
        };
        ctx.observe(Observation::Values {
            title: tr!("The container's cgroup (v2):", "容器的 cgroup（v2）："),
            values: vec![
                (
                    ctx.t(&tr!("devices.* files", "devices.* 文件")),
                    Fact::text(if files.is_empty() { ctx.word("none") } else { files.join(" ") }),
                ),
                (
                    ctx.t(&tr!(
                        "BPF_CGROUP_DEVICE programs (BPF_PROG_QUERY)",
                        "BPF_CGROUP_DEVICE 程序数（BPF_PROG_QUERY）"
                    )),
                    Fact::text(programs.clone()),
                ),
            ],
        });
        ctx.expect(
            tr!(
                "lcrun attached one eBPF device program to the container's cgroup",
                "lcrun 给容器的 cgroup 挂上了一个 eBPF 设备程序"
            ),
            "1",
            programs.clone(),
            programs == "1",
            tr!(
                "on v2 the device rules are compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program and attached with BPF_F_ALLOW_MULTI",
                "在 v2 上，设备规则被编译成 BPF_PROG_TYPE_CGROUP_DEVICE 程序，并以 BPF_F_ALLOW_MULTI 挂上"
            ),
        );
        ctx.expect_failure(
            tr!("open of the block device (the eBPF device program)", "打开这个块设备（eBPF 设备程序）"),
            Failure::Errno(Errno::EPERM),
            answered(&open),
            tr!(
                "the program allows b *:* m only, as devices.list does on v1: mknod, never read or write",
                "这个程序只允许 b *:* m，和 v1 上的 devices.list 一样：能 mknod，不能读写"
            ),
        );
    } else {
        let list = dir.as_ref().map(|d| d.join("devices.list"));
        let text = list.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
        ctx.observe(Observation::excerpt(
            Fact::text(ctx.t(&tr!("devices.list of the container's cgroup (v1)", "容器 cgroup 的 devices.list（v1）"))),
            &text,
        ));
        ctx.expect_failure(
            tr!("open of the block device (devices cgroup)", "打开这个块设备（devices cgroup）"),
            Failure::Errno(Errno::EPERM),
            answered(&open),
            tr!(
                "devices.list allows b *:* m only: mknod, never read or write",
                "devices.list 只允许 b *:* m：能 mknod，不能读写"
            ),
        );
    }
    state.remember("open the host's disk", open);
    Ok(())
}

fn no_new_privs(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.rt()?;
    let a = rt.exec(DEFAULT, Some("65534:65534"), &["/suid/id"])?;
    let mode = std::fs::metadata(state.rootfs.join("suid/busybox"))?.mode();
    let nnp = status_field(state.init(DEFAULT)?, "NoNewPrivs");
    let answer = if a.ok { a.stdout.trim().to_string() } else { a.stderr.lines().last().unwrap_or("").to_string() };
    ctx.observe(Observation::Values {
        title: tr!(
            "A setuid-root busybox, run as nobody inside:",
            "在里面以 nobody 身份运行一个 setuid-root 的 busybox："
        ),
        values: vec![
            (
                "/suid/busybox".into(),
                Fact::text(ctx.t(&tr!(
                    format!("mode {:o}, owner root", mode & 0o7777),
                    format!("权限 {:o}，属主 root", mode & 0o7777)
                ))),
            ),
            (ctx.t(&tr!("NoNewPrivs (the init's status)", "NoNewPrivs（init 的 status）")), Fact::text(nnp.clone())),
            ("exec --user 65534 /suid/id".into(), Fact::text(answer.clone())),
        ],
    });
    let refused = !a.ok && a.stderr.contains("setresuid: Operation not permitted");
    ctx.expect_eq(
        tr!("no_new_privs is set on the container's processes", "容器的进程设置了 no_new_privs"),
        "1",
        nnp,
        tr!(
            "process.noNewPrivileges: true makes the init call prctl(PR_SET_NO_NEW_PRIVS)",
            "process.noNewPrivileges: true 让 init 调用 prctl(PR_SET_NO_NEW_PRIVS)"
        ),
    );
    ctx.expect_failure(
        tr!(
            "the setuid bit gives no euid 0: busybox's own setresuid(0) is refused",
            "setuid 位没有带来 euid 0：busybox 自己的 setresuid(0) 被拒绝"
        ),
        Failure::Errno(Errno::EPERM),
        // busybox prints strerror: "id: setresuid: Operation not permitted".
        if refused { Err(anyhow::Error::from(Errno::EPERM).context(answer.clone())) } else { Ok(()) },
        tr!("with no_new_privs execve ignores the setuid bit", "有了 no_new_privs，execve 会忽略 setuid 位"),
    );
    state.remember(
        "setuid-root binary as nobody",
        if refused { ctx.t(&tr!("EPERM (euid stays 65534)", "EPERM（euid 仍是 65534）")) } else { answer },
    );
    Ok(())
}

fn seccomp(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.init(DEFAULT)?;
    let results = run_probe(state.rt()?, DEFAULT, &["seccomp"])?;
    ctx.observe(Observation::Values {
        title: tr!("The init's seccomp state, and two calls inside:", "init 的 seccomp 状态，以及在里面的两个调用："),
        values: vec![
            ("Seccomp".into(), Fact::text(status_field(pid, "Seccomp"))),
            ("Seccomp_filters".into(), Fact::text(status_field(pid, "Seccomp_filters"))),
            ("unshare(CLONE_NEWUSER)".into(), Fact::text(get(&results, "unshare"))),
            ("clone3(NULL, 0)".into(), Fact::text(get(&results, "clone3"))),
        ],
    });
    ctx.expect_eq(
        tr!("the init runs in seccomp filter mode", "init 运行在 seccomp filter 模式下"),
        "2",
        status_field(pid, "Seccomp"),
        tr!("Seccomp: 2 means SECCOMP_MODE_FILTER", "Seccomp: 2 表示 SECCOMP_MODE_FILTER"),
    );
    for (call, expected, hint) in [
        (
            "unshare",
            Errno::EPERM,
            tr!(
                "the profile's default action: SCMP_ACT_ERRNO with defaultErrnoRet 1 (no capability is needed for a user namespace)",
                "profile 的默认动作：SCMP_ACT_ERRNO，defaultErrnoRet 为 1（创建 user namespace 本不需要任何 capability）"
            ),
        ),
        (
            "clone3",
            Errno::ENOSYS,
            tr!("the profile's rule for clone3 has errnoRet 38 (ENOSYS)", "profile 中 clone3 的规则 errnoRet 为 38（ENOSYS）"),
        ),
    ] {
        let found = get(&results, call).to_string();
        ctx.expect_failure(
            tr!(format!("{call} refused by the seccomp profile"), format!("{call} 被 seccomp profile 拒绝")),
            Failure::Errno(expected),
            answered(&found),
            hint,
        );
    }
    state.remember("unshare(CLONE_NEWUSER)", get(&results, "unshare"));
    state.remember("clone3(NULL, 0)", get(&results, "clone3"));
    Ok(())
}

/// The fds of `pid` (read from the host) that point into lcrun's state root.
fn runtime_fds(pid: i32, root: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let fd: i64 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            target.starts_with(root).then_some((fd, target))
        })
        .collect();
    out.sort();
    out
}

fn fd_numbers(pid: i32) -> String {
    let mut fds: Vec<i64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    fds.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
}

fn leaked_fd(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.rt()?;
    let bundle = state.base.join(DEFAULT);
    let pid = rt.create(ctx, FD, &bundle, &[])?.map_err(|e| anyhow::anyhow!("lcrun create {FD}: {e}"))?;
    let root = std::fs::canonicalize(&rt.root)?;
    let held = runtime_fds(pid, &root);
    let dir_fd = held.iter().find(|(_, t)| t.is_dir() || t == &root.join(FD)).map(|(fd, _)| *fd);
    ctx.observe(Observation::Table {
        title: tr!(
            "Created, waiting for start: the init's fds into the runtime's state (/proc/PID/fd):",
            "已创建、等待 start：init 指向运行时状态目录的 fd（/proc/PID/fd）："
        ),
        columns: vec!["FD".into(), ctx.t(&tr!("TARGET (on the host)", "目标（在主机上）"))],
        rows: held.iter().map(|(fd, t)| vec![Fact::Number(*fd), Fact::TempPath(t.display().to_string())]).collect(),
    });
    rt.start(FD)?;
    let after_start = fd_numbers(pid);
    let inside = run_probe(rt, FD, &["fds"])?;
    let dir_fd = dir_fd.context("the created init holds no fd of its state directory")?;
    let cwd = format!("/proc/self/fd/{dir_fd}");
    let attack = cve_attempt(ctx, state, CVE, &cwd, docker_defaults)?;
    ctx.observe(Observation::Values {
        title: tr!("After start, and the CVE-2024-21626 attack:", "start 之后，以及 CVE-2024-21626 攻击："),
        values: vec![
            (ctx.t(&tr!("ls /proc/INIT/fd (host)", "ls /proc/INIT/fd（在主机上）")), Fact::text(after_start.clone())),
            (
                ctx.t(&tr!("ls /proc/self/fd (exec inside)", "ls /proc/self/fd（exec 进里面）")),
                Fact::text(get(&inside, "fds")),
            ),
            (
                format!("process.cwd = {cwd}"),
                Fact::text(match &attack {
                    Ok(_) => {
                        ctx.t(&tr!("created: the process starts outside its root", "已创建：进程在它的根之外启动"))
                    }
                    Err(e) => e.lines().last().unwrap_or("").trim_start_matches("lcrun: ").to_string(),
                }),
            ),
        ],
    });
    ctx.set("fd", Fact::Number(dir_fd));
    ctx.expect(
        tr!("while created, the init holds its state directory open", "处于 created 状态时，init 打开着自己的状态目录"),
        ctx.t(&tr!("an fd of the state dir", "状态目录的一个 fd")),
        format!("fd {dir_fd}"),
        true,
        tr!("the init opens exec.fifo through it after pivot_root", "init 在 pivot_root 之后通过它打开 exec.fifo"),
    );
    ctx.expect_eq(
        tr!("after start the container's program has only fds 0 1 2", "start 之后容器里的程序只有 fd 0 1 2"),
        "0 1 2",
        after_start,
        tr!("the init closes every fd from 3 up just before execve", "init 在 execve 之前关闭 3 及以上的所有 fd"),
    );
    ctx.expect_eq(
        tr!("an exec'd process sees only 0 1 2 in /proc/self/fd", "exec 进去的进程在 /proc/self/fd 中只看到 0 1 2"),
        "0 1 2",
        get(&inside, "fds"),
        tr!("lcrun exec closes inherited fds too", "lcrun exec 同样会关闭继承来的 fd"),
    );
    let refused = refused(&attack);
    ctx.expect_failure(
        tr!(
            format!("a container whose cwd is /proc/self/fd/{dir_fd} (the runtime's fd)"),
            format!("cwd 为 /proc/self/fd/{dir_fd}（运行时的 fd）的容器")
        ),
        Failure::Labctl { what: "refused: outside the container's root", is: |e| format!("{e:#}").contains(REFUSAL) },
        match &attack {
            Err(why) => Err(anyhow::anyhow!("{}", why.lines().last().unwrap_or("").trim_start_matches("lcrun: "))),
            Ok(_) => Ok(()),
        },
        tr!(
            "the init must check getcwd() after chdir: ENOENT means the cwd is outside its root",
            "init 必须在 chdir 之后检查 getcwd()：ENOENT 表示 cwd 在它的根之外"
        ),
    );
    state.remember(
        "cwd through a runtime's fd (CVE-2024-21626)",
        if refused { ctx.word("refused") } else { ctx.t(&tr!("not refused", "没有被拒绝")) },
    );
    state.cve_cwd = cwd;
    state.rt()?.delete(ctx, FD, true, Some(pid))?;
    Ok(())
}

/// Creates container `id` whose process.cwd is `cwd` (a runtime's fd): Err(the runtime's
/// refusal), or the init's pid — then deleted at once, since its process lives outside.
fn cve_attempt(
    ctx: &mut Ctx,
    state: &State,
    id: &str,
    cwd: &str,
    defaults: fn(&mut Value),
) -> anyhow::Result<Result<i32, String>> {
    let rt = state.rt()?;
    let dir = state.base.join(id);
    write_bundle(rt, &dir, &state.rootfs, |c| {
        defaults(c);
        c["process"]["cwd"] = json!(cwd);
    })?;
    let attack = rt.create(ctx, id, &dir, &[])?;
    if let Ok(pid) = attack {
        rt.delete(ctx, id, true, Some(pid))?;
    }
    Ok(attack)
}

/// How lcrun words its CVE-2024-21626 refusal.
const REFUSAL: &str = "outside the container's root";

fn refused(attack: &Result<i32, String>) -> bool {
    attack.as_ref().err().is_some_and(|e| e.contains(REFUSAL))
}

/// A probe's answer as a result: `ok`, or the errno it names (so checks compare errnos).
fn answered(answer: &str) -> anyhow::Result<()> {
    if answer == "ok" {
        return Ok(());
    }
    match (1..4096).map(Errno::from_raw).find(|e| format!("{e:?}") == answer) {
        Some(errno) => Err(errno.into()),
        None => Err(anyhow::anyhow!("{answer}")),
    }
}

fn privileged(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.rt()?;
    let dir = state.base.join(PRIVILEGED);
    write_bundle(rt, &dir, &state.rootfs, privileged_config)?;
    let pid = rt.create(ctx, PRIVILEGED, &dir, &[])?.map_err(|e| anyhow::anyhow!("lcrun create {PRIVILEGED}: {e}"))?;
    rt.start(PRIVILEGED)?;
    let marker = state.marker.to_str().context("marker path")?;
    let escape = run_probe(rt, PRIVILEGED, &["chroot-escape", marker])?;
    let mount = run_probe(rt, PRIVILEGED, &["mount"])?;
    let written = run_probe(rt, PRIVILEGED, &["open-write", READ_ONLY[1]])?;
    let read = run_probe(rt, PRIVILEGED, &["read", MASKED[1]])?;
    let (major, minor) = state.block;
    let device = run_probe(rt, PRIVILEGED, &["device", NODE, &major.to_string(), &minor.to_string()])?;
    let setuid = rt.exec(PRIVILEGED, Some("65534:65534"), &["/suid/id"])?;
    let sec = run_probe(rt, PRIVILEGED, &["seccomp"])?;
    let cwd = state.cve_cwd.clone();
    let cve = if refused(&cve_attempt(ctx, state, PRIVILEGED_CVE, &cwd, privileged_config)?) {
        ctx.word("refused")
    } else {
        ctx.t(&tr!("not refused", "没有被拒绝"))
    };
    let euid =
        if setuid.ok { setuid.stdout.trim().rsplit(' ').next().unwrap_or("").to_string() } else { setuid.stderr };
    let read_answer = get(&read, MASKED[1]).to_string();
    let timer_bytes = read_answer.split(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    let privileged_answers: Vec<Fact> = vec![
        Fact::text(get(&escape, "marker")),
        Fact::text(get(&mount, "mount")),
        Fact::text(get(&written, READ_ONLY[1])),
        if timer_bytes > 0 {
            Fact::Measured(read_shown(ctx, &read_answer))
        } else {
            Fact::text(read_shown(ctx, &read_answer))
        },
        Fact::Host(get(&device, "open").to_string()),
        Fact::text(euid.clone()),
        Fact::text(get(&sec, "unshare")),
        Fact::text(get(&sec, "clone3")),
        Fact::text(cve),
    ];
    let eff = cap_names(&status_field(pid, "CapEff"));
    ctx.observe(Observation::Values {
        title: tr!("The privileged container's init:", "特权容器的 init："),
        values: vec![
            (
                "CapEff".into(),
                Fact::Host(ctx.t(&tr!(
                    format!("{} capabilities (all this kernel has)", eff.len()),
                    format!("{} 个 capability（这个内核的全部）", eff.len())
                ))),
            ),
            ("Seccomp".into(), Fact::text(status_field(pid, "Seccomp"))),
            ("NoNewPrivs".into(), Fact::text(status_field(pid, "NoNewPrivs"))),
        ],
    });
    let mut rows = Vec::new();
    for ((attempt, default), privileged) in state.defaults.iter().zip(privileged_answers) {
        rows.push(vec![Fact::text(attempt_name(ctx, attempt)), Fact::text(default.clone()), privileged]);
    }
    ctx.observe(Observation::Table {
        title: tr!("Each attempt, with the defaults and privileged:", "每次尝试，默认设置下与特权模式下："),
        columns: ["ATTEMPT", "DEFAULTS", "PRIVILEGED"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let checks = [
        ("mount(2)", get(&mount, "mount") == "ok"),
        ("open /proc/sys/kernel/hostname for writing", get(&written, READ_ONLY[1]) == "ok"),
        ("read /proc/timer_list", timer_bytes > 0),
        ("setuid-root binary as nobody", euid == "euid=0(root)"),
        ("unshare(CLONE_NEWUSER)", get(&sec, "unshare") == "ok"),
        ("clone3(NULL, 0) answered by the kernel (EINVAL)", get(&sec, "clone3") == "EINVAL"),
    ];
    let reopened: Vec<&str> = checks.iter().filter(|(_, ok)| *ok).map(|(n, _)| *n).collect();
    let closed: Vec<String> = checks.iter().filter(|(_, ok)| !*ok).map(|(n, _)| attempt_name(ctx, n)).collect();
    ctx.set("reopened", Fact::Number(reopened.len() as i64));
    let of = |k: usize, n: usize| ctx.t(&tr!(format!("{k} of {n}"), format!("{n} 项中的 {k} 项")));
    ctx.expect(
        tr!("privileged turns every one of these back on", "特权模式把这些全部重新打开"),
        of(checks.len(), checks.len()),
        if closed.is_empty() {
            of(reopened.len(), checks.len())
        } else {
            ctx.t(&tr!(format!("still closed: {}", closed.join(", ")), format!("仍然关着：{}", closed.join("、"))))
        },
        closed.is_empty(),
        tr!(
            "the privileged config has every capability, no seccomp, no masked paths, no no_new_privs",
            "特权配置拥有全部 capability，没有 seccomp、没有屏蔽路径、没有 no_new_privs"
        ),
    );
    ctx.expect_eq(
        tr!(
            "pivot_root still holds: the chroot escape finds no host file",
            "pivot_root 依然有效：chroot 逃逸找不到主机文件"
        ),
        "ENOENT",
        get(&escape, "marker"),
        tr!(
            "privileged changes capabilities and filters, not the root switch",
            "特权模式改变的是 capability 和过滤器，而不是根目录的切换"
        ),
    );
    ctx.expect_eq(
        tr!("the disk opens as it does on the host", "磁盘的打开结果与在主机上相同"),
        Fact::text(state.block_on_host.clone()),
        Fact::text(get(&device, "open")),
        tr!(
            "linux.resources.devices allow-all (devices.allow a *:* rwm on v1)",
            "linux.resources.devices 全部允许（v1 上为 devices.allow a *:* rwm）"
        ),
    );
    state.inits.push((PRIVILEGED.into(), pid));
    Ok(())
}

/// The probe's answer to a read ("N bytes, char MAJ:MIN", or an errno), in the run's language.
fn read_shown(ctx: &Ctx, answer: &str) -> String {
    match answer.split_once(" bytes, char ") {
        Some((n, dev)) => ctx.t(&tr!(answer, format!("{n} 字节，字符设备 {dev}"))),
        None => answer.to_string(),
    }
}

/// An attempt of the privileged comparison, in the run's language.
fn attempt_name(ctx: &Ctx, attempt: &str) -> String {
    let zh = match attempt {
        "chroot escape (pivot_root)" => "chroot 逃逸（pivot_root）",
        "open /proc/sys/kernel/hostname for writing" => "以写方式打开 /proc/sys/kernel/hostname",
        "read /proc/timer_list" => "读 /proc/timer_list",
        "open the host's disk" => "打开主机的磁盘",
        "setuid-root binary as nobody" => "以 nobody 运行 setuid-root 程序",
        "cwd through a runtime's fd (CVE-2024-21626)" => "经由运行时的 fd 设置 cwd（CVE-2024-21626）",
        "clone3(NULL, 0) answered by the kernel (EINVAL)" => "clone3(NULL, 0) 由内核答复（EINVAL）",
        // mount(2), unshare(CLONE_NEWUSER), clone3(NULL, 0): calls, the same in both languages.
        other => other,
    };
    ctx.t(&tr!(attempt, zh))
}

fn cgroup_left(id: &str) -> usize {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/labctl/lcrun").join(id)];
    for entry in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        dirs.push(entry.path().join("labctl/lcrun").join(id));
    }
    dirs.iter().filter(|d| d.exists()).count()
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let undone = ctx.undo_now();
    let alive = state.inits.iter().filter(|(_, pid)| !labkit::testing::process_gone(*pid)).count();
    let cgroups: usize =
        [CHROOTED, DEFAULT, FD, CVE, PRIVILEGED, PRIVILEGED_CVE].iter().map(|id| cgroup_left(id)).sum();
    ctx.observe(Observation::Values {
        title: tr!("After lcrun delete --force and the undo:", "lcrun delete --force 并撤销之后："),
        values: vec![
            (ctx.t(&tr!("undone", "已撤销的对象")), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("container inits alive", "仍在运行的容器 init")), Fact::Number(alive as i64)),
            (ctx.t(&tr!("cgroups of lcsec-* left", "残留的 lcsec-* cgroup")), Fact::Number(cgroups as i64)),
            (
                ctx.t(&tr!("the lab's directory", "实验目录")),
                Fact::text(ctx.word(if state.base.exists() { "still there" } else { "removed" })),
            ),
        ],
    });
    ctx.expect_eq(
        tr!("no container is left running", "没有残留运行中的容器"),
        Fact::Number(0),
        Fact::Number(alive as i64),
        tr!("lcrun delete --force kills the init", "lcrun delete --force 会杀掉 init"),
    );
    ctx.expect_eq(
        tr!("no container cgroup is left", "没有残留的容器 cgroup"),
        Fact::Number(0),
        Fact::Number(cgroups as i64),
        tr!(
            "lcrun delete removes the container's cgroup in every hierarchy",
            "lcrun delete 会在每个层级中删除容器的 cgroup"
        ),
    );
    ctx.expect(
        tr!("the bundles and the state root are gone", "bundle 和状态根目录都已删除"),
        ctx.word("removed"),
        ctx.word(if state.base.exists() { "still there" } else { "removed" }),
        !state.base.exists(),
        tr!("the lab removes its directory last", "实验最后删除自己的目录"),
    );
    Ok(())
}

/// The challenge: a container of the default lcrun root (`labctl runtime run -d …`) whose
/// init has a seccomp filter, no_new_privs, no CAP_SYS_ADMIN, and /proc/timer_list masked.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let root = crate::Root::new(crate::state::DEFAULT_ROOT);
    let running: Vec<crate::state::OciState> =
        crate::list(&root).into_iter().filter(|s| s.status == crate::Status::Running).collect();
    let hardened = |pid: i32| {
        let masked = std::fs::metadata(format!("/proc/{pid}/root/proc/timer_list"))
            .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == nix::sys::stat::makedev(1, 3));
        status_field(pid, "Seccomp") == "2"
            && status_field(pid, "NoNewPrivs") == "1"
            && !cap_names(&status_field(pid, "CapEff")).iter().any(|c| c == "CAP_SYS_ADMIN")
            && masked
    };
    let found = running.iter().find(|s| hardened(s.pid));
    ctx.expect(
        tr!(
            format!("a running container of {} is locked down", crate::state::DEFAULT_ROOT),
            format!("{} 中有一个运行中的容器被锁紧了", crate::state::DEFAULT_ROOT)
        ),
        ctx.t(&tr!(
            "seccomp, no_new_privs, no CAP_SYS_ADMIN, /proc/timer_list masked",
            "seccomp、no_new_privs、没有 CAP_SYS_ADMIN、/proc/timer_list 被屏蔽"
        )),
        match found {
            Some(s) => format!("{} (pid {})", s.id, s.pid),
            None => ctx.t(&tr!(
                format!("none of {} running container(s)", running.len()),
                format!("{} 个运行中的容器都不是", running.len())
            )),
        },
        found.is_some(),
        tr!(
            "lcrun spec gives masked paths and no_new_privs; add a linux.seccomp section, then: sudo labctl runtime run -d --bundle DIR mybox",
            "lcrun spec 已经带有屏蔽路径和 no_new_privs；再加上 linux.seccomp 一节，然后：sudo labctl runtime run -d --bundle DIR mybox"
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Inside the container

fn errno_of(e: &std::io::Error) -> String {
    e.raw_os_error().map_or_else(|| e.to_string(), |n| format!("{:?}", Errno::from_raw(n)))
}

fn outcome<T>(result: nix::Result<T>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// `labctl security-probe ATTEMPT ARGS…`, run inside a container: makes the calls of one
/// attempt and prints `name=result` (`ok`, an errno name, or what was read) per call.
pub fn probe(args: &[String]) -> i32 {
    let (attempt, rest) = match args.split_first() {
        Some((a, rest)) => (a.as_str(), rest),
        None => ("", &[][..]),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    match attempt {
        "chroot-escape" => {
            let (jail, marker) = match rest {
                [flag, jail, marker] if flag == "--jail" => (Some(jail), marker),
                [marker] => (None, marker),
                _ => return usage(),
            };
            if let Some(jail) = jail {
                // What chroot(8) does: the jail of a "container" made with chroot alone.
                if nix::unistd::chroot(jail.as_str()).and_then(|_| nix::unistd::chdir("/")).is_err() {
                    return usage();
                }
            }
            let _ = std::fs::create_dir("/tmp/lcjail");
            out.push(("chroot".into(), outcome(nix::unistd::chroot("/tmp/lcjail"))));
            // The cwd is still the old root, outside the new one: ".." is not stopped there.
            for _ in 0..64 {
                let _ = nix::unistd::chdir("..");
            }
            out.push(("chroot-dot".into(), outcome(nix::unistd::chroot("."))));
            let root = std::fs::metadata("/").map(|m| format!("{}:{}", m.dev(), m.ino()));
            out.push(("root".into(), root.unwrap_or_else(|e| errno_of(&e))));
            let read = std::fs::read_to_string(marker);
            out.push(("marker".into(), read.map(|t| t.trim().to_string()).unwrap_or_else(|e| errno_of(&e))));
        }
        "mount" => {
            use nix::mount::{mount, umount, MsFlags};
            let result = mount(Some("none"), "/tmp", Some("tmpfs"), MsFlags::empty(), None::<&str>);
            if result.is_ok() {
                let _ = umount("/tmp");
            }
            out.push(("mount".into(), outcome(result)));
        }
        "open-write" => {
            for path in rest {
                // Opened, never written: on a host without the guard, a write to sysrq-trigger acts.
                let result = std::fs::OpenOptions::new().write(true).open(path);
                out.push((path.clone(), result.map(|_| "ok".to_string()).unwrap_or_else(|e| errno_of(&e))));
            }
        }
        "read" => {
            for path in rest {
                let answer = match (std::fs::read(path), std::fs::metadata(path)) {
                    (Ok(bytes), Ok(meta)) if meta.file_type().is_char_device() => format!(
                        "{} bytes, char {}:{}",
                        bytes.len(),
                        nix::sys::stat::major(meta.rdev()),
                        nix::sys::stat::minor(meta.rdev())
                    ),
                    (Ok(bytes), _) => format!("{} bytes", bytes.len()),
                    (Err(e), _) => errno_of(&e),
                };
                out.push((path.clone(), answer));
            }
        }
        "device" => {
            let (Some(node), Some(major), Some(minor)) = (rest.first(), rest.get(1), rest.get(2)) else {
                return usage();
            };
            let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else { return usage() };
            use nix::sys::stat::{makedev, mknod, Mode, SFlag};
            let made = mknod(node.as_str(), SFlag::S_IFBLK, Mode::from_bits_truncate(0o600), makedev(major, minor));
            out.push(("mknod".into(), outcome(made)));
            // Opened read-only and closed at once: nothing is read from the disk.
            let open = std::fs::File::open(node);
            out.push(("open".into(), open.map(|_| "ok".to_string()).unwrap_or_else(|e| errno_of(&e))));
        }
        "seccomp" => {
            out.push(("unshare".into(), outcome(nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER))));
            out.push(("clone3".into(), format!("{:?}", labkit::sys::clone3_without_arguments())));
        }
        "fds" => {
            let dir = std::fs::read_dir("/proc/self/fd");
            let mut fds: Vec<i64> = Vec::new();
            for entry in dir.into_iter().flatten().flatten() {
                // read_dir's own fd points at this very directory: not one we inherited.
                let own = std::fs::read_link(entry.path()).is_ok_and(|t| t.ends_with("fd") && t.starts_with("/proc"));
                if let (false, Some(fd)) = (own, entry.file_name().to_str().and_then(|n| n.parse().ok())) {
                    fds.push(fd);
                }
            }
            fds.sort();
            out.push(("fds".into(), fds.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")));
        }
        _ => return usage(),
    }
    for (name, value) in out {
        println!("{name}={value}");
    }
    0
}

fn usage() -> i32 {
    eprintln!(
        "labctl security-probe: run by the container-security lab inside its containers \
         (chroot-escape [--jail DIR] FILE | mount | open-write PATH… | read PATH… | device NODE MAJOR MINOR | seccomp | fds)"
    );
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_masks_decode_to_names() {
        assert_eq!(cap_names("0000000000200000"), ["CAP_SYS_ADMIN"]);
        assert_eq!(cap_names("0000000000000401"), ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
        assert!(cap_names("0").is_empty());
    }

    #[test]
    fn the_interpreter_of_this_test_binary_is_found_or_absent_when_static() {
        let exe = std::env::current_exe().unwrap();
        if let Some(interp) = elf_interpreter(&exe).unwrap() {
            assert!(interp.is_absolute() && interp.exists(), "{}", interp.display());
        }
        assert_eq!(elf_interpreter(Path::new("/proc/self/status")).unwrap(), None);
    }

    #[test]
    fn the_privileged_config_drops_every_guard() {
        let mut config = json!({"process": {"noNewPrivileges": true}, "linux": {"seccomp": {}, "maskedPaths": ["/proc/kcore"], "resources": {}}});
        privileged_config(&mut config);
        assert!(config["linux"].get("seccomp").is_none());
        assert_eq!(config["linux"]["maskedPaths"], json!([]));
        assert_eq!(config["process"]["noNewPrivileges"], json!(false));
        assert!(config["process"]["capabilities"]["effective"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN"));
    }
}
