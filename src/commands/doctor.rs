//! `labctl doctor`: can this machine run the labs? Every failed check comes with its fix.

use labkit::manifest::Requirements;
use labkit::{Fact, Format, Lang};
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub format: labkit::FormatFlag,
    /// Hide machine-specific values (kernel version) for reference output
    #[arg(long)]
    pub redact: bool,
    #[command(flatten)]
    pub lang: labkit::LangFlag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, serde::Serialize)]
struct Probe {
    check: String,
    status: Status,
    found: Fact,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn probe(check: impl Into<String>, ok: bool, found: impl Into<Fact>, fix: &str) -> Probe {
    Probe {
        check: check.into(),
        status: if ok { Status::Ok } else { Status::Fail },
        found: found.into(),
        fix: (!ok).then(|| fix.to_string()),
    }
}

/// What the machine offers, gathered once and used for the table and per-lab readiness.
struct Machine {
    root: bool,
    namespaces: Vec<String>,
    cgroup_layout: String,
    unified: bool,
    controllers: Vec<String>,
    overlay: Result<(), String>,
    bridge: bool,
    firewall: Option<&'static str>,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let (lang, format) = (args.lang.resolve(), args.format.resolve());
    let catalogue = labctl::catalogue::load()?;
    let (machine, mut probes) = gather();

    for entry in &catalogue.entries {
        let missing = lab_missing(&entry.def.requirements, &machine);
        probes.push(Probe {
            check: format!("lab {}", entry.def.id),
            status: if missing.is_empty() { Status::Ok } else { Status::Fail },
            found: Fact::text(if missing.is_empty() {
                "ready".to_string()
            } else {
                format!("missing: {}", missing.join(", "))
            }),
            fix: (!missing.is_empty()).then(|| "see the checks above".to_string()),
        });
    }

