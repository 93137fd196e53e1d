//! `ns-net`: the course notes' `unshare -fn sleep 120` / `lsns -t net` / `nsenter -t PID -n ip addr`
//! demo, done with syscalls: a process in a new network namespace has only a DOWN `lo`.

use anyhow::Context;
use labkit::probe::{self, NsId};
use labkit::sys;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use nix::sched::CloneFlags;
use std::path::Path;
use std::process::{Command, Stdio};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-net",
    source: file!(),
    steps: &[
        ("host-netns", host_netns),
        ("new-netns", new_netns),
        ("enter", enter),
        ("lo-up", lo_up),
        ("nsproxy", nsproxy),
        ("cleanup", cleanup),
    ],
    check,
};

/// What the steps share.
#[derive(Default)]
pub struct State {
    host: Option<NsId>,
    host_lo_state: Option<String>,
    child_pid: Option<i32>,
    child: Option<NsId>,
    child_undo: Option<Undo>,
}

impl State {
    fn child(&self) -> anyhow::Result<(i32, &NsId)> {
        match (self.child_pid, &self.child) {
            (Some(pid), Some(ns)) => Ok((pid, ns)),
            _ => anyhow::bail!("the child of step new-netns is not running"),
        }
    }
}

fn host_netns(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let host = probe::ns_link(None, "net").context("reading /proc/self/ns/net")?;
    ctx.observe(Observation::ns_link(None, &host));
    let interfaces = probe::interfaces().context("listing interfaces")?;
    ctx.set("host_inode", Fact::Inode(host.inode));
    ctx.set("iface_count", Fact::Number(interfaces.len() as i64));
    state.host_lo_state = interfaces.iter().find(|i| i.name == "lo").map(|i| i.state.clone());
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces we see now:", "我们现在能看到的网卡："), interfaces
    });
    ctx.expect(
        tr!("this network namespace has a loopback interface", "当前 network namespace 里有回环网卡 lo"),
        "lo",
        state.host_lo_state.as_deref().map(|_| "lo".to_string()).unwrap_or_else(|| ctx.t(&tr!("no lo", "没有 lo"))),
        state.host_lo_state.is_some(),
        tr!(
            "every network namespace starts with lo; is /proc mounted?",
            "每个 network namespace 都自带 lo；/proc 挂载了吗？"
        ),
    );
    state.host = Some(host);
    Ok(())
}

