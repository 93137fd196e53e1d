//! `cgroup-intro`: which cgroup world this machine has, /proc/self/cgroup, /proc/cgroups and the
//! course notes' controller list, a parent's limit bounding its child, the css_set, and removal.

use super::{detect, make_group, path_of, worker_in};
use crate::cgroup::{Cgroup, Controller, System};
use crate::worker::Worker;
use crate::Version;
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Failure, Observation, Walkthrough};
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "cgroup-intro",
    source: file!(),
    steps: &[
        ("layout", layout),
        ("join", join),
        ("controllers", controllers),
        ("hierarchy", hierarchy),
        ("css-set", css_set),
        ("remove", remove),
    ],
    check,
};

#[derive(Default)]
pub struct State {
    system: Option<System>,
    group: Option<Cgroup>,
    forker: Option<Worker>,
}

const ALL: [Controller; 4] = [Controller::Cpu, Controller::Memory, Controller::Pids, Controller::Freezer];

fn layout(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = detect(ctx)?;
    let lines: Vec<Vec<Fact>> = system
        .mounts()
        .mounts
        .iter()
        .map(|m| {
            let what = if m.version == 2 {
                "cgroup2".to_string()
            } else if m.controllers.is_empty() {
                ctx.t(&tr!("cgroup (no controller)", "cgroup（没有 controller）"))
            } else {
                format!("cgroup {}", m.controllers.join(","))
            };
            vec![Fact::text(format!("{}  {what}", m.mount_point.display()))]
        })
        .collect();
    let path = ctx.t(&tr!("/proc/self/mountinfo (cgroup mounts)", "/proc/self/mountinfo（cgroup 挂载）"));
    ctx.observe(Observation::Excerpt { path: Fact::text(path), lines });
    let v2_controllers = system
        .v2_dir()
        .and_then(|d| std::fs::read_to_string(d.join("cgroup.controllers")).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if let Some(dir) = system.v2_dir() {
        let empty = ctx.t(&tr!("(empty)", "（空）"));
        ctx.observe(Observation::excerpt(
            Fact::text(dir.join("cgroup.controllers").display().to_string()),
            if v2_controllers.is_empty() { &empty } else { &v2_controllers },
        ));
    }
    let v1_count = system.mounts().mounts.iter().filter(|m| m.version == 1 && !m.controllers.is_empty()).count();
    ctx.set("hierarchies", Fact::Number(v1_count as i64));
    ctx.set(
        "why",
        Fact::text(ctx.t(&match system.layout() {
            crate::Layout::Hybrid => tr!(
                "systemd mounted one v1 hierarchy per controller and an extra cgroup2 tree at /sys/fs/cgroup/unified that holds no controllers we need: every limit is set in the v1 hierarchies",
                "systemd 为每个 controller 挂载了一个 v1 层级，另外在 /sys/fs/cgroup/unified 挂了一棵 cgroup2 树，但它不含我们需要的 controller：所有限制都要在 v1 层级里设置"
            ),
            crate::Layout::Legacy => tr!(
                "only v1 hierarchies exist: each controller lives in its own tree",
                "只有 v1 层级：每个 controller 各自一棵树"
            ),
            crate::Layout::Unified => tr!(
                "one cgroup2 tree holds every controller: a group is one directory and a process is in exactly one group",
                "一棵 cgroup2 树包含所有 controller：一个 group 就是一个目录，一个进程只属于一个 group"
            ),
        })),
    );
    // The kernel's own view of this process: one "0::" line per cgroup2 tree, one line per v1 hierarchy.
    let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let v2_line = own.lines().any(|l| l.starts_with("0::"));
    let v1_lines = own.lines().any(|l| !l.is_empty() && !l.starts_with("0::"));
    let seen = match (v1_lines, v2_line) {
        (true, true) => "hybrid",
        (true, false) => "legacy",
        (false, true) => "unified",
        (false, false) => "none",
    };
    // The layout names (hybrid, legacy, unified) are systemd's terms and stay as they are.
    let seen = if seen == "none" { ctx.word("none") } else { seen.to_string() };
    ctx.expect_eq(
        tr!(
            "the layout found in mountinfo is the one /proc/self/cgroup shows",
            "从 mountinfo 得出的布局与 /proc/self/cgroup 显示的一致"
        ),
        Fact::text(format!("{:?}", system.layout()).to_lowercase()),
        Fact::text(seen),
        tr!(
            "v1 lines (N:controllers:/path) and a 0::/path line in /proc/self/cgroup should match the mounts",
            "/proc/self/cgroup 里的 v1 行（N:controllers:/path）和 0::/path 行应当与挂载情况相符"
        ),
    );
    state.system = Some(system);
    Ok(())
}

/// `/proc/PID/cgroup` lines with paths outside labctl typed as host-specific.
fn proc_cgroup(pid: Option<i32>) -> anyhow::Result<Vec<Vec<Fact>>> {
    let path = pid.map_or("/proc/self/cgroup".to_string(), |p| format!("/proc/{p}/cgroup"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(text
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            let (id, ctrl, cg) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let cg_fact =
                if cg == "/" || cg.starts_with("/labctl") { Fact::text(cg) } else { Fact::Host(cg.to_string()) };
            vec![Fact::text(format!("{id}:{ctrl}:")), cg_fact]
        })
        .collect())
}

fn join(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = state.system.clone().context("step layout did not run")?;
    let group = system.group("intro")?;
    make_group(ctx, &system, &group, &ALL, &[])?;
    let forker = worker_in(ctx, &group, Worker::forker)?;
    ctx.observe(Observation::Excerpt { path: Fact::text("/proc/self/cgroup"), lines: proc_cgroup(None)? });
    let theirs = proc_cgroup(Some(forker.pid()))?;
    let joined = theirs.iter().filter(|l| l[1] == Fact::text("/labctl/intro")).count();
    ctx.observe(Observation::Excerpt { path: Fact::TempPath(format!("/proc/{}/cgroup", forker.pid())), lines: theirs });
    let dirs = group.existing_dirs().len();
    ctx.set("pid", Fact::Pid(forker.pid().into()));
    ctx.set("joined", Fact::Number(joined as i64));
    ctx.set("procs", Fact::text(path_of(&group, "cgroup.procs")?));
    ctx.expect_eq(
        tr!(
            "the child shows /labctl/intro once per hierarchy we wrote to",
            "子进程在我们写过的每个层级里都显示 /labctl/intro"
        ),
        Fact::Number(dirs as i64),
        Fact::Number(joined as i64),
        tr!(
            "v1 needs the pid written into every hierarchy's cgroup.procs",
            "v1 需要把 pid 写进每个层级的 cgroup.procs"
        ),
    );
    // --explore: a shell inside this group.
    ctx.explore_cgroup(&group.path_name(), group.procs_files());
    state.group = Some(group);
    state.forker = Some(forker);
    Ok(())
}

/// The course notes' list, with what became of each controller.
const SEED: [(&str, &str, &str); 10] = [
    ("blkio", "blkio", "io"),
    ("cpu", "cpu", "cpu"),
    ("cpuacct", "cpuacct", "cpu"),
    ("cpuset", "cpuset", "cpuset"),
    ("devices", "devices", "-"),
    ("freezer", "freezer", "-"),
    ("memory", "memory", "memory"),
    ("net_cls", "net_cls", "-"),
    ("ns", "ns", "-"),
    ("pid", "pids", "pids"),
];

fn controllers(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = state.system.clone().context("step layout did not run")?;
    let text = std::fs::read_to_string("/proc/cgroups").context("reading /proc/cgroups")?;
    let rows: Vec<Vec<Fact>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| {
                vec![Fact::text(f[0]), Fact::Host(f[1].to_string()), Fact::Measured(f[2].to_string()), Fact::text(f[3])]
            })
        })
        .collect();
    ctx.observe(Observation::Table {
        title: tr!("/proc/cgroups: every controller this kernel has", "/proc/cgroups：这个内核拥有的所有 controller"),
        columns: vec!["SUBSYS".into(), "HIERARCHY".into(), "NUM_CGROUPS".into(), "ENABLED".into()],
        rows,
    });
    let available = system.available();
    let v2_core = |name: &str| match name {
        "freezer" => Some("cgroup.freeze".to_string()),
        "devices" => Some("BPF_PROG_TYPE_CGROUP_DEVICE".to_string()),
        "net_cls" => Some(ctx.t(&tr!("socket cgroup path (nft/BPF)", "socket 的 cgroup 路径（nft/BPF）"))),
        "cpuacct" => Some("cpu.stat".to_string()),
        _ => None,
    };
    // Read, not assumed: the ns subsystem is gone from /proc/cgroups since Linux 2.6.38.
    let ns_listed = text.lines().any(|l| l.split_whitespace().next() == Some("ns"));
    let ns_row = ctx.t(&if ns_listed {
        tr!("listed in /proc/cgroups", "列在 /proc/cgroups 中")
    } else {
        tr!("not in /proc/cgroups (removed in Linux 2.6.38)", "不在 /proc/cgroups 中（Linux 2.6.38 已移除）")
    });
    let mut rows = Vec::new();
    for (seed, v1, v2) in SEED {
        let here = match system.version() {
            Version::V1 => {
                if seed == "ns" {
                    ns_row.clone()
                } else if available.iter().any(|a| a == v1) {
                    ctx.t(&tr!(format!("mounted: {v1}"), format!("已挂载：{v1}")))
                } else {
                    ctx.word("not mounted")
                }
            }
            Version::V2 => {
                if seed == "ns" {
                    ns_row.clone()
                } else if v2 != "-" && available.iter().any(|a| a == v2) && seed != "cpuacct" {
                    format!("cgroup.controllers: {v2}")
                } else if let Some(core) = v2_core(v1) {
                    ctx.t(&tr!(format!("v2: {core}"), format!("v2：{core}")))
                } else {
                    ctx.t(&tr!("not available", "不可用"))
                }
            }
        };
        rows.push(vec![Fact::text(seed), Fact::text(v1), Fact::text(v2), Fact::text(here)]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "The course's controller list, and where each one is here:",
            "课程里的 controller 列表，以及它们在这台机器上的位置："
        ),
        columns: vec!["SEED".into(), "V1".into(), "V2".into(), "HERE".into()],
        rows,
    });
    let needed = ["cpu", "memory", "pids"];
    let missing: Vec<&str> = needed.iter().copied().filter(|n| !available.iter().any(|a| a == n)).collect();
    ctx.set("available", Fact::text(available.join(" ")));
    ctx.expect(
        tr!("cpu, memory and pids are usable here", "cpu、memory 和 pids 在这里都可用"),
        "cpu memory pids",
        Fact::text(if missing.is_empty() {
            "cpu memory pids".to_string()
        } else {
            ctx.t(&tr!(format!("missing: {}", missing.join(" ")), format!("缺少：{}", missing.join(" "))))
        }),
        missing.is_empty(),
        tr!("run labctl doctor for the fix", "运行 labctl doctor 查看修复方法"),
    );
    Ok(())
}

