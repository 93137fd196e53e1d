//! Where containers live: `<run>/containers/<id>/` is the runtime's state (labruntime's root,
//! gone at reboot), `<lib>/containers/<id>/` the engine's: `config.v2.json` (the [`Record`]),
//! `<id>-json.log`, the OCI bundle's `config.json` (the container's directory is the
//! bundle), and the overlay's `diff` (upper), `work` and `merged` directories. `<run>` is
//! `/run/labctl` and `<lib>` `/var/lib/labctl`, or `$LABCTL_RUN_DIR` and `$LABCTL_STATE_DIR`
//! (tests point both into a temp dir).

use crate::error::{Error, Result};
use crate::record::Record;
use std::fs::File;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Engine {
    /// `<run>/containers`: labruntime's state root.
    pub run: PathBuf,
    /// `<lib>/containers`.
    pub lib: PathBuf,
}

/// What a container is doing now, read from its record and the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    Created,
    Running,
    Paused,
    Exited,
}

impl Live {
    /// docker's `State.Status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Live::Created => "created",
            Live::Running => "running",
            Live::Paused => "paused",
            Live::Exited => "exited",
        }
    }
}

impl Engine {
    pub fn from_env() -> Engine {
        Engine { run: labkit::paths::run_dir().join("containers"), lib: labkit::paths::state_dir().join("containers") }
    }

    pub fn runtime(&self) -> labruntime::Root {
        labruntime::Root::new(&self.run)
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.lib.join(id)
    }
    pub fn record_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("config.v2.json")
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }
    /// The container's directory itself: one directory fewer to make and remove per container
    /// (removing one costs a disk discard on some hosts). Containers made before keep their
    /// `bundle/` subdirectory.
    pub fn bundle(&self, id: &str) -> PathBuf {
        let old = self.dir(id).join("bundle");
        if old.join("config.json").exists() {
            old
        } else {
            self.dir(id)
        }
    }
    pub fn upper(&self, id: &str) -> PathBuf {
        self.dir(id).join("diff")
    }
    pub fn work(&self, id: &str) -> PathBuf {
        self.dir(id).join("work")
    }
    pub fn merged(&self, id: &str) -> PathBuf {
        self.dir(id).join("merged")
    }

    /// The container's lock (blocking): every read-modify-write of its record holds it.
    pub fn lock(&self, id: &str) -> Result<nix::fcntl::Flock<File>> {
        lock_file(self.dir(id).join(".lock"))
    }

    /// The lock held while a name is checked and taken, so two `run --name x` cannot both win.
    pub fn names_lock(&self) -> Result<nix::fcntl::Flock<File>> {
        std::fs::create_dir_all(&self.lib).map_err(|e| Error::io(format!("creating {}", self.lib.display()), e))?;
        lock_file(self.lib.join(".names.lock"))
    }

    /// Every container id, oldest directory first is not promised: sorted by id.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.lib)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("config.v2.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Every container's record, newest first (as `docker ps` lists them).
    pub fn records(&self) -> Vec<Record> {
        let mut all: Vec<Record> =
            self.ids().iter().filter_map(|id| Record::load(&self.record_path(id)).ok()).collect();
        all.sort_by(|a, b| b.created.cmp(&a.created));
        all
    }

    /// A container by full id, name (with or without `/`) or unique id prefix, as docker finds them.
    pub fn find(&self, key: &str) -> Result<Record> {
        if key.is_empty() {
            return Err(Error::Usage(
                "an empty container name: give a name or an id from `labctl container ps -a`".into(),
            ));
        }
        let path = self.record_path(key);
        if !key.contains('/') && path.exists() {
            return Record::load(&path);
        }
        let records = self.records();
        let name = format!("/{}", key.trim_start_matches('/'));
        if let Some(r) = records.iter().find(|r| r.name == name) {
            return Ok(r.clone());
        }
        let mut prefixed = records.into_iter().filter(|r| r.id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(r), None) => Ok(r),
            (Some(_), Some(_)) => Err(Error::Usage(format!(
                "{key:?} is the start of more than one container id: give more characters, or the name"
            ))),
            _ => Err(Error::NoSuchContainer(key.to_string())),
        }
    }

    /// Loads, changes and saves a record under its lock.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut Record)) -> Result<Record> {
        let _lock = self.lock(id)?;
        let path = self.record_path(id);
        let mut record = Record::load(&path)?;
        change(&mut record);
        record.save(&path)?;
        Ok(record)
    }

    /// Whether the container's supervisor is still there (the pid is the same process).
    pub fn supervisor_alive(&self, record: &Record) -> bool {
        alive(record.state.supervisor_pid, record.state.supervisor_start_time)
    }

    pub fn init_alive(&self, record: &Record) -> bool {
        alive(record.state.pid, record.state.pid_start_time)
    }

    /// The status docker would show: the record's, corrected by the kernel — a container whose
    /// supervisor and init are both gone (SIGKILL, a reboot) has exited, whatever the record says.
    pub fn live(&self, record: &Record) -> Live {
        match record.state.status.as_str() {
            "running" if self.init_alive(record) => match frozen(&record.id) {
                Some(true) => Live::Paused,
                Some(false) => Live::Running,
                None => {
                    let runtime = self.runtime();
                    match runtime.load(&record.id).map(|r| labruntime::container::status(&runtime, &r)) {
                        Ok(labruntime::Status::Paused) => Live::Paused,
                        _ => Live::Running,
                    }
                }
            },
            "running" if self.supervisor_alive(record) => Live::Running,
            "running" | "exited" => Live::Exited,
            _ if self.supervisor_alive(record) => Live::Created,
            "created" => Live::Created,
            _ => Live::Exited,
        }
    }
}

