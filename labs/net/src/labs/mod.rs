//! One file per lab: its step functions.

pub mod overlay;
pub mod remote;