fn hierarchy(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = state.system.clone().context("step layout did not run")?;
    // A parent without processes (v2 allows processes only in leaves that use controllers).
    let parent = system.group("intro-parent")?;
    make_group(ctx, &system, &parent, &[Controller::Pids], &[Controller::Freezer])?;
    let child = parent.child("child")?;
    child.create(&[Controller::Pids], &[Controller::Freezer])?;
    parent.set_pids_max(Some(4))?;
    child.set_pids_max(None)?;
    let forker = worker_in(ctx, &child, Worker::forker)?;
    let made = forker.fork_children(8, Duration::from_secs(5))?.context("the forker did not answer")?;
    let rows = [(&parent, "pids.max"), (&parent, "pids.current"), (&child, "pids.max"), (&child, "pids.current")]
        .iter()
        .map(|(g, f)| {
            vec![
                Fact::text(g.path_name()),
                Fact::text(*f),
                Fact::text(g.read(f).map(|s| s.trim().to_string()).unwrap_or_default()),
            ]
        })
        .collect();
    ctx.observe(Observation::Table {
        title: tr!("The forker in the child asked for 8 children:", "child 里的 forker 请求创建 8 个子进程："),
        columns: vec!["GROUP".into(), "FILE".into(), "VALUE".into()],
        rows,
    });
    ctx.set("made", Fact::Number(made as i64));
    ctx.expect_eq(
        tr!("only 3 forks succeeded: 1 + 3 = the parent's 4", "只有 3 次 fork 成功：1 + 3 = 父 group 的 4"),
        Fact::Number(3),
        Fact::Number(made as i64),
        tr!("every ancestor's pids.max applies to the child", "每一级祖先的 pids.max 都作用于子 group"),
    );
    drop(forker);
    parent.remove()?;
    Ok(())
}

