//! `net-overlay`: Docker's overlay network (and Flannel's VXLAN backend) built by hand — two
//! simulated hosts joined by an underlay link, a bridge and a container on each, and a VXLAN
//! device that carries the containers' Ethernet frames inside UDP between the hosts.
//!
//! Hermetic: `labctl-h1` and `labctl-h2` play the hosts, `labctl-h1-c1` and `labctl-h2-c2`
//! their containers. Deleting the four namespaces removes every link with them.

use crate::capture::{decode_vxlan, VxlanFrame, VXLAN_OVERHEAD};
use crate::labs::bridge::{failed, make_netns, talk_values};
use crate::labs::{exchange, in_netns, interfaces_in, listen_in, start_sleeper};
use crate::netlink::{format_mac, Link, LinkStats, Netlink, Vxlan};
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "net-overlay",
    source: file!(),
    steps: &[
        ("hosts", hosts),
        ("islands", islands),
        ("vxlan", vxlan),
        ("fdb", fdb),
        ("across", across),
        ("capture", capture),
        ("mtu", mtu),
        ("counters", counters),
    ],
    check,
};

pub const H1: &str = "labctl-h1";
pub const H2: &str = "labctl-h2";
pub const C1: &str = "labctl-h1-c1";
pub const C2: &str = "labctl-h2-c2";
const UNDERLAY: &str = "lcul0";
const BRIDGE: &str = "lcbr0";
const VXLAN: &str = "lcvx0";
const VNI: u32 = 42;
const PORT: u16 = 4789;

/// One simulated host: its namespace, underlay address, container, host-side veth, and the
/// container's overlay address (its MAC derived from it, as Docker does: 02:42 + the IPv4).
struct Host {
    ns: &'static str,
    underlay: Ipv4Addr,
    container: &'static str,
    veth: &'static str,
    ip: Ipv4Addr,
}

const HOSTS: [Host; 2] = [
    Host {
        ns: H1,
        underlay: Ipv4Addr::new(192, 0, 2, 1),
        container: C1,
        veth: "lcc1",
        ip: Ipv4Addr::new(10, 214, 0, 2),
    },
    Host {
        ns: H2,
        underlay: Ipv4Addr::new(192, 0, 2, 2),
        container: C2,
        veth: "lcc2",
        ip: Ipv4Addr::new(10, 214, 0, 3),
    },
];

fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

#[derive(Default)]
pub struct State {
    c1_pid: Option<i32>,
}

fn ns(name: &str) -> PathBuf {
    crate::netns::path(name)
}

fn link_in(netns: &str, name: &str) -> anyhow::Result<Link> {
    Netlink::open_in(&ns(netns))?.link(name)?.with_context(|| format!("{name} is missing in {netns}"))
}

/// A TCP exchange from namespace `from` to a one-shot server in `server` at `to`.
fn talk(server: &str, to: SocketAddr, from: &str) -> anyhow::Result<crate::labs::Exchange> {
    let listener = listen_in(&ns(server), SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), to.port()))?;
    let me = server.to_string();
    exchange(listener, &ns(from), to, &format!("hello from {from}\n"), move |peer| {
        format!("hello {}, this is {me}\n", peer.ip())
    })
}

fn hosts(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    for h in &HOSTS {
        make_netns(ctx, h.ns)?;
    }
    // The underlay: one veth pair, one end in each host, both called lcul0 (each host's "eth0").
    let mut nl1 = Netlink::open_in(&ns(H1))?;
    nl1.add_veth(UNDERLAY, UNDERLAY, Some(&crate::netns::open(H2)?))?;
    for h in &HOSTS {
        let mut nl = Netlink::open_in(&ns(h.ns))?;
        nl.add_address(UNDERLAY, IpAddr::V4(h.underlay), 24)?;
        nl.set_up(UNDERLAY, true)?;
    }
    for h in &HOSTS {
        Netlink::open_in(&ns(h.ns))?.wait_oper_up(UNDERLAY, Duration::from_secs(2))?;
    }
    for h in &HOSTS {
        ctx.observe(Observation::Interfaces {
            title: tr!(format!("Interfaces in {}:", h.ns), format!("{} 里的网卡：", h.ns)),
            interfaces: interfaces_in(&ns(h.ns))?,
        });
    }
    let to = SocketAddr::new(IpAddr::V4(HOSTS[1].underlay), 7000);
    let result = talk(H2, to, H1);
    ctx.observe(Observation::Values {
        title: tr!(
            "TCP from labctl-h1 to labctl-h2 over the underlay:",
            "经由 underlay 从 labctl-h1 到 labctl-h2 的 TCP："
        ),
        values: talk_values(ctx, &result, H1, to),
    });
    let peer = result.as_ref().map(|x| x.peer.ip().to_string()).unwrap_or_else(|e| failed(ctx, e.root_cause()));
    ctx.expect_eq(
        tr!("the hosts reach each other over the underlay", "两台主机经由 underlay 互通"),
        HOSTS[0].underlay.to_string(),
        peer,
        tr!("lcul0 needs its address and must be up on both sides", "两端的 lcul0 都需要地址并处于 UP"),
    );
    Ok(())
}

