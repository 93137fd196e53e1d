//! A small synchronous rtnetlink client: what `ip link`, `ip addr`, `ip route` and
//! `bridge fdb` say to the kernel, without the `ip` binary.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it, for its
//! whole life. [`Netlink::open`] talks to the calling thread's namespace; [`Netlink::open_in`]
//! opens the socket on a helper thread that joined another namespace and hands it back, so one
//! thread can drive several namespaces at once.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// A netlink request that failed, with what we asked for.
#[derive(Debug, thiserror::Error)]
#[error("netlink {op}: {source}")]
pub struct NetlinkError {
    /// The request in `ip` terms, e.g. `link add lc1 type veth peer name eth0`.
    pub op: String,
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub type Result<T> = std::result::Result<T, NetlinkError>;

fn err(op: impl Into<String>) -> impl FnOnce(io::Error) -> NetlinkError {
    let op = op.into();
    move |source| NetlinkError { op, source }
}

/// One network interface as `ip link` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, ... (IFLA_INFO_KIND); `None` for devices without one (lo, most NICs).
    pub kind: Option<String>,
    /// IFLA_IFALIAS (`ip link set NAME alias TEXT`): labctl marks the bridges it made.
    pub alias: Option<String>,
    pub mac: Option<String>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Carrier (IFF_LOWER_UP).
    pub lower_up: bool,
    /// IFLA_OPERSTATE is UP: the kernel's link watcher has processed the carrier change and
    /// the device transmits (until then a fresh veth drops packets).
    pub oper_up: bool,
    pub mtu: u32,
    /// The bridge this link is a port of (IFLA_MASTER).
    pub master: Option<u32>,
    /// IFLA_LINK: for a veth, the ifindex of its peer (in the peer's namespace): `iflink`.
    pub link: Option<u32>,
    /// IFLA_LINK_NETNSID: the peer lives in another namespace, known here by this id.
    pub link_netnsid: Option<i32>,
    /// For a vxlan device, its settings (IFLA_INFO_DATA), as `ip -d link show` prints them.
    pub vxlan: Option<Vxlan>,
    /// IFLA_STATS64: the device's packet and byte counters.
    pub stats: Option<LinkStats>,
}

/// A device's counters, as `ip -s link` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// A VXLAN device's settings: `ip link add NAME type vxlan id VNI dstport PORT local IP
/// [remote IP] dev LOWER [nolearning]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Vxlan {
    /// The VXLAN network identifier, 24 bits (1..=16777215 here; 0 is refused).
    pub vni: u32,
    /// The UDP destination port (4789, IANA's; Linux's own default is 8472).
    pub port: u16,
    pub local: Option<Ipv4Addr>,
    /// The default destination (a unicast peer): the kernel adds an all-zeros FDB entry for it.
    pub remote: Option<Ipv4Addr>,
    /// The underlay device's ifindex (IFLA_VXLAN_LINK); it sets the MTU and the source.
    pub lower: Option<u32>,
    /// Learn remote MACs from received packets (`learning`), or only use FDB entries written
    /// by a control plane (`nolearning`).
    pub learning: bool,
}

/// The highest VNI: the field is 24 bits wide.
pub const VNI_MAX: u32 = 0x00ff_ffff;

/// One address as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Address {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix: u8,
}

/// One route of the main table as `ip route` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Route {
    /// `None` is the default route.
    pub destination: Option<(IpAddr, u8)>,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    /// `kernel` for routes the kernel adds for an address, `boot` for `ip route add`.
    pub protocol: String,
    /// `link` for on-link routes, `global` otherwise.
    pub scope: String,
    pub prefsrc: Option<IpAddr>,
}

/// One forwarding-database entry as `bridge fdb` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FdbEntry {
    pub mac: String,
    /// The port (device) the MAC was seen on.
    pub ifindex: u32,
    /// The bridge whose table holds the entry (`master`), if any.
    pub master: Option<u32>,
    /// A local or static entry (NUD_PERMANENT) rather than one the bridge learned.
    pub permanent: bool,
    /// The device's own table (`self`) rather than the bridge's.
    pub is_self: bool,
    /// For a vxlan device's own entries: the remote VTEP to send the frame to (NDA_DST).
    pub dst: Option<IpAddr>,
}

