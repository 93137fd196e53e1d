//! `net-bridge`: Docker's bridge network built by hand — a bridge, two "containers" on veth
//! pairs, routes, NAT masquerade, a FORWARD DROP policy, and `-p 8080:80`.
//!
//! Hermetic: everything happens in namespaces this lab creates. `labctl-host` plays the
//! Docker host (the bridge, ip_forward and the rules live there), `labctl-c1`/`labctl-c2` are
//! the containers, `labctl-out` is "the outside world". Deleting these namespaces at the end
//! removes every link and rule with them.

use super::{
    exchange, in_netns, interfaces_in, interfaces_of, listen_in, set_sysctl_in, start_sleeper, sysctl_in, sysfs_in,
};
use crate::firewall::Firewall;
use crate::netlink::Netlink;
use crate::ports::{PortMap, Proto};
use anyhow::Context;
use labkit::probe;
use labkit::{tr, Ctx, Fact, Observation, Text, Undo, Walkthrough};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "net-bridge",
    source: file!(),
    steps: &[
        ("stage", stage),
        ("bridge", bridge),
        ("containers", containers),
        ("veth", veth),
        ("addresses", addresses),
        ("c1-to-c2", c1_to_c2),
        ("host-to-container", host_to_container),
        ("outside", outside),
        ("ip-forward", ip_forward),
        ("masquerade", masquerade),
        ("forward-drop", forward_drop),
        ("port-map", port_map),
    ],
    check,
};

const HOST: &str = "labctl-host";
const C1: &str = "labctl-c1";
const C2: &str = "labctl-c2";
const OUT: &str = "labctl-out";
const BRIDGE: &str = "labctl0";
const SUBNET: &str = "10.213.0.0/24";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
const OUT_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const OUT_PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// The two containers: namespace, host-side veth, address.
const CONTAINERS: [(&str, &str, Ipv4Addr); 2] =
    [(C1, "lcc1", Ipv4Addr::new(10, 213, 0, 2)), (C2, "lcc2", Ipv4Addr::new(10, 213, 0, 3))];

#[derive(Default)]
pub struct State {
    c1_pid: Option<i32>,
    /// net.ipv4.ip_forward where labctl runs, read at the start: the lab must leave it alone.
    forward_here: Option<String>,
}

fn ns(name: &str) -> PathBuf {
    crate::netns::path(name)
}

/// Creates a named namespace for the lab (registered first), IPv6 off (so no link-local
/// addresses appear behind our back), lo up.
pub(crate) fn make_netns(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let undo = Undo::Netns { name: name.to_string() };
    ctx.register(undo.clone());
    if let Err(e) = crate::netns::add(name) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            // Not ours: another run's, or left over. Never delete it.
            ctx.cleanup().forget(&undo);
            anyhow::bail!(
                "network namespace {name} already exists: another lab run is using it, or an interrupted run left it (sudo labctl clean removes leftovers)"
            );
        }
        return Err(anyhow::Error::new(e).context(format!("ip netns add {name}")));
    }
    for key in ["net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"] {
        let _ = set_sysctl_in(&ns(name), key, "1");
    }
    Netlink::open_in(&ns(name))?.set_up("lo", true)?;
    Ok(())
}

fn firewall() -> anyhow::Result<Firewall> {
    Ok(Firewall::in_netns(&ns(HOST))?)
}

/// Tries a TCP exchange from `from` to a one-shot server at `to` in namespace `server`.
/// A connect whose SYN was dropped times out; one the host refuses to route may also get ICMP host-unreachable.
const NOT_FORWARDED: &[std::io::ErrorKind] = &[std::io::ErrorKind::TimedOut, std::io::ErrorKind::HostUnreachable];
/// A connect whose SYN (or SYN-ACK) is silently dropped: no answer at all.
const DROPPED: &[std::io::ErrorKind] = &[std::io::ErrorKind::TimedOut];

fn talk(server: &str, to: SocketAddr, from: &str, request: &str) -> anyhow::Result<super::Exchange> {
    let bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), to.port());
    let listener = listen_in(&ns(server), bind)?;
    let me = server.to_string();
    exchange(listener, &ns(from), to, request, move |peer| format!("hello {}, this is {me}\n", peer.ip()))
}

