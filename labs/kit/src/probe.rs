//! Readers of kernel state shared by every lab: namespace links, the system's namespaces
//! (what `lsns` shows), and network interfaces of the calling thread's network namespace.

use crate::fact::Fact;
use crate::observe::Interface;
use nix::sched::CloneFlags;
use std::collections::BTreeMap;
use std::io;

/// A namespace type: its name in /proc/PID/ns, its clone flag, and the kernel that introduced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsType {
    pub name: &'static str,
    pub flag: CloneFlags,
    pub flag_name: &'static str,
    pub since: &'static str,
}

const fn ns_type_entry(name: &'static str, flag: CloneFlags, flag_name: &'static str, since: &'static str) -> NsType {
    NsType { name, flag, flag_name, since }
}

/// Every namespace type, in the order the kernel gained them.
pub const NAMESPACE_TYPES: [NsType; 8] = [
    ns_type_entry("mnt", CloneFlags::CLONE_NEWNS, "CLONE_NEWNS", "2.4.19"),
    ns_type_entry("uts", CloneFlags::CLONE_NEWUTS, "CLONE_NEWUTS", "2.6.19"),
    ns_type_entry("ipc", CloneFlags::CLONE_NEWIPC, "CLONE_NEWIPC", "2.6.19"),
    ns_type_entry("pid", CloneFlags::CLONE_NEWPID, "CLONE_NEWPID", "2.6.24"),
    ns_type_entry("net", CloneFlags::CLONE_NEWNET, "CLONE_NEWNET", "2.6.29"),
    ns_type_entry("user", CloneFlags::CLONE_NEWUSER, "CLONE_NEWUSER", "3.8"),
    ns_type_entry("cgroup", CloneFlags::CLONE_NEWCGROUP, "CLONE_NEWCGROUP", "4.6"),
    // nix has no constant for it yet.
    ns_type_entry("time", CloneFlags::from_bits_retain(0x80), "CLONE_NEWTIME", "5.6"),
];

/// The same types in the order setns should enter them: user first (it grants the rights for
/// the rest), mnt last (it changes the paths the others are opened by).
pub const SETNS_ORDER: [NsType; 8] = {
    let t = NAMESPACE_TYPES;
    [t[5], t[6], t[2], t[1], t[4], t[3], t[7], t[0]]
};

/// A namespace type by its name (`net`).
pub fn ns_type(name: &str) -> Option<&'static NsType> {
    NAMESPACE_TYPES.iter().find(|t| t.name == name)
}

/// Every namespace type, in the order setns should enter them.
pub fn in_setns_order() -> impl Iterator<Item = &'static NsType> {
    SETNS_ORDER.iter()
}

/// One namespace as named by its /proc link: `net:[4026531840]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    pub ns_type: String,
    pub inode: u64,
}

/// `pid` of `None` means this process (`/proc/self`).
pub fn ns_path(pid: Option<i32>, ns_type: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/ns/{ns_type}"),
        None => format!("/proc/self/ns/{ns_type}"),
    }
}

/// Reads a namespace link (`readlink /proc/PID/ns/TYPE`).
pub fn ns_link(pid: Option<i32>, ns_type: &str) -> io::Result<NsId> {
    parse_ns_link(&std::fs::read_link(ns_path(pid, ns_type))?.to_string_lossy())
}

/// Like [`ns_link`] for the calling thread (`/proc/thread-self`), which differs from the
/// process after a thread's setns.
pub fn thread_ns_link(ns_type: &str) -> io::Result<NsId> {
    parse_ns_link(&std::fs::read_link(format!("/proc/thread-self/ns/{ns_type}"))?.to_string_lossy())
}

pub fn parse_ns_link(target: &str) -> io::Result<NsId> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("unexpected namespace link {target:?}"));
    let (ns_type, rest) = target.split_once(":[").ok_or_else(bad)?;
    let inode = rest.strip_suffix(']').ok_or_else(bad)?.parse().map_err(|_| bad())?;
    Ok(NsId { ns_type: ns_type.to_string(), inode })
}

/// One row of an lsns-style listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsEntry {
    pub id: NsId,
    pub processes: usize,
    pub lowest_pid: i32,
    pub command: String,
}

