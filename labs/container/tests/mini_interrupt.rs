//! SIGINT, SIGTERM or SIGKILL in the middle of mini-container leaves nothing behind: no
//! container init, no lcrun or engine cgroup, no overlay mount, no "host" netns, no lab
//! directory. After SIGKILL the run's own journal is replayed, as `labctl clean` does for a dead
//! run (an unfiltered `labctl clean` would also remove other runs' objects on a shared machine).
//! Uses the labctl binary of this workspace (or $LABCTL_BIN).

use labkit::testing::{kernel_lock, leftovers, process_gone, require_root, scratch_learner_dir};
use labkit::Undo;
use nix::sys::signal::Signal;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOST_NS: &str = "labctl-mini-host";

/// Where the run is when the test strikes.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// The network step is done: lcrun's container (its init waiting on exec.fifo), the
    /// overlay, the "host" netns, the bridge and the port map.
    Network,
    /// The engine step has begun: `labctl container run` is on its way.
    Engine,
}

fn journal_of(run: &Child) -> Vec<Undo> {
    labkit::cleanup::read_journals()
        .into_iter()
        .filter(|(_, j)| j.pid == run.id() as i32)
        .flat_map(|(_, j)| j.undo)
        .collect()
}

fn reached(undo: &[Undo], moment: Moment) -> bool {
    match moment {
        Moment::Network => undo.iter().any(|u| matches!(u, Undo::Netns { name } if name == HOST_NS)),
        Moment::Engine => {
            undo.iter().any(|u| matches!(u, Undo::Command { argv } if argv.iter().any(|a| a == "lcmini-web")))
        }
    }
}

/// Starts the lab slowed down between steps and returns once its journal shows `moment`.
fn start(bin: &std::path::Path, moment: Moment) -> (Child, Vec<Undo>) {
    let log = std::fs::File::create(std::env::temp_dir().join("labctl-mini-interrupt.log")).unwrap();
    let mut run = Command::new(bin)
        .args(["run", "mini-container", "--yes", "--format", "plain"])
        .env("LABCTL_STEP_DELAY_MS", "300")
        .env("LABCTL_LEARNER_DIR", scratch_learner_dir())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn labctl");
    // The course VM emulates its CPU (TCG): a run takes minutes there.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let undo = journal_of(&run);
        if reached(&undo, moment) {
            // Into the moment's own work.
            std::thread::sleep(Duration::from_millis(50));
            let undo = journal_of(&run);
            return (run, undo);
        }
        if let Ok(Some(status)) = run.try_wait() {
            panic!("the run ended ({status}) before {moment:?}");
        }
        if Instant::now() > deadline {
            // SIGTERM, so the run still undoes what it made.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), Signal::SIGTERM);
            let _ = run.wait();
            panic!("the run never reached {moment:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pids(undo: &[Undo]) -> Vec<i32> {
    undo.iter().filter_map(|u| if let Undo::Kill { pid, .. } = u { Some(*pid) } else { None }).collect()
}

/// Nothing of this lab is left in the kernel or under the run directory.
fn assert_nothing_of_ours(bin: &std::path::Path, children: &[i32], after: &str) {
    for pid in children {
        assert!(process_gone(*pid), "process {pid} survived {after}");
    }
    assert!(!std::path::Path::new("/run/netns").join(HOST_NS).exists(), "netns {HOST_NS} is left after {after}");
    let base = labkit::paths::run_dir().join("mini-container");
    assert!(!base.exists(), "{} is left after {after}", base.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains("/mini-container/"), "a mount of the lab is left after {after}");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = hierarchy.path().join("labctl/lcrun/lcmini");
        assert!(!dir.exists(), "{} is left after {after}", dir.display());
    }
    assert!(
        !std::path::Path::new("/sys/fs/cgroup/labctl/lcrun/lcmini").exists(),
        "the v2 cgroup is left after {after}"
    );
    // The engine's container: its web server, wherever its state went.
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        assert!(cmdline != b"httpd\0-f\0-p\080\0-h\0/www\0", "the web server {:?} survived {after}", entry.path());
    }
    // Other sessions' objects may be listed too: judge ours by name.
    let left: Vec<String> = leftovers(bin)
        .into_iter()
        .filter(|l| l.contains("lcmini") || l.contains("mini-container") || l.contains(HOST_NS))
        .collect();
    assert!(left.is_empty(), "left behind after {after}: {left:?}");
}

fn interrupt(signal: Signal, moment: Moment) {
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let (run, undo) = start(&bin, moment);
    let children = pids(&undo);
    labkit::testing::interrupt_run(run, &children, signal, "mini-container");
    assert_nothing_of_ours(&bin, &children, &format!("{signal} at {moment:?}"));
}

#[test]
fn sigint_after_the_network_step_leaves_nothing() {
    if !require_root("SIGINT in mini-container") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGINT, Moment::Network);
}

#[test]
fn sigterm_in_the_engine_step_leaves_nothing() {
    if !require_root("SIGTERM in mini-container") {
        return;
    }
    let _guard = kernel_lock();
    interrupt(Signal::SIGTERM, Moment::Engine);
}

#[test]
fn sigkill_then_the_journal_replayed_leaves_nothing() {
    if !require_root("SIGKILL in mini-container") {
        return;
    }
    let _guard = kernel_lock();
    let Some(bin) = labkit::testing::workspace_labctl() else { return };
    let (mut run, _) = start(&bin, Moment::Network);
    run.kill().unwrap();
    run.wait().unwrap();
    let journals: Vec<_> =
        labkit::cleanup::read_journals().into_iter().filter(|(_, j)| j.pid == run.id() as i32).collect();
    assert_eq!(journals.len(), 1, "the killed run left one journal");
    let (path, journal) = &journals[0];
    let children = pids(&journal.undo);
    assert!(children.iter().any(|p| !process_gone(*p)), "SIGKILL cannot clean up: a container init remains");
    // What `labctl clean` does with a dead run's journal: undo in reverse, then drop the file.
    for undo in journal.undo.iter().rev() {
        undo.run().unwrap_or_else(|e| panic!("undo {}: {e}", undo.describe()));
    }
    std::fs::remove_file(path).unwrap();
    assert_nothing_of_ours(&bin, &children, "SIGKILL and the journal's undo");
}
