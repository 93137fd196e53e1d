//! The walkthroughs of this topic.

pub fn labs() -> Vec<&'static dyn labkit::Lab> {
    vec![]
}
