//! `cgroup-mem`: a child allocates and touches memory in steps under a 64 MiB limit with swap
//! off: usage rises, then the OOM killer ends it at the limit. memory.high throttling on v2;
//! `free` inside still shows the host's memory.

use super::{detect, make_group, path_of, per_world, setting_row, show_counters, worker_in};
use crate::cgroup::{Cgroup, Controller, System};
use crate::worker::{describe, describe_text, Worker};
use crate::Version;
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "cgroup-mem",
    source: file!(),
    steps: &[("limit", limit), ("grow", grow), ("oom", oom), ("high", high), ("host-view", host_view)],
    check,
};

const LIMIT: u64 = 64 << 20;
const STEP_MIB: u8 = 16;

#[derive(Default)]
pub struct State {
    system: Option<System>,
    group: Option<Cgroup>,
    worker: Option<Worker>,
    allocated_mib: u64,
}

fn limit(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = detect(ctx)?;
    let group = system.group("mem-demo")?;
    make_group(ctx, &system, &group, &[Controller::Memory], &[Controller::Freezer])?;
    group.set_memory_max(Some(LIMIT))?;
    let swap_off = group.disable_swap()?;
    let files: &[&str] = match system.version() {
        Version::V1 => &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.usage_in_bytes"],
        Version::V2 => &["memory.max", "memory.swap.max", "memory.current"],
    };
    ctx.observe(Observation::Table {
        title: tr!("The group's memory files after our writes:", "写入之后这个 group 的内存文件："),
        columns: vec!["FILE".into(), "VALUE".into()],
        rows: files.iter().map(|f| setting_row(&group, f)).collect(),
    });
    let worker = worker_in(ctx, &group, Worker::allocator)?;
    ctx.set("limit_file", Fact::text(files[0]));
    ctx.set("swap_file", Fact::text(files[1]));
    ctx.set("pid", Fact::Pid(worker.pid().into()));
    let read_limit = group.stats()?.memory.and_then(|m| m.limit);
    // The explanation shows what the kernel holds, read back.
    ctx.set("limit", read_limit.map_or(Fact::text("max"), |l| Fact::Number(l as i64)));
    ctx.expect_eq(
        tr!("the limit reads back as 64 MiB", "读回的限制是 64 MiB"),
        Fact::Number(LIMIT as i64),
        Fact::Number(read_limit.unwrap_or(0) as i64),
        tr!("the kernel rounds limits down to whole pages", "内核会把限制向下取整到整页"),
    );
    ctx.expect(
        tr!("swap is off for the group", "这个 group 不能使用 swap"),
        ctx.t(&tr!("off", "已关闭")),
        ctx.t(&if swap_off {
            tr!("off", "已关闭")
        } else {
            tr!("no swap accounting in this kernel", "这个内核没有 swap 记账")
        }),
        swap_off,
        tr!(
            "v1 needs swap accounting (swapaccount=1) for memory.memsw.*",
            "v1 需要开启 swap 记账（swapaccount=1）才有 memory.memsw.*"
        ),
    );
    state.system = Some(system);
    // --explore: a shell inside this group (its limits apply to the shell too).
    ctx.explore_cgroup(&group.path_name(), group.procs_files());
    state.group = Some(group);
    state.worker = Some(worker);
    Ok(())
}