fn new_netns(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let host = state.host.clone().context("step host-netns did not run")?;
    let mut cmd = Command::new("sleep");
    cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let child =
        sys::spawn_unshared(&mut cmd, CloneFlags::CLONE_NEWNET).context("starting sleep in a new network namespace")?;
    let pid = child.id() as i32;
    let start_time = sys::process_start_time(pid).context("the child exited at once")?;
    let undo = Undo::Kill { pid, start_time };
    ctx.register(undo.clone());
    state.child_undo = Some(undo);
    // The child unshares before exec: wait until its exec has happened so its links are final.
    labkit::process::wait_for_exec(pid, "sleep");

    let theirs = probe::ns_link(Some(pid), "net").context("reading the child's /proc/PID/ns/net")?;
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::ns_link(None, &host));
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("child_inode", Fact::Inode(theirs.inode));
    ctx.set("host_inode", Fact::Inode(host.inode));

    let mut entries: Vec<_> =
        probe::list_namespaces(Some("net")).into_iter().filter(|e| e.id == host || e.id == theirs).collect();
    // Ours first, then the child's (inode order would vary from run to run).
    entries.sort_by_key(|e| e.id == theirs);
    let rows: Vec<Vec<Fact>> = entries
        .into_iter()
        .map(|e| {
            let ours = e.id == theirs;
            vec![
                Fact::Inode(e.id.inode),
                Fact::text("net"),
                if ours { Fact::Number(e.processes as i64) } else { Fact::Measured(e.processes.to_string()) },
                Fact::Pid(e.lowest_pid.into()),
                if ours { Fact::text(e.command) } else { Fact::Host(e.command) },
            ]
        })
        .collect();
    let child_listed = rows.iter().any(|r| r[0] == Fact::Inode(theirs.inode));
    ctx.observe(Observation::Table {
        title: tr!(
            "Network namespaces of this system (lsns -t net), ours and the child's:",
            "系统中的 network namespace（lsns -t net），我们的和子进程的："
        ),
        // lsns's own column names.
        columns: ["NS", "TYPE", "NPROCS", "PID", "COMMAND"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.expect(
        tr!("the child's network namespace differs from ours", "子进程的 network namespace 与我们的不同"),
        ctx.word("a different inode"),
        Fact::Inode(theirs.inode),
        theirs.inode != host.inode,
        tr!("unshare(CLONE_NEWNET) did not take effect", "unshare(CLONE_NEWNET) 没有生效"),
    );
    ctx.expect(
        tr!("lsns lists the new namespace", "lsns 列出了新的 namespace"),
        ctx.word("listed"),
        ctx.word(if child_listed { "listed" } else { "missing" }),
        child_listed,
        tr!("the child may have exited", "子进程可能已经退出"),
    );
    ctx.explore_in(pid);
    state.child_pid = Some(pid);
    state.child = Some(theirs);
    Ok(())
}

fn enter(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, child) = state.child()?;
    let child = child.clone();
    let ns_file = probe::ns_path(Some(pid), "net");
    let (seen, interfaces) = sys::in_namespaces(&[(Path::new(&ns_file), CloneFlags::CLONE_NEWNET)], || {
        (probe::thread_ns_link("net"), probe::interfaces())
    })
    .with_context(|| format!("setns into {ns_file}"))?;
    let seen = seen?;
    let interfaces = interfaces?;
    ctx.observe(Observation::NsLink {
        owner: Fact::text("thread-self"),
        ns_type: "net".into(),
        inode: Fact::Inode(seen.inode),
    });
    let names: Vec<String> = interfaces.iter().map(|i| i.name.clone()).collect();
    let lo = interfaces.iter().find(|i| i.name == "lo").cloned();
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces inside the new namespace:", "新 namespace 里的网卡："),
        interfaces,
    });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("child_inode", Fact::Inode(child.inode));
    ctx.expect_eq(
        tr!("after setns this thread is in the child's namespace", "setns 之后本线程处于子进程的 namespace 中"),
        Fact::Inode(child.inode),
        Fact::Inode(seen.inode),
        tr!("setns(fd, CLONE_NEWNET) needs CAP_SYS_ADMIN", "setns(fd, CLONE_NEWNET) 需要 CAP_SYS_ADMIN"),
    );
    ctx.expect_eq(
        tr!("the only interface is lo", "唯一的网卡是 lo"),
        "lo",
        names.join(","),
        tr!("a fresh network namespace holds only lo", "全新的 network namespace 里只有 lo"),
    );
    let state_found = lo.as_ref().map(|l| l.state.clone()).unwrap_or_else(|| ctx.word("absent"));
    ctx.expect_eq(
        tr!("lo is DOWN", "lo 处于 DOWN 状态"),
        "DOWN",
        state_found,
        tr!("nothing should have configured it yet", "此时还没有任何人配置过它"),
    );
    let addresses = lo.map(|l| l.addresses.len()).unwrap_or(0);
    ctx.expect_eq(
        tr!("lo has no address", "lo 没有 IP 地址"),
        Fact::Number(0),
        Fact::Number(addresses as i64),
        tr!("addresses appear only once lo is up", "只有 lo 启用后才会出现地址"),
    );
    ctx.explore_in(pid);
    Ok(())
}

fn lo_up(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, _) = state.child()?;
    let ns_file = probe::ns_path(Some(pid), "net");
    let inside = sys::in_namespaces(&[(Path::new(&ns_file), CloneFlags::CLONE_NEWNET)], || {
        sys::set_link_up("lo", true)?;
        probe::interfaces()
    })
    .with_context(|| format!("setns into {ns_file}"))?
    .context("setting lo up inside (SIOCSIFFLAGS)")?;
    let lo = inside.iter().find(|i| i.name == "lo").cloned();
    ctx.observe(Observation::Interfaces {
        title: tr!("Inside, after bringing lo up:", "启用 lo 之后，namespace 里面："),
        interfaces: inside,
    });
    let host_now = probe::interfaces()?;
    let host_lo = host_now.iter().find(|i| i.name == "lo").map(|i| i.state.clone());
    ctx.observe(Observation::Interfaces {
        title: tr!("Outside, in our own namespace:", "外面，我们自己的 namespace："),
        interfaces: host_now,
    });
    let lo_state = lo.as_ref().map(|l| l.state.clone()).unwrap_or_else(|| ctx.word("absent"));
    let lo_v4 = lo.as_ref().and_then(|l| l.addresses.iter().map(|a| a.to_string()).find(|a| a.contains('.')));
    ctx.set("lo_address", Fact::text(lo_v4.clone().unwrap_or_else(|| ctx.word("none"))));
    ctx.expect_eq(
        tr!("lo inside is UP", "namespace 里的 lo 已是 UP"),
        "UP",
        lo_state,
        tr!("SIOCSIFFLAGS needs CAP_NET_ADMIN", "SIOCSIFFLAGS 需要 CAP_NET_ADMIN"),
    );
    ctx.expect_eq(
        tr!("the kernel gave lo 127.0.0.1/8", "内核自动给 lo 配上了 127.0.0.1/8"),
        "127.0.0.1/8",
        lo_v4.unwrap_or_else(|| ctx.word("none")),
        tr!("the loopback address comes with IFF_UP", "回环地址会随 IFF_UP 一起出现"),
    );
    ctx.expect_eq(
        tr!("our own lo did not change", "我们自己的 lo 没有变化"),
        state.host_lo_state.clone().unwrap_or_default(),
        host_lo.unwrap_or_default(),
        tr!("the change must stay inside the namespace", "改动应当只发生在 namespace 里面"),
    );
    Ok(())
}