fn lock_file(path: PathBuf) -> Result<nix::fcntl::Flock<File>> {
    labkit::statefile::lock_exclusive(&path).map_err(|e| Error::io(format!("locking {}", path.display()), e))
}

/// Whether the container's freezer holds it, read straight from its group's file where the
/// engine puts it (`ps` asks this for every container: no mountinfo parse, no runtime state);
/// None when that file cannot be read (an unusual cgroup layout: ask the runtime instead).
fn frozen(id: &str) -> Option<bool> {
    let group = crate::spec::cgroup_path(id);
    let group = group.trim_start_matches('/');
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let events = std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(group).join("cgroup.events")).ok()?;
        Some(events.lines().any(|l| l.trim() == "frozen 1"))
    } else {
        let state =
            std::fs::read_to_string(Path::new("/sys/fs/cgroup/freezer").join(group).join("freezer.state")).ok()?;
        Some(state.trim() == "FROZEN")
    }
}

/// `pid` is the process that had `start_time`, and has not exited (one read of its stat).
pub fn alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && labkit::process::stat(pid).is_ok_and(|s| s.start_time == start_time && s.state != 'Z' && s.state != 'X')
}

/// 64 hex digits from the kernel's random pool (docker's container ids).
pub fn new_id() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom for a container id", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A docker-style `adjective_scientist` name, picked by the id's bytes.
pub fn random_name(id: &str) -> String {
    const LEFT: [&str; 16] = [
        "brave", "calm", "eager", "fervent", "gifted", "happy", "jolly", "keen", "lucid", "merry", "nifty", "quirky",
        "serene", "tender", "vibrant", "zen",
    ];
    const RIGHT: [&str; 16] = [
        "curie", "darwin", "euler", "feynman", "gauss", "hopper", "kepler", "lovelace", "noether", "pascal", "ritchie",
        "shannon", "thompson", "torvalds", "turing", "wu",
    ];
    let n = u32::from_str_radix(&id[..6.min(id.len())], 16).unwrap_or(0) as usize;
    format!("{}_{}", LEFT[n % 16], RIGHT[(n / 16) % 16])
}
