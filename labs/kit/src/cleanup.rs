//! Undo: every kernel object a lab creates is registered here *before* it is created, undone
//! in reverse order at the end (success, error, panic, SIGINT, SIGTERM), and journaled under
//! /run/labctl so `labctl clean` can finish the job after a SIGKILL. Every undo is idempotent.

use crate::paths;
use crate::sys;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to undo one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Undo {
    /// SIGKILL a process we started (pid + start time, so a recycled pid is never hit).
    Kill { pid: i32, start_time: u64 },
    /// Detach a mount.
    Unmount { path: PathBuf },
    /// Remove a named network namespace (`ip netns del`): unmount and unlink /run/netns/NAME.
    Netns { name: String },
    /// Remove a cgroup directory tree: kill its processes, then rmdir bottom-up.
    Cgroup { path: PathBuf },
    /// Remove a directory tree we created (temp dirs).
    RemoveDir { path: PathBuf },
    /// Run a command (nft/iptables rule removal, where the binary is the interface).
    Command { argv: Vec<String> },
}

impl Undo {
    /// A short description, shown when cleaning.
    pub fn describe(&self) -> String {
        self.describe_in(crate::Lang::En)
    }

    /// The description in the learner's language (kernel terms such as netns and cgroup stay).
    pub fn describe_in(&self, lang: crate::Lang) -> String {
        let zh = lang == crate::Lang::Zh;
        match self {
            Undo::Kill { pid, .. } => format!("{} {pid}", if zh { "进程" } else { "process" }),
            Undo::Unmount { path } => format!("{} {}", if zh { "挂载" } else { "mount" }, path.display()),
            Undo::Netns { name } => format!("netns {name}"),
            Undo::Cgroup { path } => format!("cgroup {}", path.display()),
            Undo::RemoveDir { path } => format!("{} {}", if zh { "目录" } else { "directory" }, path.display()),
            Undo::Command { argv } => argv.join(" "),
        }
    }

    /// The same description with volatile parts hidden (for reference output).
    pub fn describe_redacted(&self) -> String {
        self.describe_redacted_in(crate::Lang::En)
    }

    /// [`Undo::describe_redacted`] in the learner's language.
    pub fn describe_redacted_in(&self, lang: crate::Lang) -> String {
        let zh = lang == crate::Lang::Zh;
        match self {
            Undo::Kill { .. } => format!("{} [pid]", if zh { "进程" } else { "process" }),
            Undo::RemoveDir { .. } => format!("{} [path]", if zh { "目录" } else { "directory" }),
            _ => self.describe_in(lang),
        }
    }

    /// Undoes the object. Already gone is success.
    pub fn run(&self) -> Result<(), String> {
        self.run_reaping(true)
    }

    /// `reap: false` (an interrupt's undo, on the signal thread): a killed child is waited for
    /// but left for the run's own thread, which may be blocked in its wait — reaping it here
    /// would hand that thread ECHILD. The process exits right after, so no zombie stays.
    fn run_reaping(&self, reap: bool) -> Result<(), String> {
        match self {
            Undo::Kill { pid, start_time } => {
                if sys::signal_if_same(*pid, *start_time, nix::sys::signal::Signal::SIGKILL) {
                    if reap {
                        sys::wait_gone(*pid, *start_time, Duration::from_secs(5));
                    } else {
                        sys::wait_exited(*pid, *start_time, Duration::from_secs(5));
                    }
                }
                Ok(())
            }
            Undo::Unmount { path } => match sys::unmount(path) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
                Err(e) => Err(format!("umount {}: {e}", path.display())),
            },
            Undo::Netns { name } => {
                let path = Path::new(paths::NETNS_DIR).join(name);
                let _ = sys::unmount(&path);
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(format!("rm {}: {e}", path.display())),
                }
            }
            Undo::Cgroup { path } => remove_cgroup_tree(path),
            Undo::RemoveDir { path } => match std::fs::remove_dir_all(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(format!("rm -r {}: {e}", path.display())),
            },
            Undo::Command { argv } => {
                let Some((program, args)) = argv.split_first() else {
                    return Ok(());
                };
                match std::process::Command::new(program).args(args).output() {
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("{}: {e}", argv.join(" "))),
                }
            }
        }
    }
}

