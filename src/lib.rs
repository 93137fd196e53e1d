//! The labctl front door as a library: the catalogue of every topic crate's labs, shared by
//! the binary and the integration tests.

pub mod catalogue;
