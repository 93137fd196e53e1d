//! How overlayfs marks deletions in an upper directory, and how OCI layers spell them.
//!
//! | meaning | overlay upper dir | OCI layer tar |
//! | --- | --- | --- |
//! | `name` was deleted | character device 0/0 `name` | empty file `.wh.name` |
//! | directory replaces the lower one wholesale | xattr `trusted.overlay.opaque=y` | empty file `dir/.wh..wh..opq` |

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Prefix of a whiteout entry in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker in a layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs puts on an opaque upper directory (value `y`).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same for overlays mounted with `userxattr` (rootless).
const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";
/// Kernels since 6.7 may also mark a whiteout as an empty file carrying this xattr.
const XATTR_WHITEOUTS: [&str; 2] = ["trusted.overlay.whiteout", "user.overlay.whiteout"];

/// Is this upper-dir entry a whiteout: a character device 0/0 (or an empty file with an
/// overlay whiteout xattr)?
pub fn is_whiteout(path: &Path, meta: &std::fs::Metadata) -> bool {
    let ft = meta.file_type();
    if ft.is_char_device() {
        return meta.rdev() == 0;
    }
    ft.is_file() && meta.len() == 0 && XATTR_WHITEOUTS.iter().any(|x| matches!(xattr::get(path, x), Ok(Some(_))))
}

/// Is this upper directory opaque (`trusted.overlay.opaque` = `y`)?
pub fn is_opaque(dir: &Path) -> bool {
    [OPAQUE_XATTR, USER_OPAQUE_XATTR].iter().any(|x| matches!(xattr::get(dir, x), Ok(Some(v)) if v == b"y"))
}

/// Overlay-private xattrs (`trusted.overlay.*`, `user.overlay.*`): never copied into a layer.
pub fn is_overlay_xattr(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}
