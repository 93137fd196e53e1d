//! `labctl image ...`: one small function per verb, calling into the library.

use crate::build::{self, BuildOptions, Event};
use crate::registry::PullEvent;
use crate::store::{self, Store};
use labkit::fact::human_bytes;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `labctl image ...`
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the images in the store.
    Ls,
    /// Show an image's manifest and config.
    Inspect {
        /// The image, NAME[:TAG] (see `labctl image ls`)
        name: String,
    },
    /// Remove images (and the blobs, build cache and unpacked rootfs no other image uses).
    Rm {
        /// The images to remove, NAME[:TAG] each
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove the blobs, build cache entries and unpacked rootfs that no image uses.
    Prune,
    /// Show how an image was made, layer by layer.
    History {
        /// The image, NAME[:TAG]
        name: String,
    },
    /// Make an image without a registry: `--busybox`, `--from-host`, or `ROOTFS.tar NAME`.
    Import {
        /// A minimal rootfs from the host's static busybox (busybox-static).
        #[arg(long, conflicts_with = "from_host")]
        busybox: bool,
        /// Host programs with their shared libraries.
        #[arg(long)]
        from_host: bool,
        /// With --from-host: the programs to take (default: sh ls cat ps ip ...).
        #[arg(long = "program", requires = "from_host")]
        programs: Vec<String>,
        /// ROOTFS.tar NAME, or just NAME with --busybox / --from-host.
        args: Vec<String>,
    },
    /// Build an image from a Dockerfile.
    Build {
        /// NAME[:TAG] of the result.
        #[arg(short = 't', long = "tag")]
        tag: String,
        /// The Dockerfile (default: CONTEXT/Dockerfile).
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
        /// NAME=VALUE for an ARG.
        #[arg(long = "build-arg")]
        build_args: Vec<String>,
        /// Do not reuse cached layers.
        #[arg(long)]
        no_cache: bool,
        /// Build up to this stage of a multi-stage Dockerfile and tag it.
        #[arg(long)]
        target: Option<String>,
        /// No per-step progress.
        #[arg(short, long)]
        quiet: bool,
        /// The build context: the directory COPY and ADD read from
        context: PathBuf,
    },
    /// Write an image as an oci-archive tarball.
    Save {
        /// The image, NAME[:TAG]
        name: String,
        /// The tarball to write
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Read an oci-archive or docker-archive (`docker save`) tarball.
    Load {
        /// The tarball to read
        #[arg(short = 'i', long = "input")]
        input: PathBuf,
    },
    /// Download an image from a registry (Docker Registry HTTP API v2).
    Pull {
        /// [REGISTRY/]NAME[:TAG], e.g. docker.io/library/busybox:latest or localhost:5000/app:1
        reference: String,
        /// Talk plain http (automatic for localhost and 127.0.0.1).
        #[arg(long)]
        insecure: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    let store = Store::open_default()?;
    match cmd {
        Command::Ls => ls(&store),
        Command::Inspect { name } => inspect(&store, &name),
        Command::Rm { names } => {
            for n in names {
                let removed = store.remove(&n)?;
                let rest = crate::prune::prune(&store)?;
                println!(
                    "removed {} ({} blobs, {} build cache entries, {} unpacked rootfs freed)",
                    crate::reference::normalize(&n)?,
                    removed.len() + rest.blobs.len(),
                    rest.cache_entries,
                    rest.rootfs_dirs
                );
            }
            Ok(0)
        }
        Command::Prune => {
            let p = crate::prune::prune(&store)?;
            println!(
                "pruned {} blobs, {} build cache entries, {} unpacked rootfs",
                p.blobs.len(),
                p.cache_entries,
                p.rootfs_dirs
            );
            Ok(0)
        }
        Command::History { name } => history(&store, &name),
        Command::Import { busybox, from_host, programs, args } => import(&store, busybox, from_host, programs, args),
        Command::Build { tag, file, build_args, no_cache, target, quiet, context } => {
            let mut args = Vec::new();
            for a in build_args {
                let (k, v) = a.split_once('=').ok_or_else(|| anyhow::anyhow!("--build-arg {a:?}: use NAME=VALUE"))?;
                args.push((k.to_string(), v.to_string()));
            }
            let tty = std::io::stderr().is_terminal();
            // On a terminal a long RUN shows its lines as they come, not only when it ends.
            let live = tty && !quiet;
            let live_output = if live {
                crate::sandbox::LiveOutput::new(|line| eprintln!("      | {line}"))
            } else {
                Default::default()
            };
            let opts = BuildOptions { tag, dockerfile: file, context, build_args: args, no_cache, target, live_output };
            let report = build::build(&store, &opts, &mut |e| {
                if !quiet {
                    print_event(&e, tty, live)
                }
            })?;
            println!("{} {}", report.name, report.manifest.digest());
            Ok(0)
        }
        Command::Save { name, output } => {
            crate::archive::save(&store, &name, &output)?;
            println!("saved {} to {}", crate::reference::normalize(&name)?, output.display());
            Ok(0)
        }
        Command::Load { input } => {
            for (name, digest) in crate::archive::load(&store, &input)? {
                println!("loaded {name} {digest}");
            }
            Ok(0)
        }
        Command::Pull { reference, insecure } => {
            let mut show = pull_progress(std::io::stderr().is_terminal());
            let (name, digest) = crate::registry::pull(&store, &reference, insecure, &mut show)?;
            println!("{name} {digest}");
            Ok(0)
        }
    }
}

fn print_event(e: &Event, tty: bool, streamed: bool) {
    let bold = |s: &str| if tty { format!("\x1b[1m{s}\x1b[0m") } else { s.to_string() };
    match e {
        Event::Step { index, total, text } => eprintln!("{}", bold(&format!("[{index}/{total}] {text}"))),
        Event::Done(step) => {
            if !streamed || step.cached {
                for line in step.output.lines() {
                    eprintln!("      | {line}");
                }
            }
            let took = human_duration(step.duration);
            match &step.layer {
                Some(l) => eprintln!(
                    "      => layer {} {}{} ({took})",
                    short(l.digest().as_ref()),
                    human_bytes(l.size()),
                    if step.cached { ", cached" } else { "" }
                ),
                None => eprintln!("      => config only ({took})"),
            }
        }
    }
}

/// Renders a pull's layer events on stderr: on a terminal, a progress bar for each layer while
/// it downloads (indicatif; layers come one after another), then its line; otherwise only the
/// lines.
fn pull_progress(tty: bool) -> impl FnMut(PullEvent) {
    let mut bar: Option<(usize, indicatif::ProgressBar)> = None;
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
        .expect("a valid template")
        .progress_chars("=> ");
    move |event| match event {
        PullEvent::Present { index, total, digest } => {
            eprintln!("layer {index}/{total} {} already present", short(digest.as_ref()));
        }
        PullEvent::Progress { index, total, digest, got, size } => {
            if !tty {
                return;
            }
            if bar.as_ref().is_none_or(|(shown, _)| *shown != index) {
                let new = indicatif::ProgressBar::new(size).with_style(style.clone());
                new.set_prefix(format!("layer {index}/{total} {}", short(digest.as_ref())));
                if let Some((_, old)) = bar.replace((index, new)) {
                    old.finish_and_clear();
                }
            }
            if let Some((_, b)) = &bar {
                b.set_position(got);
            }
        }
        PullEvent::Done { index, total, digest, size, resumed } => {
            if let Some((_, b)) = bar.take() {
                b.finish_and_clear();
            }
            let note = if resumed { " (resumed)" } else { "" };
            eprintln!("layer {index}/{total} {} {}{note}", short(digest.as_ref()), human_bytes(size));
        }
    }
}

/// "850 µs", "12.3 ms", "3.0 s", "2 min 5 s": the unit a reader takes in at a glance.
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    } else if secs >= 1.0 {
        format!("{secs:.1} s")
    } else if secs >= 0.001 {
        format!("{:.1} ms", secs * 1000.0)
    } else {
        format!("{} µs", d.as_micros())
    }
}

