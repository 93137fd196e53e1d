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

/// The text for the language doctor speaks.
fn t(lang: Lang, en: impl Into<String>, zh: impl Into<String>) -> String {
    match lang {
        Lang::En => en.into(),
        Lang::Zh => zh.into(),
    }
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
    /// What the Runtime part's labs (their containers, the engine) need and this machine lacks.
    runtime_missing: Vec<String>,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let (lang, format) = (args.lang.resolve(), args.format.resolve());
    let catalogue = labctl::catalogue::load()?;
    // JSON keeps English check names: scripts read it.
    let text_lang = if format == Format::Json { Lang::En } else { lang };
    let (machine, mut probes) = gather(text_lang);
    let lab_probes = probes.len();

    for entry in &catalogue.entries {
        let missing = lab_needs(&entry.def.requirements, &entry.def.seed_section, &machine);
        let id = &entry.def.id;
        probes.push(Probe {
            check: t(text_lang, format!("lab {id}"), format!("实验 {id}")),
            status: if missing.is_empty() { Status::Ok } else { Status::Fail },
            found: Fact::text(match (missing.is_empty(), text_lang) {
                (true, _) => t(text_lang, "ready", "就绪"),
                (false, Lang::En) => format!("missing: {}", missing.join(", ")),
                (false, Lang::Zh) => format!("缺少：{}", missing.join("、")),
            }),
            fix: (!missing.is_empty()).then(|| t(text_lang, "see the checks above", "见上面的检查")),
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
                let mark = match (p.status, lang) {
                    (Status::Ok, Lang::En) => "ok",
                    (Status::Warn, Lang::En) => "warn",
                    (Status::Fail, Lang::En) => "FAIL",
                    (Status::Ok, Lang::Zh) => "正常",
                    (Status::Warn, Lang::Zh) => "注意",
                    (Status::Fail, Lang::Zh) => "失败",
                };
                vec![mark.to_string(), p.check.clone(), p.found.show(args.redact)]
            })
            .collect();
        let columns: Vec<String> = match lang {
            Lang::En => ["", "CHECK", "FOUND"],
            Lang::Zh => ["", "检查项", "结果"],
        }
        .iter()
        .map(|s| s.to_string())
        .collect();
        for line in labkit::render::table(&columns, &rows) {
            println!("{line}");
        }
        let fixes: Vec<&Probe> = probes[..lab_probes].iter().filter(|p| p.fix.is_some()).collect();
        if !fixes.is_empty() {
            println!("\n{}", if lang == Lang::Zh { "修复方法：" } else { "Fixes:" });
            for p in fixes {
                println!("  {}: {}", p.check, p.fix.as_deref().unwrap_or_default());
            }
        }
    }
    // Exit 0 only when every lab can run here.
    let all_ready =
        catalogue.entries.iter().all(|e| lab_needs(&e.def.requirements, &e.def.seed_section, &machine).is_empty());
    Ok(if all_ready { 0 } else { 1 })
}

