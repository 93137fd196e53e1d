//! The labs of the runtime part, one file each (`container-security` → `security.rs`).

pub mod security;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&security::LAB]
}