/// Every namespace on the system with its process count, lowest pid and that pid's command,
/// read from /proc/*/ns (as `lsns` does). `only` filters by type.
pub fn list_namespaces(only: Option<&str>) -> Vec<NsEntry> {
    let mut by_id: BTreeMap<NsId, (usize, i32)> = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        for NsType { name: ns_type, .. } in NAMESPACE_TYPES {
            if only.is_some_and(|t| t != ns_type) {
                continue;
            }
            // Processes may exit while we scan, and kernel threads hide some links: skip those.
            let Ok(id) = ns_link(Some(pid), ns_type) else {
                continue;
            };
            let slot = by_id.entry(id).or_insert((0, pid));
            slot.0 += 1;
            slot.1 = slot.1.min(pid);
        }
    }
    by_id
        .into_iter()
        .map(|(id, (processes, lowest_pid))| NsEntry { id, processes, lowest_pid, command: command_line(lowest_pid) })
        .collect()
}

/// One thing that keeps a namespace alive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Holder {
    /// A process in it.
    Process { pid: i32, command: String },
    /// An open file descriptor on its nsfs file.
    Fd { fd: String, pid: i32, command: String },
    /// An nsfs bind mount of it, seen in the mount namespace of process `pid`.
    BindMount { path: String, pid: i32 },
}

impl Holder {
    /// What the learner reads: "process 42 (sleep 30)", "fd 7 of process 42 (labctl)"…
    pub fn describe(&self, lang: crate::text::Lang) -> String {
        use crate::text::Lang;
        match (self, lang) {
            (Holder::Process { pid, command }, Lang::En) => format!("process {pid} ({command})"),
            (Holder::Process { pid, command }, Lang::Zh) => format!("进程 {pid}（{command}）"),
            (Holder::Fd { fd, pid, command }, Lang::En) => format!("fd {fd} of process {pid} ({command})"),
            (Holder::Fd { fd, pid, command }, Lang::Zh) => format!("进程 {pid}（{command}）的 fd {fd}"),
            (Holder::BindMount { path, pid }, Lang::En) => {
                format!("bind mount at {path} (mount namespace of process {pid})")
            }
            (Holder::BindMount { path, pid }, Lang::Zh) => {
                format!("{path} 处的 bind mount（进程 {pid} 的 mount namespace）")
            }
        }
    }
}

/// Everything that keeps namespace `id` alive, as far as /proc shows it: processes in it (also
/// through pid_for_children/time_for_children), open file descriptors on its nsfs file, and
/// nsfs bind mounts of it (`ip netns add`, `unshare --net=FILE`) in any mount namespace.
/// Empty means the kernel has nothing left holding it: the namespace is gone.
pub fn ns_holders(id: &NsId) -> Vec<Holder> {
    let target = format!("{}:[{}]", id.ns_type, id.inode);
    let links: Vec<String> = match id.ns_type.as_str() {
        "pid" | "time" => vec![id.ns_type.clone(), format!("{}_for_children", id.ns_type)],
        t => vec![t.to_string()],
    };
    let me = std::process::id() as i32;
    let mut holders = Vec::new();
    let mut mount_namespaces_seen = std::collections::BTreeSet::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return holders;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let read = |rel: &str| std::fs::read_link(format!("/proc/{pid}/{rel}")).ok();
        if links.iter().any(|l| read(&format!("ns/{l}")).is_some_and(|t| t.as_os_str() == target.as_str())) {
            holders.push(Holder::Process { pid, command: command_line(pid) });
        }
        if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                if std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == target.as_str()) {
                    let who = if pid == me { "labctl".to_string() } else { command_line(pid) };
                    holders.push(Holder::Fd { fd: fd.file_name().to_string_lossy().into_owned(), pid, command: who });
                }
            }
        }
        // One mountinfo per mount namespace is enough.
        let Some(mnt) = read("ns/mnt") else { continue };
        if !mount_namespaces_seen.insert(mnt) {
            continue;
        }
        for m in crate::mountinfo::read(format!("/proc/{pid}/mountinfo")).unwrap_or_default() {
            if m.fstype == "nsfs" && m.root == target {
                holders.push(Holder::BindMount { path: m.mount_point.clone(), pid });
            }
        }
    }
    holders.sort();
    holders.dedup();
    holders
}

/// The command line of a process, as `ps -o args` shows it (or `[comm]` for kernel threads).
pub fn command_line(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> =
        raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    if args.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        return format!("[{}]", comm.trim());
    }
    args.join(" ")
}