fn gather(lang: Lang) -> (Machine, Vec<Probe>) {
    let mut probes = Vec::new();
    let root = labkit::sys::is_root();
    probes.push(probe(
        t(lang, "root", "root 权限"),
        root,
        if root { "uid 0".to_string() } else { t(lang, "not root", "不是 root") },
        &t(lang, "run labctl with sudo", "用 sudo 运行 labctl"),
    ));

    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let new_enough = kernel_at_least(&release, 5, 6);
    probes.push(Probe {
        check: t(lang, "kernel", "内核"),
        status: if new_enough { Status::Ok } else { Status::Warn },
        found: Fact::Host(release),
        fix: (!new_enough).then(|| {
            t(
                lang,
                "a 5.6+ kernel has every namespace type, incl. time; older kernels skip what is missing",
                "5.6 及以上的内核有全部 namespace 类型（包括 time）；更旧的内核会跳过缺少的部分",
            )
        }),
    });

    let mut namespaces = Vec::new();
    for labkit::probe::NsType { name: ns, flag_name: flag, since, .. } in labkit::probe::NAMESPACE_TYPES {
        let present = Path::new(&format!("/proc/self/ns/{ns}")).exists();
        if present {
            namespaces.push(ns.to_string());
        }
        probes.push(probe(
            t(lang, format!("namespace {ns}"), format!("{ns} namespace")),
            present,
            match (present, lang) {
                (true, Lang::En) => format!("present ({flag}, since {since})"),
                (true, Lang::Zh) => format!("已支持（{flag}，自 Linux {since} 起）"),
                (false, _) => t(lang, "missing", "缺失"),
            },
            &t(
                lang,
                format!("a kernel with CONFIG_{}_NS (Linux {since}+)", ns.to_uppercase()),
                format!("换一个启用了 CONFIG_{}_NS 的内核（Linux {since}+）", ns.to_uppercase()),
            ),
        ));
    }

    let system = labcgroup::System::detect();
    let (layout, unified, controllers) = match &system {
        Ok(sys) => (layout_name(sys.layout(), lang), sys.layout() == labcgroup::Layout::Unified, sys.available()),
        Err(e) => (e.to_string(), false, Vec::new()),
    };
    probes.push(probe(
        t(lang, "cgroup layout", "cgroup 布局"),
        system.is_ok(),
        layout.clone(),
        &t(
            lang,
            "mount cgroup2 at /sys/fs/cgroup (systemd does this on every current distribution)",
            "把 cgroup2 挂载到 /sys/fs/cgroup（当前各发行版的 systemd 都会这样做）",
        ),
    ));
    for wanted in ["cpu", "memory", "pids"] {
        let ok = controllers.iter().any(|c| c == wanted);
        probes.push(probe(
            t(lang, format!("cgroup controller {wanted}"), format!("cgroup 控制器 {wanted}")),
            ok,
            if ok { t(lang, "usable", "可用") } else { t(lang, "not usable", "不可用") },
            &if unified {
                t(
                    lang,
                    format!("echo +{wanted} > /sys/fs/cgroup/cgroup.subtree_control (delegate it from the root down)"),
                    format!("echo +{wanted} > /sys/fs/cgroup/cgroup.subtree_control（从根开始逐级下放）"),
                )
            } else {
                t(
                    lang,
                    format!(
                        "mount the v1 {wanted} controller: mount -t cgroup -o {wanted} cgroup /sys/fs/cgroup/{wanted}"
                    ),
                    format!("挂载 v1 的 {wanted} 控制器：mount -t cgroup -o {wanted} cgroup /sys/fs/cgroup/{wanted}"),
                )
            },
        ));
    }

    let overlay = overlay_usable();
    probes.push(probe(
        "overlay",
        overlay.is_ok(),
        match &overlay {
            Ok(()) => {
                let dir = labkit::paths::state_dir();
                t(lang, format!("mountable on {}", dir.display()), format!("可以挂载在 {} 上", dir.display()))
            }
            Err(e) => e.clone(),
        },
        &t(
            lang,
            "sudo modprobe overlay; and keep /var/lib/labctl on ext4, xfs or tmpfs (not on overlay or NFS)",
            "sudo modprobe overlay；并让 /var/lib/labctl 位于 ext4、xfs 或 tmpfs 上（不要在 overlay 或 NFS 上）",
        ),
    ));

    let bridge = if root { labnet::probe_veth_bridge() } else { Err("needs root to try".into()) };
    probes.push(probe(
        t(lang, "veth and bridge", "veth 与 bridge"),
        bridge.is_ok(),
        match &bridge {
            Ok(()) => t(lang, "creatable (tried in a throwaway netns)", "可以创建（在一个临时 netns 中试过）"),
            Err(e) => e.clone(),
        },
        &t(lang, "load the modules: sudo modprobe veth bridge", "加载内核模块：sudo modprobe veth bridge"),
    ));

    let firewall = labnet::firewall_backend();
    probes.push(probe(
        t(lang, "nft or iptables", "nft 或 iptables"),
        firewall.is_some(),
        firewall.map(str::to_string).unwrap_or_else(|| t(lang, "neither found", "两者都没有")),
        &t(lang, "sudo apt-get install nftables (or iptables)", "sudo apt-get install nftables（或 iptables）"),
    ));

    // The Runtime part's labs make real containers: a busybox image, seccomp filters, nsenter.
    let mut runtime_missing = Vec::new();
    let busybox = labimage::import::find_static_busybox();
    probes.push(probe(
        t(lang, "static busybox (the labs' image)", "静态 busybox（实验用的镜像）"),
        busybox.is_ok(),
        match &busybox {
            Ok(path) => Fact::Host(t(
                lang,
                format!("{} (labctl image import --busybox works)", path.display()),
                format!("{}（labctl image import --busybox 可用）", path.display()),
            )),
            Err(e) => Fact::text(e.to_string()),
        },
        &t(lang, "sudo apt-get install busybox-static", "sudo apt-get install busybox-static"),
    ));
    if busybox.is_err() {
        runtime_missing.push("static busybox".to_string());
    }
    let actions = std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    let seccomp = actions.split_whitespace().any(|a| a == "errno");
    probes.push(probe(
        t(lang, "seccomp filters", "seccomp 过滤器"),
        seccomp,
        if seccomp {
            t(lang, "SECCOMP_RET_ERRNO available", "支持 SECCOMP_RET_ERRNO")
        } else {
            t(
                lang,
                "no errno action in /proc/sys/kernel/seccomp/actions_avail",
                "/proc/sys/kernel/seccomp/actions_avail 中没有 errno",
            )
        },
        &t(
            lang,
            "a kernel with CONFIG_SECCOMP_FILTER (every distribution kernel has it)",
            "换一个启用了 CONFIG_SECCOMP_FILTER 的内核（各发行版的内核都有）",
        ),
    ));
    if !seccomp {
        runtime_missing.push("seccomp filters".to_string());
    }
    let nsenter = labkit::testing::have_program("nsenter");
    probes.push(probe(
        t(lang, "nsenter (util-linux)", "nsenter（util-linux）"),
        nsenter,
        if nsenter { t(lang, "on PATH", "在 PATH 中") } else { t(lang, "not on PATH", "不在 PATH 中") },
        &t(lang, "sudo apt-get install util-linux", "sudo apt-get install util-linux"),
    ));
    if !nsenter {
        runtime_missing.push("nsenter".to_string());
    }

    // How / propagates depends on the init system (systemd makes it shared): a host fact.
    let propagation = root_propagation();
    let found = if propagation.starts_with("shared") {
        t(
            lang,
            format!("{propagation} (systemd's default; labs make their mount namespace private first, or pivot_root fails with EINVAL)"),
            format!("{propagation}（systemd 的默认值；实验先把自己的 mount namespace 设为 private，否则 pivot_root 会以 EINVAL 失败）"),
        )
    } else {
        propagation
    };
    let check = t(lang, "propagation of /", "/ 的挂载传播");
    probes.push(Probe { check, status: Status::Ok, found: Fact::Host(found), fix: None });

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
            runtime_missing,
        },
        probes,
    )
}

