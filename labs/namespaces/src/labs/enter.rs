//! `ns-enter`: the course notes' nsenter recipe. A long-lived "container" (the `docker run -d` moment),
//! its PID (what `docker inspect --format '{{.State.Pid}}'` prints), then setns into its mnt,
//! uts, ipc, net and pid namespaces and the view from inside.

use super::{alive, link, listed, start};
use crate::enter::{self, Output};
use crate::spawn::{NsChild, Spawner};
use anyhow::Context;
use labkit::probe::NsId;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use nix::sched::CloneFlags;
use std::ffi::OsString;
use std::path::Path;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-enter",
    source: file!(),
    steps: &[("run-detached", run_detached), ("nsenter", nsenter), ("inside-view", inside_view), ("cleanup", cleanup)],
    check,
};

const TYPES: [&str; 5] = ["mnt", "uts", "ipc", "net", "pid"];
const HOSTNAME: &str = "labctl-ctr";

#[derive(Default)]
pub struct State {
    container: Option<NsChild>,
    entered: Option<NsChild>,
    namespaces: Vec<NsId>,
}

fn run_detached(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID;
    let spawner = Spawner::new(flags).mount_proc(true).hostname(HOSTNAME);
    let c = start(ctx, spawner, &["sleep", "infinity"]).context("starting the container")?;
    let mut rows = Vec::new();
    let mut differ = 0;
    for t in TYPES {
        let ours = link(None, t)?;
        let theirs = link(Some(c.pid), t)?;
        if ours != theirs {
            differ += 1;
        }
        rows.push(vec![
            Fact::text(t),
            Fact::Inode(ours.inode),
            Fact::Inode(theirs.inode),
            Fact::text(if ours == theirs { ctx.word("shared") } else { ctx.t(&tr!("NEW", "新的")) }),
        ]);
        state.namespaces.push(theirs);
    }
    ctx.observe(Observation::Values {
        title: tr!(
            "The container's PID (docker inspect --format '{{.State.Pid}}'):",
            "容器的 PID（docker inspect --format '{{.State.Pid}}'）："
        ),
        values: vec![("State.Pid".into(), Fact::Pid(c.pid.into()))],
    });
    ctx.observe(Observation::Table {
        title: tr!("Its namespaces next to ours:", "它的 namespace 与我们的对比："),
        columns: ["TYPE", "OURS", "CONTAINER", ""].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.set("pid", Fact::Pid(c.pid.into()));
    ctx.expect_eq(
        tr!("all five namespaces are new", "五个 namespace 都是新的"),
        Fact::Number(5),
        Fact::Number(differ),
        tr!("clone with five CLONE_NEW* flags", "clone 时带了五个 CLONE_NEW* 标志"),
    );
    ctx.explore_in(c.pid);
    state.container = Some(c);
    Ok(())
}

fn nsenter(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let c = state.container.as_ref().context("the container of step run-detached is not running")?;
    let argv: Vec<OsString> = ["sleep", "infinity"].iter().map(OsString::from).collect();
    let e = enter::spawn(c.pid, &TYPES, &argv, Output::Null).context("entering the container's namespaces")?;
    ctx.register(e.undo());
    let mut rows = Vec::new();
    let mut same = 0;
    for t in TYPES {
        let theirs = link(Some(c.pid), t)?;
        let entered = link(Some(e.pid), t)?;
        if theirs == entered {
            same += 1;
        }
        rows.push(vec![
            Fact::text(t),
            Fact::Inode(theirs.inode),
            Fact::Inode(entered.inode),
            Fact::text(if theirs == entered { ctx.word("same") } else { ctx.t(&tr!("DIFFERENT", "不同")) }),
        ]);
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", e.pid))?;
    let numbers: Vec<i64> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|l| l.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    ctx.observe(Observation::Table {
        title: tr!(
            "The entered process's namespaces next to the container's:",
            "进入后的进程与容器的 namespace 对比："
        ),
        columns: super::headers(ctx, &[("TYPE", "类型"), ("CONTAINER", "容器"), ("ENTERED", "进入的进程"), ("", "")]),
        rows,
    });
    let mut line = vec![Fact::text("NSpid:")];
    for (i, n) in numbers.iter().enumerate() {
        line.push(Fact::text("\t"));
        line.push(if i + 1 == numbers.len() { Fact::Number(*n) } else { Fact::Pid(*n) });
    }
    ctx.observe(Observation::Excerpt { path: Fact::text("/proc/ENTERED/status"), lines: vec![line] });
    ctx.set("inner", Fact::Number(*numbers.last().unwrap_or(&0)));
    ctx.expect_eq(
        tr!("the entered process shares all five namespaces", "进入后的进程共享全部五个 namespace"),
        Fact::Number(5),
        Fact::Number(same),
        tr!("setns into each /proc/PID/ns file", "对每个 /proc/PID/ns 文件调用 setns"),
    );
    ctx.expect_eq(
        tr!("it is PID 2 inside the container", "它在容器里是 PID 2"),
        Fact::Number(2),
        Fact::Number(*numbers.last().unwrap_or(&0)),
        tr!(
            "setns(CLONE_NEWPID) places the next child in the container",
            "setns(CLONE_NEWPID) 会把下一个子进程放进容器"
        ),
    );
    state.entered = Some(e);
    Ok(())
}

fn inside_view(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let e = state.entered.as_ref().context("step nsenter did not run")?;
    let ns = |t: &str| labkit::probe::ns_path(Some(e.pid), t);
    let (uts, net) = (ns("uts"), ns("net"));
    let (hostname, interfaces) = labkit::sys::in_namespaces(
        &[(Path::new(&uts), CloneFlags::CLONE_NEWUTS), (Path::new(&net), CloneFlags::CLONE_NEWNET)],
        || {
            let host = nix::sys::utsname::uname().map(|u| u.nodename().to_string_lossy().into_owned());
            (host, labkit::probe::interfaces())
        },
    )?;
    let hostname = hostname?;
    let interfaces = interfaces?;
    let mut procs: Vec<i64> = std::fs::read_dir(format!("/proc/{}/root/proc", e.pid))?
        .flatten()
        .filter_map(|d| d.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    procs.sort();
    let procs = procs.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ");
    ctx.observe(Observation::Values {
        title: tr!("What a process inside sees:", "里面的进程看到的："),
        values: vec![
            ("hostname".into(), Fact::text(hostname.clone())),
            (ctx.t(&tr!("ls /proc (pids)", "ls /proc（PID）")), Fact::text(procs.clone())),
        ],
    });
    let names: Vec<String> = interfaces.iter().map(|i| i.name.clone()).collect();
    ctx.observe(Observation::Interfaces { title: tr!("Its network:", "它的网络："), interfaces });
    ctx.set("hostname", Fact::text(hostname.clone()));
    ctx.set("procs", Fact::text(procs.clone()));
    ctx.expect_eq(
        tr!("the hostname is the container's", "主机名是容器的"),
        HOSTNAME,
        hostname,
        tr!("joined the UTS namespace", "已加入 UTS namespace"),
    );
    ctx.expect_eq(
        tr!("ps sees the container's processes only", "ps 只能看到容器里的进程"),
        "1 2",
        procs,
        tr!("joined the pid and mount namespaces", "已加入 pid 和 mount namespace"),
    );
    ctx.expect_eq(
        tr!("the only interface is lo", "唯一的网卡是 lo"),
        "lo",
        names.join(","),
        tr!("joined the network namespace", "已加入 network namespace"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pids: Vec<i32> = state.container.iter().chain(state.entered.iter()).map(|c| c.pid).collect();
    let undone = ctx.undo_now();
    let alive_now = pids.iter().filter(|p| alive(**p)).count();
    let still = state.namespaces.iter().filter(|n| listed(n)).count();
    ctx.observe(Observation::Values {
        title: tr!("After killing both:", "杀掉两者之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("processes alive", "仍在运行的进程")), Fact::Number(alive_now as i64)),
            (ctx.t(&tr!("namespaces held", "仍被持有的 namespace")), Fact::Number(still as i64)),
        ],
    });
    ctx.expect_eq(
        tr!("both processes are gone", "两个进程都已消失"),
        Fact::Number(0),
        Fact::Number(alive_now as i64),
        tr!("SIGKILL should end them", "SIGKILL 应当结束它们"),
    );
    ctx.expect_eq(
        tr!("the container's namespaces are gone", "容器的 namespace 都已消失"),
        Fact::Number(0),
        Fact::Number(still as i64),
        tr!("something still holds them", "还有东西持有它们"),
    );
    Ok(())
}

/// The challenge: a process in a UTS namespace of its own whose hostname was set to
/// labctl-entered (by entering it with nsenter).
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const WANTED: &str = "labctl-entered";
    if !labkit::sys::is_root() {
        anyhow::bail!("labctl check ns-enter needs root (it looks into other processes' namespaces): try sudo labctl check ns-enter");
    }
    let ours = link(None, "uts")?;
    let mut found = false;
    for entry in labkit::probe::list_namespaces(Some("uts")) {
        if entry.id == ours {
            continue;
        }
        let path = labkit::probe::ns_path(Some(entry.lowest_pid), "uts");
        let name = labkit::sys::in_namespaces(&[(Path::new(&path), CloneFlags::CLONE_NEWUTS)], || {
            nix::sys::utsname::uname().map(|u| u.nodename().to_string_lossy().into_owned()).unwrap_or_default()
        });
        if name.is_ok_and(|n| n == WANTED) {
            found = true;
        }
    }
    ctx.expect(
        tr!("some UTS namespace is named labctl-entered", "有一个 UTS namespace 的主机名是 labctl-entered"),
        WANTED,
        if found { WANTED.to_string() } else { ctx.word("none found") },
        found,
        tr!(
            "sudo unshare -u sleep 600 & then: sudo nsenter -t $! -u hostname labctl-entered",
            "sudo unshare -u sleep 600 & 然后：sudo nsenter -t $! -u hostname labctl-entered"
        ),
    );
    Ok(())
}