    if format == Format::Json {
        let shown: Vec<Probe> = probes
            .into_iter()
            .map(|p| Probe { found: if args.redact { p.found.redacted() } else { p.found }, ..p })
            .collect();
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        let title = if lang == Lang::Zh {
            "labctl doctor：本机能否运行各个实验"
        } else {
            "labctl doctor: can this machine run the labs?"
        };
        println!("{title}");
        let rows: Vec<Vec<String>> = probes
            .iter()
            .map(|p| {
                let mark = match p.status {
                    Status::Ok => "ok",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                vec![mark.to_string(), p.check.clone(), p.found.show(args.redact)]
            })
            .collect();
        let columns: Vec<String> = ["", "CHECK", "FOUND"].iter().map(|s| s.to_string()).collect();
        for line in labkit::render::table(&columns, &rows) {
            println!("{line}");
        }
        let fixes: Vec<&Probe> = probes.iter().filter(|p| p.fix.is_some() && !p.check.starts_with("lab ")).collect();
        if !fixes.is_empty() {
            println!("\n{}", if lang == Lang::Zh { "修复方法：" } else { "Fixes:" });
            for p in fixes {
                println!("  {}: {}", p.check, p.fix.as_deref().unwrap_or_default());
            }
        }
    }
    // Exit 0 only when every lab can run here.
    let all_ready = catalogue.entries.iter().all(|e| lab_missing(&e.def.requirements, &machine).is_empty());
    Ok(if all_ready { 0 } else { 1 })
}

fn gather() -> (Machine, Vec<Probe>) {
    let mut probes = Vec::new();
    let root = labkit::sys::is_root();
    probes.push(probe("root", root, if root { "uid 0" } else { "not root" }, "run labctl with sudo"));

    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let new_enough = kernel_at_least(&release, 5, 6);
    probes.push(Probe {
        check: "kernel".into(),
        status: if new_enough { Status::Ok } else { Status::Warn },
        found: Fact::Host(release),
        fix: (!new_enough)
            .then(|| "a 5.6+ kernel has every namespace type, incl. time; older kernels skip what is missing".into()),
    });

    let mut namespaces = Vec::new();
    for labkit::probe::NsType { name: ns, flag_name: flag, since, .. } in labkit::probe::NAMESPACE_TYPES {
        let present = Path::new(&format!("/proc/self/ns/{ns}")).exists();
        if present {
            namespaces.push(ns.to_string());
        }
        probes.push(probe(
            format!("namespace {ns}"),
            present,
            if present { format!("present ({flag}, since {since})") } else { "missing".into() },
            &format!("a kernel with CONFIG_{}_NS (Linux {since}+)", ns.to_uppercase()),
        ));
    }

    let system = labcgroup::System::detect();
    let (layout, unified, controllers) = match &system {
        Ok(sys) => (sys.layout().name().to_string(), sys.layout() == labcgroup::Layout::Unified, sys.available()),
        Err(e) => (e.to_string(), false, Vec::new()),
    };
    probes.push(probe(
        "cgroup layout",
        system.is_ok(),
        layout.clone(),
        "mount cgroup2 at /sys/fs/cgroup (systemd does this on every current distribution)",
    ));
    for wanted in ["cpu", "memory", "pids"] {
        let ok = controllers.iter().any(|c| c == wanted);
        probes.push(probe(
            format!("cgroup controller {wanted}"),
            ok,
            if ok { "usable" } else { "not usable" },
            &if unified {
                format!("echo +{wanted} > /sys/fs/cgroup/cgroup.subtree_control (delegate it from the root down)")
            } else {
                format!("mount the v1 {wanted} controller: mount -t cgroup -o {wanted} cgroup /sys/fs/cgroup/{wanted}")
            },
        ));
    }

    let overlay = overlay_usable();
    probes.push(probe(
        "overlay",
        overlay.is_ok(),
        match &overlay {
            Ok(()) => format!("mountable on {}", labkit::paths::state_dir().display()),
            Err(e) => e.clone(),
        },
        "sudo modprobe overlay; and keep /var/lib/labctl on ext4, xfs or tmpfs (not on overlay or NFS)",
    ));

    let bridge = if root { labnet::probe_veth_bridge() } else { Err("needs root to try".into()) };
    probes.push(probe(
        "veth and bridge",
        bridge.is_ok(),
        match &bridge {
            Ok(()) => "creatable (tried in a throwaway netns)".to_string(),
            Err(e) => e.clone(),
        },
        "load the modules: sudo modprobe veth bridge",
    ));

    let firewall = labnet::firewall_backend();
    probes.push(probe(
        "nft or iptables",
        firewall.is_some(),
        firewall.unwrap_or("neither found"),
        "sudo apt-get install nftables (or iptables)",
    ));

    // How / propagates depends on the init system (systemd makes it shared): a host fact.
    let propagation = root_propagation();
    let found = if propagation.starts_with("shared") {
        format!("{propagation} (systemd's default; labs make their mount namespace private first, or pivot_root fails with EINVAL)")
    } else {
        propagation
    };
    probes.push(Probe { check: "propagation of /".into(), status: Status::Ok, found: Fact::Host(found), fix: None });

    (
        Machine {
            root,
            namespaces,
            cgroup_layout: layout,
            unified,
            controllers,
            overlay,
            bridge: bridge.is_ok(),
            firewall,
        },
        probes,
    )
}

/// What a lab needs that this machine lacks.
/// What a lab needs that this machine lacks, as doctor names it.
fn lab_missing(req: &Requirements, m: &Machine) -> Vec<String> {
    let mut missing = Vec::new();
    if req.root && !m.root {
        missing.push("root".to_string());
    }
    for ns in &req.namespaces {
        if !m.namespaces.contains(ns) {
            missing.push(format!("{ns} namespace"));
        }
    }
    for c in &req.cgroup_controllers {
        if !controller_usable(c, m) {
            missing.push(format!("cgroup {c} ({})", m.cgroup_layout));
        }
    }
    if req.overlay && m.overlay.is_err() {
        missing.push("overlay".into());
    }
    if req.bridge && !m.bridge {
        missing.push("veth/bridge".into());
    }
    if req.netfilter && m.firewall.is_none() {
        missing.push("nft or iptables".into());
    }
    missing
}

/// v1 controller names in a manifest, answered for either world: on v2 the freezer is part
/// of every group (cgroup.freeze), cpuacct's numbers live in cpu.stat, blkio became io.
fn controller_usable(name: &str, m: &Machine) -> bool {
    if m.controllers.iter().any(|c| c == name) {
        return true;
    }
    if !m.unified {
        return false;
    }
    match name {
        "freezer" => true,
        "cpuacct" => m.controllers.iter().any(|c| c == "cpu"),
        "blkio" => m.controllers.iter().any(|c| c == "io"),
        _ => false,
    }
}

fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Tries a real overlay mount under the state dir, inside a throwaway private mount namespace
/// so nothing shows on the host even for a moment.
fn overlay_usable() -> Result<(), String> {
    use nix::mount::{mount, umount, MsFlags};
    use nix::sched::CloneFlags;
    if !labkit::sys::is_root() {
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if filesystems.lines().any(|l| l.trim_end().ends_with("\toverlay")) {
            return Ok(());
        }
        return Err("overlay is not in /proc/filesystems (yet: the first mount loads it, which needs root)".into());
    }
    // No look at /proc/filesystems first: the module loads on the first mount (fs-overlay).
    let base = labkit::paths::state_dir();
    std::fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let dir = tempfile_dir(&base)?;
    let result = labkit::sys::in_new_namespaces(CloneFlags::empty(), || {
        labkit::sys::unshare_mounts(MsFlags::MS_PRIVATE).map_err(|e| e.to_string())?;
        for d in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir(dir.join(d)).map_err(|e| e.to_string())?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            dir.join("lower").display(),
            dir.join("upper").display(),
            dir.join("work").display()
        );
        mount(Some("overlay"), &dir.join("merged"), Some("overlay"), MsFlags::empty(), Some(options.as_str()))
            .map_err(|e| format!("overlay mount on {}: {e}", base.display()))?;
        umount(&dir.join("merged")).map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir(base: &Path) -> Result<std::path::PathBuf, String> {
    let dir = base.join(format!("labctl-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// `shared:N`, `master:N` or `private` for the mount at `/`.
fn root_propagation() -> String {
    match labkit::mountinfo::of_self().into_iter().find(|m| m.mount_point == "/") {
        Some(root) if root.optional.is_empty() => "private".into(),
        Some(root) => root.optional.join(" "),
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A machine with everything but what the test takes away.
    fn machine(unified: bool, controllers: &[&str]) -> Machine {
        Machine {
            root: true,
            namespaces: ["mnt", "uts", "ipc", "pid", "net", "user", "cgroup"].map(String::from).to_vec(),
            cgroup_layout: if unified { "unified".into() } else { "hybrid".into() },
            unified,
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            overlay: Ok(()),
            bridge: true,
            firewall: Some("nft"),
        }
    }

    #[test]
    fn kernel_versions_compare_by_major_then_minor() {
        assert!(kernel_at_least("6.1.0-18-amd64", 5, 6));
        assert!(kernel_at_least("5.6.0", 5, 6));
        assert!(!kernel_at_least("5.4.0-150-generic", 5, 6));
        assert!(!kernel_at_least("4.19.0", 5, 6));
        assert!(!kernel_at_least("", 5, 6));
    }

    #[test]
    fn v1_controller_names_are_answered_on_v2_by_their_successors() {
        let v2 = machine(true, &["cpu", "io", "memory", "pids"]);
        for name in ["freezer", "cpuacct", "blkio", "memory"] {
            assert!(controller_usable(name, &v2), "{name} on v2");
        }
        assert!(!controller_usable("net_cls", &v2));
        let v1 = machine(false, &["cpu", "memory"]);
        assert!(!controller_usable("freezer", &v1), "v1 has no freezer unless mounted");
    }

    #[test]
    fn a_lab_lists_exactly_what_the_machine_lacks() {
        let mut m = machine(false, &["cpu"]);
        m.root = false;
        m.bridge = false;
        m.firewall = None;
        m.overlay = Err("no overlay".into());
        m.namespaces.retain(|n| n != "user");
        let req = Requirements {
            root: true,
            namespaces: vec!["net".into(), "user".into()],
            cgroup_controllers: vec!["cpu".into(), "memory".into()],
            overlay: true,
            netfilter: true,
            bridge: true,
        };
        assert_eq!(
            lab_missing(&req, &m),
            ["root", "user namespace", "cgroup memory (hybrid)", "overlay", "veth/bridge", "nft or iptables"]
        );
        assert!(lab_missing(&Requirements::default(), &m).is_empty());
    }
}
