//! Where containers live between commands: `<root>/<id>/` holds `state.json` (our record,
//! written atomically), `config.json` (the config as it was at create, so later edits of the
//! bundle change nothing) and `exec.fifo` while the container is created but not started.
//! Commands on one container take an exclusive lock on `<root>/<id>.lock`.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

/// Default state root (runc's is /run/runc): under labctl's own run directory.
pub const DEFAULT_ROOT: &str = "/run/labctl/runtime";

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        };
        f.pad(name)
    }
}

/// Our record of one container (the OCI state plus what later commands need).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Creating until create has finished; Created until start; then Running. The live status
    /// (stopped, paused) is derived from the kernel by [`crate::container::status`].
    pub stage: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// The init's pid as the host sees it (0 while creating) and its start time, which with the
    /// pid names the process for good.
    pub pid: i32,
    pub start_time: u64,
    /// The `lcrun create` that made it, so a create killed midway is recognised.
    pub creator_pid: i32,
    pub creator_start_time: u64,
    pub cgroup: String,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// The state root and the paths of one container's files in it.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn state_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("state.json")
    }

    pub fn config_file(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("config.json")
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exec.fifo")
    }

    /// Takes the container's lock (blocking), creating the root if needed.
    pub fn lock(&self, id: &str) -> Result<nix::fcntl::Flock<File>> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating the state root {}", self.dir.display()), e))?;
        let path = self.dir.join(format!("{id}.lock"));
        labkit::statefile::lock_exclusive(&path).map_err(|e| Error::io(format!("locking {}", path.display()), e))
    }

    /// The lock of a container that must already exist (start, delete): no lock file is left
    /// behind for an id that names nothing.
    pub fn lock_existing(&self, id: &str) -> Result<nix::fcntl::Flock<File>> {
        if !self.container_dir(id).exists() {
            return Err(Error::NotFound { id: id.to_string(), root: self.dir.clone() });
        }
        self.lock(id)
    }

    /// Lock files whose container is gone (left by a command killed between the two).
    pub fn stale_locks(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "lock")
                    && p.file_stem().is_some_and(|id| !self.dir.join(id).exists())
            })
            .collect()
    }

    pub fn exists(&self, id: &str) -> bool {
        self.state_file(id).exists()
    }

    pub fn load(&self, id: &str) -> Result<Record> {
        let path = self.state_file(id);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound { id: id.to_string(), root: self.dir.clone() }
            } else {
                Error::io(format!("reading {}", path.display()), e)
            }
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Path { path, why: format!("corrupt state: {e}") })
    }

    /// Writes `record` to a temporary file and renames it over state.json, so a reader sees
    /// either the old record or the new one, never half of one.
    pub fn save(&self, record: &Record) -> Result<()> {
        let path = self.state_file(&record.id);
        let text = serde_json::to_vec(record).expect("a state record serialises");
        labkit::statefile::write_atomic(&path, &text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Every container id with a state file, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Removes the container's directory and lock file.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing {}", dir.display()), e)),
        }
        let _ = std::fs::remove_file(self.dir.join(format!("{id}.lock")));
        Ok(())
    }
}

/// Now as RFC 3339 with nanoseconds, UTC (the `created` field runc prints).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// The OCI state document (what `lcrun state` prints and hooks read on stdin), in runc's shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl OciState {
    pub fn of(record: &Record, status: Status) -> OciState {
        let pid = if status == Status::Stopped { 0 } else { record.pid };
        OciState {
            oci_version: crate::config::OCI_VERSION.to_string(),
            id: record.id.clone(),
            pid,
            status,
            bundle: record.bundle.clone(),
            rootfs: record.rootfs.clone(),
            created: record.created.clone(),
            owner: record.owner.clone(),
            annotations: record.annotations.clone(),
        }
    }
}