fn grow(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step limit did not run")?;
    let worker = state.worker.as_ref().context("no allocator")?;
    let mut rows = Vec::new();
    let mut last_usage = 0;
    let mut rising = true;
    for _ in 0..3 {
        let done = worker.allocate(STEP_MIB, Duration::from_secs(5))?;
        anyhow::ensure!(done, "the allocator did not finish {STEP_MIB} MiB within 5 s");
        state.allocated_mib += STEP_MIB as u64;
        let mem = group.stats()?.memory.context("no memory stats")?;
        rising &= mem.usage > last_usage;
        last_usage = mem.usage;
        rows.push(vec![
            Fact::Number(state.allocated_mib as i64),
            Fact::Bytes(mem.usage),
            Fact::Bytes(mem.anon.unwrap_or(0)),
            Fact::Measured(mem.failcnt.or(mem.events_max).unwrap_or(0).to_string()),
        ]);
    }
    let (usage_file, counter) = match group.version() {
        Version::V1 => ("memory.usage_in_bytes", "memory.failcnt"),
        Version::V2 => ("memory.current", "memory.events max"),
    };
    ctx.observe(Observation::Table {
        title: tr!("The allocator touches 16 MiB at a time:", "分配器每次分配并写入 16 MiB："),
        // zh: the files' own names (an uppercased file name is not a Chinese header).
        columns: vec![
            "ALLOCATED MiB".into(),
            ctx.t(&tr!(usage_file.to_uppercase(), usage_file)),
            ctx.t(&tr!("ANON", "匿名内存")),
            ctx.t(&tr!(counter.to_uppercase(), counter)),
        ],
        rows,
    });
    ctx.set("allocated", Fact::Number(state.allocated_mib as i64));
    ctx.set("usage", Fact::Bytes(last_usage));
    ctx.set("usage_file", Fact::text(usage_file));
    ctx.expect(
        tr!("usage rises with every step", "每一步之后使用量都在上升"),
        ctx.t(&tr!("rising", "在上升")),
        ctx.t(&if rising { tr!("rising", "在上升") } else { tr!("not rising", "没有上升") }),
        rising,
        tr!("touched pages are charged to the group", "被写过的页会记到这个 group 头上"),
    );
    let allocated = state.allocated_mib << 20;
    ctx.expect(
        tr!("usage covers what was touched and stays under the limit", "使用量覆盖了写过的内存，且低于限制"),
        ctx.t(&tr!("48 MiB ≤ usage < 64 MiB", "48 MiB ≤ 使用量 < 64 MiB")),
        Fact::Bytes(last_usage),
        last_usage >= allocated && last_usage < LIMIT,
        tr!("the process's own pages count too", "进程自身的页也会被计入"),
    );
    Ok(())
}

fn oom(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step limit did not run")?;
    let worker = state.worker.as_mut().context("no allocator")?;
    let mut kmsg = open_kmsg();
    let mut extra = 0;
    for _ in 0..4 {
        if !worker.allocate(STEP_MIB, Duration::from_secs(5))? {
            break;
        }
        extra += STEP_MIB as u64;
    }
    let status = worker.wait(Duration::from_secs(5)).context("the allocator is still alive above its limit")?;
    let mem = group.stats()?.memory.context("no memory stats")?;
    let peak = mem.peak.unwrap_or(mem.usage);
    // Compared on the wait status; shown in the run's language ("killed by SIGKILL", "被 SIGKILL 杀死").
    let killed = matches!(status, nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _));
    let ended = ctx.t(&tr!(describe(&status), describe_text(&status).zh));
    let kill_line = kmsg.as_mut().and_then(|k| oom_line(k, worker.pid()));
    ctx.observe(Observation::Values {
        title: tr!("How the allocator ended:", "分配器是怎样结束的："),
        values: vec![
            (
                ctx.t(&tr!("MiB touched before the kill", "被杀之前写入的 MiB")),
                Fact::Measured(format!("{}", state.allocated_mib + extra)),
            ),
            (ctx.t(&tr!("wait status", "wait 状态")), Fact::text(ended.clone())),
            ("oom_kill".into(), Fact::Number(mem.oom_kill.unwrap_or(0) as i64)),
            (ctx.t(&tr!("peak", "峰值")), Fact::Bytes(peak)),
            (ctx.t(&tr!("limit", "限制")), mem.limit.map_or(Fact::text("max"), |l| Fact::Number(l as i64))),
        ],
    });
    match group.version() {
        Version::V1 => show_counters(ctx, group, "memory.oom_control", &[])?,
        Version::V2 => show_counters(ctx, group, "memory.events", &[])?,
    }
    match &kill_line {
        Some(segments) => {
            ctx.observe(Observation::Excerpt { path: Fact::text("/dev/kmsg"), lines: vec![segments.clone()] })
        }
        None => ctx.note(tr!(
            "The kernel's log line was not readable (/dev/kmsg needs root; dmesg shows it too).",
            "读不到内核日志行（/dev/kmsg 需要 root；用 dmesg 也能看到）。"
        )),
    }
    let status_text = ctx.t(&describe_text(&status));
    ctx.set("status", Fact::text(status_text));
    ctx.set("peak", Fact::Bytes(peak));
    ctx.set(
        "events_file",
        Fact::text(match group.version() {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        }),
    );
    ctx.expect(
        tr!("the allocator was killed by SIGKILL", "分配器被 SIGKILL 杀死"),
        ctx.t(&tr!("killed by SIGKILL", "被 SIGKILL 杀死")),
        Fact::text(ended),
        killed,
        tr!("the OOM killer sends SIGKILL, which cannot be caught", "OOM killer 发送的是无法捕获的 SIGKILL"),
    );
    ctx.expect_eq(
        tr!("the group counted one OOM kill", "group 记录了一次 OOM kill"),
        Fact::Number(1),
        Fact::Number(mem.oom_kill.unwrap_or(0) as i64),
        tr!("oom_kill counts kills inside this group", "oom_kill 统计的是本 group 内的 OOM kill"),
    );
    ctx.expect(
        tr!("usage never went over the limit", "使用量从未超过限制"),
        ctx.t(&tr!("peak ≤ 64 MiB", "峰值 ≤ 64 MiB")),
        Fact::Bytes(peak),
        peak <= LIMIT,
        tr!("the limit is a hard ceiling: reclaim, then kill", "这个限制是硬上限：先回收，再杀进程"),
    );
    Ok(())
}

