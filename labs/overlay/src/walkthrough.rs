//! The `overlay` walkthrough.

pub(crate) fn labs() -> Vec<&'static dyn labkit::Lab> {
    vec![]
}
