//! (being written on branch `security`: placeholder with the API the init calls)

use crate::error::Result;
use oci_spec::runtime::LinuxCapabilities;

pub struct CapSets;

impl CapSets {
    pub fn from_spec(_spec: Option<&LinuxCapabilities>) -> Result<CapSets> {
        Ok(CapSets)
    }

    pub fn apply_bounding(&self) -> Result<()> {
        Ok(())
    }

    pub fn apply_after_setuid(&self) -> Result<()> {
        Ok(())
    }
}
