//! (being written on branch `cgroups`: placeholder with the API the runtime calls)

use crate::error::Result;
use oci_spec::runtime::LinuxResources;

#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    path: String,
}

impl ContainerCgroup {
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<ContainerCgroup> {
        Ok(ContainerCgroup { path: cgroups_path.map_or(format!("/labctl/lcrun/{id}"), str::to_string) })
    }

    pub fn open(path: &str) -> Result<ContainerCgroup> {
        Ok(ContainerCgroup { path: path.to_string() })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn check(_resources: &LinuxResources) -> Result<()> {
        Ok(())
    }

    pub fn create(&self) -> Result<()> {
        Ok(())
    }

    pub fn apply(&self, _resources: &LinuxResources) -> Result<()> {
        Ok(())
    }

    pub fn add_process(&self, _pid: i32) -> Result<()> {
        Ok(())
    }

    pub fn freeze(&self) -> Result<()> {
        Ok(())
    }

    pub fn thaw(&self) -> Result<()> {
        Ok(())
    }

    pub fn is_frozen(&self) -> Result<bool> {
        Ok(false)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(Vec::new())
    }

    pub fn remove(&self) -> Result<()> {
        Ok(())
    }
}
