//! The labs of the engine part, one file each (`mini-container` → `container.rs`).

pub mod container;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&container::LAB]
}
