//! `cgroup-pids`: a fork bomb, contained by pids.max, then defused: freeze, kill, thaw, rmdir.

use super::{detect, make_group, path_of, setting_row, show_counters, show_setting, worker_in};
use crate::cgroup::{Cgroup, Controller, System};
use crate::worker::Worker;
use crate::Version;
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "cgroup-pids",
    source: file!(),
    steps: &[("limit", limit), ("bomb", bomb), ("host-ok", host_ok), ("defuse", defuse)],
    check,
};

const MAX: u64 = 16;

#[derive(Default)]
pub struct State {
    group: Option<Cgroup>,
    bomb: Option<Worker>,
}

fn limit(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = detect(ctx)?;
    let group = system.group("pids-demo")?;
    make_group(ctx, &system, &group, &[Controller::Pids, Controller::Freezer], &[])?;
    group.set_pids_max(Some(MAX))?;
    ctx.observe(Observation::Table {
        title: tr!("The group's pids files:", "这个 group 的 pids 文件："),
        columns: vec!["FILE".into(), "VALUE".into()],
        rows: ["pids.max", "pids.current"].iter().map(|f| setting_row(&group, f)).collect(),
    });
    ctx.set("dir", Fact::text(path_of(&group, "pids.max")?.trim_end_matches("/pids.max").to_string()));
    let limit = group.stats()?.pids.and_then(|p| p.limit);
    // What the kernel holds, not what we wrote.
    ctx.set("max", limit.map_or(Fact::text("max"), |l| Fact::Number(l as i64)));
    ctx.expect_eq(
        tr!("pids.max reads back as what we wrote", "读回的 pids.max 就是我们写入的值"),
        Fact::Number(MAX as i64),
        Fact::Number(limit.map_or(-1, |l| l as i64)),
        tr!("write a number, or max for no limit", "写入数字，或写 max 表示不限制"),
    );
    // --explore: a shell inside this group (its limits apply to the shell too).
    ctx.explore_cgroup(&group.path_name(), group.procs_files());
    state.group = Some(group);
    Ok(())
}