fn css_set(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = state.system.clone().context("step layout did not run")?;
    let group = state.group.as_ref().context("step join did not run")?;
    let forker = state.forker.as_ref().context("no forker")?;
    let made = forker.fork_children(1, Duration::from_secs(5))?.unwrap_or(0);
    anyhow::ensure!(made == 1, "the forker could not fork");
    let child =
        group.procs()?.into_iter().find(|p| *p != forker.pid()).context("the forked child is not in the group")?;
    let same_before = proc_cgroup(Some(forker.pid()))? == proc_cgroup(Some(child))?;
    // Move only the child to a second group (v1: in the memory hierarchy only).
    let other = system.group("intro-other")?;
    make_group(ctx, &system, &other, &[Controller::Memory], &[])?;
    other.add_process(child)?;
    let (a, b) = (proc_cgroup(Some(forker.pid()))?, proc_cgroup(Some(child))?);
    let mut rows = Vec::new();
    let mut differ = 0;
    for (la, lb) in a.iter().zip(&b) {
        let same = la == lb;
        differ += usize::from(!same);
        rows.push(vec![
            la[0].clone(),
            la[1].clone(),
            lb[1].clone(),
            Fact::text(if same { ctx.word("shared") } else { ctx.t(&tr!("DIFFERENT", "不同")) }),
        ]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "/proc/PID/cgroup of the forker and of its child, after moving the child's memory group:",
            "移动子进程的 memory group 之后，forker 与其子进程的 /proc/PID/cgroup："
        ),
        columns: vec!["HIERARCHY".into(), "FORKER".into(), "CHILD".into(), "".into()],
        rows,
    });
    ctx.set("differ", Fact::Number(differ as i64));
    ctx.expect(
        tr!(
            "right after fork, parent and child share every group (one css_set)",
            "fork 之后父子进程共享所有 group（同一个 css_set）"
        ),
        ctx.word("identical"),
        ctx.word(if same_before { "identical" } else { "different" }),
        same_before,
        tr!("fork copies the task's css_set pointer", "fork 复制了 task 的 css_set 指针"),
    );
    ctx.expect_eq(
        tr!("after the move exactly one line differs", "移动之后恰好有一行不同"),
        Fact::Number(1),
        Fact::Number(differ as i64),
        tr!("v1 moves one hierarchy at a time; v2 has one line", "v1 每次只移动一个层级；v2 只有一行"),
    );
    other.remove()?;
    Ok(())
}

