//! `net-modes`: Docker's none, host and container network modes, each as the namespace
//! operation it really is.

use super::{exchange, in_netns, interfaces_in, listen_in, wait_for_exec};
use crate::netlink::Netlink;
use anyhow::Context;
use labkit::probe::{self, NsId};
use labkit::sys;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use nix::sched::CloneFlags;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "net-modes",
    source: file!(),
    steps: &[("none", none), ("host", host), ("container", container)],
    check,
};

#[derive(Default)]
pub struct State {}

fn sleeper(ctx: &Ctx, unshare: bool) -> anyhow::Result<i32> {
    let mut cmd = Command::new("sleep");
    cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let child = if unshare {
        sys::spawn_unshared(&mut cmd, CloneFlags::CLONE_NEWNET).context("start sleep in a new network namespace")?
    } else {
        cmd.spawn().context("start sleep")?
    };
    let pid = child.id() as i32;
    let start_time = sys::process_start_time(pid).context("sleep exited at once")?;
    ctx.register(Undo::Kill { pid, start_time });
    wait_for_exec(pid, "sleep");
    Ok(pid)
}

fn net_of(pid: i32) -> PathBuf {
    PathBuf::from(probe::ns_path(Some(pid), "net"))
}

fn none(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let ours = probe::ns_link(None, "net")?;
    let pid = sleeper(ctx, true)?;
    let theirs = probe::ns_link(Some(pid), "net")?;
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::ns_link(None, &ours));
    let interfaces = interfaces_in(&net_of(pid))?;
    let names: Vec<String> = interfaces.iter().map(|i| format!("{} {}", i.name, i.state)).collect();
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces of the --network none process:", "--network none 进程的网卡："),
        interfaces,
    });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("inode", Fact::Inode(theirs.inode));
    ctx.expect(
        tr!("it has a network namespace of its own", "它有自己的 network namespace"),
        ctx.t(&tr!("a different inode", "不同的 inode")),
        Fact::Inode(theirs.inode),
        theirs.inode != ours.inode,
        tr!("unshare(CLONE_NEWNET) did not take effect", "unshare(CLONE_NEWNET) 没有生效"),
    );
    ctx.expect_eq(
        tr!("the only interface is lo, DOWN", "唯一的网卡是 lo，处于 DOWN"),
        "lo DOWN",
        names.join(", "),
        tr!("a new network namespace holds only lo", "新的 network namespace 里只有 lo"),
    );
    let attempt = in_netns(&net_of(pid), || {
        std::net::TcpStream::connect_timeout(&"127.0.0.1:80".parse().unwrap(), Duration::from_millis(300))
    })?;
    ctx.expect_failure(
        tr!("not even 127.0.0.1 is reachable in there", "在里面连 127.0.0.1 都不可达"),
        labkit::Failure::Errno(nix::errno::Errno::ENETUNREACH),
        attempt,
        tr!("lo should still be down", "lo 应当仍处于 DOWN"),
    );
    ctx.explore_in(pid);
    Ok(())
}

fn host(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let ours = probe::ns_link(None, "net")?;
    let pid = sleeper(ctx, false)?;
    let theirs = probe::ns_link(Some(pid), "net")?;
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::ns_link(None, &ours));
    let mine = interfaces_in(Path::new("/proc/self/ns/net"))?;
    let seen = interfaces_in(&net_of(pid))?;
    let names = |l: &[labkit::Interface]| l.iter().map(|i| i.name.clone()).collect::<Vec<_>>().join(", ");
    let (mine_names, seen_names) = (names(&mine), names(&seen));
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces of the --network host process:", "--network host 进程的网卡："),
        interfaces: seen,
    });
    ctx.set("count", Fact::Number(mine.len() as i64));
    ctx.expect_eq(
        tr!("it shares our network namespace", "它与我们共用同一个 network namespace"),
        Fact::Inode(ours.inode),
        Fact::Inode(theirs.inode),
        tr!("no namespace flag was given, so it inherits ours", "没有给任何 namespace 标志，它应当继承我们的"),
    );
    ctx.expect_eq(
        tr!("it sees exactly our interfaces", "它看到的网卡与我们完全相同"),
        mine_names,
        seen_names,
        tr!("same namespace, same devices", "同一个 namespace，同一批设备"),
    );
    Ok(())
}