fn islands(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    for h in &HOSTS {
        make_netns(ctx, h.container)?;
        let pid = start_sleeper(ctx, &ns(h.container))?;
        if h.ns == H1 {
            state.c1_pid = Some(pid);
        }
        let mut nl = Netlink::open_in(&ns(h.ns))?;
        nl.add_bridge(BRIDGE)?;
        nl.set_up(BRIDGE, true)?;
        nl.add_veth(h.veth, "eth0", Some(&crate::netns::open(h.container)?))?;
        nl.set_master(h.veth, Some(BRIDGE))?;
        nl.set_up(h.veth, true)?;
        let mut c = Netlink::open_in(&ns(h.container))?;
        c.set_mac("eth0", mac_of(h.ip))?;
        c.add_address("eth0", IpAddr::V4(h.ip), 24)?;
        c.set_up("eth0", true)?;
        c.wait_oper_up("eth0", Duration::from_secs(2))?;
        nl.wait_oper_up(h.veth, Duration::from_secs(2))?;
    }
    ctx.observe(Observation::Interfaces {
        title: tr!("Interfaces in labctl-h1-c1 (the container on h1):", "labctl-h1-c1（h1 上的容器）里的网卡："),
        interfaces: interfaces_in(&ns(C1))?,
    });
    let mac = link_in(C1, "eth0")?.mac.unwrap_or_default();
    ctx.set("mac", Fact::text(mac.clone()));
    let to = SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 7000);
    let result = talk(C2, to, C1);
    ctx.observe(Observation::Values {
        title: tr!("TCP from c1 (on h1) to c2 (on h2):", "从 c1（在 h1 上）到 c2（在 h2 上）的 TCP："),
        values: talk_values(ctx, &result, C1, to),
    });
    ctx.expect_eq(
        tr!(
            "c1's MAC is 02:42 followed by its IPv4 address, as Docker makes it",
            "c1 的 MAC 是 02:42 加上它的 IPv4 地址，和 Docker 的做法一样"
        ),
        format_mac(&mac_of(HOSTS[0].ip)),
        mac,
        tr!("ip link set eth0 address failed", "ip link set eth0 address 失败"),
    );
    ctx.expect_failure(
        tr!("c2 is out of reach: each bridge is an island", "c2 不可达：每个网桥都是一座孤岛"),
        // No route across: the SYN goes nowhere (a timeout), or ARP for c2 fails (host unreachable).
        labkit::Failure::Kinds(&[std::io::ErrorKind::TimedOut, std::io::ErrorKind::HostUnreachable]),
        result,
        tr!("nothing should join the two bridges yet", "此时不应有任何东西连通两个网桥"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

fn vxlan(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    for (me, peer) in [(&HOSTS[0], &HOSTS[1]), (&HOSTS[1], &HOSTS[0])] {
        let mut nl = Netlink::open_in(&ns(me.ns))?;
        let lower = nl.index_of(UNDERLAY)?;
        let spec = Vxlan {
            vni: VNI,
            port: PORT,
            local: Some(me.underlay),
            remote: Some(peer.underlay),
            lower: Some(lower),
            learning: false,
        };
        nl.add_vxlan(VXLAN, &spec)?;
        nl.set_master(VXLAN, Some(BRIDGE))?;
        nl.set_up(VXLAN, true)?;
    }
    let mut rows = Vec::new();
    let mut read = Vec::new();
    for h in &HOSTS {
        let mut nl = Netlink::open_in(&ns(h.ns))?;
        let links = nl.links()?;
        let link = links.iter().find(|l| l.name == VXLAN).context("lcvx0 vanished")?.clone();
        let v = link.vxlan.clone().context("lcvx0 has no vxlan data")?;
        let name = |i: Option<u32>| {
            i.and_then(|i| links.iter().find(|l| l.index == i)).map(|l| l.name.clone()).unwrap_or_else(|| "-".into())
        };
        let ip = |a: Option<Ipv4Addr>| a.map(|a| a.to_string()).unwrap_or_else(|| "-".into());
        rows.push(vec![
            Fact::text(h.ns),
            Fact::Number(v.vni.into()),
            Fact::Number(v.port.into()),
            Fact::text(ip(v.local)),
            Fact::text(ip(v.remote)),
            Fact::text(name(v.lower)),
            Fact::text(if v.learning { "learning" } else { "nolearning" }),
            Fact::text(name(link.master)),
            Fact::Number(link.mtu.into()),
        ]);
        let lower_mtu = links.iter().find(|l| l.name == UNDERLAY).map(|l| l.mtu).unwrap_or(0);
        read.push((v, link.mtu, lower_mtu));
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "The VXLAN devices, read over netlink (ip -d link show lcvx0):",
            "通过 netlink 读到的 VXLAN 设备（ip -d link show lcvx0）："
        ),
        // ip -d link's own field names stay.
        columns: std::iter::once(ctx.t(&tr!("HOST", "主机")))
            .chain(
                ["VNI", "DSTPORT", "LOCAL", "REMOTE", "DEV", "LEARNING", "MASTER", "MTU"].iter().map(|s| s.to_string()),
            )
            .collect(),
        rows,
    });
    let (v1, mtu1, lower1) = &read[0];
    let (v2, _, _) = &read[1];
    ctx.set("mtu", Fact::Number((*mtu1).into()));
    ctx.set("lower_mtu", Fact::Number((*lower1).into()));
    ctx.expect_eq(
        tr!("both ends use VNI 42 on UDP port 4789", "两端都使用 VNI 42 和 UDP 端口 4789"),
        "42/4789 42/4789",
        format!("{}/{} {}/{}", v1.vni, v1.port, v2.vni, v2.port),
        tr!("the two devices must agree on VNI and port", "两个设备的 VNI 和端口必须一致"),
    );
    ctx.expect(
        tr!("each host's remote is the other host's local address", "每台主机的 remote 正是另一台主机的 local 地址"),
        "h1.remote = h2.local, h2.remote = h1.local",
        format!(
            "h1 remote {}, h2 local {}",
            v1.remote.map(|a| a.to_string()).unwrap_or_default(),
            v2.local.map(|a| a.to_string()).unwrap_or_default()
        ),
        v1.remote.is_some() && v1.remote == v2.local && v2.remote == v1.local,
        tr!("swap local and remote on the second host", "在第二台主机上交换 local 和 remote"),
    );
    ctx.expect_eq(
        tr!("the kernel set the MTU to the underlay's minus 50", "内核把 MTU 设成了 underlay 的 MTU 减 50"),
        Fact::Number(i64::from(*lower1) - i64::from(VXLAN_OVERHEAD)),
        Fact::Number((*mtu1).into()),
        tr!("the vxlan device needs dev lcul0 to know its underlay", "vxlan 设备需要 dev lcul0 才知道它的 underlay"),
    );
    Ok(())
}

