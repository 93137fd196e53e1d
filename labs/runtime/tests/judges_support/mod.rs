//! Shared by the judges (tests/judges.rs) and the benchmark (benches/run.rs): the runtime under
//! judgement, a busybox bundle, crun made usable on a hybrid host, and the leak checks.
#![allow(dead_code)] // the benchmark uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The runtime under judgement: `$LCRUN_JUDGE_RUNTIME` (e.g. /usr/sbin/runc, to check the judges
/// themselves), else the lcrun this crate builds.
pub fn runtime() -> PathBuf {
    std::env::var_os("LCRUN_JUDGE_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_lcrun")))
}

pub const RUNC: &str = "/usr/sbin/runc";
pub const CRUN: &str = "/usr/bin/crun";

/// The host runs cgroup v1 with a cgroup2 hierarchy at /sys/fs/cgroup/unified (hybrid).
pub fn hybrid() -> bool {
    mountinfo().iter().any(|m| m.target == "/sys/fs/cgroup/unified" && m.fstype == "cgroup2")
}

/// `PROGRAM ARGS…` for a runtime. crun 1.8.1 refuses the hybrid layout ("cgroups in hybrid mode not
/// supported"), so on a hybrid host it runs in a private mount namespace without the unified
/// hierarchy; the host's own mounts are untouched.
pub fn runtime_command(program: &Path) -> Command {
    if program.file_name().is_some_and(|n| n == "crun") && hybrid() {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", r#"umount /sys/fs/cgroup/unified && exec "$0" "$@""#]);
        cmd.arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Runs a command to the end, stdin closed; panics (naming it) when it cannot start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Debian's static busybox (package busybox-static).
pub fn static_busybox() -> PathBuf {
    let listed = ok(Command::new("dpkg").args(["-L", "busybox-static"]));
    let path = listed
        .lines()
        .find(|l| l.ends_with("/bin/busybox"))
        .unwrap_or_else(|| panic!("busybox-static lists no bin/busybox (apt-get install busybox-static)"));
    PathBuf::from(path)
}

/// A busybox root filesystem in `dir`: the static binary, its applet links, passwd and group.
pub fn busybox_rootfs(dir: &Path) {
    for sub in ["bin", "dev", "proc", "sys", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let busybox = dir.join("bin/busybox");
    std::fs::copy(static_busybox(), &busybox).unwrap();
    for applet in ok(Command::new(&busybox).arg("--list")).split_whitespace() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// An OCI bundle in `dir`: a busybox rootfs and runc's default config.json (`runc spec`, an
/// independent author of the default), with `terminal` off, the given args and cgroupsPath.
pub fn busybox_bundle(dir: &Path, args: &[&str], cgroups_path: &str) {
    busybox_rootfs(&dir.join("rootfs"));
    ok(Command::new(RUNC).args(["spec", "--bundle"]).arg(dir));
    edit_config(dir, |c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = args.into();
        c["linux"]["cgroupsPath"] = cgroups_path.into();
    });
}

pub fn edit_config(bundle: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// A line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    pub root: String,
    pub target: String,
    pub options: String,
    pub fstype: String,
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            Some(Mount {
                id: f.first()?.parse().ok()?,
                parent: f.get(1)?.parse().ok()?,
                root: f.get(3)?.to_string(),
                target: f.get(4)?.to_string(),
                options: f.get(5)?.to_string(),
                fstype: right.split(' ').next()?.to_string(),
            })
        })
        .collect()
}

pub fn mountinfo() -> Vec<Mount> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap())
}

/// Mount points at or below `dir` in our mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    mountinfo()
        .into_iter()
        .filter(|m| m.target == dir || m.target.starts_with(&format!("{dir}/")))
        .map(|m| m.target)
        .collect()
}

/// Unmounts everything at or below `dir`, deepest first (lazily when busy).
pub fn unmount_under(dir: &Path) {
    for _ in 0..3 {
        let mut mounts = mounts_under(dir);
        if mounts.is_empty() {
            return;
        }
        mounts.sort_by(|a, b| b.cmp(a));
        for m in mounts {
            if !output(Command::new("umount").arg(&m)).status.success() {
                let _ = output(Command::new("umount").arg("-l").arg(&m));
            }
        }
    }
}

/// Every cgroup hierarchy mounted here (v1: one per controller and name=systemd; hybrid: plus
/// unified; pure v2: /sys/fs/cgroup).
pub fn hierarchies() -> Vec<PathBuf> {
    mountinfo().into_iter().filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2").map(|m| m.target.into()).collect()
}

/// The cgroup `rel` (e.g. `labctl/jpodman`) in every hierarchy where it exists.
pub fn cgroups_named(rel: &str) -> Vec<PathBuf> {
    hierarchies().into_iter().map(|h| h.join(rel)).filter(|p| p.is_dir()).collect()
}

fn pids_below(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(text) = std::fs::read_to_string(d.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.parse::<i32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            stack.extend(entries.flatten().filter(|e| e.path().is_dir()).map(|e| e.path()));
        }
    }
    pids
}

/// Removes the cgroup `rel` and everything below it in every hierarchy: kills what is still inside
/// (only what our test started lives there), rmdirs deepest first, then `labctl` when it is empty.
/// Returns what could not be removed.
pub fn remove_cgroup_tree(rel: &str) -> Vec<String> {
    for dir in cgroups_named(rel) {
        for _ in 0..50 {
            let pids = pids_below(&dir);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let mut dirs = vec![];
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            if let Ok(entries) = std::fs::read_dir(&d) {
                stack.extend(entries.flatten().filter(|e| e.path().is_dir()).map(|e| e.path()));
            }
            dirs.push(d);
        }
        for d in dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    for h in hierarchies() {
        let _ = std::fs::remove_dir(h.join("labctl"));
    }
    cgroups_named(rel).into_iter().map(|p| p.display().to_string()).collect()
}

/// Processes (other than us) whose command line mentions `needle`: conmon, containerd, its shims,
/// a runtime left waiting.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(needle) && !labkit::testing::process_gone(name.parse().unwrap()) {
                found.push(format!("{name}: {}", cmdline.trim()));
            }
        }
    }
    found
}

/// Kills (SIGKILL, by pid) every process whose command line mentions `needle`: ours, by the name
/// of our temp dir.
pub fn kill_processes_mentioning(needle: &str) {
    for line in processes_mentioning(needle) {
        if let Some(pid) = line.split(':').next().and_then(|p| p.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The entries of lcrun's default state directory, to compare before and after a test.
pub fn runtime_state_entries() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/labctl/runtime")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// A temp dir under /tmp, mode 0755 (containers' users must reach their bundles below it).
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}
