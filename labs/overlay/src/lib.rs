//! OverlayFS: the lab, the overlay mounter, and OCI layer translation.
//!
//! The building block other labs stack layers with:
//!
//! - [`Overlay`]: mount a rootfs from ordered lower layers (top-most first, as in
//!   `lowerdir=top:...:bottom`) plus an optional upper + work pair; [`unmount`] detaches it.
//!   Bad layouts (missing or busy workdir, upper and work on different filesystems, a missing
//!   lower, an upper filesystem that cannot hold whiteouts) are refused with a specific
//!   [`Error`] before the kernel sees them.
//! - [`diff`]: what an upper directory changed over its lowers, the `docker diff` view
//!   ([`Change`], [`ChangeKind`]).
//! - [`write_layer`]: an upper directory as an OCI image-spec layer tar (whiteout devices as
//!   `.wh.<name>`, opaque directories as `.wh..wh..opq`, sorted, reproducible with
//!   [`LayerOptions`]).
//! - [`apply_layer`]: a layer tar onto a directory, honouring whiteouts either by deleting
//!   ([`WhiteoutMode::Remove`], one flat rootfs) or by writing overlay whiteouts
//!   ([`WhiteoutMode::Overlay`], a directory usable as a lowerdir); path traversal is refused.
//!
//! ```no_run
//! use laboverlay::{Overlay, write_layer, apply_layer, LayerOptions, ApplyOptions};
//! use std::path::Path;
//! # fn main() -> Result<(), laboverlay::Error> {
//! let layers = ["/var/lib/labctl/l2", "/var/lib/labctl/l1"]; // top-most first
//! Overlay::new(layers)
//!     .with_upper("/run/labctl/c1/upper", "/run/labctl/c1/work")
//!     .mount(Path::new("/run/labctl/c1/rootfs"))?;
//! // ... the container runs, then:
//! laboverlay::unmount(Path::new("/run/labctl/c1/rootfs"))?;
//! let tar = std::fs::File::create("/tmp/layer.tar").unwrap();
//! write_layer(Path::new("/run/labctl/c1/upper"), tar, &LayerOptions::default())?;
//! let tar = std::fs::File::open("/tmp/layer.tar").unwrap();
//! apply_layer(tar, Path::new("/var/lib/labctl/rootfs"), &ApplyOptions::default())?;
//! # Ok(()) }
//! ```

mod apply;
mod diff;
mod error;
mod layer;
mod mount;
mod walk;
mod whiteout;

pub mod cli;
pub mod labs;

pub use apply::{apply_layer, ApplyOptions, ApplyStats, WhiteoutMode};
pub use diff::{diff, Change, ChangeKind};
pub use error::{Error, Result};
pub use layer::{write_layer, LayerOptions, LayerSummary};
pub use mount::{fs_name, unmount, Overlay, Warning, MAX_OPTIONS};
pub use whiteout::{is_opaque, is_whiteout, OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};

/// This topic's labs for the catalogue.
pub fn topic() -> labkit::Topic {
    labkit::Topic {
        manifest_path: "labs/overlay/lab.yaml",
        manifest_json: include_str!(concat!(env!("OUT_DIR"), "/lab.json")),
        labs: labs::all(),
    }
}