fn container(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let first = sleeper(ctx, true)?;
    let first_ns = net_of(first);
    // The first "container" gets a working loopback.
    Netlink::open_in(&first_ns)?.set_up("lo", true)?;
    let mut cmd = Command::new("sleep");
    cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let file = std::fs::File::open(&first_ns)?;
    let child = sys::spawn_in_namespaces(&mut cmd, vec![(file, CloneFlags::CLONE_NEWNET)])
        .context("start a second process with setns into the first one's namespace")?;
    let second = child.id() as i32;
    let start_time = sys::process_start_time(second).context("sleep exited at once")?;
    ctx.register(Undo::Kill { pid: second, start_time });
    wait_for_exec(second, "sleep");

    let a: NsId = probe::ns_link(Some(first), "net")?;
    let b: NsId = probe::ns_link(Some(second), "net")?;
    ctx.observe(Observation::ns_link(Some(first), &a));
    ctx.observe(Observation::ns_link(Some(second), &b));
    let interfaces = interfaces_in(&net_of(second))?;
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces the second process sees:", "第二个进程看到的网卡："),
        interfaces,
    });
    ctx.set("first", Fact::Pid(first.into()));
    ctx.set("second", Fact::Pid(second.into()));
    ctx.expect_eq(
        tr!("both processes are in one network namespace", "两个进程处于同一个 network namespace"),
        Fact::Inode(a.inode),
        Fact::Inode(b.inode),
        tr!(
            "setns(CLONE_NEWNET) into the first one's namespace failed",
            "setns(CLONE_NEWNET) 进入第一个进程的 namespace 失败"
        ),
    );
    // They talk over lo: a listener made in the first's namespace, a client in the second's.
    let addr: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    // The namespaces the listening and the connecting thread join, read from their nsfs files.
    let (listen_ns, connect_ns) = (crate::netns::inode_of(&first_ns)?, crate::netns::inode_of(&net_of(second))?);
    let listener = listen_in(&first_ns, addr)?;
    let talk = exchange(listener, &net_of(second), addr, "hello from the second process\n", |peer| {
        format!("hello {}, this is the first process\n", peer.ip())
    });
    let (reply, peer) = match &talk {
        Ok(x) => (x.reply.trim().to_string(), x.peer.ip().to_string()),
        Err(e) => (ctx.t(&tr!(format!("failed: {e:#}"), format!("失败：{e:#}"))), ctx.word("none")),
    };
    ctx.observe(Observation::Values {
        title: tr!("A TCP exchange over lo, 127.0.0.1:8080:", "经由 lo 的一次 TCP 通信，127.0.0.1:8080："),
        values: vec![
            (ctx.t(&tr!("server's namespace (listen)", "服务端的 namespace（listen）")), Fact::Inode(listen_ns)),
            (ctx.t(&tr!("client's namespace (connect)", "客户端的 namespace（connect）")), Fact::Inode(connect_ns)),
            (ctx.t(&tr!("peer seen by the server", "服务端看到的对端地址")), Fact::text(peer)),
            // The reply is what the server sent over the wire: it stays as sent.
            (ctx.t(&tr!("reply", "回复")), Fact::text(reply)),
        ],
    });
    ctx.expect(
        tr!("the second process reaches the first over 127.0.0.1", "第二个进程经由 127.0.0.1 连上了第一个进程"),
        ctx.word("a reply"),
        ctx.word(if talk.is_ok() { "a reply" } else { "no reply" }),
        talk.is_ok(),
        tr!("both ends must share one lo", "两端必须共用同一个 lo"),
    );
    ctx.explore_in(second);
    Ok(())
}

/// The challenge: a named namespace `labctl-pair` with lo up and two processes in it.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const NAME: &str = "labctl-pair";
    let path = crate::netns::path(NAME);
    let exists = path.exists();
    ctx.expect(
        tr!("a network namespace named labctl-pair exists", "存在名为 labctl-pair 的 network namespace"),
        ctx.t(&tr!(format!("{} present", path.display()), format!("{} 存在", path.display()))),
        ctx.word(if exists { "present" } else { "missing" }),
        exists,
        tr!("sudo ip netns add labctl-pair", "sudo ip netns add labctl-pair"),
    );
    if !exists {
        return Ok(());
    }
    if !sys::is_root() {
        anyhow::bail!("labctl check net-modes needs root: try sudo labctl check net-modes");
    }
    let inode = crate::netns::inode_of(&path)?;
    let members: Vec<i32> = probe::list_namespaces(Some("net"))
        .into_iter()
        .filter(|e| e.id.inode == inode)
        .map(|e| e.processes as i32)
        .collect();
    let count = members.first().copied().unwrap_or(0);
    ctx.expect(
        tr!("at least two processes share it", "至少有两个进程共用它"),
        ">= 2",
        Fact::Number(count.into()),
        count >= 2,
        tr!(
            "start two: sudo ip netns exec labctl-pair sleep 600 & (twice)",
            "启动两个：sudo ip netns exec labctl-pair sleep 600 &（执行两次）"
        ),
    );
    let lo = interfaces_in(&path)?.into_iter().find(|i| i.name == "lo").map(|i| i.state).unwrap_or_default();
    ctx.expect_eq(
        tr!("lo in labctl-pair is UP", "labctl-pair 里的 lo 是 UP"),
        "UP",
        lo,
        tr!("sudo ip netns exec labctl-pair ip link set lo up", "sudo ip netns exec labctl-pair ip link set lo up"),
    );
    Ok(())
}