/// The keys in the run's language; the reply (sent over the wire) and the error (the OS's own
/// words) stay as they are.
pub(crate) fn talk_values(
    ctx: &Ctx,
    result: &anyhow::Result<super::Exchange>,
    from: &str,
    to: SocketAddr,
) -> Vec<(String, Fact)> {
    let mut v = vec![
        (ctx.t(&tr!("from", "发起方")), Fact::text(from)),
        (ctx.t(&tr!("to", "目标")), Fact::text(to.to_string())),
    ];
    match result {
        Ok(x) => {
            v.push((
                ctx.t(&tr!("peer seen by the server", "服务端看到的对端地址")),
                Fact::text(x.peer.ip().to_string()),
            ));
            v.push((ctx.t(&tr!("reply", "回复")), Fact::text(x.reply.trim())));
        }
        Err(e) => v.push((ctx.t(&tr!("result", "结果")), Fact::text(format!("{}", e.root_cause())))),
    }
    v
}

/// "failed: ERROR" in the run's language (the error itself is the OS's own words).
pub(crate) fn failed(ctx: &Ctx, e: impl std::fmt::Display) -> String {
    ctx.t(&tr!(format!("failed: {e}"), format!("失败：{e}")))
}

/// The header of a rules listing: which tool, in which namespace, listed how.
fn rules_header(ctx: &Ctx, fw: &Firewall) -> Fact {
    let (backend, command) = (fw.backend.name(), listing_command(fw));
    Fact::text(ctx.t(&tr!(
        format!("{backend} rules in labctl-host ({command})"),
        format!("labctl-host 里的 {backend} 规则（{command}）")
    )))
}

fn routes_table(title: Text, netns: &str) -> anyhow::Result<(Observation, Vec<crate::netlink::Route>)> {
    let mut nl = Netlink::open_in(&ns(netns))?;
    let links = nl.links()?;
    let routes = nl.routes()?;
    let name = |i: Option<u32>| {
        i.and_then(|i| links.iter().find(|l| l.index == i)).map(|l| l.name.clone()).unwrap_or_default()
    };
    let rows = routes
        .iter()
        .map(|r| {
            vec![
                Fact::text(r.destination.map(|(d, l)| format!("{d}/{l}")).unwrap_or_else(|| "default".into())),
                Fact::text(r.gateway.map(|g| g.to_string()).unwrap_or_else(|| "-".into())),
                Fact::text(name(r.oif)),
                Fact::text(&r.protocol),
                Fact::text(&r.scope),
                Fact::text(r.prefsrc.map(|g| g.to_string()).unwrap_or_else(|| "-".into())),
            ]
        })
        .collect();
    let columns = ["DESTINATION", "VIA", "DEV", "PROTO", "SCOPE", "SRC"].iter().map(|s| s.to_string()).collect();
    Ok((Observation::Table { title, columns, rows }, routes))
}

fn stage(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ours = probe::ns_link(None, "net")?;
    make_netns(ctx, HOST)?;
    let host_inode = crate::netns::inode_of(&ns(HOST))?;
    let forward_here = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let forward_lab = sysctl_in(&ns(HOST), "net.ipv4.ip_forward")?;
    ctx.observe(Observation::ns_link(None, &ours));
    ctx.observe(Observation::Values {
        title: tr!("The namespace that plays the Docker host:", "扮演 Docker 主机的 namespace："),
        values: vec![
            ("/run/netns/labctl-host".into(), Fact::Inode(host_inode)),
            (
                ctx.t(&tr!("net.ipv4.ip_forward in labctl-host", "labctl-host 里的 net.ipv4.ip_forward")),
                Fact::Number(forward_lab.parse().unwrap_or(-1)),
            ),
            (
                ctx.t(&tr!("net.ipv4.ip_forward where labctl runs", "labctl 所在之处的 net.ipv4.ip_forward")),
                Fact::Host(forward_here.trim().into()),
            ),
        ],
    });
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-host:", "labctl-host 里的网卡："),
        interfaces: interfaces_in(&ns(HOST))?,
    });
    ctx.set("ip_forward", Fact::Number(forward_lab.parse().unwrap_or(-1)));
    state.forward_here = Some(forward_here.trim().to_string());
    ctx.expect(
        tr!("labctl-host is a namespace of its own", "labctl-host 是一个独立的 namespace"),
        ctx.t(&tr!("a different inode", "不同的 inode")),
        Fact::Inode(host_inode),
        host_inode != ours.inode,
        tr!("ip netns add did not create a new namespace", "ip netns add 没有创建新的 namespace"),
    );
    ctx.expect_eq(
        tr!("forwarding starts off in a new namespace", "新 namespace 里转发默认是关闭的"),
        Fact::Number(0),
        Fact::Number(forward_lab.parse().unwrap_or(-1)),
        tr!(
            "net.core.devconf_inherit_init_net may copy the host's value",
            "net.core.devconf_inherit_init_net 可能复制了主机的值"
        ),
    );
    Ok(())
}

