//! labkit: the lab engine every labctl lab stands on.
//!
//! A lab is a `lab.yaml` manifest (narration in English and Chinese, steps, quiz, challenge)
//! plus step functions in Rust bound to the manifest's step ids. Steps act on the kernel,
//! read back what happened as typed [`Observation`]s, and check it with [`Ctx::expect`].
//! Everything a step creates is registered with [`Cleanup`] first and undone at the end.

pub mod catalogue;
pub mod cleanup;
pub mod fact;
pub mod failure;
pub mod flags;
pub mod interact;
pub mod leftovers;
pub mod manifest;
pub mod mountinfo;
pub mod observe;
pub mod paths;
pub mod probe;
pub mod process;
pub mod progress;
pub mod render;
pub mod report;
pub mod runner;
pub mod signals;
pub mod statefile;
#[allow(unsafe_code)] // the one place for it: see the module's opening comment
pub mod sys;
pub mod testing;
pub mod text;
pub mod words;
pub mod wrap;

pub use catalogue::{Catalogue, Topic};
pub use cleanup::{Cleanup, Undo};
pub use fact::Fact;
pub use failure::Failure;
pub use flags::{FormatFlag, LangFlag};
pub use manifest::{LabDef, Manifest};
pub use observe::{Interface, Observation};
pub use render::Format;
pub use runner::{Ctx, Lab, RunOptions, StepFn, Walkthrough};
pub use text::{Lang, Text};
