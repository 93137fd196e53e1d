//! `labctl overlay ...`: a small tool on the building block.

use crate::{apply_layer, diff, write_layer, ApplyOptions, LayerOptions, Overlay, WhiteoutMode};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// `labctl overlay ...`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Mount an overlay: mount -t overlay overlay -o lowerdir=A:B,upperdir=U,workdir=W MERGED
    Mount {
        /// Lower layers, top-most first (`A:B`, or repeat the flag); the leftmost wins.
        #[arg(long = "lower", required = true, value_delimiter = ':')]
        lowers: Vec<PathBuf>,
        /// The writable layer (needs --work); without it the mount is read-only.
        #[arg(long, requires = "work")]
        upper: Option<PathBuf>,
        /// An empty directory on the same filesystem as --upper.
        #[arg(long, requires = "upper")]
        work: Option<PathBuf>,
        /// Where the merged view appears.
        merged: PathBuf,
        /// Stay in the foreground and unmount on Ctrl-C or SIGTERM.
        #[arg(long)]
        hold: bool,
    },
    /// Unmount an overlay (umount MERGED).
    Umount {
        /// The merged directory the overlay is mounted on
        merged: PathBuf,
    },
    /// What an upper directory changed: A added, C modified, D deleted, O opaque.
    Diff {
        /// The upper (writable) directory of an overlay
        upper: PathBuf,
        /// The lower layers (needed to tell added from modified).
        #[arg(long = "lower", value_delimiter = ':')]
        lowers: Vec<PathBuf>,
    },
    /// Write an upper directory as an OCI layer tarball.
    Layer {
        /// The upper directory whose changes become the layer
        upper: PathBuf,
        /// The tarball to write
        #[arg(short, long)]
        output: PathBuf,
        /// Clamp mtimes to this epoch (default: $SOURCE_DATE_EPOCH).
        #[arg(long)]
        mtime: Option<u64>,
        /// Record every entry as owned by UID:GID (e.g. 0:0).
        #[arg(long, value_parser = parse_owner)]
        owner: Option<(u32, u32)>,
    },
    /// Apply an OCI layer tarball onto a directory, honouring whiteouts.
    Apply {
        /// The layer tarball to apply
        layer: PathBuf,
        /// The directory to apply it onto
        dir: PathBuf,
        /// Keep whiteouts as overlay whiteouts (char 0/0, opaque xattr) instead of deleting.
        #[arg(long)]
        as_upper: bool,
    },
}

fn parse_owner(s: &str) -> Result<(u32, u32), String> {
    let (u, g) = s.split_once(':').ok_or_else(|| format!("{s:?}: expected UID:GID, e.g. 0:0"))?;
    Ok((u.parse().map_err(|_| format!("{u:?} is not a uid"))?, g.parse().map_err(|_| format!("{g:?} is not a gid"))?))
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Mount { lowers, upper, work, merged, hold } => mount(lowers, upper.zip(work), &merged, hold),
        Command::Umount { merged } => {
            crate::unmount(&merged)?;
            Ok(0)
        }
        Command::Diff { upper, lowers } => {
            if lowers.is_empty() {
                eprintln!("note: without --lower, added and modified look the same: everything present is shown as A");
            }
            for change in diff(&upper, &lowers)? {
                println!("{change}");
            }
            Ok(0)
        }
        Command::Layer { upper, output, mtime, owner } => {
            let mut opts = LayerOptions::from_env();
            if mtime.is_some() {
                opts.source_date_epoch = mtime;
            }
            opts.owner = owner;
            let file = std::fs::File::create(&output).with_context(|| format!("create {}", output.display()))?;
            let summary = write_layer(&upper, std::io::BufWriter::new(file), &opts)?;
            eprintln!(
                "{}: {} entries ({} whiteouts, {} opaque directories), {} bytes of file data",
                output.display(),
                summary.entries,
                summary.whiteouts,
                summary.opaque_dirs,
                summary.bytes
            );
            Ok(0)
        }
        Command::Apply { layer, dir, as_upper } => {
            let file = std::fs::File::open(&layer).with_context(|| format!("open {}", layer.display()))?;
            let opts = ApplyOptions {
                whiteouts: if as_upper { WhiteoutMode::Overlay } else { WhiteoutMode::Remove },
                ..ApplyOptions::default()
            };
            let stats = apply_layer(file, &dir, &opts)?;
            eprintln!(
                "{}: {} files, {} directories, {} symlinks, {} hard links, {} whiteouts, {} opaque directories",
                dir.display(),
                stats.files,
                stats.dirs,
                stats.symlinks,
                stats.hardlinks,
                stats.whiteouts,
                stats.opaque_dirs
            );
            Ok(0)
        }
    }
}

fn mount(lowers: Vec<PathBuf>, upper: Option<(PathBuf, PathBuf)>, merged: &Path, hold: bool) -> anyhow::Result<i32> {
    let mut overlay = Overlay::new(lowers);
    if let Some((u, w)) = upper {
        overlay = overlay.with_upper(u, w);
    }
    if !hold {
        for w in overlay.mount(merged)? {
            eprintln!("warning: {w}");
        }
        return Ok(0);
    }
    // Held: journal the mount so Ctrl-C, SIGTERM and even SIGKILL (`labctl clean`) undo it.
    let cleanup = labkit::Cleanup::journaled("overlay-mount").map_err(anyhow::Error::msg)?;
    let _signals = labkit::signals::undo_on_signal(cleanup.clone(), false)?;
    let target = std::path::absolute(merged)?;
    cleanup.register(labkit::Undo::Unmount { path: target.clone() });
    match overlay.mount(&target) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
        }
        Err(e) => {
            cleanup.undo_all();
            return Err(e.into());
        }
    }
    eprintln!("mounted {}; press Ctrl-C to unmount", target.display());
    loop {
        std::thread::park();
    }
}