fn bomb(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step limit did not run")?;
    let worker = worker_in(ctx, group, Worker::bomb)?;
    worker.start()?;
    // Every bomb process forks as fast as it can, and retries every 20 ms once fork fails.
    let mut pids = None;
    for _ in 0..300 {
        pids = group.stats()?.pids;
        if pids.is_some_and(|p| p.current >= MAX && p.events_max.unwrap_or(1) > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pids = pids.context("no pids stats")?;
    let procs = group.procs()?.len();
    ctx.observe(Observation::Values {
        title: tr!("The bomb, a moment later:", "片刻之后的 fork 炸弹："),
        values: vec![
            ("pids.current".into(), Fact::Number(pids.current as i64)),
            (ctx.t(&tr!("processes in cgroup.procs", "cgroup.procs 中的进程数")), Fact::Number(procs as i64)),
            ("pids.max".into(), pids.limit.map_or(Fact::text("max"), |l| Fact::Number(l as i64))),
        ],
    });
    if group.file("pids.events").is_some() {
        show_counters(ctx, group, "pids.events", &[])?;
    }
    ctx.set("current", Fact::Number(pids.current as i64));
    ctx.set("refused", Fact::Measured(pids.events_max.unwrap_or(0).to_string()));
    ctx.expect_eq(
        tr!("the bomb stopped at pids.max", "fork 炸弹停在了 pids.max"),
        pids.limit.map_or(Fact::text("max"), |l| Fact::Number(l as i64)),
        Fact::Number(pids.current as i64),
        tr!(
            "fork() fails with EAGAIN once pids.current reaches pids.max",
            "pids.current 达到 pids.max 后 fork() 会以 EAGAIN 失败"
        ),
    );
    if let Some(refused) = pids.events_max {
        ctx.expect(
            tr!("and keeps being refused (pids.events max grows)", "并且不断被拒绝（pids.events 中的 max 在增长）"),
            "> 0",
            Fact::Measured(refused.to_string()),
            refused > 0,
            tr!("each refused fork counts once", "每次被拒绝的 fork 计数一次"),
        );
    }
    state.bomb = Some(worker);
    Ok(())
}

fn host_ok(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let t0 = std::time::Instant::now();
    let status = std::process::Command::new("true").status();
    let ok = status.as_ref().is_ok_and(|s| s.success());
    let exit_0 = ctx.t(&tr!("exit 0", "退出码 0"));
    let result = if ok { exit_0.clone() } else { ctx.t(&tr!("failed", "失败")) };
    ctx.observe(Observation::Values {
        title: tr!("Outside the group, meanwhile:", "与此同时，在 group 之外："),
        values: vec![
            ("fork + exec true".into(), Fact::text(result.clone())),
            (ctx.t(&tr!("time", "用时")), Fact::Duration(t0.elapsed())),
        ],
    });
    ctx.expect(
        tr!("the rest of the machine can still start processes", "机器的其余部分仍然可以启动进程"),
        exit_0,
        result,
        ok,
        tr!("pids.max only counts the group's own processes", "pids.max 只统计本 group 自己的进程"),
    );
    Ok(())
}

fn defuse(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step limit did not run")?;
    group.freeze().context("freezing the group")?;
    let freeze_file = match group.version() {
        Version::V1 => "freezer.state",
        Version::V2 => "cgroup.freeze",
    };
    show_setting(ctx, group, freeze_file)?;
    if group.version() == Version::V2 {
        show_counters(ctx, group, "cgroup.events", &["frozen"])?;
    }
    let frozen = group.frozen()?;
    let before = group.procs()?.len();
    ctx.expect(
        tr!("the group is frozen: nobody can fork while we kill", "group 已冻结：我们杀进程时没人能再 fork"),
        ctx.word("frozen"),
        ctx.word(if frozen { "frozen" } else { "running" }),
        frozen,
        tr!("a fork bomb refills every gap a kill leaves", "fork 炸弹会填满每一次 kill 留下的空位"),
    );
    group.remove().context("kill, wait, rmdir")?;
    if let Some(mut w) = state.bomb.take() {
        w.kill();
    }
    let gone = !group.exists();
    ctx.observe(Observation::Values {
        title: tr!("After kill, thaw and rmdir:", "kill、解冻并 rmdir 之后："),
        values: vec![
            (ctx.t(&tr!("processes before", "kill 之前的进程数")), Fact::Number(before as i64)),
            (ctx.t(&tr!("group exists", "group 仍然存在")), Fact::text(ctx.word(if gone { "no" } else { "yes" }))),
        ],
    });
    ctx.set("before", Fact::Number(before as i64));
    ctx.expect(
        tr!("the group and every process in it are gone", "group 及其中的所有进程都已消失"),
        ctx.word("removed"),
        ctx.word(if gone { "removed" } else { "still there" }),
        gone,
        tr!("rmdir fails with EBUSY while a process is inside", "只要还有进程在里面，rmdir 就会以 EBUSY 失败"),
    );
    Ok(())
}

/// The challenge: `labctl/mine` limited to 10 processes.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let system = System::detect()?;
    let group = system.group("mine")?;
    let exists = group.exists();
    ctx.expect(
        tr!("the group labctl/mine exists", "group labctl/mine 存在"),
        ctx.word("present"),
        ctx.word(if exists { "present" } else { "missing" }),
        exists,
        tr!(
            "v1: mkdir /sys/fs/cgroup/pids/labctl/mine   v2: mkdir -p /sys/fs/cgroup/labctl/mine",
            "v1：mkdir /sys/fs/cgroup/pids/labctl/mine   v2：mkdir -p /sys/fs/cgroup/labctl/mine"
        ),
    );
    if !exists {
        return Ok(());
    }
    let limit = group.stats()?.pids.and_then(|p| p.limit);
    ctx.expect_eq(
        tr!("its pids.max is 10", "它的 pids.max 是 10"),
        Fact::Number(10),
        Fact::Number(limit.map_or(-1, |l| l as i64)),
        tr!("echo 10 > pids.max", "echo 10 > pids.max"),
    );
    Ok(())
}