/// Kills every process in a cgroup tree, waits for it to empty, removes it bottom-up.
/// Only paths with a `labctl` component are touched.
pub fn remove_cgroup_tree(path: &Path) -> Result<(), String> {
    if !is_labctl_path(path) {
        return Err(format!("refusing to remove {}: not under a labctl cgroup", path.display()));
    }
    if !path.exists() {
        return Ok(());
    }
    empty_cgroups(&[path.to_path_buf()])?;
    let mut dirs = Vec::new();
    collect_dirs(path, &mut dirs);
    // Deepest first.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in &dirs {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if std::time::Instant::now() > deadline => return Err(format!("rmdir {}: {e}", dir.display())),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    Ok(())
}

fn is_labctl_path(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str().to_string_lossy().starts_with("labctl"))
}

/// The one way labctl empties cgroups (labcgroup's removal and the undo both use it): v2's
/// cgroup.kill where the kernel has it; otherwise freeze, so nothing forks while we kill (a
/// fork bomb refills any gap), SIGKILL, then thaw, because frozen v1 tasks act on SIGKILL only
/// once thawed. On v1 the freezer is another hierarchy: each task's own labctl freezer group
/// is frozen and thawed too, so a run interrupted after freezing leaves nothing unkillable.
/// Waits (5 s) until every directory under `dirs` is empty.
pub fn empty_cgroups(dirs: &[PathBuf]) -> Result<(), String> {
    let pids = || {
        let mut pids = Vec::new();
        for dir in dirs {
            let mut all = Vec::new();
            collect_dirs(dir, &mut all);
            for d in all {
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    };
    let kill = |pids: &[i32]| {
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
            let _ =
                nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(*pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    };
    let first = pids();
    if first.is_empty() {
        return Ok(());
    }
    let kill_files: Vec<PathBuf> = dirs.iter().map(|d| d.join("cgroup.kill")).filter(|f| f.exists()).collect();
    if !kill_files.is_empty() && kill_files.len() == dirs.len() {
        for file in &kill_files {
            let _ = std::fs::write(file, "1");
        }
    } else {
        let freezers = freezers_of(dirs, &first);
        for f in &freezers {
            f.set(true);
        }
        kill(&pids());
        for f in &freezers {
            f.set(false);
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = pids();
        if left.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let list: Vec<String> = left.iter().map(|p| p.to_string()).collect();
            let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            return Err(format!("{}: processes {} still there 5 s after SIGKILL", shown.join(", "), list.join(" ")));
        }
        kill(&left);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A freeze switch: v1's freezer.state or v2's cgroup.freeze.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    /// Writes the state and waits (up to 2 s) until the kernel reports it; best effort.
    fn set(&self, frozen: bool) {
        let (file, value, done): (PathBuf, &str, Box<dyn Fn() -> bool>) = match self {
            Freezer::V1(dir) => {
                let state = dir.join("freezer.state");
                let want = if frozen { "FROZEN" } else { "THAWED" };
                let read = state.clone();
                (state, want, Box::new(move || std::fs::read_to_string(&read).is_ok_and(|s| s.trim() == want)))
            }
            Freezer::V2(dir) => {
                let events = dir.join("cgroup.events");
                let want = if frozen { "frozen 1" } else { "frozen 0" };
                let value = if frozen { "1" } else { "0" };
                (
                    dir.join("cgroup.freeze"),
                    value,
                    Box::new(move || std::fs::read_to_string(&events).is_ok_and(|s| s.lines().any(|l| l == want))),
                )
            }
        };
        if std::fs::write(&file, value).is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while !done() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The freeze switches of `dirs` (those that are freezer or v2 groups) and, on v1, of the
/// labctl freezer groups `pids` sit in (never a group outside labctl).
fn freezers_of(dirs: &[PathBuf], pids: &[i32]) -> Vec<Freezer> {
    let mut out = Vec::new();
    for dir in dirs {
        if dir.join("freezer.state").exists() {
            out.push(Freezer::V1(dir.clone()));
        } else if dir.join("cgroup.freeze").exists() {
            out.push(Freezer::V2(dir.clone()));
        }
    }
    if let Some(mount) = v1_freezer_mount() {
        for pid in pids {
            let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if let Some(rel) = v1_freezer_path(&cgroups) {
                let dir = mount.join(rel.trim_start_matches('/'));
                if is_labctl_path(Path::new(rel)) && dir.join("freezer.state").exists() {
                    out.push(Freezer::V1(dir));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Where the v1 freezer hierarchy is mounted (the mountinfo line of a `cgroup` filesystem
/// whose super options name `freezer`).
fn v1_freezer_mount() -> Option<PathBuf> {
    crate::mountinfo::of_self()
        .into_iter()
        .find(|m| m.fstype == "cgroup" && m.root == "/" && m.super_options.split(',').any(|o| o == "freezer"))
        .map(|m| PathBuf::from(m.mount_point))
}

/// The freezer line's path in a /proc/PID/cgroup text ("7:freezer:/labctl/pids").
fn v1_freezer_path(cgroups: &str) -> Option<&str> {
    cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "freezer").then_some(path)
    })
}

fn collect_dirs(path: &Path, out: &mut Vec<PathBuf>) {
    out.push(path.to_path_buf());
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

/// The journal file of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub lab: String,
    pub pid: i32,
    pub start_time: u64,
    pub undo: Vec<Undo>,
}

impl Journal {
    /// Is the run that wrote this journal still alive? A zombie run (killed, not yet reaped by
    /// an init that reaps late) is not: its objects are left for `clean`.
    pub fn owner_alive(&self) -> bool {
        sys::process_alive(self.pid, self.start_time)
    }
}

#[derive(Debug)]
struct Inner {
    undo: Vec<Undo>,
    journal: Option<PathBuf>,
    lab: String,
    /// A signal arrived: the signal thread owns the undo from now on (see [`Cleanup::interrupt`]).
    interrupted: bool,
    /// ... and has finished it.
    undone: bool,
}

impl Inner {
    fn new(lab: &str, journal: Option<PathBuf>) -> Inner {
        Inner { undo: Vec::new(), journal, lab: lab.to_string(), interrupted: false, undone: false }
    }
}

/// How long a signal waits for a command the run has in flight (a `runtime create` takes a few
/// seconds in the emulated course VM) before killing it.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(20);
/// How long no unregistered child must be seen before the run counts as settled (the step
/// thread may start its next command right after one ends).
const SETTLED: Duration = Duration::from_millis(100);

/// The signal thread exits the process; a thread of the run that reaches the cleanup after a
/// signal waits here for that, so it neither creates nor reports anything more.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The undo registry of one run; cheap to clone and shared with the signal thread.
#[derive(Debug, Clone)]
pub struct Cleanup {
    inner: Arc<Mutex<Inner>>,
}

impl Cleanup {
    /// A registry journaled under the run dir. Fails with a specific message when /run is not
    /// writable, before anything is created.
    pub fn journaled(lab: &str) -> Result<Cleanup, String> {
        let dir = paths::journal_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e} (labctl keeps its undo journal there)", dir.display()))?;
        let pid = std::process::id() as i32;
        let path = dir.join(format!("{lab}-{pid}.json"));
        let cleanup = Cleanup { inner: Arc::new(Mutex::new(Inner::new(lab, Some(path)))) };
        cleanup.write_journal().map_err(|e| format!("cannot write the undo journal: {e}"))?;
        Ok(cleanup)
    }

    /// A registry without a journal (unit tests, throwaway probes).
    pub fn in_memory(lab: &str) -> Cleanup {
        Cleanup { inner: Arc::new(Mutex::new(Inner::new(lab, None))) }
    }

    /// Registers an undo. Call it before creating the object: undoing something that does not
    /// exist yet is harmless, while an object created but not registered would leak.
    ///
    /// After a signal the calling thread stops here for good (the signal thread exits the
    /// process): what it registers is still undone (it may exist already, like a process just
    /// started), but nothing more is created.
    pub fn register(&self, undo: Undo) {
        let mut inner = self.lock();
        if inner.undone {
            drop(inner);
            let _ = undo.run();
            park_forever();
        }
        inner.undo.push(undo);
        let interrupted = inner.interrupted;
        drop(inner);
        if let Err(e) = self.write_journal() {
            eprintln!("labctl: warning: could not update the undo journal: {e}");
        }
        if interrupted {
            park_forever();
        }
    }

    /// Registers `undo`, then runs `create`. If creation fails the undo is forgotten again, so
    /// an object that already existed (EEXIST: another run's, or a learner's) is never removed
    /// by us; if we die in between, the journal still names what may exist.
    pub fn create<T, E>(&self, undo: Undo, create: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.register(undo.clone());
        let result = create();
        if result.is_err() {
            self.forget(&undo);
        }
        result
    }

    /// Forgets a registered undo (the object was removed by the lab itself).
    pub fn forget(&self, undo: &Undo) {
        self.lock().undo.retain(|u| u != undo);
        let _ = self.write_journal();
    }

    pub fn pending(&self) -> Vec<Undo> {
        self.lock().undo.clone()
    }

    /// Undoes everything in reverse order; returns what was undone and any failures. After a
    /// signal the signal thread does that and exits: the caller waits for it.
    pub fn undo_all(&self) -> (Vec<Undo>, Vec<String>) {
        if self.lock().interrupted {
            park_forever();
        }
        self.undo_everything(false)
    }

    /// The undo on SIGINT/SIGTERM, run by the signal thread while the run's own thread goes on.
    /// First that thread is stopped at its next registration or undo; a command it has in
    /// flight (a `runtime create`, a mount helper) is let finish, so what it makes exists and
    /// its undo works; one still running after [`IN_FLIGHT_LIMIT`] is killed. Children that
    /// are registered processes (`Undo::Kill`) are undone as usual.
    pub fn interrupt(&self) -> (Vec<Undo>, Vec<String>) {
        self.lock().interrupted = true;
        let me = std::process::id() as i32;
        let unregistered = || {
            let registered: Vec<i32> = self
                .lock()
                .undo
                .iter()
                .filter_map(|u| match u {
                    Undo::Kill { pid, .. } => Some(*pid),
                    _ => None,
                })
                .collect();
            crate::process::children(me).into_iter().filter(|c| !registered.contains(c)).collect::<Vec<i32>>()
        };
        let deadline = std::time::Instant::now() + IN_FLIGHT_LIMIT;
        let mut quiet_since = std::time::Instant::now();
        loop {
            let now = std::time::Instant::now();
            let left = unregistered();
            if !left.is_empty() {
                quiet_since = now;
                if now > deadline {
                    for pid in left {
                        let _ =
                            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                    break;
                }
            } else if now.duration_since(quiet_since) >= SETTLED {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.undo_everything(true)
    }

    /// `last`: no registration counts after this one (set under the same lock, so none slips in).
    fn undo_everything(&self, last: bool) -> (Vec<Undo>, Vec<String>) {
        let mut inner = self.lock();
        inner.undone |= last;
        let mut done = Vec::new();
        let mut failures = Vec::new();
        while let Some(undo) = inner.undo.pop() {
            if let Err(e) = undo.run_reaping(!last) {
                failures.push(e);
            }
            done.push(undo);
        }
        if let Some(journal) = &inner.journal {
            if failures.is_empty() {
                let _ = std::fs::remove_file(journal);
            }
        }
        (done, failures)
    }

    /// Drops the journal without undoing (`--keep`): what stays is found by `labctl clean`.
    pub fn keep(&self) -> Vec<Undo> {
        let inner = self.lock();
        inner.undo.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock must not stop the cleanup.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_journal(&self) -> std::io::Result<()> {
        let inner = self.lock();
        let Some(path) = &inner.journal else {
            return Ok(());
        };
        if inner.undone {
            // The signal thread removed the journal: writing it again would name what is gone.
            return Ok(());
        }
        let journal = Journal {
            lab: inner.lab.clone(),
            pid: std::process::id() as i32,
            start_time: sys::process_start_time(std::process::id() as i32).unwrap_or(0),
            undo: inner.undo.clone(),
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&journal)?)?;
        std::fs::rename(tmp, path)
    }
}

/// Journals left by runs whose process is gone (SIGKILL, power loss) or, with `include_live`,
/// by every run.
pub fn read_journals() -> Vec<(PathBuf, Journal)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(paths::journal_dir()) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            if let Ok(journal) =
                std::fs::read(&path).map_err(|_| ()).and_then(|b| serde_json::from_slice(&b).map_err(|_| ()))
            {
                out.push((path, journal));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_runs_in_reverse_order_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path().join("outer");
        let inner = outer.join("inner");
        let cleanup = Cleanup::in_memory("test");
        cleanup.register(Undo::RemoveDir { path: outer.clone() });
        std::fs::create_dir(&outer).unwrap();
        cleanup.register(Undo::RemoveDir { path: inner.clone() });
        std::fs::create_dir(&inner).unwrap();
        let (done, failures) = cleanup.undo_all();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(done[0], Undo::RemoveDir { path: inner });
        assert!(!outer.exists());
        assert!(cleanup.pending().is_empty());
        assert!(Undo::RemoveDir { path: outer }.run().is_ok(), "undoing twice is fine");
    }

    #[test]
    fn a_failed_creation_is_not_undone() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        let cleanup = Cleanup::in_memory("test");
        let result = cleanup.create(Undo::RemoveDir { path: theirs.clone() }, || std::fs::create_dir(&theirs));
        assert!(result.is_err(), "the directory already existed");
        cleanup.undo_all();
        assert!(theirs.exists(), "someone else's object must survive our cleanup");
    }

    #[test]
    fn cgroup_removal_refuses_paths_outside_labctl() {
        let err = remove_cgroup_tree(Path::new("/sys/fs/cgroup/system.slice")).unwrap_err();
        assert!(err.contains("refusing"), "{err}");
    }

    #[test]
    fn a_zombie_owner_is_dead_and_a_running_one_alive() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let journal =
            Journal { lab: "test".into(), pid, start_time: sys::process_start_time(pid).unwrap(), undo: vec![] };
        assert!(journal.owner_alive(), "a sleeping owner is alive");
        child.kill().unwrap();
        // Not reaped yet: a real zombie, pid and start time unchanged.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !sys::is_zombie(pid) {
            assert!(std::time::Instant::now() < deadline, "the killed child never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(sys::process_start_time(pid), Some(journal.start_time), "a zombie keeps its start time");
        assert!(!journal.owner_alive(), "a zombie owner must count as dead");
        child.wait().unwrap();
        assert!(!journal.owner_alive());
    }

    #[test]
    #[allow(clippy::zombie_processes)] // Undo::Kill reaps it with waitpid
    fn killing_a_process_we_started_reaps_it_and_a_stale_start_time_is_ignored() {
        let child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let start = sys::process_start_time(pid).unwrap();
        Undo::Kill { pid, start_time: start + 1 }.run().unwrap();
        assert!(sys::process_start_time(pid).is_some(), "wrong start time: must not be killed");
        Undo::Kill { pid, start_time: start }.run().unwrap();
        assert!(sys::process_start_time(pid).is_none());
    }
}