/// /dev/kmsg positioned at its end, so we read only what comes next; None if not readable.
fn open_kmsg() -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ok()?;
    file.seek(SeekFrom::End(0)).ok()?;
    Some(file)
}

/// The kernel's `Memory cgroup out of memory: Killed process PID (lc-alloc) ...` record, with
/// the pid and the sizes typed as volatile.
fn oom_line(kmsg: &mut std::fs::File, pid: i32) -> Option<Vec<Fact>> {
    let needle = format!("Killed process {pid} ");
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    let mut buf = vec![0u8; 8192];
    while std::time::Instant::now() < deadline {
        match kmsg.read(&mut buf) {
            Ok(n) if n > 0 => {
                let record = String::from_utf8_lossy(&buf[..n]);
                let message = record.split_once(';').map(|(_, m)| m.trim_end()).unwrap_or("");
                if let Some(at) = message.find(&needle) {
                    let head = &message[..at + "Killed process ".len()];
                    let rest = &message[at + needle.len()..];
                    let (comm, tail) = rest.split_once(") ").unwrap_or((rest, ""));
                    return Some(vec![
                        Fact::text(head),
                        Fact::Pid(pid.into()),
                        Fact::text(format!(" {comm}) ")),
                        Fact::Measured(tail.to_string()),
                    ]);
                }
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            // EPIPE: records were overwritten while we read; keep going.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(_) => return None,
        }
    }
    None
}

fn high(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let system = state.system.clone().context("step limit did not run")?;
    ctx.set(
        "high_note",
        Fact::text(ctx.t(&per_world(
            &system,
            tr!(
                "cgroup v1 has no memory.high: its memory.soft_limit_in_bytes only matters when the whole machine runs short, so on v1 the only per-group line is the hard limit and its OOM killer",
                "cgroup v1 没有 memory.high：它的 memory.soft_limit_in_bytes 只在整机内存紧张时才起作用，所以在 v1 上每个 group 只有硬限制和随之而来的 OOM killer 这一条线"
            ),
            tr!(
                "memory.high is a soft ceiling: above it the kernel reclaims and slows the group down instead of killing; container runtimes use it to keep a group near its budget without OOM kills",
                "memory.high 是软上限：超过它时内核会回收内存并让 group 变慢，而不是杀进程；容器运行时借此让 group 维持在预算附近而不触发 OOM kill"
            ),
        ))),
    );
    let group = system.group("mem-high")?;
    make_group(ctx, &system, &group, &[Controller::Memory], &[Controller::Freezer])?;
    group.set_memory_max(Some(LIMIT))?;
    group.disable_swap()?;
    let high = 32u64 << 20;
    if system.version() == Version::V1 {
        let files: Vec<Vec<Fact>> =
            ["memory.limit_in_bytes", "memory.soft_limit_in_bytes"].iter().map(|f| setting_row(&group, f)).collect();
        ctx.observe(Observation::Table {
            title: tr!("The closest v1 files:", "v1 中最接近的文件："),
            columns: vec!["FILE".into(), "VALUE".into()],
            rows: files,
        });
        // A fact about v1, read from its directory: the file is not there to write.
        let dir = group.file("memory.limit_in_bytes").and_then(|f| f.parent().map(|d| d.to_path_buf()));
        let present = dir.as_ref().is_some_and(|d| d.join("memory.high").exists());
        ctx.expect(
            tr!("the v1 memory directory has no memory.high file", "v1 的 memory 目录里没有 memory.high 文件"),
            ctx.t(&tr!("no such file", "没有这个文件")),
            ctx.t(&if present {
                tr!("memory.high exists", "memory.high 存在")
            } else {
                tr!("no such file", "没有这个文件")
            }),
            !present,
            tr!(
                "memory.high is a v2 file; this hierarchy should not offer it",
                "memory.high 是 v2 的文件；这个层级不应提供它"
            ),
        );
        group.remove()?;
        return Ok(());
    }
    group.set_memory_high(Some(high))?;
    ctx.observe(Observation::Table {
        title: tr!("A second group, with memory.high below memory.max:", "第二个 group，memory.high 低于 memory.max："),
        columns: vec!["FILE".into(), "VALUE".into()],
        rows: ["memory.high", "memory.max", "memory.swap.max"].iter().map(|f| setting_row(&group, f)).collect(),
    });
    let mut worker = worker_in(ctx, &group, Worker::allocator)?;
    let t0 = std::time::Instant::now();
    let finished = worker.allocate(48, Duration::from_secs(2))?;
    let took = t0.elapsed();
    let mem = group.stats()?.memory.context("no memory stats")?;
    show_counters(ctx, &group, "memory.events", &["high", "max", "oom_kill"])?;
    ctx.observe(Observation::Values {
        title: tr!(
            "While allocating 48 MiB over a 32 MiB memory.high:",
            "在 32 MiB 的 memory.high 之上分配 48 MiB 时："
        ),
        values: vec![
            ("memory.current".into(), Fact::Bytes(mem.usage)),
            (ctx.t(&tr!("finished within 2 s", "2 s 内完成")), Fact::Measured(ctx.boolean(finished))),
            (ctx.t(&tr!("time", "用时")), Fact::Duration(took)),
        ],
    });
    worker.kill();
    group.remove()?;
    let events_high = mem.events_high.unwrap_or(0);
    ctx.expect(
        tr!("the kernel stepped in at memory.high (events high > 0)", "内核在 memory.high 处介入了（events high > 0）"),
        "> 0",
        Fact::Measured(events_high.to_string()),
        events_high > 0,
        tr!("the allocator must pass 32 MiB", "分配器必须超过 32 MiB"),
    );
    ctx.expect_eq(
        tr!("and nobody was OOM-killed", "而且没有进程被 OOM kill"),
        Fact::Number(0),
        Fact::Number(mem.oom_kill.unwrap_or(0) as i64),
        tr!("48 MiB stays under memory.max", "48 MiB 仍低于 memory.max"),
    );
    Ok(())
}

fn host_view(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let group = state.group.as_ref().context("step limit did not run")?;
    // Read by a process inside the group: cat, placed in labctl/mem-demo before it runs.
    let procs = group
        .procs_files()
        .iter()
        .map(|p| std::fs::OpenOptions::new().write(true).open(p).with_context(|| format!("open {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut cat = std::process::Command::new("cat");
    cat.arg("/proc/meminfo").stdout(std::process::Stdio::piped()).stdin(std::process::Stdio::null());
    let out = labkit::sys::spawn_in_cgroups(&mut cat, procs)
        .context("start cat /proc/meminfo inside the group")?
        .wait_with_output()
        .context("wait for cat")?;
    anyhow::ensure!(out.status.success(), "cat /proc/meminfo inside the group failed: {}", out.status);
    let meminfo = String::from_utf8_lossy(&out.stdout).into_owned();
    let ours = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let total_of = |text: &str| text.lines().find(|l| l.starts_with("MemTotal:")).map(|l| l.to_string());
    let field = |name: &str| -> u64 {
        meminfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    let total = field("MemTotal:");
    let lines = meminfo
        .lines()
        .filter(|l| l.starts_with("MemTotal:") || l.starts_with("MemAvailable:"))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            vec![Fact::text(format!("{k}: ")), Fact::Host(v.trim().to_string())]
        })
        .collect();
    let path = ctx.t(&tr!(
        "/proc/meminfo, read by cat inside labctl/mem-demo",
        "/proc/meminfo，由 labctl/mem-demo 里的 cat 读取"
    ));
    ctx.observe(Observation::Excerpt { path: Fact::text(path), lines });
    ctx.expect(
        tr!(
            "cat inside the group and labctl outside it read the same MemTotal",
            "group 里的 cat 与 group 外的 labctl 读到的 MemTotal 相同"
        ),
        ctx.t(&tr!("the same line", "同一行")),
        Fact::Host(total_of(&meminfo).unwrap_or_default()),
        total_of(&meminfo).is_some() && total_of(&meminfo) == total_of(&ours),
        tr!("/proc/meminfo is one global file", "/proc/meminfo 是一个全局文件"),
    );
    ctx.set("limit_file", Fact::text(path_of(group, group_limit_file(group))?));
    ctx.set("total", Fact::Host(labkit::fact::human_bytes(total)));
    ctx.expect(
        tr!(
            "/proc/meminfo shows the host's memory, not the 64 MiB limit",
            "/proc/meminfo 显示的是主机内存，而不是 64 MiB 的限制"
        ),
        "MemTotal > 64 MiB",
        Fact::Host(labkit::fact::human_bytes(total)),
        total > LIMIT,
        tr!(
            "/proc/meminfo is global (LXCFS fakes it per container)",
            "/proc/meminfo 是全局的（LXCFS 会为每个容器伪造它）"
        ),
    );
    Ok(())
}

fn group_limit_file(group: &Cgroup) -> &'static str {
    match group.version() {
        Version::V1 => "memory.limit_in_bytes",
        Version::V2 => "memory.max",
    }
}

/// The challenge: `labctl/mine` with a 32 MiB limit and no swap.
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
            "v1: mkdir /sys/fs/cgroup/memory/labctl/mine   v2: mkdir -p /sys/fs/cgroup/labctl/mine",
            "v1：mkdir /sys/fs/cgroup/memory/labctl/mine   v2：mkdir -p /sys/fs/cgroup/labctl/mine"
        ),
    );
    if !exists {
        return Ok(());
    }
    let limit = group.stats()?.memory.and_then(|m| m.limit);
    ctx.expect_eq(
        tr!("its memory limit is 32 MiB", "它的内存限制是 32 MiB"),
        Fact::Number(32 << 20),
        Fact::Number(limit.unwrap_or(0) as i64),
        tr!(
            "v1: echo 32M > memory.limit_in_bytes   v2: echo 32M > memory.max",
            "v1：echo 32M > memory.limit_in_bytes   v2：echo 32M > memory.max"
        ),
    );
    let swap = match system.version() {
        Version::V1 => group.read("memory.memsw.limit_in_bytes").ok().map(|s| s.trim() == (32u64 << 20).to_string()),
        Version::V2 => group.read("memory.swap.max").ok().map(|s| s.trim() == "0"),
    };
    ctx.expect(
        tr!("and it may not swap", "并且不能使用 swap"),
        ctx.t(&tr!("swap off", "swap 已关闭")),
        ctx.t(&match swap {
            Some(true) => tr!("swap off", "swap 已关闭"),
            Some(false) => tr!("swap allowed", "允许 swap"),
            None => tr!("no swap accounting", "没有 swap 记账"),
        }),
        swap != Some(false),
        tr!(
            "v1: echo 32M > memory.memsw.limit_in_bytes   v2: echo 0 > memory.swap.max",
            "v1：echo 32M > memory.memsw.limit_in_bytes   v2：echo 0 > memory.swap.max"
        ),
    );
    Ok(())
}