/// A synchronous rtnetlink socket bound to one network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(err("socket(NETLINK_ROUTE)"))?;
        socket.bind_auto().map_err(err("bind"))?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(err("connect"))?;
        let _ = socket.set_ext_ack(true);
        Ok(Netlink { socket, seq: 0 })
    }

    /// Opens a socket in the network namespace `netns` (`/run/netns/NAME`, `/proc/PID/ns/net`).
    pub fn open_in(netns: &Path) -> Result<Netlink> {
        labkit::sys::in_namespaces(&[(netns, nix::sched::CloneFlags::CLONE_NEWNET)], Netlink::open)
            .map_err(err(format!("join {}", netns.display())))?
    }

    fn request(&mut self, op: &str, message: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        // A non-dump request always asks for an ACK: it marks the end of the reply.
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(err(op))?;
        let mut out = Vec::new();
        loop {
            let (bytes, _) = self.socket.recv_from_full().map_err(err(op))?;
            if decode_datagram(&bytes, self.seq, dump, op, &mut out)? {
                return Ok(out);
            }
        }
    }

    fn ack(&mut self, op: &str, message: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.request(op, message, NLM_F_ACK | flags).map(|_| ())
    }

    // ---- links -------------------------------------------------------------------------

    /// `ip link show`
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.request("link show", RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        let mut links: Vec<Link> = replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    /// `ip link show NAME`; `None` when there is no such link.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(&format!("link show {name}"), RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`Netlink::link`], but a missing link is an error naming it.
    pub fn index_of(&mut self, name: &str) -> Result<u32> {
        self.link(name)?.map(|l| l.index).ok_or_else(|| NetlinkError {
            op: format!("link show {name}"),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    /// `ip link add NAME type bridge`
    pub fn add_bridge(&mut self, name: &str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.ack(&format!("link add {name} type bridge"), RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip link add NAME type veth peer name PEER [netns NS]`: with `peer_netns` (an open
    /// namespace file) the peer end is created directly inside that namespace.
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_netns: Option<&impl AsRawFd>) -> Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.to_string()));
        if let Some(ns) = peer_netns {
            peer_msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        let netns = if peer_netns.is_some() { " netns NS" } else { "" };
        self.ack(
            &format!("link add {name} type veth peer name {peer}{netns}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip link add NAME type vxlan id VNI dstport PORT local IP [remote IP] dev LOWER
    /// [nolearning]`. `lower` is the underlay device: the kernel takes the MTU from it (its
    /// MTU minus 50 bytes of encapsulation).
    pub fn add_vxlan(&mut self, name: &str, spec: &Vxlan) -> Result<()> {
        let mut op = format!("link add {name} type vxlan id {} dstport {}", spec.vni, spec.port);
        if spec.vni == 0 || spec.vni > VNI_MAX {
            return Err(NetlinkError {
                op,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("VNI {} is outside 1-{VNI_MAX} (the VXLAN header has 24 bits for it)", spec.vni),
                ),
            });
        }
        let mut data = vec![InfoVxlan::Id(spec.vni), InfoVxlan::Port(spec.port), InfoVxlan::Learning(spec.learning)];
        if let Some(local) = spec.local {
            data.push(InfoVxlan::Local(local));
            op += &format!(" local {local}");
        }
        if let Some(remote) = spec.remote {
            data.push(InfoVxlan::Group(remote));
            op += &format!(" remote {remote}");
        }
        if let Some(lower) = spec.lower {
            data.push(InfoVxlan::Link(lower));
            op += &format!(" dev #{lower}");
        }
        if !spec.learning {
            op += " nolearning";
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.ack(&op, RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip link set NAME address MAC`
    pub fn set_mac(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        let index = self.index_of(name)?;
        self.set_link(&format!("link set {name} address {}", format_mac(&mac)), index, |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    /// `ip link set NAME mtu MTU`
    pub fn set_mtu(&mut self, name: &str, mtu: u32) -> Result<()> {
        let index = self.index_of(name)?;
        self.set_link(&format!("link set {name} mtu {mtu}"), index, |m| m.attributes.push(LinkAttribute::Mtu(mtu)))
    }

    /// `ip link del NAME` (a veth takes its peer with it).
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let index = self.index_of(name)?;
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(&format!("link del {name}"), RouteNetlinkMessage::DelLink(msg), 0)
    }

    fn set_link(&mut self, op: &str, index: u32, f: impl FnOnce(&mut LinkMessage)) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        f(&mut msg);
        self.ack(op, RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// `ip link set NAME alias TEXT`
    pub fn set_alias(&mut self, name: &str, alias: &str) -> Result<()> {
        let index = self.index_of(name)?;
        self.set_link(&format!("link set {name} alias {alias:?}"), index, |m| {
            m.attributes.push(LinkAttribute::IfAlias(alias.to_string()))
        })
    }

    /// `ip link set NAME up|down`
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<()> {
        let index = self.index_of(name)?;
        let state = if up { "up" } else { "down" };
        self.set_link(&format!("link set {name} {state}"), index, |m| {
            if up {
                m.header.flags = LinkFlags::Up;
            }
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Waits (up to `limit`) until link `name` is operationally up: after `ip link set up`
    /// the kernel attaches the device's queue asynchronously, and packets sent before that
    /// are dropped. Returns whether it came up.
    pub fn wait_oper_up(&mut self, name: &str, limit: std::time::Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if self.link(name)?.is_some_and(|l| l.oper_up) {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// `ip link set NAME master BRIDGE` (`None`: `nomaster`).
    pub fn set_master(&mut self, name: &str, bridge: Option<&str>) -> Result<()> {
        let index = self.index_of(name)?;
        let master = match bridge {
            Some(b) => self.index_of(b)?,
            None => 0,
        };
        let op = match bridge {
            Some(b) => format!("link set {name} master {b}"),
            None => format!("link set {name} nomaster"),
        };
        self.set_link(&op, index, |m| m.attributes.push(LinkAttribute::Controller(master)))
    }

    /// `ip link set NAME netns NS [name NEW]`, with the namespace as an open file.
    pub fn move_to_netns_fd(&mut self, name: &str, netns: &impl AsRawFd, rename: Option<&str>) -> Result<()> {
        let index = self.index_of(name)?;
        let suffix = rename.map(|r| format!(" name {r}")).unwrap_or_default();
        self.set_link(&format!("link set {name} netns NS{suffix}"), index, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
            if let Some(r) = rename {
                m.attributes.push(LinkAttribute::IfName(r.to_string()));
            }
        })
    }

    /// `ip link set NAME netns PID`: into the network namespace of process `pid`.
    pub fn move_to_netns_pid(&mut self, name: &str, pid: u32) -> Result<()> {
        let index = self.index_of(name)?;
        self.set_link(&format!("link set {name} netns {pid}"), index, |m| {
            m.attributes.push(LinkAttribute::NetNsPid(pid));
        })
    }

    // ---- addresses ---------------------------------------------------------------------

    /// `ip addr add IP/PREFIX dev NAME`
    pub fn add_address(&mut self, name: &str, ip: IpAddr, prefix: u8) -> Result<()> {
        let index = self.index_of(name)?;
        let mut msg = AddressMessage::default();
        msg.header.family = family_of(ip);
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.header.scope = AddressScope::Universe;
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        self.ack(
            &format!("addr add {ip}/{prefix} dev {name}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip addr show`
    pub fn addresses(&mut self) -> Result<Vec<Address>> {
        let replies =
            self.request("addr show", RouteNetlinkMessage::GetAddress(AddressMessage::default()), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => address_from(&a),
                _ => None,
            })
            .collect())
    }

    // ---- routes ------------------------------------------------------------------------

    /// `ip route add default via GATEWAY` (`destination` `None`) or `ip route add DST/LEN via GW`.
    pub fn add_route(&mut self, destination: Option<(Ipv4Addr, u8)>, gateway: Ipv4Addr) -> Result<()> {
        let mut msg = route_message();
        msg.header.scope = RouteScope::Universe;
        if let Some((dst, len)) = destination {
            msg.header.destination_prefix_length = len;
            msg.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        }
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        let dst = destination.map(|(d, l)| format!("{d}/{l}")).unwrap_or_else(|| "default".into());
        self.ack(
            &format!("route add {dst} via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip route del default` (IPv4, main table).
    pub fn delete_default_route(&mut self) -> Result<()> {
        let mut msg = route_message();
        msg.header.scope = RouteScope::NoWhere;
        self.ack("route del default", RouteNetlinkMessage::DelRoute(msg), 0)
    }

    /// `ip route show` (IPv4, main table).
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        let replies = self.request("route show", RouteNetlinkMessage::GetRoute(query), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_from(&r),
                _ => None,
            })
            .collect())
    }

    // ---- bridge forwarding database ----------------------------------------------------

    /// `bridge fdb show`
    pub fn fdb(&mut self) -> Result<Vec<FdbEntry>> {
        let mut query = NeighbourMessage::default();
        query.header.family = AddressFamily::Bridge;
        let replies = self.request("fdb show", RouteNetlinkMessage::GetNeighbour(query), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => fdb_entry_from(&n),
                _ => None,
            })
            .collect())
    }
}

// ---- decoding replies (pure: tested without a socket) -----------------------------------

/// Decodes one datagram of replies to request `seq`, appending its messages to `out`; true
/// when the reply is complete (NLMSG_DONE, or the ACK of a non-dump request). An error reply
/// becomes the errno it carries; messages of other requests are skipped.
fn decode_datagram(bytes: &[u8], seq: u32, dump: bool, op: &str, out: &mut Vec<RouteNetlinkMessage>) -> Result<bool> {
    let mut offset = 0;
    while offset < bytes.len() {
        let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..]).map_err(|e| NetlinkError {
            op: op.to_string(),
            source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        })?;
        let len = reply.header.length as usize;
        offset += (len + 3) & !3;
        if reply.header.sequence_number != seq {
            continue;
        }
        match reply.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) => match e.code {
                None => {
                    if !dump {
                        return Ok(true);
                    }
                }
                Some(code) => {
                    return Err(NetlinkError { op: op.to_string(), source: io::Error::from_raw_os_error(-code.get()) })
                }
            },
            NetlinkPayload::InnerMessage(m) => out.push(m),
            _ => {}
        }
        if len == 0 {
            break;
        }
    }
    Ok(false)
}

