//! The labs of the engine part, one file each (`mini-container` → `container.rs`,
//! `container-lifecycle` → `lifecycle.rs`).

pub mod container;
pub mod lifecycle;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&container::LAB, &lifecycle::LAB]
}
