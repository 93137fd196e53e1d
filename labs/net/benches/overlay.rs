//! The price of encapsulation: TCP throughput and UDP round-trip time between two containers
//! over a VXLAN overlay, against the same between their two hosts over the underlay, in one
//! run. The topology is net-overlay's, built with labnet's netlink client in `labctl-bench-*`
//! namespaces that are deleted afterwards; traffic stays inside them.
//! Run: `sudo cargo bench -p labnet --bench overlay`.

use labnet::netlink::Vxlan;
use labnet::{netns, Netlink};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const H1: &str = "labctl-bench-h1";
const H2: &str = "labctl-bench-h2";
const C1: &str = "labctl-bench-c1";
const C2: &str = "labctl-bench-c2";
const UL: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)];
const OV: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 214, 9, 2), Ipv4Addr::new(10, 214, 9, 3)];

struct Namespaces;

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in [C1, C2, H1, H2] {
            let _ = netns::delete(n);
        }
    }
}

fn p(n: &str) -> PathBuf {
    netns::path(n)
}

fn mac(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [2, 0x42, o[0], o[1], o[2], o[3]]
}

fn build() -> Result<(), Box<dyn std::error::Error>> {
    for n in [H1, H2, C1, C2] {
        netns::add(n)?;
        Netlink::open_in(&p(n))?.set_up("lo", true)?;
    }
    Netlink::open_in(&p(H1))?.add_veth("lcul0", "lcul0", Some(&netns::open(H2)?))?;
    for (i, (host, c)) in [(H1, C1), (H2, C2)].into_iter().enumerate() {
        let mut nl = Netlink::open_in(&p(host))?;
        nl.add_address("lcul0", IpAddr::V4(UL[i]), 24)?;
        nl.set_up("lcul0", true)?;
        nl.add_bridge("lcbr0")?;
        nl.set_up("lcbr0", true)?;
        let lower = nl.index_of("lcul0")?;
        let spec = Vxlan {
            vni: 42,
            port: 4789,
            local: Some(UL[i]),
            remote: Some(UL[1 - i]),
            lower: Some(lower),
            learning: false,
        };
        nl.add_vxlan("lcvx0", &spec)?;
        nl.set_master("lcvx0", Some("lcbr0"))?;
        nl.set_up("lcvx0", true)?;
        nl.fdb_append("lcvx0", mac(OV[1 - i]), UL[1 - i])?;
        nl.add_veth("lcc", "eth0", Some(&netns::open(c)?))?;
        nl.set_master("lcc", Some("lcbr0"))?;
        nl.set_up("lcc", true)?;
        let mut cn = Netlink::open_in(&p(c))?;
        cn.set_mac("eth0", mac(OV[i]))?;
        cn.set_mtu("eth0", 1450)?;
        cn.add_address("eth0", IpAddr::V4(OV[i]), 24)?;
        cn.set_up("eth0", true)?;
        cn.wait_oper_up("eth0", Duration::from_secs(2))?;
        nl.wait_oper_up("lcc", Duration::from_secs(2))?;
        nl.wait_oper_up("lcul0", Duration::from_secs(2))?;
    }
    Ok(())
}

/// Bytes per second of one TCP stream from `from` to `to` for `secs`.
fn throughput(server_ns: &str, to: Ipv4Addr, from: &str, secs: f64) -> f64 {
    let addr = SocketAddr::new(IpAddr::V4(to), 5201);
    let listener = netns::run_in(&p(server_ns), || TcpListener::bind(addr)).unwrap().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let mut stream = netns::run_in(&p(from), || TcpStream::connect(addr)).unwrap().unwrap();
    let buf = vec![0x5au8; 1 << 16];
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        stream.write_all(&buf).unwrap();
    }
    drop(stream);
    let total = server.join().unwrap();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Median UDP round trip of `n` 64-byte pings from `from` to an echo in `server_ns`.
fn rtt(server_ns: &str, to: Ipv4Addr, from: &str, n: usize) -> Duration {
    let addr = SocketAddr::new(IpAddr::V4(to), 5202);
    let echo = netns::run_in(&p(server_ns), || UdpSocket::bind(addr)).unwrap().unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let server = std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        while let Ok((len, peer)) = echo.recv_from(&mut buf) {
            if len == 1 {
                break;
            }
            echo.send_to(&buf[..len], peer).unwrap();
        }
    });
    let client = netns::run_in(&p(from), || UdpSocket::bind("0.0.0.0:0")).unwrap().unwrap();
    client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut times = Vec::with_capacity(n);
    let mut buf = [0u8; 128];
    for _ in 0..n {
        let t = Instant::now();
        client.send_to(&[7u8; 64], addr).unwrap();
        client.recv(&mut buf).unwrap();
        times.push(t.elapsed());
    }
    client.send_to(&[0u8; 1], addr).unwrap();
    server.join().unwrap();
    times.sort();
    times[n / 2]
}

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the overlay benchmark needs root (network namespaces): sudo cargo bench -p labnet --bench overlay");
        std::process::exit(1);
    }
    let _cleanup = Namespaces;
    build().expect("build the overlay topology");
    // Warm up ARP and the FDB.
    let _ = rtt(C2, OV[1], C1, 10);
    let _ = rtt(H2, UL[1], H1, 10);
    let under_tp = throughput(H2, UL[1], H1, 2.0);
    let over_tp = throughput(C2, OV[1], C1, 2.0);
    let under_rtt = rtt(H2, UL[1], H1, 2000);
    let over_rtt = rtt(C2, OV[1], C1, 2000);
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!("TCP throughput  underlay (h1 → h2): {:8.1} MiB/s", mib(under_tp));
    println!(
        "TCP throughput  overlay  (c1 → c2): {:8.1} MiB/s   ratio overlay/underlay {:.2}",
        mib(over_tp),
        over_tp / under_tp
    );
    println!("UDP RTT median  underlay (h1 ↔ h2): {:8.1} µs", under_rtt.as_secs_f64() * 1e6);
    println!(
        "UDP RTT median  overlay  (c1 ↔ c2): {:8.1} µs     ratio overlay/underlay {:.2}",
        over_rtt.as_secs_f64() * 1e6,
        over_rtt.as_secs_f64() / under_rtt.as_secs_f64()
    );
}