/// The self entries of lcvx0's own forwarding table: MAC → remote VTEP.
fn vxlan_fdb(netns: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut nl = Netlink::open_in(&ns(netns))?;
    let index = nl.index_of(VXLAN)?;
    let mut entries: Vec<(String, String)> = nl
        .fdb()?
        .into_iter()
        .filter(|e| e.ifindex == index && e.is_self && e.dst.is_some())
        .map(|e| (e.mac, e.dst.map(|d| d.to_string()).unwrap_or_default()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn fdb(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    for (me, peer) in [(&HOSTS[0], &HOSTS[1]), (&HOSTS[1], &HOSTS[0])] {
        Netlink::open_in(&ns(me.ns))?.fdb_append(VXLAN, mac_of(peer.ip), peer.underlay)?;
    }
    let mut all_ok = true;
    for (me, peer) in [(&HOSTS[0], &HOSTS[1]), (&HOSTS[1], &HOSTS[0])] {
        let entries = vxlan_fdb(me.ns)?;
        let wanted = [
            ("00:00:00:00:00:00".to_string(), peer.underlay.to_string()),
            (format_mac(&mac_of(peer.ip)), peer.underlay.to_string()),
        ];
        all_ok &= wanted.iter().all(|w| entries.contains(w)) && entries.len() == 2;
        ctx.observe(Observation::Table {
            title: tr!(
                format!("lcvx0's forwarding table in {} (bridge fdb show dev lcvx0, self entries):", me.ns),
                format!("{} 中 lcvx0 的转发表（bridge fdb show dev lcvx0，self 条目）：", me.ns)
            ),
            columns: vec!["MAC".into(), ctx.t(&tr!("DST (remote VTEP)", "DST（远端 VTEP）"))],
            rows: entries.into_iter().map(|(m, d)| vec![Fact::text(m), Fact::text(d)]).collect(),
        });
    }
    ctx.expect(
        tr!(
            "each lcvx0 knows the default VTEP and where the other container's MAC lives",
            "每个 lcvx0 都知道默认 VTEP，以及另一个容器的 MAC 在哪台主机后面"
        ),
        ctx.t(&tr!(
            "00:00:00:00:00:00 and 02:42:0a:d6:00:0x → the other host",
            "00:00:00:00:00:00 和 02:42:0a:d6:00:0x → 另一台主机"
        )),
        ctx.t(&if all_ok {
            tr!("both entries on both hosts", "两台主机上两个条目都在")
        } else {
            tr!("entries missing", "缺少条目")
        }),
        all_ok,
        tr!(
            "bridge fdb append MAC dev lcvx0 dst IP self permanent",
            "bridge fdb append MAC dev lcvx0 dst IP self permanent"
        ),
    );
    Ok(())
}

fn across(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let to = SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 7000);
    let result = talk(C2, to, C1);
    ctx.observe(Observation::Values {
        title: tr!(
            "TCP from c1 (on h1) to c2 (on h2), now over VXLAN:",
            "从 c1（在 h1 上）到 c2（在 h2 上）的 TCP，现在经由 VXLAN："
        ),
        values: talk_values(ctx, &result, C1, to),
    });
    // What h2's bridge learned: c1's MAC behind the vxlan port.
    let mut nl = Netlink::open_in(&ns(H2))?;
    let links = nl.links()?;
    let bridge = nl.index_of(BRIDGE)?;
    let name = |i: u32| links.iter().find(|l| l.index == i).map(|l| l.name.clone()).unwrap_or_default();
    let mut learned: Vec<(String, String)> = nl
        .fdb()?
        .into_iter()
        .filter(|e| !e.permanent && e.master == Some(bridge))
        // The containers' MACs; the host-side devices' random ones come and go with timing.
        .filter(|e| HOSTS.iter().any(|h| e.mac == format_mac(&mac_of(h.ip))))
        .map(|e| (e.mac, name(e.ifindex)))
        .collect();
    learned.sort();
    ctx.observe(Observation::Table {
        title: tr!(
            "What lcbr0 in labctl-h2 learned about the containers (bridge fdb show br lcbr0):",
            "labctl-h2 中 lcbr0 学到的容器地址（bridge fdb show br lcbr0）："
        ),
        columns: vec!["MAC".into(), ctx.t(&tr!("PORT", "端口"))],
        rows: learned.iter().map(|(m, p)| vec![Fact::text(m), Fact::text(p)]).collect(),
    });
    let learned_vxlan: Vec<(String, String)> = vxlan_fdb(H2)?;
    let peer = result.as_ref().map(|x| x.peer.ip().to_string()).unwrap_or_else(|e| failed(ctx, e.root_cause()));
    ctx.expect_eq(
        tr!(
            "c2 saw c1's own address: one layer-2 network across two hosts",
            "c2 看到的是 c1 自己的地址：跨两台主机的同一个二层网络"
        ),
        HOSTS[0].ip.to_string(),
        peer,
        tr!("lcvx0 must be a port of lcbr0 and up on both hosts", "两台主机上的 lcvx0 都必须是 lcbr0 的端口并处于 UP"),
    );
    let c1_mac = format_mac(&mac_of(HOSTS[0].ip));
    let behind_vxlan = learned.contains(&(c1_mac, VXLAN.to_string()));
    ctx.expect(
        tr!("h2's bridge sees c1's MAC behind port lcvx0", "h2 的网桥认为 c1 的 MAC 位于 lcvx0 端口之后"),
        ctx.t(&tr!("02:42:0a:d6:00:02 on lcvx0", "02:42:0a:d6:00:02 在 lcvx0 上")),
        ctx.t(&if behind_vxlan {
            tr!("02:42:0a:d6:00:02 on lcvx0", "02:42:0a:d6:00:02 在 lcvx0 上")
        } else {
            tr!("not learned", "没有学到")
        }),
        behind_vxlan,
        tr!("frames from c1 must have arrived through lcvx0", "来自 c1 的帧必须经由 lcvx0 到达"),
    );
    ctx.expect_eq(
        tr!("nolearning: lcvx0's own table did not grow", "nolearning：lcvx0 自己的转发表没有增加条目"),
        Fact::Number(2),
        Fact::Number(learned_vxlan.len() as i64),
        tr!("the device was created with learning on", "设备创建时打开了 learning"),
    );
    if let Some(pid) = state.c1_pid {
        ctx.explore_in(pid);
    }
    Ok(())
}

/// A UDP socket bound inside `netns`.
fn udp_in(netns: &str, addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    in_netns(&ns(netns), || UdpSocket::bind(addr))?.with_context(|| format!("bind UDP {addr} in {netns}"))
}

/// Captures on h2's underlay while `send` runs, and returns the first VXLAN frame from h1
/// that carries UDP to `inner_port`.
fn capture_one(inner_port: u16, send: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Option<VxlanFrame>> {
    let index = Netlink::open_in(&ns(H2))?.index_of(UNDERLAY)?;
    let socket = in_netns(&ns(H2), || labkit::sys::PacketSocket::open(index))?
        .context("open a packet socket on lcul0 in labctl-h2")?;
    send()?;
    let mut buf = vec![0u8; 2048];
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        let Some((len, direction)) = socket.recv(&mut buf, Duration::from_millis(200))? else { continue };
        if direction != labkit::sys::PacketDirection::Incoming {
            continue;
        }
        let frame = &buf[..len.min(buf.len())];
        if let Some(f) = decode_vxlan(frame, PORT) {
            if f.inner.as_ref().and_then(|i| i.udp.as_ref()).is_some_and(|u| u.dst_port == inner_port) {
                return Ok(Some(f));
            }
        }
    }
    Ok(None)
}

fn capture(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let port = 9999;
    let receiver = udp_in(C2, SocketAddr::new(IpAddr::V4(HOSTS[1].ip), port))?;
    let sender = udp_in(C1, SocketAddr::new(IpAddr::V4(HOSTS[0].ip), 0))?;
    let message = b"hello over vxlan";
    let frame = capture_one(port, || {
        sender.send_to(message, SocketAddr::new(IpAddr::V4(HOSTS[1].ip), port)).context("send from c1")?;
        Ok(())
    })?;
    receiver.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut buf = [0u8; 64];
    let got = receiver.recv(&mut buf).map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()).unwrap_or_default();
    let Some(f) = frame else {
        ctx.expect(
            tr!(
                "the packet socket on h2's lcul0 saw the VXLAN packet",
                "h2 的 lcul0 上的 packet socket 抓到了 VXLAN 包"
            ),
            ctx.t(&tr!("a VXLAN frame", "一个 VXLAN 帧")),
            ctx.t(&tr!("nothing captured", "什么也没抓到")),
            false,
            tr!("the datagram must cross the underlay", "这个数据报必须穿过 underlay"),
        );
        return Ok(());
    };
    let inner = f.inner.clone().context("the inner frame carries no IPv4")?;
    let outer_udp = f.outer.udp.clone().context("the outer packet carries no UDP")?;
    let inner_udp = inner.udp.clone().context("the inner packet carries no UDP")?;
    let layer = |t: labkit::Text| Fact::text(ctx.t(&t));
    let (total_length, dst_port) = (layer(tr!("total length", "总长度")), layer(tr!("dst port", "目的端口")));
    ctx.observe(Observation::Table {
        title: tr!(
            "One frame captured on labctl-h2's lcul0 (AF_PACKET), decoded layer by layer:",
            "在 labctl-h2 的 lcul0 上（AF_PACKET）抓到的一帧，逐层解码："
        ),
        columns: ["LAYER", "FIELD", "VALUE"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                layer(tr!("outer Ethernet", "外层以太网")),
                Fact::text("src → dst"),
                Fact::Mac(format!("{} → {}", format_mac(&f.outer_src_mac), format_mac(&f.outer_dst_mac))),
            ],
            vec![
                layer(tr!("outer IPv4", "外层 IPv4")),
                Fact::text("src → dst"),
                Fact::text(format!("{} → {}", f.outer.src, f.outer.dst)),
            ],
            vec![layer(tr!("outer IPv4", "外层 IPv4")), total_length.clone(), Fact::Number(f.outer.total_len.into())],
            vec![
                layer(tr!("outer UDP", "外层 UDP")),
                layer(tr!("src port", "源端口")),
                Fact::Measured(outer_udp.src_port.to_string()),
            ],
            vec![layer(tr!("outer UDP", "外层 UDP")), dst_port.clone(), Fact::Number(outer_udp.dst_port.into())],
            vec![Fact::text("VXLAN"), layer(tr!("flags", "标志")), Fact::text(format!("0x{:02x}", f.flags))],
            vec![Fact::text("VXLAN"), Fact::text("VNI"), Fact::Number(f.vni.into())],
            vec![
                layer(tr!("inner Ethernet", "内层以太网")),
                Fact::text("src → dst"),
                Fact::text(format!("{} → {}", format_mac(&f.inner_src_mac), format_mac(&f.inner_dst_mac))),
            ],
            vec![
                layer(tr!("inner IPv4", "内层 IPv4")),
                Fact::text("src → dst"),
                Fact::text(format!("{} → {}", inner.src, inner.dst)),
            ],
            vec![layer(tr!("inner IPv4", "内层 IPv4")), total_length, Fact::Number(inner.total_len.into())],
            vec![layer(tr!("inner UDP", "内层 UDP")), dst_port, Fact::Number(inner_udp.dst_port.into())],
            // The payload is the datagram's bytes as sent.
            vec![
                layer(tr!("payload", "载荷")),
                Fact::text(""),
                Fact::text(String::from_utf8_lossy(&inner_udp.payload).into_owned()),
            ],
        ],
    });
    ctx.observe(Observation::Values {
        title: tr!("What c2's socket received:", "c2 的 socket 收到的内容："),
        values: vec![(
            ctx.t(&tr!("recv() on 10.214.0.3:9999", "10.214.0.3:9999 上的 recv()")),
            Fact::text(got.clone()),
        )],
    });
    let overhead = i64::from(f.outer.total_len) - i64::from(inner.total_len);
    ctx.set("overhead", Fact::Number(overhead));
    ctx.expect_eq(
        tr!(
            "the outer packet goes VTEP to VTEP on UDP 4789 with VNI 42",
            "外层包在两个 VTEP 之间走 UDP 4789，VNI 为 42"
        ),
        "192.0.2.1 → 192.0.2.2 :4789 vni 42",
        format!("{} → {} :{} vni {}", f.outer.src, f.outer.dst, outer_udp.dst_port, f.vni),
        tr!("the vxlan device's local, remote, dstport and id", "vxlan 设备的 local、remote、dstport 和 id"),
    );
    ctx.expect_eq(
        tr!("inside is c1's own frame: its MACs and overlay addresses", "里面是 c1 自己的帧：它的 MAC 和 overlay 地址"),
        "02:42:0a:d6:00:02 → 02:42:0a:d6:00:03, 10.214.0.2 → 10.214.0.3",
        format!("{} → {}, {} → {}", format_mac(&f.inner_src_mac), format_mac(&f.inner_dst_mac), inner.src, inner.dst),
        tr!("the static FDB entry sends c2's MAC to h2", "静态 FDB 条目把 c2 的 MAC 发往 h2"),
    );
    ctx.expect_eq(
        tr!("the outer IP packet is 50 bytes longer than the inner one", "外层 IP 包比内层长 50 字节"),
        Fact::Number(VXLAN_OVERHEAD.into()),
        Fact::Number(overhead),
        tr!(
            "14 (inner Ethernet) + 8 (VXLAN) + 8 (UDP) + 20 (IPv4)",
            "14（内层以太网头）+ 8（VXLAN）+ 8（UDP）+ 20（IPv4）"
        ),
    );
    ctx.expect_eq(
        tr!("c2 received the datagram", "c2 收到了这个数据报"),
        "hello over vxlan",
        got,
        tr!("h2 must decapsulate and bridge the frame to c2", "h2 必须解封装并把帧桥接给 c2"),
    );
    Ok(())
}

