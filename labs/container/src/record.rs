//! One container's document, `config.v2.json` as docker names it: the configuration the engine
//! was given (docker's `Config` and `HostConfig`) and its `State`, in docker's field names, so
//! `inspect` is mostly this file. Written atomically (temp file + rename) under the
//! container's lock.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub user: String,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stop_signal: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub network_mode: String,
    /// Bytes, 0 = no limit.
    pub memory: i64,
    pub memory_swap: i64,
    /// CPUs × 10⁹, 0 = no limit.
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub auto_remove: bool,
    pub binds: Vec<String>,
    pub port_bindings: BTreeMap<String, serde_json::Value>,
    pub shm_size: i64,
    /// `--cpu-shares` (0 = the default weight).
    #[serde(default)]
    pub cpu_shares: i64,
    /// `--cpuset-cpus` (empty = every CPU).
    #[serde(default)]
    pub cpuset_cpus: String,
    /// `--blkio-weight` (0 = the default weight).
    #[serde(default)]
    pub blkio_weight: u16,
    /// `--init`: a minimal init as PID 1, the command its child.
    #[serde(default)]
    pub init: bool,
    /// `--tmpfs`: destination → mount options.
    #[serde(default)]
    pub tmpfs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    /// created, running, exited (paused and dead are derived when read, see `Engine::live`).
    pub status: String,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// The supervisor holding the container: pid and start time (names the process for good).
    #[serde(default)]
    pub supervisor_pid: i32,
    #[serde(default)]
    pub supervisor_start_time: u64,
    /// The init's start time (with `pid`, names it even after pid reuse).
    #[serde(default)]
    pub pid_start_time: u64,
}

/// What the engine keeps of a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    pub id: String,
    /// Docker's form, with a leading `/`.
    pub name: String,
    pub created: String,
    /// The image's manifest digest; `Config.Image` keeps the name the user typed.
    pub image: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub state: State,
    /// The image's unpacked layers (the overlay's lower directory).
    pub lower_dir: PathBuf,
    pub restart_count: u32,
    /// Bridge mode's lease while the container runs (empty otherwise).
    #[serde(default)]
    pub network: Network,
    /// `-v`, resolved: binds and volumes (docker's `Mounts`).
    #[serde(default)]
    pub mounts: Vec<crate::volume::MountPoint>,
}

/// What a bridge-mode container holds on labctl0 (docker's `NetworkSettings`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub bridge: String,
    /// The network namespace file labnet's lease is keyed by (`/proc/PID/ns/net`).
    pub sandbox_key: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    pub ports: Vec<labnet::ports::PortMap>,
}

impl Record {
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    pub fn bare_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    pub fn load(path: &Path) -> Result<Record> {
        let text = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::io(format!("{} is corrupt", path.display()), std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self).expect("a record serialises"))
    }
}

/// labkit's write-then-rename: readers see the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    labkit::statefile::write_atomic(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Now, RFC 3339 with nanoseconds in UTC (docker's `Created`, `StartedAt`).
pub fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

/// Docker's zero time, for a container never started or never finished.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
