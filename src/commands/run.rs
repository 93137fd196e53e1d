//! `labctl run <lab>`: the walkthrough.

use anyhow::{bail, Context};
use labctl::catalogue;
use labkit::manifest::LabDef;
use labkit::progress::Progress;
use labkit::{Cleanup, RunOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lab id, e.g. ns-net (see `labctl list`)
    pub lab: String,
    /// Wait for Enter before each step (for live demos)
    #[arg(long)]
    pub pause: bool,
    /// At each step's checkpoint, open a shell inside the lab's namespaces; exit it to continue
    #[arg(long)]
    pub explore: bool,
    /// Show only this step (number from 1, or id); earlier steps run quietly
    #[arg(long, value_name = "N|ID")]
    pub step: Option<String>,
    #[command(flatten)]
    pub lang: labkit::LangFlag,
    #[command(flatten)]
    pub format: labkit::FormatFlag,
    /// Hide volatile values (pids, inodes, MACs, durations, temp paths) for reference output
    #[arg(long)]
    pub redact: bool,
    /// Leave what the lab created in place for exploring; `labctl clean` removes it later
    #[arg(long)]
    pub keep: bool,
    /// Never prompt
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    let entry = catalogue::find(&catalogue, &args.lab)?;
    let (lang, format) = (args.lang.resolve(), args.format.resolve());
    let only_step = args.step.as_deref().map(|s| step_index(&entry.def, s)).transpose()?;
    if (args.pause || args.explore) && !labkit::interact::can_prompt() {
        let flag = if args.pause { "--pause" } else { "--explore" };
        bail!("{flag} needs a terminal (stdin and stderr are not one): run it interactively, or drop {flag}");
    }
    if args.yes && (args.pause || args.explore) {
        bail!("--yes means never prompt, which contradicts --pause/--explore: pick one");
    }
    let Some(code) = entry.code else { bail!("lab {} has no walkthrough code in this build", entry.def.id) };
    preflight(&entry.def)?;

    let _lock = lock(&entry.def.id)?;
    let cleanup = Cleanup::journaled(&entry.def.id).map_err(anyhow::Error::msg)?;
    let opts = RunOptions {
        lang,
        format,
        redact: args.redact,
        keep: args.keep,
        pause: args.pause,
        explore: args.explore,
        only_step,
        yes: args.yes,
        width: labkit::wrap::output_width(),
    };
    let outcome = labkit::runner::run_lab(&entry.def, code, &opts, cleanup, std::io::stdout().lock())?;
    if outcome.passed && only_step.is_none() && !outcome.stopped {
        record_completion(&entry.def.id);
    }
    Ok(if outcome.passed { 0 } else { 1 })
}

/// `--step 3` or `--step enter`.
fn step_index(def: &LabDef, wanted: &str) -> anyhow::Result<usize> {
    let ids: Vec<&str> = def.steps.iter().map(|s| s.id.as_str()).collect();
    if let Ok(n) = wanted.parse::<usize>() {
        if n >= 1 && n <= ids.len() {
            return Ok(n - 1);
        }
        bail!("lab {} has steps 1 to {}; there is no step {n}", def.id, ids.len());
    }
    match ids.iter().position(|id| *id == wanted) {
        Some(i) => Ok(i),
        None => bail!("lab {} has no step {wanted:?}; its steps are: {}", def.id, ids.join(", ")),
    }
}

/// Root and kernel features, checked before anything is created.
fn preflight(def: &LabDef) -> anyhow::Result<()> {
    let req = &def.requirements;
    if req.root && !labkit::sys::is_root() {
        let why = if !req.namespaces.is_empty() {
            "it creates namespaces"
        } else if !req.cgroup_controllers.is_empty() {
            "it creates cgroups"
        } else if req.overlay {
            "it mounts OverlayFS"
        } else {
            "it changes kernel state"
        };
        bail!("labctl run {id} needs root ({why}): try sudo labctl run {id}", id = def.id);
    }
    for ns in &req.namespaces {
        if !std::path::Path::new(&format!("/proc/self/ns/{ns}")).exists() {
            bail!(
                "lab {} needs {ns} namespaces, which this kernel does not offer (/proc/self/ns/{ns} is missing): \
                 use a kernel built with CONFIG_{}_NS (any distribution kernel has it)",
                def.id,
                ns.to_uppercase()
            );
        }
    }
    if req.overlay {
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if !filesystems.lines().any(|l| l.trim_end().ends_with("overlay")) {
            let _ = std::process::Command::new("modprobe").arg("overlay").status();
            let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
            if !filesystems.lines().any(|l| l.trim_end().ends_with("overlay")) {
                bail!("lab {} needs OverlayFS, which is not in /proc/filesystems: run sudo modprobe overlay", def.id);
            }
        }
    }
    Ok(())
}

/// One run of a lab at a time: a second one refuses instead of colliding.
fn lock(lab: &str) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let dir = labkit::paths::lock_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {} (labctl keeps its locks and undo journal there)", dir.display()))?;
    let path = dir.join(format!("{lab}.lock"));
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match labkit::sys::try_lock(file)? {
        Some(lock) => Ok(lock),
        None => {
            bail!("lab {lab} is already running in another labctl; wait for it to finish (or stop it), then try again")
        }
    }
}

fn record_completion(lab: &str) {
    let path = Progress::default_path();
    match Progress::load(&path) {
        Ok(mut progress) => {
            progress.record_run(lab);
            if let Err(e) = progress.save(&path) {
                eprintln!("labctl: note: progress not saved: {e}");
            }
        }
        Err(e) => eprintln!("labctl: note: progress not saved: {e}"),
    }
}