/// Sends one UDP datagram of `ip_len` bytes (IP header included) with DF set from c1 to c2,
/// and says whether c2 received it.
/// Sends one datagram of `ip_len` bytes with DF set; the inner result is what happened: the
/// send's own error (EMSGSIZE), a receive that timed out (EAGAIN), or the bytes that arrived.
fn df_datagram(
    ctx: &Ctx,
    sender: &UdpSocket,
    receiver: &UdpSocket,
    ip_len: usize,
) -> anyhow::Result<anyhow::Result<usize>> {
    let payload = vec![0x5a_u8; ip_len - 28];
    let to = SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 9998);
    if let Err(e) = sender.send_to(&payload, to) {
        return Ok(Err(e.into()));
    }
    receiver.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buf = vec![0u8; 2048];
    let nothing = ctx.t(&tr!("sent, but nothing arrived within 500 ms", "已发送，但 500 ms 内什么也没收到"));
    Ok(receiver.recv(&mut buf).context(nothing))
}

/// What became of a datagram: the bytes that arrived, or the error (the OS's own words).
fn show(ctx: &Ctx, r: &anyhow::Result<usize>) -> Fact {
    match r {
        Ok(n) => Fact::text(ctx.t(&tr!(format!("arrived: {n} bytes of payload"), format!("收到：{n} 字节载荷")))),
        Err(e) => Fact::text(e.to_string()),
    }
}