/// An address message as `ip addr` shows it: the local address, else the address.
fn address_from(a: &AddressMessage) -> Option<Address> {
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let ip = local.or_else(|| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some(Address { index: a.header.index, ip, prefix: a.header.prefix_len })
}

/// A route of the main table (unicast only, as `ip route show` lists them).
fn route_from(r: &RouteMessage) -> Option<Route> {
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(r.header.table as u32);
    if table != RouteHeader::RT_TABLE_MAIN as u32 || r.header.kind != RouteType::Unicast {
        return None;
    }
    let addr = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    let mut route = Route {
        destination: None,
        gateway: None,
        oif: None,
        protocol: r.header.protocol.to_string(),
        scope: match r.header.scope {
            RouteScope::Link => "link".into(),
            RouteScope::Host => "host".into(),
            _ => "global".into(),
        },
        prefsrc: None,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                route.destination = addr(d).map(|ip| (ip, r.header.destination_prefix_length))
            }
            RouteAttribute::Gateway(g) => route.gateway = addr(g),
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::PrefSource(s) => route.prefsrc = addr(s),
            _ => {}
        }
    }
    Some(route)
}

/// A bridge forwarding entry (`bridge fdb show`); other neighbours are not.
fn fdb_entry_from(n: &NeighbourMessage) -> Option<FdbEntry> {
    if n.header.family != AddressFamily::Bridge {
        return None;
    }
    let mut mac = None;
    let mut master = None;
    let mut dst = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(b) => mac = Some(format_mac(b)),
            NeighbourAttribute::Controller(m) => master = Some(*m),
            NeighbourAttribute::Destination(d) => dst = neighbour_ip(d),
            _ => {}
        }
    }
    Some(FdbEntry {
        mac: mac?,
        ifindex: n.header.ifindex,
        master,
        permanent: n.header.state == NeighbourState::Permanent,
        is_self: n.header.flags.contains(NeighbourFlags::Own),
        dst,
    })
}

