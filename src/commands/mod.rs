//! One file per verb, each with its `Args` and `exec`.

pub mod check;
pub mod clean;
pub mod completions;
pub mod dev;
pub mod doctor;
pub mod list;
pub mod menu;
pub mod progress;
pub mod quiz;
pub mod run;