fn bridge(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let mut nl = Netlink::open_in(&ns(HOST))?;
    nl.add_bridge(BRIDGE)?;
    nl.add_address(BRIDGE, IpAddr::V4(GATEWAY), 24)?;
    nl.set_up(BRIDGE, true)?;
    let sysfs = sysfs_in(&ns(HOST), || {
        let base = PathBuf::from("/sys/class/net").join(BRIDGE);
        let is_bridge = base.join("bridge").is_dir();
        let stp = std::fs::read_to_string(base.join("bridge/stp_state")).unwrap_or_default();
        let brif = std::fs::read_dir(base.join("brif")).map(|d| d.count()).unwrap_or(usize::MAX);
        (is_bridge, stp.trim().to_string(), brif)
    })?;
    let link = nl.link(BRIDGE)?.context("the bridge vanished")?;
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-host:", "labctl-host 里的网卡："),
        interfaces: interfaces_of(&mut nl)?,
    });
    ctx.observe(Observation::Values {
        title: tr!("The bridge in sysfs (seen from labctl-host):", "sysfs 中的网桥（从 labctl-host 里看）："),
        values: vec![
            ("/sys/class/net/labctl0/bridge/".into(), Fact::text(ctx.word(if sysfs.0 { "present" } else { "absent" }))),
            ("/sys/class/net/labctl0/bridge/stp_state".into(), Fact::text(sysfs.1.clone())),
            (
                ctx.t(&tr!("/sys/class/net/labctl0/brif/ (ports)", "/sys/class/net/labctl0/brif/（端口数）")),
                Fact::Number(sysfs.2 as i64),
            ),
        ],
    });
    ctx.set("ports", Fact::Number(sysfs.2 as i64));
    ctx.expect_eq(
        tr!("labctl0 is a bridge", "labctl0 是一个网桥"),
        "bridge",
        link.kind.clone().unwrap_or_default(),
        tr!("the bridge module may be missing", "可能缺少 bridge 内核模块"),
    );
    ctx.expect_eq(
        tr!("it has no ports yet", "它还没有任何端口"),
        Fact::Number(0),
        Fact::Number(sysfs.2 as i64),
        tr!("nothing was attached yet", "此时还没有挂接任何东西"),
    );
    Ok(())
}

