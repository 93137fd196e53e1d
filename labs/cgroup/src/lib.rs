//! Cgroup labs and the cgroup v1/v2 limiter.
//!
//! The building block: [`System::detect`] finds the machine's cgroup layout (legacy, hybrid or
//! unified) and hands out [`Cgroup`]s under the `labctl` subtree, each driven by the v1 or v2
//! driver behind one interface:
//!
//! ```no_run
//! use labcgroup::{Controller, CpuLimit, System};
//! let system = System::detect()?;
//! let group = system.group("demo")?;
//! group.create(&[Controller::Cpu, Controller::Memory], &[])?;
//! group.set_cpu_limit(CpuLimit::from_cpus(0.1))?.set_memory_max(Some(64 << 20))?;
//! group.add_process(std::process::id() as i32)?;
//! # Ok::<(), labcgroup::Error>(())
//! ```

pub mod anywhere;
pub mod cgroup;
pub mod cli;
pub mod devices;
pub mod error;
pub mod labs;
pub mod layout;
pub mod measure;
pub mod parse;
pub mod resources;
pub mod run;
pub mod v1;
pub mod v2;
pub mod worker;

#[cfg(test)]
mod fake_tests;

pub use anywhere::GroupPath;
pub use cgroup::{Cgroup, Controller, CpuStats, Driver, MemoryStats, PidsStats, Placement, Stats, System};
pub use error::{Error, Result};
pub use layout::{Layout, Root, Version};
pub use parse::CpuLimit;
pub use resources::Resources;

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/cgroup/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
