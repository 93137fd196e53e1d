//! The labs of this topic, one file each (`image-build` → `build.rs`).

pub mod build;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&build::LAB]
}
