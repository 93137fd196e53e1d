//! What a container changed, read from its upper directory: the `docker diff` view.

use crate::error::Result;
use crate::walk::walk;
use crate::whiteout::{is_opaque, is_whiteout};
use std::path::{Path, PathBuf};

/// How a path differs from the lower layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// In upper only (`A`).
    Added,
    /// In upper and in a lower layer: upper's version wins (`C`, like `docker diff`).
    Modified,
    /// A whiteout hides the lower path (`D`).
    Deleted,
    /// An opaque directory: upper's directory replaces the lower one wholesale (`O`).
    Opaque,
}

impl ChangeKind {
    /// The one-letter code: `A`, `C`, `D` as in `docker diff`, and `O` for opaque.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'C',
            ChangeKind::Deleted => 'D',
            ChangeKind::Opaque => 'O',
        }
    }
}

/// One changed path, as the container sees it (`/etc/hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: PathBuf,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path.display())
    }
}

/// The changes recorded in `upper` over `lowers` (any order; they are only asked whether a
/// path exists), parents before children. Without lowers nothing can be told apart from
/// an addition, so every present path is [`ChangeKind::Added`]. Paths under an opaque
/// directory are additions: the lower directory's contents are hidden.
pub fn diff<P: AsRef<Path>>(upper: &Path, lowers: &[P]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut opaque: Vec<PathBuf> = Vec::new();
    walk(upper, &mut |node| {
        let path = Path::new("/").join(&node.rel);
        let under_opaque = opaque.iter().any(|o| node.rel.starts_with(o));
        let in_lower =
            !under_opaque && lowers.iter().any(|l| std::fs::symlink_metadata(l.as_ref().join(&node.rel)).is_ok());
        let kind = if is_whiteout(&node.abs, &node.meta) {
            ChangeKind::Deleted
        } else if node.meta.is_dir() && is_opaque(&node.abs) {
            opaque.push(node.rel.clone());
            ChangeKind::Opaque
        } else if in_lower {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        out.push(Change { kind, path });
        Ok(true)
    })?;
    Ok(out)
}
