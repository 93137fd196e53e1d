//! save/load: placeholder
use crate::store::Store;
use std::path::Path;
pub fn save(_s: &Store, _n: &str, _o: &Path) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
pub fn load(_s: &Store, _i: &Path) -> anyhow::Result<Vec<(String, String)>> {
    anyhow::bail!("not yet")
}
