//! Image labs: Dockerfile builds into an OCI image layout, the image store.
//!
//! The building blocks, one module per mechanism:
//! - [`store`]: the OCI image layout (content-addressed blobs, index.json tags);
//! - [`layer`]: reproducible layer tars for files from outside a container;
//! - [`import`]: images without internet (host busybox, host programs, rootfs tars);
//! - [`dockerfile`]: the Dockerfile parser; [`build`]: the builder and its layer cache;
//! - [`prune`]: what no image needs any more (blobs, build cache, unpacked rootfs);
//! - [`archive`]: `save`/`load` of oci-archive and docker-archive tarballs;
//! - [`registry`]: `pull` over the Docker Registry HTTP API v2.

pub mod archive;
pub mod build;
pub mod cli;
pub mod context;
pub mod digest;
pub mod dockerfile;
pub mod error;
pub mod import;
pub mod labs;
pub mod layer;
pub mod prune;
pub mod reference;
pub mod registry;
pub mod sandbox;
pub mod store;

pub use error::ImageError;
pub use store::{Image, Store};

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/image/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