impl Netlink {
    /// `bridge fdb append MAC dev NAME dst IP self permanent`: a static entry in a vxlan
    /// device's own table, telling it which remote VTEP a MAC lives behind (what Flannel and
    /// Docker's overlay driver write instead of letting the device learn).
    pub fn fdb_append(&mut self, name: &str, mac: [u8; 6], dst: Ipv4Addr) -> Result<()> {
        let index = self.index_of(name)?;
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        msg.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::Other(dst.octets().to_vec())));
        self.ack(
            &format!("fdb append {} dev {name} dst {dst} self permanent", format_mac(&mac)),
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_APPEND,
        )
    }
}

/// NDA_DST of a bridge-family entry comes undecoded (the family says nothing about its size).
fn neighbour_ip(d: &NeighbourAddress) -> Option<IpAddr> {
    match d {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        NeighbourAddress::Other(b) if b.len() == 4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        NeighbourAddress::Other(b) if b.len() == 16 => {
            <[u8; 16]>::try_from(b.as_slice()).ok().map(|a| IpAddr::V6(a.into()))
        }
        _ => None,
    }
}

fn vxlan_from(data: &[InfoVxlan]) -> Vxlan {
    let mut v = Vxlan { vni: 0, port: 0, local: None, remote: None, lower: None, learning: false };
    for d in data {
        match d {
            InfoVxlan::Id(id) => v.vni = *id,
            InfoVxlan::Port(p) => v.port = *p,
            InfoVxlan::Local(ip) => v.local = Some(*ip),
            InfoVxlan::Group(ip) => v.remote = Some(*ip),
            InfoVxlan::Link(i) => v.lower = Some(*i),
            InfoVxlan::Learning(l) => v.learning = *l,
            _ => {}
        }
    }
    v
}

