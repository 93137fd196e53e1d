//! The walkthroughs: `cgroup-intro`, `cgroup-cpu`, `cgroup-mem`, `cgroup-pids`. Narration lives
//! in `labs/cgroup/lab.yaml`; each step here acts on the kernel through the building block,
//! reads the result back, and checks it. Shared helpers below.

pub mod cpu;
pub mod intro;
pub mod mem;
pub mod pids;

use crate::cgroup::{undos, Cgroup, Controller, System};
use crate::worker::Worker;
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Text};

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&intro::LAB, &cpu::LAB, &mem::LAB, &pids::LAB]
}

/// Detects the world and names it for the explanation (`{world}`, `{layout}`).
pub(crate) fn detect(ctx: &mut Ctx) -> anyhow::Result<System> {
    let system = System::detect().context("detecting the cgroup layout from /proc/self/mountinfo")?;
    ctx.set("world", Fact::text(format!("cgroup {}", system.version().name())));
    ctx.set("layout", Fact::text(layout_word(ctx, &system)));
    Ok(system)
}

fn layout_word(ctx: &Ctx, system: &System) -> String {
    ctx.t(&match system.layout() {
        crate::Layout::Legacy => tr!("legacy", "legacy（仅 v1）"),
        crate::Layout::Hybrid => tr!("hybrid", "hybrid（v1 + 空的 v2）"),
        crate::Layout::Unified => tr!("unified", "unified（仅 v2）"),
    })
}

/// Picks the text for this world.
pub(crate) fn per_world(system: &System, v1: Text, v2: Text) -> Text {
    match system.version() {
        crate::Version::V1 => v1,
        crate::Version::V2 => v2,
    }
}

/// Registers the group's undo entries (each `labctl` top once), then creates it.
pub(crate) fn make_group(
    ctx: &mut Ctx,
    system: &System,
    group: &Cgroup,
    required: &[Controller],
    optional: &[Controller],
) -> anyhow::Result<()> {
    let all: Vec<Controller> = required.iter().chain(optional).copied().collect();
    let pending = ctx.cleanup().pending();
    for undo in undos(system, group, &all)? {
        if !pending.contains(&undo) {
            ctx.register(undo);
        }
    }
    group.create(required, optional).with_context(|| format!("creating {}", group.path_name()))?;
    Ok(())
}

/// Starts a worker, registers its kill, and moves it into `group` (`echo PID > cgroup.procs`).
pub(crate) fn worker_in(
    ctx: &mut Ctx,
    group: &Cgroup,
    make: fn() -> std::io::Result<Worker>,
) -> anyhow::Result<Worker> {
    let worker = make().context("forking a worker process")?;
    ctx.register(worker.undo());
    group.add_process(worker.pid()).with_context(|| format!("moving {} into {}", worker.pid(), group.path_name()))?;
    Ok(worker)
}

/// A control file's full path, shown as is (stable: no pids, no temp dirs).
pub(crate) fn path_of(group: &Cgroup, file: &str) -> anyhow::Result<String> {
    let path = group.file(file).with_context(|| format!("{} has no {file}", group.path_name()))?;
    Ok(path.display().to_string())
}

/// Shows a control file whose content is the lesson (a limit we wrote).
pub(crate) fn show_setting(ctx: &mut Ctx, group: &Cgroup, file: &str) -> anyhow::Result<String> {
    let content = group.read(file)?;
    ctx.observe(Observation::excerpt(Fact::text(path_of(group, file)?), content.trim_end()));
    Ok(content.trim().to_string())
}

/// Shows a flat-keyed counter file (`cpu.stat`, `memory.events`): keys as text, values measured.
pub(crate) fn show_counters(ctx: &mut Ctx, group: &Cgroup, file: &str, keys: &[&str]) -> anyhow::Result<()> {
    let content = group.read(file)?;
    let lines = content
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| keys.is_empty() || keys.contains(k))
        .map(|(k, v)| vec![Fact::text(format!("{k} ")), Fact::Measured(v.to_string())])
        .collect();
    ctx.observe(Observation::Excerpt { path: Fact::text(path_of(group, file)?), lines });
    Ok(())
}

/// A row of a FILE / VALUE table for a setting.
pub(crate) fn setting_row(group: &Cgroup, file: &str) -> Vec<Fact> {
    let value = group.read(file).map(|s| s.trim().to_string()).unwrap_or_else(|_| "-".into());
    vec![Fact::text(file), Fact::text(value)]
}

pub(crate) fn percent(share: f64) -> Fact {
    Fact::Measured(crate::measure::percent(share))
}

/// The CPUs this process may run on (what `nproc` prints).
pub(crate) fn nproc_of(pid: i32) -> usize {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(pid))
        .map(|set| (0..nix::sched::CpuSet::count()).filter(|i| set.is_set(*i).unwrap_or(false)).count())
        .unwrap_or(0)
}
