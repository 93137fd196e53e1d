//! The overlay tool as a learner runs it: mounts, bad input, and leaks after Ctrl-C.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_laboverlay"));
    cmd.stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    tool().args(args).output().expect("run laboverlay")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory whose name carries the labctl prefix (leftover scans find it).
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("labctl-overlay-test-").tempdir().unwrap()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

fn seed(dir: &Path) -> [String; 5] {
    for d in ["l1", "l2", "upper", "work", "merged"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("l1/base"), "l1").unwrap();
    std::fs::write(dir.join("l2/base"), "l2").unwrap();
    ["l1", "l2", "upper", "work", "merged"].map(|d| dir.join(d).display().to_string())
}

fn guard() -> Option<nix::fcntl::Flock<std::fs::File>> {
    if !labkit::testing::require_root("overlay cli test") {
        return None;
    }
    Some(labkit::testing::kernel_lock())
}

#[test]
fn mount_diff_layer_apply_and_umount() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [l1, l2, upper, work, merged] = seed(dir.path());
    let lowers = format!("{l2}:{l1}");
    let out = run(&["mount", "--lower", &lowers, "--upper", &upper, "--work", &work, &merged]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("merged/base")).unwrap(), "l2", "leftmost wins");
    std::fs::write(dir.path().join("merged/new"), "n").unwrap();
    std::fs::remove_file(dir.path().join("merged/base")).unwrap();
    let out = run(&["umount", &merged]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(mounts_under(dir.path()).is_empty());

    let out = run(&["diff", &upper, "--lower", &lowers]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "D /base\nA /new\n");
    let tar = dir.path().join("layer.tar").display().to_string();
    let out = run(&["layer", &upper, "-o", &tar, "--mtime", "0", "--owner", "0:0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["apply", &tar, &l2]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.path().join("l2/base").exists(), "the whiteout removed l2/base");
    assert!(dir.path().join("l2/new").exists());
}

#[test]
fn ctrl_c_while_holding_a_mount_unmounts_it() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [l1, _l2, upper, work, merged] = seed(dir.path());
    let mut child = tool()
        .args(["mount", "--lower", &l1, "--upper", &upper, "--work", &work, &merged, "--hold"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while mounts_under(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "the mount never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(mounts_under(dir.path()).is_empty(), "left: {:?}", mounts_under(dir.path()));
}

/// Runs the walkthrough with stdout on a one-page pipe we do not read: the lab blocks writing
/// its transcript mid-way, with overlays mounted; SIGINT must still unmount everything.
#[test]
fn ctrl_c_in_the_middle_of_the_lab_leaves_no_mount() {
    let Some(_g) = guard() else { return };
    let lab_dir = labkit::paths::run_dir().join("overlay-lab");
    let (reader, writer) = nix::unistd::pipe().unwrap();
    nix::fcntl::fcntl(std::os::fd::AsRawFd::as_raw_fd(&writer), nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let mut child = tool().args(["lab"]).stdout(Stdio::from(writer)).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Wait until the lab has mounted and then stalled on the full pipe.
    loop {
        assert!(Instant::now() < deadline, "the lab never mounted anything");
        let state = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        let sleeping = state.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('S'));
        if !mounts_under(&lab_dir).is_empty() && sleeping {
            std::thread::sleep(Duration::from_millis(200));
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mounted = mounts_under(&lab_dir);
    assert!(!mounted.is_empty());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    drop(reader);
    assert_eq!(status.code(), Some(130), "interrupted with {mounted:?} mounted");
    assert!(mounts_under(&lab_dir).is_empty(), "left: {:?}", mounts_under(&lab_dir));
    assert!(!lab_dir.exists(), "{} left behind", lab_dir.display());
}

fn assert_refused(out: &Output, words: &[&str]) {
    assert!(!out.status.success(), "should have failed");
    let err = stderr(out);
    for w in words {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

#[test]
fn a_missing_lowerdir_is_named() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [_l1, _l2, upper, work, merged] = seed(dir.path());
    let missing = dir.path().join("nope").display().to_string();
    assert_refused(
        &run(&["mount", "--lower", &missing, "--upper", &upper, "--work", &work, &merged]),
        &["lowerdir", "nope", "does not exist"],
    );
}

#[test]
fn a_missing_or_non_empty_workdir_is_refused() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [l1, _l2, upper, _work, merged] = seed(dir.path());
    let absent = dir.path().join("absent").display().to_string();
    assert_refused(
        &run(&["mount", "--lower", &l1, "--upper", &upper, "--work", &absent, &merged]),
        &["workdir", "does not exist"],
    );
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes"), "x").unwrap();
    assert_refused(
        &run(&["mount", "--lower", &l1, "--upper", &upper, "--work", &busy.display().to_string(), &merged]),
        &["workdir", "not empty", "notes"],
    );
    assert!(mounts_under(dir.path()).is_empty());
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn mount_fs(fstype: &str, target: &Path) -> Mounted {
    std::fs::create_dir_all(target).unwrap();
    nix::mount::mount(Some("labctl-test"), target, Some(fstype), nix::mount::MsFlags::empty(), Some("size=1m"))
        .unwrap_or_else(|e| panic!("mount {fstype}: {e}"));
    Mounted(target.to_path_buf())
}

#[test]
fn upper_and_work_on_different_filesystems_are_refused() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [l1, _l2, upper, _work, merged] = seed(dir.path());
    let _tmpfs = mount_fs("tmpfs", &dir.path().join("tmpfs"));
    std::fs::create_dir(dir.path().join("tmpfs/work")).unwrap();
    let work = dir.path().join("tmpfs/work").display().to_string();
    assert_refused(
        &run(&["mount", "--lower", &l1, "--upper", &upper, "--work", &work, &merged]),
        &["different filesystems", "tmpfs", "rename(2)"],
    );
}

#[test]
fn an_upper_without_xattrs_mounts_with_an_explanation() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let [l1, _l2, _upper, _work, merged] = seed(dir.path());
    let _ramfs = mount_fs("ramfs", &dir.path().join("ramfs"));
    for d in ["upper", "work"] {
        std::fs::create_dir(dir.path().join("ramfs").join(d)).unwrap();
    }
    let (upper, work) =
        (dir.path().join("ramfs/upper").display().to_string(), dir.path().join("ramfs/work").display().to_string());
    let out = run(&["mount", "--lower", &l1, "--upper", &upper, "--work", &work, &merged]);
    let _merged = Mounted(PathBuf::from(&merged));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning") && err.contains("ramfs") && err.contains("xattrs"), "{err}");
    // Files can still be deleted: whiteouts are device nodes.
    std::fs::remove_file(dir.path().join("merged/base")).unwrap();
    assert!(!dir.path().join("merged/base").exists());
}

#[test]
fn a_layer_with_a_device_node_needs_root() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Char);
    h.set_mode(0o666);
    h.set_size(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "dev/null", std::io::empty()).unwrap();
    let tar = dir.path().join("dev.tar");
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    let target = dir.path().join("rootfs");
    std::fs::create_dir(&target).unwrap();
    nix::unistd::chown(&target, Some(65534.into()), Some(65534.into())).unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = tool()
        .args(["apply", &tar.display().to_string(), &target.display().to_string()])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_refused(&out, &["dev/null", "character device node", "needs root"]);
    assert!(!target.join("dev/null").exists());
}

#[test]
fn colons_commas_and_backslashes_in_layer_paths_are_escaped_for_the_kernel() {
    let Some(_g) = guard() else { return };
    let dir = scratch();
    let odd = dir.path().join(r"lo:w,er\x");
    let [_l1, _l2, upper, work, merged] = seed(dir.path());
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("f"), "odd").unwrap();
    let overlay = laboverlay::Overlay::new([&odd]).with_upper(&upper, &work);
    let target = PathBuf::from(&merged);
    overlay.mount(&target).unwrap();
    let _m = Mounted(target.clone());
    assert_eq!(std::fs::read_to_string(target.join("f")).unwrap(), "odd");
}