/// What a lab needs that this machine lacks: its requirements, and for the labs of the Runtime
/// part (real containers of the runtime and the engine) what those need.
fn lab_needs(req: &Requirements, part: &str, m: &Machine) -> Vec<String> {
    let mut missing = lab_missing(req, m);
    if part == "Runtime" {
        missing.extend(m.runtime_missing.iter().cloned());
    }
    missing
}

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
        // v2 filters devices with eBPF programs attached to a group: no controller to enable.
        "devices" => true,
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

fn layout_name(layout: labcgroup::Layout, lang: Lang) -> String {
    match (layout, lang) {
        (_, Lang::En) => layout.name().to_string(),
        (labcgroup::Layout::Legacy, Lang::Zh) => "legacy（只有 cgroup v1）".into(),
        (labcgroup::Layout::Hybrid, Lang::Zh) => "hybrid（cgroup v1 控制器 + 一棵空的 cgroup v2 树）".into(),
        (labcgroup::Layout::Unified, Lang::Zh) => "unified（纯 cgroup v2）".into(),
    }
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
            runtime_missing: Vec::new(),
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

    #[test]
    fn only_the_runtime_labs_need_busybox_seccomp_and_nsenter() {
        let mut m = machine(true, &["cpu", "memory", "pids"]);
        m.runtime_missing = vec!["static busybox".into()];
        assert_eq!(lab_needs(&Requirements::default(), "Runtime", &m), ["static busybox"]);
        assert!(lab_needs(&Requirements::default(), "Network", &m).is_empty());
    }
}