/// The network interfaces of the calling thread's network namespace, in index order, with
/// administrative state, flags, MAC and addresses (getifaddrs, which asks the kernel over
/// netlink from this thread).
pub fn interfaces() -> io::Result<Vec<Interface>> {
    use nix::net::if_::InterfaceFlags as F;
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        let name = ifa.interface_name.clone();
        let entry = by_name.entry(name.clone()).or_insert_with(|| {
            let index = nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0);
            let mut flags = Vec::new();
            for (flag, label) in [
                (F::IFF_UP, "UP"),
                (F::IFF_LOWER_UP, "LOWER_UP"),
                (F::IFF_LOOPBACK, "LOOPBACK"),
                (F::IFF_BROADCAST, "BROADCAST"),
                (F::IFF_MULTICAST, "MULTICAST"),
                (F::IFF_NOARP, "NOARP"),
            ] {
                if ifa.flags.contains(flag) {
                    flags.push(label.to_string());
                }
            }
            let state = if ifa.flags.contains(F::IFF_UP) { "UP" } else { "DOWN" };
            Interface { index, name, state: state.into(), flags, mac: None, addresses: Vec::new() }
        });
        let Some(address) = ifa.address else { continue };
        if let Some(link) = address.as_link_addr() {
            if let Some(mac) = link.addr() {
                if mac != [0; 6] {
                    let text = mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
                    entry.mac = Some(Fact::Mac(text));
                }
            }
        } else if let Some(v4) = address.as_sockaddr_in() {
            let prefix = ifa.netmask.and_then(|m| m.as_sockaddr_in().map(|m| u32::from(m.ip()).count_ones()));
            entry.addresses.push(Fact::text(format!("{}/{}", v4.ip(), prefix.unwrap_or(32))));
        } else if let Some(v6) = address.as_sockaddr_in6() {
            let prefix = ifa.netmask.and_then(|m| m.as_sockaddr_in6().map(|m| u128::from(m.ip()).count_ones()));
            let text = format!("{}/{}", v6.ip(), prefix.unwrap_or(128));
            // fe80::/10 addresses embed the MAC (EUI-64): as volatile as the MAC itself.
            let link_local = (v6.ip().segments()[0] & 0xffc0) == 0xfe80;
            entry.addresses.push(if link_local { Fact::Mac(text) } else { Fact::Text(text) });
        }
    }
    let mut list: Vec<Interface> = by_name.into_values().collect();
    list.sort_by_key(|i| i.index);
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_in_the_setns_order_once_user_first_mnt_last() {
        let order: Vec<&str> = in_setns_order().map(|t| t.name).collect();
        assert_eq!(order, ["user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt"]);
        assert_eq!(ns_type("net").map(|t| t.flag), Some(CloneFlags::CLONE_NEWNET));
    }

    #[test]
    fn an_open_fd_holds_a_namespace_its_last_process_left() {
        if !crate::testing::require_root("an_open_fd_holds_a_namespace_its_last_process_left") {
            return;
        }
        let mut child = std::process::Command::new("unshare").args(["--net", "sleep", "30"]).spawn().unwrap();
        let pid = child.id() as i32;
        let ours = ns_link(None, "net").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let id = loop {
            let id = ns_link(Some(pid), "net").unwrap();
            if id != ours {
                break id;
            }
            assert!(std::time::Instant::now() < deadline, "unshare --net never took effect");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert!(
            ns_holders(&id).iter().any(|h| matches!(h, Holder::Process { pid: p, .. } if *p == pid)),
            "{:?}",
            ns_holders(&id)
        );
        let fd = std::fs::File::open(ns_path(Some(pid), "net")).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let held = ns_holders(&id);
        assert!(!list_namespaces(Some("net")).iter().any(|e| e.id == id), "no process is in it any more");
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(matches!(held[0], Holder::Fd { .. }), "only our fd holds it: {held:?}");
        assert!(held[0].describe(crate::text::Lang::Zh).contains("的 fd "), "{held:?}");
        drop(fd);
        assert!(ns_holders(&id).is_empty(), "closed: nothing holds it");
    }

    #[test]
    fn ns_links_parse_into_type_and_inode() {
        let id = parse_ns_link("net:[4026531840]").unwrap();
        assert_eq!(id, NsId { ns_type: "net".into(), inode: 4026531840 });
        assert!(parse_ns_link("net:4026531840").is_err());
    }

    #[test]
    fn our_own_namespaces_are_listed() {
        let me = ns_link(None, "net").unwrap();
        let all = list_namespaces(Some("net"));
        assert!(all.iter().any(|e| e.id == me), "{me:?} not in {all:?}");
        assert!(all.iter().all(|e| e.id.ns_type == "net"));
    }

    #[test]
    fn loopback_is_among_the_interfaces() {
        let list = interfaces().unwrap();
        assert!(list.iter().any(|i| i.name == "lo" && i.flags.contains(&"LOOPBACK".to_string())));
    }
}