fn route_message() -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.kind = RouteType::Unicast;
    msg
}

fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// `aa:bb:cc:dd:ee:ff`
pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn link_from(l: LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        kind: None,
        alias: None,
        mac: None,
        up: l.header.flags.contains(LinkFlags::Up),
        lower_up: l.header.flags.contains(LinkFlags::LowerUp),
        oper_up: false,
        mtu: 0,
        master: None,
        link: None,
        link_netnsid: None,
        vxlan: None,
        stats: None,
    };
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Address(m) => link.mac = Some(format_mac(&m)),
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::IfAlias(a) => link.alias = Some(a),
            LinkAttribute::OperState(s) => link.oper_up = s == netlink_packet_route::link::State::Up,
            LinkAttribute::Controller(m) => link.master = Some(m),
            LinkAttribute::Link(i) => link.link = Some(i),
            LinkAttribute::LinkNetNsId(i) => link.link_netnsid = Some(i),
            LinkAttribute::Stats64(s) => {
                link.stats = Some(LinkStats {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                    tx_errors: s.tx_errors,
                })
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::Vxlan(data)) => link.vxlan = Some(vxlan_from(&data)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};

    /// One netlink message as the kernel would send it for request `seq`.
    fn wire(seq: u32, payload: NetlinkPayload<RouteNetlinkMessage>) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, payload);
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        buf.resize((buf.len() + 3) & !3, 0);
        buf
    }

    fn new_address(index: u32, ip: Ipv4Addr, prefix: u8) -> RouteNetlinkMessage {
        let mut a = AddressMessage::default();
        a.header.family = AddressFamily::Inet;
        a.header.index = index;
        a.header.prefix_len = prefix;
        a.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        RouteNetlinkMessage::NewAddress(a)
    }

    #[test]
    fn a_dump_collects_its_messages_until_done_and_skips_other_requests() {
        let mut bytes = wire(7, NetlinkPayload::InnerMessage(new_address(1, Ipv4Addr::LOCALHOST, 8)));
        bytes.extend(wire(6, NetlinkPayload::InnerMessage(new_address(9, Ipv4Addr::new(10, 0, 0, 9), 24))));
        bytes.extend(wire(7, NetlinkPayload::InnerMessage(new_address(2, Ipv4Addr::new(10, 0, 0, 2), 24))));
        let mut out = Vec::new();
        assert!(!decode_datagram(&bytes, 7, true, "addr show", &mut out).unwrap(), "no DONE yet");
        assert!(decode_datagram(
            &wire(7, NetlinkPayload::Done(DoneMessage::default())),
            7,
            true,
            "addr show",
            &mut out
        )
        .unwrap());
        let addresses: Vec<Address> = out
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => address_from(a),
                _ => None,
            })
            .collect();
        assert_eq!(addresses.iter().map(|a| (a.index, a.prefix)).collect::<Vec<_>>(), [(1, 8), (2, 24)]);
    }

    #[test]
    fn an_error_reply_carries_the_errno_and_an_ack_ends_a_request() {
        let mut error = ErrorMessage::default();
        error.code = std::num::NonZeroI32::new(-17);
        let err =
            decode_datagram(&wire(3, NetlinkPayload::Error(error)), 3, false, "link add", &mut Vec::new()).unwrap_err();
        assert_eq!(err.errno(), Some(17), "EEXIST: {err}");
        let ack = ErrorMessage::default();
        assert!(decode_datagram(&wire(3, NetlinkPayload::Error(ack)), 3, false, "link add", &mut Vec::new()).unwrap());
    }

    #[test]
    fn the_local_address_wins_over_the_peer_address() {
        let mut a = AddressMessage::default();
        a.attributes.push(AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        a.attributes.push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(address_from(&a).map(|a| a.ip), Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(address_from(&AddressMessage::default()), None);
    }

    #[test]
    fn only_unicast_routes_of_the_main_table_are_listed() {
        let mut r = route_message();
        r.header.destination_prefix_length = 24;
        r.header.scope = RouteScope::Link;
        r.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(Ipv4Addr::new(10, 0, 0, 0))));
        r.attributes.push(RouteAttribute::Oif(4));
        let route = route_from(&r).unwrap();
        assert_eq!(route.destination, Some((IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 24)));
        assert_eq!((route.oif, route.scope.as_str(), route.gateway), (Some(4), "link", None));
        let mut local = r.clone();
        local.header.table = 255;
        assert!(route_from(&local).is_none(), "the local table is not ip route show's");
        let mut broadcast = r;
        broadcast.header.kind = RouteType::Broadcast;
        assert!(route_from(&broadcast).is_none());
    }

    #[test]
    fn fdb_entries_are_bridge_neighbours_with_a_mac() {
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Bridge;
        n.header.ifindex = 5;
        n.header.state = NeighbourState::Permanent;
        n.attributes.push(NeighbourAttribute::LinkLayerAddress(vec![0x02, 0, 0, 0, 0, 0x0a]));
        n.attributes.push(NeighbourAttribute::Controller(3));
        let e = fdb_entry_from(&n).unwrap();
        assert_eq!((e.mac.as_str(), e.ifindex, e.master, e.permanent), ("02:00:00:00:00:0a", 5, Some(3), true));
        let mut arp = n.clone();
        arp.header.family = AddressFamily::Inet;
        assert!(fdb_entry_from(&arp).is_none());
    }

    #[test]
    fn a_veth_link_shows_its_kind_peer_and_state() {
        let mut l = LinkMessage::default();
        l.header.index = 7;
        l.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        l.attributes.push(LinkAttribute::IfName("lc0".into()));
        l.attributes.push(LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]));
        l.attributes.push(LinkAttribute::Link(8));
        l.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]));
        let link = link_from(l);
        assert_eq!((link.index, link.name.as_str(), link.kind.as_deref()), (7, "lc0", Some("veth")));
        assert_eq!(
            (link.up, link.lower_up, link.link, link.mac.as_deref()),
            (true, true, Some(8), Some("02:00:00:00:00:01"))
        );
    }
}