fn mtu(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    let receiver = udp_in(C2, SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 9998))?;
    let sender = udp_in(C1, SocketAddr::new(IpAddr::V4(HOSTS[0].ip), 0))?;
    labkit::sys::set_dont_fragment(&sender).context("IP_MTU_DISCOVER")?;
    let mtus = |ctx: &Ctx, when: labkit::Text| -> anyhow::Result<Vec<(String, Fact)>> {
        let key = |dev: &str| ctx.t(&tr!(format!("{dev} ({})", when.en), format!("{dev}（{}）", when.zh)));
        Ok(vec![
            (key("labctl-h1 lcul0"), Fact::Number(link_in(H1, UNDERLAY)?.mtu.into())),
            (key("labctl-h1 lcvx0"), Fact::Number(link_in(H1, VXLAN)?.mtu.into())),
            (key("labctl-h1 lcbr0"), Fact::Number(link_in(H1, BRIDGE)?.mtu.into())),
            (key("labctl-h1-c1 eth0"), Fact::Number(link_in(C1, "eth0")?.mtu.into())),
        ])
    };
    let before = mtus(ctx, tr!("before", "之前"))?;
    // A full-size packet while the container believes in 1500: the bridge drops it silently.
    let black_hole = df_datagram(ctx, &sender, &receiver, 1500)?;
    // What Docker does for overlay networks: the containers' MTU is the vxlan device's.
    let vx_mtu = link_in(H1, VXLAN)?.mtu;
    for h in &HOSTS {
        Netlink::open_in(&ns(h.container))?.set_mtu("eth0", vx_mtu)?;
    }
    let after = mtus(ctx, tr!("after", "之后"))?;
    let too_big = df_datagram(ctx, &sender, &receiver, 1500)?;
    let fits = df_datagram(ctx, &sender, &receiver, vx_mtu as usize)?;
    ctx.observe(Observation::Values {
        title: tr!("MTUs along the path:", "路径上的 MTU："),
        values: before.into_iter().chain(after).collect(),
    });
    ctx.observe(Observation::Table {
        title: tr!("UDP datagrams with DF set, c1 → c2:", "设置了 DF 的 UDP 数据报，c1 → c2："),
        columns: vec![
            ctx.t(&tr!("c1 eth0 MTU", "c1 eth0 的 MTU")),
            ctx.t(&tr!("IP PACKET", "IP 包长")),
            "RESULT".into(),
        ],
        rows: vec![
            vec![Fact::Number(1500), Fact::Number(1500), show(ctx, &black_hole)],
            vec![Fact::Number(vx_mtu.into()), Fact::Number(1500), show(ctx, &too_big)],
            vec![Fact::Number(vx_mtu.into()), Fact::Number(vx_mtu.into()), show(ctx, &fits)],
        ],
    });
    ctx.set("mtu", Fact::Number(vx_mtu.into()));
    ctx.expect_failure(
        tr!(
            "with MTU 1500 in the container, a full-size packet vanishes silently",
            "容器 MTU 为 1500 时，满尺寸的包悄无声息地消失了"
        ),
        // A receive timeout is EAGAIN (SO_RCVTIMEO): the send itself succeeded.
        labkit::Failure::Kinds(&[std::io::ErrorKind::WouldBlock, std::io::ErrorKind::TimedOut]),
        black_hole,
        tr!("lcbr0 should drop frames larger than lcvx0's MTU", "lcbr0 应当丢弃超过 lcvx0 MTU 的帧"),
    );
    ctx.expect_failure(
        tr!("with MTU 1450 the sender is told at once (EMSGSIZE)", "MTU 为 1450 时发送方立刻得到通知（EMSGSIZE）"),
        labkit::Failure::Errno(nix::errno::Errno::EMSGSIZE),
        too_big,
        tr!("IP_PMTUDISC_DO makes an oversized send fail", "IP_PMTUDISC_DO 会让超长的发送失败"),
    );
    let payload = vx_mtu as usize - 28;
    ctx.expect(
        tr!("a 1450-byte packet crosses the overlay", "1450 字节的包穿过了 overlay"),
        show(ctx, &Ok(payload)),
        show(ctx, &fits),
        fits.as_ref().is_ok_and(|n| *n == payload),
        tr!("1450 - 20 (IP) - 8 (UDP) bytes of payload must arrive", "必须收到 1450 - 20（IP）- 8（UDP）字节的载荷"),
    );
    Ok(())
}

