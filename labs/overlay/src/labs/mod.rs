//! The labs of this topic, one file each (`overlay` → `overlay.rs`).

pub mod overlay;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&overlay::LAB]
}