fn nsproxy(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, _) = state.child()?;
    let fields = [
        ("uts", "uts_ns"),
        ("ipc", "ipc_ns"),
        ("mnt", "mnt_ns"),
        ("pid_for_children", "pid_ns_for_children"),
        ("net", "net_ns"),
    ];
    let mut rows = Vec::new();
    let mut differing = Vec::new();
    for (link, field) in fields {
        let ours = probe::ns_link(None, link)?;
        let theirs = probe::ns_link(Some(pid), link)?;
        let same = ours.inode == theirs.inode;
        if !same {
            differing.push(field);
        }
        rows.push(vec![
            Fact::text(format!("nsproxy->{field}")),
            Fact::Inode(ours.inode),
            Fact::Inode(theirs.inode),
            Fact::text(if same { ctx.word("shared") } else { ctx.t(&tr!("NEW", "新的")) }),
        ]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "The child's nsproxy next to ours, read from /proc/PID/ns:",
            "子进程的 nsproxy 与我们的对比（读自 /proc/PID/ns）："
        ),
        columns: super::headers(ctx, &[("FIELD", "字段"), ("OURS", "我们的"), ("CHILD", "子进程"), ("", "")]),
        rows,
    });
    ctx.set("differing", Fact::text(differing.join(", ")));
    ctx.expect_eq(
        tr!("only net_ns points elsewhere", "只有 net_ns 指向了别处"),
        "net_ns",
        differing.join(", "),
        tr!("the child was made with CLONE_NEWNET only", "子进程只用了 CLONE_NEWNET"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, child) = state.child()?;
    let child = child.clone();
    let undone = ctx.undo_now();
    let alive = Path::new(&format!("/proc/{pid}")).exists();
    let still_listed = crate::labs::listed(&child);
    ctx.observe(Observation::Values {
        title: tr!("After killing the child:", "杀掉子进程之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("/proc/PID exists", "/proc/PID 存在")), Fact::text(ctx.boolean(alive))),
            (ctx.t(&tr!("net namespace held", "net namespace 仍被持有")), Fact::text(ctx.boolean(still_listed))),
        ],
    });
    ctx.set("child_inode", Fact::Inode(child.inode));
    crate::labs::expect_child_and_namespace_gone(ctx, !alive, &child, "network");
    state.child_pid = None;
    state.child_undo = None;
    Ok(())
}

/// The challenge: a named network namespace `labctl-blue` whose `lo` is up.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const NAME: &str = "labctl-blue";
    let path = Path::new(labkit::paths::NETNS_DIR).join(NAME);
    let exists = path.exists();
    ctx.expect(
        tr!("a network namespace named labctl-blue exists", "存在名为 labctl-blue 的 network namespace"),
        ctx.t(&tr!(format!("{} present", path.display()), format!("{} 存在", path.display()))),
        ctx.word(if exists { "present" } else { "missing" }),
        exists,
        tr!("create it: sudo ip netns add labctl-blue", "创建它：sudo ip netns add labctl-blue"),
    );
    if !exists {
        return Ok(());
    }
    if !sys::is_root() {
        anyhow::bail!(
            "labctl check ns-net needs root (it enters the namespace to look at lo): try sudo labctl check ns-net"
        );
    }
    let interfaces = sys::in_namespaces(&[(&path, CloneFlags::CLONE_NEWNET)], probe::interfaces)
        .with_context(|| format!("{} is not a network namespace (setns failed)", path.display()))??;
    let lo_state =
        interfaces.iter().find(|i| i.name == "lo").map(|i| i.state.clone()).unwrap_or_else(|| ctx.word("absent"));
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-blue:", "labctl-blue 里的网卡："),
        interfaces,
    });
    ctx.expect_eq(
        tr!("lo in labctl-blue is UP", "labctl-blue 里的 lo 是 UP"),
        "UP",
        lo_state,
        tr!(
            "bring it up: sudo ip netns exec labctl-blue ip link set lo up",
            "启用它：sudo ip netns exec labctl-blue ip link set lo up"
        ),
    );
    Ok(())
}
