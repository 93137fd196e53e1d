//! The labs of the engine part, one file each (`container-lifecycle` → `lifecycle.rs`).

pub mod lifecycle;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&lifecycle::LAB]
}
