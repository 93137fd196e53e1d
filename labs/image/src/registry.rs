//! pull: placeholder
use crate::store::Store;
pub fn pull(_s: &Store, _r: &str, _i: bool, _t: bool) -> anyhow::Result<(String, String)> {
    anyhow::bail!("not yet")
}
