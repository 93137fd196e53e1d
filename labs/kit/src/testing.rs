//! Helpers for tests that touch the kernel (root tests in every crate).

use std::fs::File;

/// Serialises tests that create kernel objects or look for leftovers, across threads and
/// processes (every crate's tests take the same lock), so one test never sees another's
/// objects as leaks and `labctl clean` never removes a running test's objects.
pub fn kernel_lock() -> nix::fcntl::Flock<File> {
    let path = std::env::temp_dir().join("labctl-kernel-tests.lock");
    let file = File::options().create(true).append(true).open(&path).expect("open the test lock file");
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).expect("flock")
}

/// The one place a test may skip: when `what` it needs is not `present`. Under `CI` (which
/// installs everything and runs as root) a missing prerequisite is a failure, never a skip;
/// elsewhere (a developer's machine) the test says why and skips. Returns true when it should run.
pub fn prerequisite(test: &str, what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test} needs {what}, and under CI a test never skips: provide it");
    }
    eprintln!("skipping {test}: needs {what}");
    false
}

/// Root tests must not skip in CI; elsewhere (a developer without root) they say why and skip.
/// Returns true when the test should run.
pub fn require_root(test: &str) -> bool {
    prerequisite(test, "root", crate::sys::is_root())
}

/// Whether `program` is on PATH.
pub fn have_program(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// From a root test: runs test `name` of this same test binary again as nobody (setpriv) and
/// fails unless it passed there. The test body runs its unprivileged assertions when
/// `!is_root()`, so a refusal that only non-root sees is tested on a root machine too.
pub fn rerun_as_nobody(name: &str) {
    assert!(crate::sys::is_root(), "rerun_as_nobody is for a test running as root");
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .current_dir("/")
        .output()
        .expect("run setpriv (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} as nobody failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The workspace's labctl binary for tests outside the root package: `$LABCTL_BIN`, else
/// `target/debug/labctl`. Missing is a failure in CI and a skip (None) elsewhere.
pub fn workspace_labctl() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("LABCTL_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/labctl")));
    let what = format!("the labctl binary at {} (cargo build first, or set LABCTL_BIN)", path.display());
    prerequisite("this test", &what, path.exists()).then_some(path)
}

/// Gone: no such process, or a zombie waiting for its new parent to reap it.
pub fn process_gone(pid: i32) -> bool {
    crate::process::stat(pid).map_or(true, |s| s.is_zombie())
}

/// Spawns a `labctl run` slowed down between steps (`LABCTL_STEP_DELAY_MS`) and returns once
/// its undo journal names the processes it started: the moment to interrupt it.
pub fn start_run_and_wait_for_children(mut cmd: std::process::Command) -> (std::process::Child, Vec<i32>) {
    let mut run = cmd
        .env("LABCTL_STEP_DELAY_MS", "300")
        .env("LABCTL_LEARNER_DIR", scratch_learner_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn labctl");
    let children = wait_for_children(&mut run);
    (run, children)
}

/// Polls the undo journal of a running `labctl run` until it names the processes it started
/// (killing the run and failing after 60 s: a lab's first steps import an image, which takes
/// tens of seconds in the emulated course VM).
pub fn wait_for_children(run: &mut std::process::Child) -> Vec<i32> {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let children: Vec<i32> = crate::cleanup::read_journals()
            .into_iter()
            .filter(|(_, j)| j.pid == run.id() as i32)
            .flat_map(|(_, j)| j.undo)
            .filter_map(|u| match u {
                crate::Undo::Kill { pid, .. } => Some(pid),
                _ => None,
            })
            .collect();
        if !children.is_empty() {
            return children;
        }
        if Instant::now() > deadline {
            let _ = run.kill();
            let _ = run.wait();
            panic!("the run never registered a child in its journal");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to a run started by [`start_run_and_wait_for_children`], checks the exit
/// code (128 + signal) and that every child it had started is gone.
pub fn interrupt_run(run: std::process::Child, children: &[i32], signal: nix::sys::signal::Signal, what: &str) {
    let mut run = run;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), signal).expect("signal the run");
    let status = run.wait().expect("wait for the run");
    assert_eq!(status.code(), Some(128 + signal as i32), "{what}: exit code after {signal}");
    for pid in children {
        assert!(process_gone(*pid), "{what}: child {pid} survived {signal}");
    }
}

/// What `labctl clean --check` lists, less the test hosts of running tests (`labctl-test-*`).
pub fn leftovers(labctl: &std::path::Path) -> Vec<String> {
    let out = std::process::Command::new(labctl).args(["clean", "--check"]).output().expect("labctl clean --check");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("left:") && !l.contains("labctl-test-"))
        .map(String::from)
        .collect()
}

/// Where spawned labctl processes keep their progress in tests (`LABCTL_LEARNER_DIR`): a scratch
/// dir, never the learner's own record.
pub fn scratch_learner_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("labctl-test-learner")
}
