//! The labs of this topic, one file each (`net-bridge` → `bridge.rs`), and what their steps
//! share: looking at a network namespace from the inside (interfaces, routes, sysfs, sysctls)
//! and talking TCP between namespaces.

pub mod bridge;
pub mod modes;
pub mod overlay;
pub mod remote;

use crate::netlink::Netlink;
use anyhow::Context;
use labkit::{Fact, Interface};
use nix::sched::CloneFlags;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&modes::LAB, &bridge::LAB, &overlay::LAB, &remote::LAB]
}

/// Interfaces of the namespace at `netns`, IPv4 addresses only, as `ip -br addr` would list
/// them (`NAME@ifN` shows a veth's peer index, like ip does).
pub fn interfaces_in(netns: &Path) -> anyhow::Result<Vec<Interface>> {
    let mut nl = Netlink::open_in(netns)?;
    interfaces_of(&mut nl)
}

pub fn interfaces_of(nl: &mut Netlink) -> anyhow::Result<Vec<Interface>> {
    let addresses = nl.addresses()?;
    Ok(nl
        .links()?
        .into_iter()
        .map(|l| {
            let mut flags = Vec::new();
            if l.up {
                flags.push("UP".to_string());
            }
            if l.lower_up {
                flags.push("LOWER_UP".to_string());
            }
            let name = match (l.kind.as_deref(), l.link) {
                (Some("veth"), Some(peer)) => format!("{}@if{peer}", l.name),
                _ => l.name.clone(),
            };
            Interface {
                index: l.index,
                name,
                state: if l.up { "UP".into() } else { "DOWN".into() },
                flags,
                mac: l.mac.filter(|m| m != "00:00:00:00:00:00").map(Fact::Mac),
                addresses: addresses
                    .iter()
                    .filter(|a| a.index == l.index && a.ip.is_ipv4())
                    .map(|a| Fact::text(format!("{}/{}", a.ip, a.prefix)))
                    .collect(),
            }
        })
        .collect())
}

/// Runs `f` on a thread inside the network namespace at `netns`.
pub fn in_netns<T: Send>(netns: &Path, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    labkit::sys::in_namespaces(&[(netns, CloneFlags::CLONE_NEWNET)], f)
        .with_context(|| format!("setns into {}", netns.display()))
}

/// Reads a sysctl as seen from inside `netns` (/proc/sys/net is per network namespace).
pub fn sysctl_in(netns: &Path, key: &str) -> anyhow::Result<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    Ok(in_netns(netns, || std::fs::read_to_string(&path))?.with_context(|| format!("read {path}"))?.trim().to_string())
}

/// Writes a sysctl inside `netns` only (never the host's).
pub fn set_sysctl_in(netns: &Path, key: &str, value: &str) -> anyhow::Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    in_netns(netns, || std::fs::write(&path, value))?.with_context(|| format!("write {path}"))
}

/// Reads files under /sys/class/net as seen from inside `netns`. sysfs shows the devices of
/// the namespace it was mounted in, so — like `ip netns exec` — the helper thread takes a
/// private mount namespace (a slave of ours: nothing propagates back) and mounts a fresh sysfs
/// there; the mount disappears with the thread.
pub fn sysfs_in<T: Send>(netns: &Path, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    use nix::mount::{mount, MsFlags};
    in_netns(netns, || -> anyhow::Result<T> {
        labkit::sys::unshare_mounts(MsFlags::MS_SLAVE)?;
        mount(Some("sysfs"), "/sys", Some("sysfs"), MsFlags::empty(), None::<&str>).context("mount sysfs")?;
        Ok(f())
    })?
}

/// A TCP listener made inside `netns` (the socket stays in that namespace for its life).
pub fn listen_in(netns: &Path, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    in_netns(netns, || TcpListener::bind(addr))?.with_context(|| format!("listen on {addr}"))
}

/// A TCP connection made from inside `netns`, giving up after `timeout`.
pub fn connect_from(netns: &Path, addr: SocketAddr, timeout: Duration) -> anyhow::Result<TcpStream> {
    in_netns(netns, || TcpStream::connect_timeout(&addr, timeout))?.with_context(|| format!("connect to {addr}"))
}

/// What a one-shot server saw and answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The peer address as the server saw it.
    pub peer: SocketAddr,
    /// What the client read back.
    pub reply: String,
}

/// A one-connection server on `listener`: reads a line (or an HTTP request), answers with
/// `answer(peer)`, and returns the peer it saw. Gives up after `timeout` without a client.
pub fn serve_once(
    listener: TcpListener,
    timeout: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    answer: impl FnOnce(SocketAddr) -> String + Send + 'static,
) -> std::thread::JoinHandle<Option<SocketAddr>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).ok()?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    stream.set_nonblocking(false).ok()?;
                    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(answer(peer).as_bytes());
                    return Some(peer);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => return None,
            }
        }
    })
}

/// Connects from `client_ns` to `addr` where `listener` (in some namespace) waits, sends
/// `request`, and returns what happened. A connection that cannot be made is an `Err`.
pub fn exchange(
    listener: TcpListener,
    client_ns: &Path,
    addr: SocketAddr,
    request: &str,
    answer: impl FnOnce(SocketAddr) -> String + Send + 'static,
) -> anyhow::Result<Exchange> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = serve_once(listener, Duration::from_secs(3), stop.clone(), answer);
    let result = (|| -> anyhow::Result<String> {
        let mut stream = connect_from(client_ns, addr, Duration::from_millis(700))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(request.as_bytes())?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).context("read the reply")?;
        Ok(reply)
    })();
    let reply = match result {
        Ok(r) => r,
        Err(e) => {
            // Stop the server so its listener is closed before we return.
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = server.join();
            return Err(e);
        }
    };
    let peer = server.join().ok().flatten().context("the server saw no connection")?;
    Ok(Exchange { peer, reply })
}

pub use labkit::process::wait_for_exec;

/// Starts `sleep infinity` (a stand-in "container" process) inside the namespace files given,
/// registered for undo. Returns its pid.
pub fn start_sleeper(ctx: &labkit::Ctx, netns: &Path) -> anyhow::Result<i32> {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("sleep");
    cmd.arg("infinity").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let file = std::fs::File::open(netns).with_context(|| format!("open {}", netns.display()))?;
    let child = labkit::sys::spawn_in_namespaces(&mut cmd, vec![(file, CloneFlags::CLONE_NEWNET)])
        .context("start sleep in the namespace")?;
    let pid = child.id() as i32;
    let start_time = labkit::sys::process_start_time(pid).context("the sleeper exited at once")?;
    ctx.register(labkit::Undo::Kill { pid, start_time });
    wait_for_exec(pid, "sleep");
    Ok(pid)
}