fn containers(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut all_match = true;
    for (name, _, _) in CONTAINERS {
        make_netns(ctx, name)?;
        let pid = start_sleeper(ctx, &ns(name))?;
        if name == C1 {
            state.c1_pid = Some(pid);
        }
        let theirs = probe::ns_link(Some(pid), "net")?;
        let named = crate::netns::inode_of(&ns(name))?;
        all_match &= theirs.inode == named;
        rows.push(vec![Fact::text(name), Fact::Pid(pid.into()), Fact::Inode(theirs.inode), Fact::Inode(named)]);
    }
    ctx.observe(Observation::Table {
        title: tr!("Two containers: a process in a namespace each", "两个容器：各自在一个 namespace 里的进程"),
        columns: ["CONTAINER", "PID", "/proc/PID/ns/net", "/run/netns/NAME"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-c1:", "labctl-c1 里的网卡："),
        interfaces: interfaces_in(&ns(C1))?,
    });
    ctx.expect(
        tr!("each process lives in its named namespace", "每个进程都位于对应的具名 namespace 中"),
        ctx.t(&tr!("same inode", "相同的 inode")),
        ctx.t(&if all_match { tr!("same inode", "相同的 inode") } else { tr!("different", "不同") }),
        all_match,
        tr!("setns before exec failed", "exec 之前的 setns 失败了"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

fn veth(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let mut nl = Netlink::open_in(&ns(HOST))?;
    for (name, host_end, _) in CONTAINERS {
        let peer = format!("{host_end}p");
        nl.add_veth(host_end, &peer, None::<&std::fs::File>)?;
        nl.set_master(host_end, Some(BRIDGE))?;
        nl.set_up(host_end, true)?;
        let file = crate::netns::open(name)?;
        nl.move_to_netns_fd(&peer, &file, Some(crate::bridge::CONTAINER_IF))?;
    }
    // The pairing, read from sysfs on each side.
    let read = |netns: &str, dev: &'static str| -> anyhow::Result<(i64, i64, String)> {
        sysfs_in(&ns(netns), move || {
            let base = PathBuf::from("/sys/class/net").join(dev);
            let num =
                |f: &str| std::fs::read_to_string(base.join(f)).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(-1);
            let master = std::fs::read_link(base.join("master"))
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "-".into());
            (num("ifindex"), num("iflink"), master)
        })
    };
    let mut rows = Vec::new();
    let mut paired = true;
    for (name, host_end, _) in CONTAINERS {
        let h = read(HOST, host_end)?;
        let c = read(name, "eth0")?;
        paired &= h.1 == c.0 && c.1 == h.0;
        rows.push(vec![
            Fact::text(format!("{HOST}/{host_end}")),
            Fact::Number(h.0),
            Fact::Number(h.1),
            Fact::text(h.2),
        ]);
        rows.push(vec![Fact::text(format!("{name}/eth0")), Fact::Number(c.0), Fact::Number(c.1), Fact::text(c.2)]);
    }
    let brif = sysfs_in(&ns(HOST), || {
        let mut v: Vec<String> = std::fs::read_dir(format!("/sys/class/net/{BRIDGE}/brif"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v.join(" ")
    })?;
    ctx.observe(Observation::Table {
        title: tr!(
            "Both ends of each veth pair, from /sys/class/net/DEV/{ifindex,iflink,master}:",
            "每对 veth 的两端，读自 /sys/class/net/DEV/{ifindex,iflink,master}："
        ),
        columns: vec![ctx.t(&tr!("END", "端")), "ifindex".into(), "iflink".into(), "master".into()],
        rows,
    });
    ctx.observe(Observation::Values {
        title: tr!("The bridge's ports:", "网桥的端口："),
        values: vec![("/sys/class/net/labctl0/brif/".into(), Fact::text(brif.clone()))],
    });
    ctx.set("brif", Fact::text(brif.clone()));
    ctx.expect(
        tr!("each end's iflink is the other end's ifindex", "每一端的 iflink 都是另一端的 ifindex"),
        ctx.t(&tr!("paired", "互为一对")),
        ctx.t(&if paired { tr!("paired", "互为一对") } else { tr!("not paired", "不成对") }),
        paired,
        tr!("the veth peer was not moved as expected", "veth 的另一端没有按预期移动"),
    );
    ctx.expect_eq(
        tr!("both host ends are ports of labctl0", "两个主机端都是 labctl0 的端口"),
        "lcc1 lcc2",
        brif,
        tr!("ip link set DEV master labctl0 failed", "ip link set DEV master labctl0 失败"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

fn addresses(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    for (name, _, ip) in CONTAINERS {
        let mut nl = Netlink::open_in(&ns(name))?;
        nl.add_address("eth0", IpAddr::V4(ip), 24)?;
        nl.set_up("eth0", true)?;
        nl.add_route(None, GATEWAY)?;
        nl.wait_oper_up("eth0", Duration::from_secs(2))?;
    }
    let mut host = Netlink::open_in(&ns(HOST))?;
    for (_, host_end, _) in CONTAINERS {
        host.wait_oper_up(host_end, Duration::from_secs(2))?;
    }
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-c1:", "labctl-c1 里的网卡："),
        interfaces: interfaces_in(&ns(C1))?,
    });
    let (table, routes) = routes_table(tr!("Routes in labctl-c1 (ip route):", "labctl-c1 的路由（ip route）："), C1)?;
    ctx.observe(table);
    let default = routes.iter().find(|r| r.destination.is_none()).and_then(|r| r.gateway);
    ctx.expect_eq(
        tr!("c1's default route points at the bridge", "c1 的默认路由指向网桥"),
        GATEWAY.to_string(),
        default.map(|g| g.to_string()).unwrap_or_else(|| ctx.word("none")),
        tr!("ip route add default via 10.213.0.1 failed", "ip route add default via 10.213.0.1 失败"),
    );
    let connected = routes.iter().any(|r| r.destination == Some((IpAddr::V4(Ipv4Addr::new(10, 213, 0, 0)), 24)));
    ctx.expect(
        tr!("the kernel added the subnet route for the address", "内核为地址自动加上了子网路由"),
        "10.213.0.0/24 dev eth0 proto kernel",
        ctx.word(if connected { "present" } else { "missing" }),
        connected,
        tr!("the address may not be on eth0", "地址可能没有配在 eth0 上"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

fn c1_to_c2(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let to = SocketAddr::new(IpAddr::V4(CONTAINERS[1].2), 7000);
    let result = talk(C2, to, C1, "hello from c1\n");
    ctx.observe(Observation::Values {
        title: tr!("TCP from c1 to c2:", "从 c1 到 c2 的 TCP："),
        values: talk_values(ctx, &result, C1, to),
    });
    // What the bridge learned.
    let mut nl = Netlink::open_in(&ns(HOST))?;
    let links = nl.links()?;
    let bridge_index = nl.index_of(BRIDGE)?;
    let mut learned: Vec<(String, String)> = nl
        .fdb()?
        .into_iter()
        .filter(|e| !e.permanent && e.master == Some(bridge_index))
        .map(|e| (links.iter().find(|l| l.index == e.ifindex).map(|l| l.name.clone()).unwrap_or_default(), e.mac))
        .collect();
    learned.sort();
    let mac_of = |netns: &str| -> anyhow::Result<String> {
        Ok(Netlink::open_in(&ns(netns))?.link("eth0")?.and_then(|l| l.mac).unwrap_or_default())
    };
    let expected = [("lcc1".to_string(), mac_of(C1)?), ("lcc2".to_string(), mac_of(C2)?)];
    ctx.observe(Observation::Table {
        title: tr!(
            "What labctl0 learned (bridge fdb show br labctl0, learned entries):",
            "labctl0 学到的地址（bridge fdb show br labctl0，学习到的条目）："
        ),
        columns: vec!["MAC".into(), ctx.t(&tr!("PORT", "端口")), ctx.t(&tr!("WHOSE", "属于"))],
        rows: learned
            .iter()
            .map(|(port, mac)| {
                let whose =
                    expected
                        .iter()
                        .find(|(_, m)| m == mac)
                        .map(|(p, _)| if p == "lcc1" { "c1 eth0" } else { "c2 eth0" });
                vec![Fact::Mac(mac.clone()), Fact::text(port), Fact::text(whose.unwrap_or("?"))]
            })
            .collect(),
    });
    let peer = result.as_ref().map(|x| x.peer.ip().to_string()).unwrap_or_else(|e| failed(ctx, e));
    ctx.expect_eq(
        tr!("c2 saw c1's own address: no NAT on the bridge", "c2 看到的是 c1 自己的地址：网桥上没有 NAT"),
        CONTAINERS[0].2.to_string(),
        peer,
        tr!("c1 and c2 must share the bridge", "c1 和 c2 必须连在同一个网桥上"),
    );
    let all_learned = expected.iter().all(|e| learned.contains(e));
    ctx.expect(
        tr!("the FDB maps each container's MAC to its port", "FDB 把每个容器的 MAC 对应到它的端口"),
        ctx.t(&tr!("c1 on lcc1, c2 on lcc2", "c1 在 lcc1 上，c2 在 lcc2 上")),
        ctx.t(&if all_learned {
            tr!("c1 on lcc1, c2 on lcc2", "c1 在 lcc1 上，c2 在 lcc2 上")
        } else {
            tr!("missing entries", "缺少条目")
        }),
        all_learned,
        tr!("frames must have crossed the bridge", "必须有帧经过了网桥"),
    );
    Ok(())
}

fn host_to_container(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let to = SocketAddr::new(IpAddr::V4(CONTAINERS[0].2), 7000);
    let result = talk(C1, to, HOST, "hello from the host\n");
    ctx.observe(Observation::Values {
        title: tr!("TCP from labctl-host to c1:", "从 labctl-host 到 c1 的 TCP："),
        values: talk_values(ctx, &result, HOST, to),
    });
    let (table, _) = routes_table(tr!("Routes in labctl-host:", "labctl-host 的路由："), HOST)?;
    ctx.observe(table);
    let peer = result.as_ref().map(|x| x.peer.ip().to_string()).unwrap_or_else(|e| failed(ctx, e));
    ctx.expect_eq(
        tr!("c1 saw the bridge's address: the host speaks from labctl0", "c1 看到的是网桥的地址：主机从 labctl0 发出"),
        GATEWAY.to_string(),
        peer,
        tr!("labctl0 needs its address and must be up", "labctl0 需要地址并且处于 UP"),
    );
    Ok(())
}

fn outside(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    make_netns(ctx, OUT)?;
    let mut nl = Netlink::open_in(&ns(HOST))?;
    nl.add_veth("lcout", "lcoutp", None::<&std::fs::File>)?;
    nl.move_to_netns_fd("lcoutp", &crate::netns::open(OUT)?, Some("eth0"))?;
    nl.add_address("lcout", IpAddr::V4(OUT_HOST), 24)?;
    nl.set_up("lcout", true)?;
    let mut out = Netlink::open_in(&ns(OUT))?;
    out.add_address("eth0", IpAddr::V4(OUT_PEER), 24)?;
    out.set_up("eth0", true)?;
    out.wait_oper_up("eth0", Duration::from_secs(2))?;
    nl.wait_oper_up("lcout", Duration::from_secs(2))?;

    let to = SocketAddr::new(IpAddr::V4(OUT_PEER), 9000);
    let direct = talk(OUT, to, HOST, "hello from the host\n");
    let from_c1 = talk(OUT, to, C1, "hello from c1\n");
    ctx.observe(Observation::Values {
        title: tr!("labctl-host → the outside:", "labctl-host → 外部："),
        values: talk_values(ctx, &direct, HOST, to),
    });
    ctx.observe(Observation::Values {
        title: tr!("c1 → the outside:", "c1 → 外部："),
        values: talk_values(ctx, &from_c1, C1, to),
    });
    ctx.set("ip_forward", Fact::Number(sysctl_in(&ns(HOST), "net.ipv4.ip_forward")?.parse().unwrap_or(-1)));
    ctx.expect(
        tr!("the host itself reaches the outside", "主机自己能访问外部"),
        ctx.word("a reply"),
        ctx.word(if direct.is_ok() { "a reply" } else { "no reply" }),
        direct.is_ok(),
        tr!(
            "lcout and the outside's eth0 need addresses in 198.51.100.0/24",
            "lcout 和外部的 eth0 需要 198.51.100.0/24 内的地址"
        ),
    );
    ctx.expect_failure(
        tr!("c1 does not: the host does not forward", "c1 不能：主机不转发"),
        labkit::Failure::Kinds(NOT_FORWARDED),
        from_c1,
        tr!("ip_forward should still be 0 in labctl-host", "labctl-host 里的 ip_forward 应当仍为 0"),
    );
    Ok(())
}

fn ip_forward(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    set_sysctl_in(&ns(HOST), "net.ipv4.ip_forward", "1")?;
    let value = sysctl_in(&ns(HOST), "net.ipv4.ip_forward")?;
    let to = SocketAddr::new(IpAddr::V4(OUT_PEER), 9000);
    let from_c1 = talk(OUT, to, C1, "hello from c1\n");
    ctx.observe(Observation::Values {
        title: tr!("After forwarding is switched on in labctl-host:", "在 labctl-host 中打开转发之后："),
        values: vec![("/proc/sys/net/ipv4/ip_forward (labctl-host)".into(), Fact::Number(value.parse().unwrap_or(-1)))],
    });
    let (table, _) = routes_table(tr!("Routes in labctl-out:", "labctl-out 的路由："), OUT)?;
    ctx.observe(table);
    ctx.observe(Observation::Values {
        title: tr!("c1 → the outside:", "c1 → 外部："),
        values: talk_values(ctx, &from_c1, C1, to),
    });
    ctx.expect_eq(
        tr!("forwarding is on in labctl-host only", "只有 labctl-host 打开了转发"),
        Fact::Number(1),
        Fact::Number(value.parse().unwrap_or(-1)),
        tr!(
            "writing /proc/sys/net/ipv4/ip_forward from inside the namespace failed",
            "在 namespace 内写 /proc/sys/net/ipv4/ip_forward 失败"
        ),
    );
    let here = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let before = state.forward_here.clone().context("step stage did not run")?;
    ctx.expect_eq(
        tr!(
            "ip_forward where labctl runs is untouched (read again)",
            "labctl 所在之处的 ip_forward 没有被改动（再次读取）"
        ),
        Fact::Host(before),
        Fact::Host(here.trim().to_string()),
        tr!(
            "the write must go to labctl-host's own /proc/sys, through setns",
            "写入必须经由 setns 落到 labctl-host 自己的 /proc/sys 上"
        ),
    );
    ctx.expect_failure(
        tr!(
            "still no answer: the outside has no route back to 10.213.0.0/24",
            "仍然没有回应：外部没有回到 10.213.0.0/24 的路由"
        ),
        labkit::Failure::Kinds(DROPPED),
        from_c1,
        tr!("labctl-out should only know 198.51.100.0/24", "labctl-out 应当只认识 198.51.100.0/24"),
    );
    Ok(())
}

fn masquerade(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let fw = firewall()?;
    fw.install(SUBNET, BRIDGE)?;
    let listing = fw.listing()?;
    ctx.observe(Observation::excerpt(rules_header(ctx, &fw), &listing));
    let to = SocketAddr::new(IpAddr::V4(OUT_PEER), 9000);
    let from_c1 = talk(OUT, to, C1, "hello from c1\n");
    ctx.observe(Observation::Values {
        title: tr!("c1 → the outside:", "c1 → 外部："),
        values: talk_values(ctx, &from_c1, C1, to),
    });
    ctx.set("backend", Fact::text(fw.backend.name()));
    let peer = from_c1.as_ref().map(|x| x.peer.ip().to_string()).unwrap_or_else(|e| failed(ctx, e.root_cause()));
    ctx.expect_eq(
        tr!("the outside sees the host's address, not c1's", "外部看到的是主机的地址，而不是 c1 的"),
        OUT_HOST.to_string(),
        peer,
        tr!(
            "the masquerade rule must match traffic from 10.213.0.0/24 leaving by lcout",
            "masquerade 规则必须匹配从 lcout 离开的 10.213.0.0/24 流量"
        ),
    );
    Ok(())
}

fn listing_command(fw: &Firewall) -> &'static str {
    match fw.backend {
        crate::firewall::Backend::Nft => "nft list table inet labctl",
        crate::firewall::Backend::Iptables => "iptables -S LABCTL-*",
    }
}

fn forward_drop(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let fw = firewall()?;
    fw.forward_drop()?;
    let to = SocketAddr::new(IpAddr::V4(OUT_PEER), 9000);
    let dropped = talk(OUT, to, C1, "hello from c1\n");
    fw.forward_allow(BRIDGE)?;
    let allowed = talk(OUT, to, C1, "hello from c1\n");
    let listing = fw.listing()?;
    let br_nf = sysctl_in(&ns(HOST), "net.bridge.bridge-nf-call-iptables").unwrap_or_else(|_| ctx.word("absent"));
    ctx.observe(Observation::Values {
        title: tr!("br_netfilter, as this kernel has it:", "本机内核的 br_netfilter 情况："),
        values: vec![("/proc/sys/net/bridge/bridge-nf-call-iptables (labctl-host)".into(), Fact::Host(br_nf))],
    });
    ctx.observe(Observation::Values {
        title: tr!("c1 → the outside with policy drop:", "policy drop 时 c1 → 外部："),
        values: talk_values(ctx, &dropped, C1, to),
    });
    ctx.observe(Observation::excerpt(rules_header(ctx, &fw), &listing));
    ctx.observe(Observation::Values {
        title: tr!("c1 → the outside with the accept rules:", "加上 accept 规则后 c1 → 外部："),
        values: talk_values(ctx, &allowed, C1, to),
    });
    ctx.expect_failure(
        tr!("a FORWARD chain with policy drop stops container traffic", "policy 为 drop 的 FORWARD 链拦住了容器流量"),
        labkit::Failure::Kinds(DROPPED),
        dropped,
        tr!("the forward chain must have policy drop", "forward 链的 policy 必须是 drop"),
    );
    ctx.expect(
        tr!(
            "accepting traffic from labctl0 (and its replies) lets it through",
            "放行来自 labctl0 的流量（及其回包）之后就通了"
        ),
        ctx.word("a reply"),
        ctx.word(if allowed.is_ok() { "a reply" } else { "no reply" }),
        allowed.is_ok(),
        tr!("the accept rules must come before the policy", "accept 规则必须在 policy 生效前匹配"),
    );
    Ok(())
}

fn port_map(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let fw = firewall()?;
    let map = PortMap { host: 8080, container: 80, proto: Proto::Tcp };
    let c1_ip = CONTAINERS[0].2;
    fw.add_port_map(&map, c1_ip, "labctl c1")?;
    let listener = listen_in(&ns(C1), "0.0.0.0:80".parse().unwrap())?;
    let server_tcp = in_netns(&ns(C1), || std::fs::read_to_string("/proc/thread-self/net/tcp"))??;
    let listening = server_tcp
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("00000000:0050") && l.split_whitespace().nth(3) == Some("0A"));
    let to = SocketAddr::new(IpAddr::V4(OUT_HOST), map.host);
    let result = exchange(listener, &ns(OUT), to, "GET / HTTP/1.0\r\nHost: labctl\r\n\r\n", move |peer| {
        let body = format!("hello from labctl-c1, you are {}\n", peer.ip());
        format!("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    });
    let listing = fw.listing()?;
    ctx.observe(Observation::excerpt(rules_header(ctx, &fw), &listing));
    let (status, body, peer) = match &result {
        Ok(x) => (
            x.reply.lines().next().unwrap_or_default().to_string(),
            x.reply.split("\r\n\r\n").nth(1).unwrap_or_default().trim().to_string(),
            x.peer.ip().to_string(),
        ),
        Err(e) => (failed(ctx, e.root_cause()), String::new(), ctx.word("none")),
    };
    ctx.observe(Observation::Values {
        title: tr!(
            "curl http://198.51.100.1:8080/ from labctl-out:",
            "在 labctl-out 里 curl http://198.51.100.1:8080/："
        ),
        values: vec![
            (
                ctx.t(&tr!(
                    "server in labctl-c1 listening on *:80 (/proc/net/tcp)",
                    "labctl-c1 里的服务端在 *:80 上监听（/proc/net/tcp）"
                )),
                Fact::text(ctx.boolean(listening)),
            ),
            // The status line and the body are HTTP as sent: they stay as they are.
            (ctx.t(&tr!("status", "状态行")), Fact::text(status.clone())),
            (ctx.t(&tr!("body", "正文")), Fact::text(body)),
            (ctx.t(&tr!("client address seen by the server", "服务端看到的客户端地址")), Fact::text(peer.clone())),
        ],
    });
    ctx.expect_eq(
        tr!("port 8080 of the host answers from c1's port 80", "主机的 8080 端口由 c1 的 80 端口应答"),
        "HTTP/1.0 200 OK",
        status,
        tr!(
            "the DNAT rule must match traffic to a local address on port 8080",
            "DNAT 规则必须匹配发往本机地址 8080 端口的流量"
        ),
    );
    ctx.expect_eq(
        tr!("the container sees the real client address", "容器看到的是真实的客户端地址"),
        OUT_PEER.to_string(),
        peer,
        tr!("DNAT rewrites the destination only", "DNAT 只改写目的地址"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

/// The challenge: the learner attaches a namespace `labctl-web` to labctl's bridge with the
/// tool and maps a port: `labctl net bridge up`, `labctl net attach --netns labctl-web -p 8080:80`.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !labkit::sys::is_root() {
        anyhow::bail!("labctl check net-bridge needs root: try sudo labctl check net-bridge");
    }
    let state = crate::bridge::list(crate::bridge::DEFAULT_BRIDGE)?;
    let lease = state.as_ref().and_then(|s| s.leases.iter().find(|l| l.netns == "labctl-web").cloned());
    ctx.expect(
        tr!("labctl-web is attached to labctl0", "labctl-web 已挂到 labctl0 上"),
        ctx.t(&tr!("attached", "已接入")),
        ctx.t(&if lease.is_some() { tr!("attached", "已接入") } else { tr!("not attached", "没有接入") }),
        lease.is_some(),
        tr!(
            "sudo ip netns add labctl-web; sudo labctl net bridge up; sudo labctl net attach --netns labctl-web -p 8080:80",
            "sudo ip netns add labctl-web; sudo labctl net bridge up; sudo labctl net attach --netns labctl-web -p 8080:80"
        ),
    );
    let Some(lease) = lease else { return Ok(()) };
    let has_map = lease.ports.iter().any(|p| p.host == 8080 && p.container == 80);
    ctx.expect(
        tr!("host port 8080 maps to its port 80", "主机 8080 端口映射到它的 80 端口"),
        "8080:80/tcp",
        Fact::text(lease.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",")),
        has_map,
        tr!("attach with -p 8080:80", "attach 时加上 -p 8080:80"),
    );
    let routes = Netlink::open_in(&crate::netns::resolve(&lease.netns))?.routes()?;
    let gw = state.map(|s| s.subnet.gateway());
    let default_ok = routes
        .iter()
        .any(|r| r.destination.is_none() && r.gateway.map(|g| Some(g) == gw.map(IpAddr::V4)).unwrap_or(false));
    ctx.expect(
        tr!("its default route points at the bridge", "它的默认路由指向网桥"),
        ctx.t(&tr!("default via the gateway", "经由网关的 default 路由")),
        ctx.word(if default_ok { "present" } else { "missing" }),
        default_ok,
        tr!("detach and attach again", "先 detach 再重新 attach"),
    );
    Ok(())
}