/// `sha256:0123456789ab`.
pub fn short(digest: &str) -> String {
    digest.chars().take(7 + 12).collect()
}

fn ls(store: &Store) -> anyhow::Result<i32> {
    println!("{:<40} {:<20} {:>10} {:>6}", "NAME", "DIGEST", "SIZE", "LAYERS");
    for (name, desc) in store.list()? {
        let (size, layers) = match store.read_json::<oci_spec::image::ImageManifest>(desc.digest(), "manifest") {
            Ok(m) => {
                (m.layers().iter().map(|l| l.size()).sum::<u64>() + m.config().size(), m.layers().len().to_string())
            }
            Err(_) => (0, "?".into()),
        };
        println!("{name:<40} {:<20} {:>10} {layers:>6}", short(desc.digest().as_ref()), human_bytes(size));
    }
    Ok(0)
}

fn inspect(store: &Store, name: &str) -> anyhow::Result<i32> {
    let image = store.resolve(name)?;
    let out = serde_json::json!({
        "name": image.name,
        "digest": image.digest().to_string(),
        "manifest": serde_json::to_value(&image.manifest)?,
        "config": serde_json::to_value(&image.config)?,
    });
    println!("{}", store::pretty_json(&out));
    Ok(0)
}

fn history(store: &Store, name: &str) -> anyhow::Result<i32> {
    let image = store.resolve(name)?;
    let mut layers = image.manifest.layers().iter();
    println!("{:<20} {:>10}  CREATED BY", "LAYER", "SIZE");
    for h in image.config.history() {
        let (digest, size) = if h.empty_layer().unwrap_or(false) {
            ("-".to_string(), "0 B".to_string())
        } else {
            match layers.next() {
                Some(l) => (short(l.digest().as_ref()), human_bytes(l.size())),
                None => ("?".into(), "?".into()),
            }
        };
        println!("{digest:<20} {size:>10}  {}", h.created_by().clone().unwrap_or_default());
    }
    Ok(0)
}