fn stats(netns: &str, name: &str) -> anyhow::Result<LinkStats> {
    link_in(netns, name)?.stats.with_context(|| format!("no counters for {name} in {netns}"))
}

fn counters(ctx: &mut Ctx, _state: &mut State) -> anyhow::Result<()> {
    const COUNT: u64 = 100;
    let read =
        || -> anyhow::Result<[LinkStats; 3]> { Ok([stats(H1, VXLAN)?, stats(H1, UNDERLAY)?, stats(H2, VXLAN)?]) };
    let receiver = udp_in(C2, SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 9997))?;
    let sender = udp_in(C1, SocketAddr::new(IpAddr::V4(HOSTS[0].ip), 0))?;
    receiver.set_read_timeout(Some(Duration::from_secs(1)))?;
    let before = read()?;
    let mut received = 0u64;
    let mut buf = [0u8; 256];
    for i in 0..COUNT {
        sender.send_to(&[i as u8; 100], SocketAddr::new(IpAddr::V4(HOSTS[1].ip), 9997))?;
        if receiver.recv(&mut buf).is_ok() {
            received += 1;
        }
    }
    let after = read()?;
    let d = |i: usize, f: fn(&LinkStats) -> u64| f(&after[i]).saturating_sub(f(&before[i]));
    let vx_tx = d(0, |s| s.tx_packets);
    let vx_tx_bytes = d(0, |s| s.tx_bytes);
    let ul_tx_bytes = d(1, |s| s.tx_bytes);
    let ul_tx = d(1, |s| s.tx_packets);
    let vx2_rx = d(2, |s| s.rx_packets);
    let per_packet = ul_tx_bytes.saturating_sub(vx_tx_bytes).checked_div(vx_tx).unwrap_or(0);
    let m = |n: u64| Fact::Number(n as i64);
    ctx.observe(Observation::Table {
        title: tr!(
            format!("Counters while c1 sends {COUNT} datagrams of 100 bytes to c2 (ip -s link, deltas):"),
            format!("c1 向 c2 发送 {COUNT} 个 100 字节数据报期间的计数器（ip -s link，增量）：")
        ),
        columns: ["DEVICE", "TX PACKETS", "TX BYTES", "RX PACKETS", "RX BYTES"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                Fact::text("labctl-h1 lcvx0"),
                m(vx_tx),
                m(vx_tx_bytes),
                m(d(0, |s| s.rx_packets)),
                m(d(0, |s| s.rx_bytes)),
            ],
            vec![
                Fact::text("labctl-h1 lcul0"),
                m(ul_tx),
                m(ul_tx_bytes),
                m(d(1, |s| s.rx_packets)),
                m(d(1, |s| s.rx_bytes)),
            ],
            vec![
                Fact::text("labctl-h2 lcvx0"),
                m(d(2, |s| s.tx_packets)),
                m(d(2, |s| s.tx_bytes)),
                m(vx2_rx),
                m(d(2, |s| s.rx_bytes)),
            ],
        ],
    });
    ctx.observe(Observation::Values {
        title: tr!("Derived from the counters:", "由计数器算出："),
        values: vec![
            (ctx.t(&tr!("datagrams c2 received", "c2 收到的数据报")), Fact::Number(received as i64)),
            (
                ctx.t(&tr!(
                    "(lcul0 tx bytes - lcvx0 tx bytes) / lcvx0 tx packets",
                    "（lcul0 TX 字节 - lcvx0 TX 字节）/ lcvx0 TX 包数"
                )),
                Fact::Number(per_packet as i64),
            ),
        ],
    });
    ctx.expect_eq(
        tr!("c2 received every datagram", "c2 收到了全部数据报"),
        Fact::Number(COUNT as i64),
        Fact::Number(received as i64),
        tr!("the overlay must not lose packets inside our namespaces", "在我们自己的 namespace 之间 overlay 不应丢包"),
    );
    ctx.expect(
        tr!("what h1's lcvx0 sent, h2's lcvx0 received", "h1 的 lcvx0 发出的，h2 的 lcvx0 全部收到了"),
        ctx.t(&tr!(format!(">= {COUNT} and equal"), format!(">= {COUNT} 且相等"))),
        Fact::Measured(format!("{vx_tx} / {vx2_rx}")),
        vx_tx >= COUNT && vx_tx == vx2_rx,
        tr!("packets got lost between the VTEPs", "包在两个 VTEP 之间丢了"),
    );
    ctx.set("per_packet", Fact::Number(per_packet as i64));
    ctx.expect_eq(
        tr!(
            "each packet cost the underlay 64 more bytes: 50 of encapsulation + the outer Ethernet header",
            "每个包在 underlay 上多花 64 字节：50 字节封装 + 外层以太网头"
        ),
        Fact::Number(i64::from(VXLAN_OVERHEAD) + 14),
        Fact::Number(per_packet as i64),
        tr!(
            "lcvx0 counts the inner IP packets, lcul0 the whole encapsulated frames",
            "lcvx0 统计的是内层 IP 包，lcul0 统计的是封装后的完整帧"
        ),
    );
    Ok(())
}