fn remove(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step join did not run")?;
    let dir = group.existing_dirs().into_iter().next().context("the group is gone already")?;
    let busy = std::fs::remove_dir(&dir);
    let errno = match &busy {
        Ok(()) => ctx.t(&tr!("none: rmdir succeeded", "无：rmdir 成功了")),
        Err(e) => e.raw_os_error().map(|n| format!("{:?}", nix::errno::Errno::from_raw(n))).unwrap_or(e.to_string()),
    };
    ctx.set("errno", Fact::text(errno));
    ctx.expect_failure(
        tr!("rmdir while processes are inside", "里面还有进程时 rmdir"),
        Failure::Errno(nix::errno::Errno::EBUSY),
        busy.with_context(|| format!("rmdir {}", dir.display())),
        tr!("a populated group cannot be removed", "有进程的 group 不能删除"),
    );
    let procs = group.procs()?.len();
    group.remove().context("kill, wait, rmdir")?;
    if let Some(mut w) = state.forker.take() {
        w.kill();
    }
    let gone = !group.exists();
    ctx.observe(Observation::Values {
        title: tr!("Kill every process, wait, then rmdir:", "杀掉所有进程，等待，然后 rmdir："),
        values: vec![
            (ctx.t(&tr!("processes killed", "杀掉的进程数")), Fact::Number(procs as i64)),
            (
                ctx.t(&tr!("labctl/intro exists", "labctl/intro 仍然存在")),
                Fact::text(ctx.word(if gone { "no" } else { "yes" })),
            ),
        ],
    });
    ctx.set("killed", Fact::Number(procs as i64));
    ctx.expect(
        tr!("the empty group is removed with rmdir", "空的 group 用 rmdir 删掉了"),
        ctx.word("removed"),
        ctx.word(if gone { "removed" } else { "still there" }),
        gone,
        tr!(
            "control files vanish with the directory; rm -r would fail on them",
            "控制文件随目录一起消失；rm -r 反而会在它们上面失败"
        ),
    );
    Ok(())
}

/// The challenge: `labctl/mine` exists and holds a process.
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
            "v1: mkdir -p /sys/fs/cgroup/memory/labctl/mine   v2: mkdir -p /sys/fs/cgroup/labctl/mine",
            "v1：mkdir -p /sys/fs/cgroup/memory/labctl/mine   v2：mkdir -p /sys/fs/cgroup/labctl/mine"
        ),
    );
    if !exists {
        return Ok(());
    }
    let procs = group.procs()?;
    ctx.expect(
        tr!("a process is in it", "里面有一个进程"),
        ctx.t(&tr!("≥ 1 process", "≥ 1 个进程")),
        Fact::Number(procs.len() as i64),
        !procs.is_empty(),
        tr!(
            "echo $$ > .../labctl/mine/cgroup.procs moves your shell",
            "echo $$ > .../labctl/mine/cgroup.procs 会把你的 shell 移进去"
        ),
    );
    Ok(())
}
