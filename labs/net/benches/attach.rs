//! Attaching a container to the bridge (veth pair created into the container's namespace,
//! master, up, lo up, address, eth0 up, default route) through labnet's netlink client,
//! against the same sequence done with `ip` commands, in the same run.
//!
//! Hermetic: the process first moves itself into a throwaway network namespace (the "host"),
//! and the containers are `labctl-bench-*` namespaces deleted after each round.
//! Run: `sudo cargo bench -p labnet --bench attach` (target: under 5 ms per attach).

use labnet::bridge::{plumb, Subnet};
use labnet::{netns, Netlink};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?} failed");
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
    }
}

fn stats(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    let median = d[d.len() / 2];
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    (median, mean)
}

fn main() {
    if !labkit::sys::is_root() {
        eprintln!("attach bench: needs root (network namespaces); skipped");
        return;
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare a throwaway network namespace");
    let subnet: Subnet = "10.213.0.0/24".parse().unwrap();
    let mut host = Netlink::open().unwrap();
    host.add_bridge("labctl0").unwrap();
    host.add_address("labctl0", subnet.gateway().into(), subnet.prefix).unwrap();
    host.set_up("labctl0", true).unwrap();

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..ROUNDS {
        let ip_addr = Ipv4Addr::new(10, 213, 0, 2 + (round % 200) as u8);

        // labnet: netlink.
        let name = format!("labctl-bench-{}-a", std::process::id());
        netns::add(&name).unwrap();
        let guard = Netns(name.clone());
        let file = netns::open(&name).unwrap();
        let start = Instant::now();
        let mut container = Netlink::open_in(&netns::path(&name)).unwrap();
        plumb(&mut host, &mut container, &file, "labctl0", "lcbench0", ip_addr, subnet).unwrap();
        ours.push(start.elapsed());
        drop(container);
        drop(guard);
        let _ = host.delete_link("lcbench0");

        // iproute2: the same sequence, one command per request.
        let name = format!("labctl-bench-{}-b", std::process::id());
        netns::add(&name).unwrap();
        let guard = Netns(name.clone());
        let addr = format!("{ip_addr}/{}", subnet.prefix);
        let gw = subnet.gateway().to_string();
        let start = Instant::now();
        ip(&["link", "add", "lcbench1", "type", "veth", "peer", "name", "eth0", "netns", &name]);
        ip(&["link", "set", "lcbench1", "master", "labctl0"]);
        ip(&["link", "set", "lcbench1", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&["-n", &name, "addr", "add", &addr, "dev", "eth0"]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "route", "add", "default", "via", &gw]);
        theirs.push(start.elapsed());
        drop(guard);
        let _ = host.delete_link("lcbench1");
    }
    let (our_median, our_mean) = stats(ours);
    let (ip_median, ip_mean) = stats(theirs);
    println!("attach a container to the bridge ({ROUNDS} rounds, veth + move + master + up + address + route)");
    println!("  labnet (netlink)   median {:>8.3} ms   mean {:>8.3} ms", ms(our_median), ms(our_mean));
    println!("  ip commands (7)    median {:>8.3} ms   mean {:>8.3} ms", ms(ip_median), ms(ip_mean));
    println!("  ratio ip / labnet (median): {:.1}x", ms(ip_median) / ms(our_median));
    let verdict = if our_median < Duration::from_millis(5) { "met" } else { "MISSED" };
    println!("  target: under 5 ms per attach — {verdict}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