/// The challenge: a namespace `labctl-vx` with a VXLAN device `lcvx100` (VNI 100, UDP 4789,
/// nolearning) and a static FDB entry sending 02:42:0a:d6:00:63 to 192.0.2.99.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const NAME: &str = "labctl-vx";
    let path = crate::netns::path(NAME);
    let exists = path.exists();
    ctx.expect(
        tr!("a network namespace named labctl-vx exists", "存在名为 labctl-vx 的 network namespace"),
        ctx.t(&tr!(format!("{} present", path.display()), format!("{} 存在", path.display()))),
        ctx.word(if exists { "present" } else { "missing" }),
        exists,
        tr!("sudo ip netns add labctl-vx", "sudo ip netns add labctl-vx"),
    );
    if !exists {
        return Ok(());
    }
    if !labkit::sys::is_root() {
        anyhow::bail!("labctl check net-overlay needs root: try sudo labctl check net-overlay");
    }
    let mut nl = Netlink::open_in(&path)?;
    let link = nl.link("lcvx100")?;
    let v = link.as_ref().and_then(|l| l.vxlan.clone());
    let shown = v
        .as_ref()
        .map(|v| format!("vni {} dstport {} {}", v.vni, v.port, if v.learning { "learning" } else { "nolearning" }))
        .unwrap_or_else(|| match &link {
            Some(_) => ctx.t(&tr!("not a vxlan device", "不是 vxlan 设备")),
            None => ctx.word("missing"),
        });
    ctx.expect_eq(
        tr!(
            "lcvx100 is a VXLAN device with VNI 100 on UDP 4789, nolearning",
            "lcvx100 是 VNI 100、UDP 4789、nolearning 的 VXLAN 设备"
        ),
        "vni 100 dstport 4789 nolearning",
        shown,
        tr!(
            "sudo ip -n labctl-vx link add lcvx100 type vxlan id 100 dstport 4789 local 192.0.2.1 nolearning",
            "sudo ip -n labctl-vx link add lcvx100 type vxlan id 100 dstport 4789 local 192.0.2.1 nolearning"
        ),
    );
    let Some(link) = link else { return Ok(()) };
    let entry = nl
        .fdb()?
        .into_iter()
        .find(|e| e.ifindex == link.index && e.mac == "02:42:0a:d6:00:63")
        .and_then(|e| e.dst)
        .map(|d| d.to_string())
        .unwrap_or_else(|| ctx.t(&tr!("no entry", "没有条目")));
    ctx.expect_eq(
        tr!("its FDB sends 02:42:0a:d6:00:63 to 192.0.2.99", "它的 FDB 把 02:42:0a:d6:00:63 发往 192.0.2.99"),
        "192.0.2.99",
        entry,
        tr!(
            "sudo bridge -n labctl-vx fdb append 02:42:0a:d6:00:63 dev lcvx100 dst 192.0.2.99 self permanent",
            "sudo bridge -n labctl-vx fdb append 02:42:0a:d6:00:63 dev lcvx100 dst 192.0.2.99 self permanent"
        ),
    );
    Ok(())
}