fn import(
    store: &Store,
    busybox: bool,
    from_host: bool,
    programs: Vec<String>,
    args: Vec<String>,
) -> anyhow::Result<i32> {
    let descriptor = if busybox || from_host {
        anyhow::ensure!(args.len() <= 1, "usage: labctl image import --busybox|--from-host [NAME]");
        let default = if busybox { crate::import::BUSYBOX_NAME } else { crate::import::HOST_NAME };
        let name = crate::reference::normalize(args.first().map(String::as_str).unwrap_or(default))?;
        let d = if busybox {
            crate::import::import_busybox(store, &name)?
        } else {
            let programs = if programs.is_empty() {
                crate::import::HOST_PROGRAMS.iter().map(|s| s.to_string()).collect()
            } else {
                programs
            };
            crate::import::import_host(store, &name, &programs)?
        };
        println!("{name} {}", d.digest());
        return Ok(0);
    } else {
        let [tar, name] = args.as_slice() else {
            anyhow::bail!("usage: labctl image import ROOTFS.tar NAME (or --busybox, --from-host)");
        };
        let name = crate::reference::normalize(name)?;
        let d = crate::import::import_rootfs_tar(store, std::path::Path::new(tar), &name)?;
        (name, d)
    };
    println!("{} {}", descriptor.0, descriptor.1.digest());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_in_human_units() {
        assert_eq!(human_duration(Duration::from_millis(3009)), "3.0 s");
        assert_eq!(human_duration(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(human_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min 5 s");
    }
}
