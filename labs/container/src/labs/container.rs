//! `mini-container`: `docker run`, piece by piece. Each step is one building block of an earlier
//! lab, called through its library (labimage, laboverlay, labruntime's config, labcgroup,
//! labnet), and each result is read back from /proc and /sys. The container itself is made by
//! `labctl runtime` (lcrun) as a subprocess: the lab runner holds a signal thread, and the
//! runtime forks only from a single-threaded process. The lab ends by making the same container
//! with one `labctl container run` line.
//!
//! Everything network-side happens in a network namespace of the lab's own that plays the
//! host, so the machine's links, routes and firewall are never touched.

use anyhow::{bail, Context};
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use labnet::ports::{PortMap, Proto};
use labruntime::client::Client as Runtime;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, RootBuilder, Spec,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "mini-container",
    source: file!(),
    steps: &[
        ("image", image),
        ("unpack", unpack),
        ("overlay", overlay),
        ("bundle", bundle),
        ("namespaces", namespaces),
        ("user-map", user_map),
        ("cgroup", cgroup),
        ("network", network),
        ("mounts", mounts),
        ("pivot-root", pivot_root),
        ("protections", protections),
        ("exec", exec),
        ("port", port),
        ("stop", stop),
        ("teardown", teardown),
        ("engine", engine),
        ("summary", summary),
    ],
    check,
};

/// The lcrun container id, and the engine container's name.
const ID: &str = "lcmini";
const ENGINE_NAME: &str = "lcmini-web";
const IMAGE: &str = "lcmini/web:latest";
/// The network namespace that plays the host.
const HOST_NS: &str = "labctl-mini-host";
const BRIDGE: &str = labnet::bridge::DEFAULT_BRIDGE;
const PAGE: &str = "hello from mini-container\n";
const ENTRYPOINT: [&str; 6] = ["httpd", "-f", "-p", "80", "-h", "/www"];
const MEMORY: i64 = 64 << 20;
const PIDS: i64 = 64;
const CPU_QUOTA: i64 = 50_000;
const CPU_PERIOD: u64 = 100_000;
const PORTS: PortMap = PortMap { host: 8080, container: 80, proto: Proto::Tcp };
/// Namespace types of /proc/PID/ns, in lsns's order.
const NS_TYPES: [&str; 8] = ["mnt", "uts", "ipc", "pid", "net", "cgroup", "user", "time"];

#[derive(Default)]
pub struct State {
    base: PathBuf,
    exe: PathBuf,
    store: Option<labimage::Store>,
    image: Option<labimage::Image>,
    layers: Vec<PathBuf>,
    merged: PathBuf,
    bundle: PathBuf,
    config: Option<Spec>,
    pid: i32,
    ip: Option<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
    /// What each step read, for the summary table.
    read: Vec<(&'static str, String)>,
}

impl State {
    fn store(&self) -> anyhow::Result<&labimage::Store> {
        self.store.as_ref().context("the image step has not run")
    }
    fn image(&self) -> anyhow::Result<&labimage::Image> {
        self.image.as_ref().context("the image step has not run")
    }
    fn config(&self) -> anyhow::Result<&Spec> {
        self.config.as_ref().context("the bundle step has not run")
    }
    fn remember(&mut self, step: &'static str, value: impl Into<String>) {
        self.read.push((step, value.into()));
    }
    fn runtime(&self) -> Runtime {
        Runtime { exe: self.exe.clone(), root: self.base.join("lcrun"), base: self.base.clone() }
    }
    /// `lcrun create` of the lab's container: the init's pid.
    fn create(&self, ctx: &Ctx) -> anyhow::Result<i32> {
        self.runtime().create(ctx, ID, &self.bundle, &[])?.map_err(|e| anyhow::anyhow!("lcrun create {ID}: {e}"))
    }
}

fn host_ns() -> PathBuf {
    labnet::netns::path(HOST_NS)
}

fn status_field(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "(missing)".into())
}

fn cap_names(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    let mut names: Vec<(u8, String)> =
        caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).map(|c| (c.index(), c.to_string())).collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

fn dev_ino(path: &Path) -> anyhow::Result<(u64, u64)> {
    let m = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    Ok((m.dev(), m.ino()))
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

// ---------------------------------------------------------------------------------------
// The image

fn image(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = labkit::paths::run_dir().join("mini-container");
    if base.exists() {
        bail!(
            "{} exists: another run of mini-container is going on, or one was killed (sudo labctl clean)",
            base.display()
        );
    }
    ctx.register(Undo::RemoveDir { path: base.clone() });
    std::fs::create_dir_all(&base).with_context(|| format!("mkdir {}", base.display()))?;
    state.exe = std::env::current_exe().context("finding labctl's own binary")?;
    state.base = base.clone();

    // Two layers: busybox (what `labctl image import --busybox` makes) and a web page on top.
    let store = labimage::Store::open(base.join("lib/images"))?;
    let busybox = labimage::import::find_static_busybox()?;
    let bottom = labimage::layer::store_tar(&store, &labimage::import::busybox_layer(&busybox)?.to_tar()?)?;
    let mut web = labimage::layer::LayerBuilder::new();
    web.add_dir("www", 0o755);
    web.add_bytes("www/index.html", PAGE.as_bytes().to_vec(), 0o644);
    let top = labimage::layer::store_tar(&store, &web.to_tar()?)?;
    let diff_ids = vec![bottom.diff_id.to_string(), top.diff_id.to_string()];
    let mut config = labimage::import::base_config("labctl run mini-container", &[], diff_ids);
    let mut run = config.config().clone().unwrap_or_default();
    run.set_cmd(None);
    run.set_entrypoint(Some(ENTRYPOINT.iter().map(|s| s.to_string()).collect()));
    run.set_exposed_ports(Some(vec!["80/tcp".to_string()]));
    config.set_config(Some(run));
    store.commit_image(IMAGE, &config, vec![bottom.descriptor, top.descriptor])?;

    // Read it back the way a runtime's client does: index → manifest → config.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(store.index_path())?)?;
    let image = store.resolve(IMAGE)?;
    let manifest = &image.manifest;
    let config = image.config.config().clone().unwrap_or_default();
    let entry = config.entrypoint().clone().unwrap_or_default().join(" ");
    ctx.observe(Observation::Values {
        title: tr!(
            "The image, read from the store (index.json → manifest → config):",
            "从存储中读出的镜像（index.json → manifest → config）："
        ),
        values: vec![
            ("index.json manifests".into(), Fact::Number(index["manifests"].as_array().map_or(0, Vec::len) as i64)),
            ("manifest".into(), Fact::Measured(short(image.digest().as_ref()))),
            ("manifest.layers".into(), Fact::Number(manifest.layers().len() as i64)),
            (
                ctx.t(&tr!("layer media types", "各层的 mediaType")),
                Fact::text(manifest.layers().iter().map(|l| l.media_type().to_string()).collect::<Vec<_>>().join(", ")),
            ),
            ("config.Entrypoint".into(), Fact::text(entry.clone())),
            ("config.Env".into(), Fact::text(config.env().clone().unwrap_or_default().join(" "))),
            ("config.ExposedPorts".into(), Fact::text(config.exposed_ports().clone().unwrap_or_default().join(" "))),
            ("rootfs.diff_ids".into(), Fact::Number(image.config.rootfs().diff_ids().len() as i64)),
        ],
    });
    ctx.set("layers", Fact::Number(manifest.layers().len() as i64));
    ctx.expect_eq(
        tr!("the manifest lists both layers", "manifest 列出了两个层"),
        Fact::Number(2),
        Fact::Number(manifest.layers().len() as i64),
        tr!(
            "labimage::Store::commit_image writes one descriptor per layer",
            "labimage::Store::commit_image 为每层写一个描述符"
        ),
    );
    ctx.expect_eq(
        tr!("the config's Entrypoint is the web server", "config 的 Entrypoint 是 web 服务器"),
        ENTRYPOINT.join(" "),
        entry.clone(),
        tr!(
            "the image config is the JSON the manifest's config descriptor points to",
            "镜像 config 是 manifest 中 config 描述符指向的 JSON"
        ),
    );
    let layers = manifest.layers().len();
    state.remember(
        "image",
        ctx.t(&tr!(format!("{layers} layers, Entrypoint {entry}"), format!("{layers} 个层，Entrypoint {entry}"))),
    );
    state.store = Some(store);
    state.image = Some(image);
    Ok(())
}

fn unpack(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?;
    let layers = state.image()?.manifest.layers().clone();
    let opts = laboverlay::ApplyOptions { whiteouts: laboverlay::WhiteoutMode::Overlay, same_owner: true };
    let mut rows = Vec::new();
    let mut dirs = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let dir = state.base.join(format!("layers/{i}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let stats = laboverlay::apply_layer(labimage::sandbox::layer_reader(store, layer)?, &dir, &opts)
            .with_context(|| format!("unpacking layer {}", layer.digest()))?;
        rows.push(vec![
            Fact::text(format!("layers/{i}")),
            Fact::Measured(short(layer.digest().as_ref())),
            // How many applets a busybox has depends on its build.
            Fact::Host(stats.files.to_string()),
            Fact::Host(stats.dirs.to_string()),
            Fact::Host(stats.symlinks.to_string()),
        ]);
        dirs.push(dir);
    }
    ctx.observe(Observation::Table {
        title: tr!("One directory per layer:", "每层一个目录："),
        columns: ["DIR", "LAYER", "FILES", "DIRS", "SYMLINKS"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let has_busybox = dirs[0].join("bin/busybox").is_file();
    let has_page = std::fs::read_to_string(dirs[1].join("www/index.html")).unwrap_or_default() == PAGE;
    ctx.expect(
        tr!(
            "layer 0 holds /bin/busybox, layer 1 holds /www/index.html",
            "第 0 层有 /bin/busybox，第 1 层有 /www/index.html"
        ),
        ctx.word("both"),
        if has_busybox && has_page { ctx.word("both") } else { ctx.word("missing") },
        has_busybox && has_page,
        tr!(
            "laboverlay::apply_layer extracts a layer tar into a directory",
            "laboverlay::apply_layer 把层的 tar 解到一个目录里"
        ),
    );
    let n = dirs.len();
    state.remember("unpack", ctx.t(&tr!(format!("{n} directories"), format!("{n} 个目录"))));
    state.layers = dirs;
    Ok(())
}

fn overlay(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (upper, work, merged) = (state.base.join("upper"), state.base.join("work"), state.base.join("merged"));
    for d in [&upper, &work, &merged] {
        std::fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
    }
    // overlayfs's lowerdir lists the top-most layer first.
    let lowers: Vec<PathBuf> = state.layers.iter().rev().cloned().collect();
    let ov = laboverlay::Overlay::new(lowers).with_upper(&upper, &work);
    ctx.register(Undo::Unmount { path: merged.clone() });
    ov.mount(&merged)?;
    let target = merged.to_string_lossy().to_string();
    let m = labkit::mountinfo::read("/proc/self/mountinfo")?
        .into_iter()
        .rev()
        .find(|m| m.mount_point == target)
        .context("the overlay is not in /proc/self/mountinfo")?;
    let base = state.base.to_string_lossy().to_string();
    let options: Vec<String> = m
        .super_options
        .split(',')
        .filter(|o| o.starts_with("lowerdir") || o.starts_with("upperdir") || o.starts_with("workdir"))
        .map(|o| o.replace(&base, "$LAB"))
        .collect();
    ctx.observe(Observation::Values {
        title: tr!(
            "The container's root filesystem (/proc/self/mountinfo):",
            "容器的根文件系统（/proc/self/mountinfo）："
        ),
        values: vec![
            (ctx.t(&tr!("mount point", "挂载点")), Fact::text("$LAB/merged")),
            ("fstype".into(), Fact::text(m.fstype.clone())),
            (ctx.t(&tr!("options", "选项")), Fact::text(options.join(","))),
            (
                "merged/bin/busybox".into(),
                Fact::text(if merged.join("bin/busybox").exists() { ctx.word("present") } else { ctx.word("missing") }),
            ),
            (
                "merged/www/index.html".into(),
                Fact::text(if merged.join("www/index.html").exists() {
                    ctx.word("present")
                } else {
                    ctx.word("missing")
                }),
            ),
        ],
    });
    ctx.expect_eq(
        tr!("the rootfs is an overlay", "rootfs 是一个 overlay"),
        "overlay",
        m.fstype.clone(),
        tr!(
            "laboverlay::Overlay::mount calls mount(2) with type overlay",
            "laboverlay::Overlay::mount 以 overlay 类型调用 mount(2)"
        ),
    );
    let both = merged.join("bin/busybox").exists() && merged.join("www/index.html").exists();
    ctx.expect(
        tr!("the merged view shows both layers' files", "合并视图里能看到两层的文件"),
        ctx.word("both"),
        if both { ctx.word("both") } else { ctx.word("missing") },
        both,
        tr!(
            "each lowerdir contributes its files; the leftmost wins a name",
            "每个 lowerdir 都贡献自己的文件；同名时最左边的胜出"
        ),
    );
    state.remember("overlay", "overlay lowerdir=layers/1:layers/0");
    state.merged = merged;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The bundle

/// The bundle's config for the image's run config and the mounted rootfs.
fn write_config(image: &oci_spec::image::Config, rootfs: &Path) -> anyhow::Result<Spec> {
    // `lcrun spec`'s default (runc's), then what docker changes.
    let mut spec = labruntime::config::default_spec(false);
    spec.set_hostname(Some(ID.to_string()));
    spec.set_root(Some(RootBuilder::default().path(rootfs.to_path_buf()).readonly(false).build()?));
    let mut process = spec.process().clone().unwrap_or_default();
    let mut args = image.entrypoint().clone().unwrap_or_default();
    args.extend(image.cmd().clone().unwrap_or_default());
    process.set_args(Some(args));
    process.set_env(image.env().clone());
    process.set_terminal(Some(false));
    process.set_cwd(PathBuf::from("/"));
    process.set_no_new_privileges(Some(true));
    process.set_capabilities(Some(labruntime::caps::docker_defaults()));
    spec.set_process(Some(process));
    let mut linux = spec.linux().clone().unwrap_or_default();
    linux.set_cgroups_path(Some(PathBuf::from(format!("{}/{ID}", labruntime::cgroups::DEFAULT_PARENT))));
    linux.set_resources(Some(
        LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(MEMORY).build()?)
            .pids(LinuxPidsBuilder::default().limit(PIDS).build()?)
            .cpu(LinuxCpuBuilder::default().quota(CPU_QUOTA).period(CPU_PERIOD).build()?)
            .build()?,
    ));
    linux.set_masked_paths(Some(crate::spec::MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
    linux.set_readonly_paths(Some(crate::spec::READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
    linux.set_seccomp(Some(labruntime::seccomp::docker_default()));
    spec.set_linux(Some(linux));
    spec.set_annotations(None);
    Ok(spec)
}

fn bundle(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let image = state.image()?.config.config().clone().unwrap_or_default();
    let spec = write_config(&image, &state.merged)?;
    let dir = state.base.join("bundle");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?).with_context(|| format!("writing {}", path.display()))?;
    // Read back what a runtime will read.
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let (process, linux) = (&written["process"], &written["linux"]);
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect()
    };
    let namespaces: Vec<String> = linux["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["type"].as_str().map(String::from))
        .collect();
    let mounts: Vec<String> = written["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["destination"].as_str().map(String::from))
        .collect();
    let res = &linux["resources"];
    ctx.observe(Observation::Values {
        title: tr!("bundle/config.json, the fields that matter:", "bundle/config.json 中要紧的字段："),
        values: vec![
            ("root.path".into(), Fact::text("$LAB/merged")),
            ("process.args".into(), Fact::text(strings(&process["args"]).join(" "))),
            ("linux.namespaces".into(), Fact::text(namespaces.join(" "))),
            ("linux.cgroupsPath".into(), Fact::text(linux["cgroupsPath"].as_str().unwrap_or("?"))),
            (
                "linux.resources".into(),
                Fact::text(format!(
                    "memory.limit {}, pids.limit {}, cpu.quota {}/{}",
                    res["memory"]["limit"], res["pids"]["limit"], res["cpu"]["quota"], res["cpu"]["period"]
                )),
            ),
            ("mounts".into(), Fact::text(mounts.join(" "))),
            ("linux.maskedPaths".into(), Fact::Number(strings(&linux["maskedPaths"]).len() as i64)),
            ("linux.readonlyPaths".into(), Fact::text(strings(&linux["readonlyPaths"]).join(" "))),
            (
                "process.capabilities.effective".into(),
                Fact::Number(strings(&process["capabilities"]["effective"]).len() as i64),
            ),
            ("process.noNewPrivileges".into(), Fact::text(process["noNewPrivileges"].to_string())),
            (
                "linux.seccomp.defaultAction".into(),
                Fact::text(linux["seccomp"]["defaultAction"].as_str().unwrap_or("?")),
            ),
        ],
    });
    ctx.set("namespaces", Fact::Number(namespaces.len() as i64));
    ctx.expect(
        tr!(
            "the config asks for new pid, net, mount, ipc and uts namespaces",
            "配置要求新的 pid、net、mount、ipc 和 uts namespace"
        ),
        "pid network mount ipc uts",
        Fact::text(namespaces.join(" ")),
        ["pid", "network", "mount", "ipc", "uts"].iter().all(|n| namespaces.iter().any(|m| m == n)),
        tr!(
            "labruntime::config::default_spec is `lcrun spec`'s config",
            "labruntime::config::default_spec 就是 `lcrun spec` 的配置"
        ),
    );
    ctx.expect_eq(
        tr!("process.args is the image's Entrypoint", "process.args 就是镜像的 Entrypoint"),
        ENTRYPOINT.join(" "),
        strings(&process["args"]).join(" "),
        tr!("docker joins Entrypoint and Cmd into process.args", "docker 把 Entrypoint 和 Cmd 拼成 process.args"),
    );
    let (n, m) = (namespaces.len(), mounts.len());
    state.remember(
        "bundle",
        ctx.t(&tr!(format!("{n} namespaces, {m} mounts"), format!("{n} 个 namespace，{m} 个挂载"))),
    );
    state.bundle = dir;
    state.config = Some(spec);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The container, created

fn namespaces(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.runtime();
    let pid = state.create(ctx)?;
    state.pid = pid;
    let wanted: Vec<String> = state
        .config()?
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .iter()
        .map(|n| match n.typ().to_string().as_str() {
            "network" => "net".to_string(),
            "mount" => "mnt".to_string(),
            other => other.to_string(),
        })
        .collect();
    let mut rows = Vec::new();
    let mut new = Vec::new();
    let mut wrong = Vec::new();
    for ns in NS_TYPES {
        let (Ok(host), Ok(inside)) = (labkit::probe::ns_link(None, ns), labkit::probe::ns_link(Some(pid), ns)) else {
            continue;
        };
        let is_new = host.inode != inside.inode;
        if is_new {
            new.push(ns);
        }
        if is_new != wanted.iter().any(|w| w == ns) {
            wrong.push(ns);
        }
        rows.push(vec![
            Fact::text(ns),
            Fact::Inode(host.inode),
            Fact::Inode(inside.inode),
            Fact::text(if is_new { ctx.word("new") } else { ctx.word("shared") }),
        ]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "/proc/self/ns (labctl) against /proc/PID/ns (the container's init):",
            "/proc/self/ns（labctl）对比 /proc/PID/ns（容器的 init）："
        ),
        columns: ["NS", "LABCTL", "INIT", ""].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let nspid = status_field(pid, "NSpid");
    let inner = nspid.split_whitespace().last().unwrap_or("?").to_string();
    ctx.observe(Observation::Values {
        title: tr!("The init, waiting on exec.fifo (lcrun state):", "等在 exec.fifo 上的 init（lcrun state）："),
        values: vec![
            ("status".into(), Fact::text(rt.status(ID)?)),
            (ctx.t(&tr!("pid on the host", "主机上的 pid")), Fact::Pid(pid.into())),
            (
                ctx.t(&tr!("NSpid, last field (its pid inside)", "NSpid 的最后一个字段（它在里面的 pid）")),
                Fact::text(inner.clone()),
            ),
        ],
    });
    ctx.set("new", Fact::text(new.join(" ")));
    ctx.expect(
        tr!("the init has exactly the namespaces the config asked for", "init 恰好拥有配置要求的那些 namespace"),
        ctx.word("as configured"),
        if wrong.is_empty() {
            ctx.word("as configured")
        } else {
            ctx.t(&tr!(format!("differs: {}", wrong.join(" ")), format!("不一致：{}", wrong.join(" "))))
        },
        wrong.is_empty(),
        tr!(
            "lcrun clones with one CLONE_NEW* flag per linux.namespaces entry",
            "lcrun 为 linux.namespaces 的每一项加一个 CLONE_NEW* 标志来 clone"
        ),
    );
    ctx.expect_eq(
        tr!("inside its pid namespace the init is PID 1", "在它的 pid namespace 里，init 是 1 号进程"),
        "1",
        inner,
        tr!("the first process of a new pid namespace gets pid 1", "新 pid namespace 中的第一个进程拿到 1 号"),
    );
    state.remember("namespaces", new.join(" "));
    ctx.explore_in(pid);
    Ok(())
}

fn user_map(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
    let (uid_map, gid_map) = (read("uid_map"), read("gid_map"));
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    // What `lcrun spec --rootless` would write for uid 1000.
    let rootless = oci_spec::runtime::Spec::rootless(1000, 1000);
    let linux = rootless.linux().clone().unwrap_or_default();
    let map = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_ref()
            .map(|v| {
                v.iter()
                    .map(|m| format!("{} {} {}", m.container_id(), m.host_id(), m.size()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let has_user = linux.namespaces().as_ref().is_some_and(|n| n.iter().any(|n| n.typ().to_string() == "user"));
    ctx.observe(Observation::Values {
        title: tr!("Who the container's root is:", "容器里的 root 是谁："),
        values: vec![
            ("/proc/PID/uid_map".into(), Fact::text(squeeze(&uid_map))),
            ("/proc/PID/gid_map".into(), Fact::text(squeeze(&gid_map))),
            (
                ctx.t(&tr!("rootless: linux.uidMappings", "rootless 配置：linux.uidMappings")),
                Fact::text(map(linux.uid_mappings())),
            ),
            (
                ctx.t(&tr!("rootless: linux.gidMappings", "rootless 配置：linux.gidMappings")),
                Fact::text(map(linux.gid_mappings())),
            ),
            (
                ctx.t(&tr!("rootless: a user namespace", "rootless 配置：有 user namespace")),
                Fact::text(if has_user { ctx.word("yes") } else { ctx.word("no") }),
            ),
        ],
    });
    ctx.expect_eq(
        tr!("this container shares the host's identity map", "这个容器共用主机的恒等映射"),
        "0 0 4294967295",
        squeeze(&uid_map),
        tr!(
            "without a user namespace root inside is root outside",
            "没有 user namespace 时，里面的 root 就是外面的 root"
        ),
    );
    ctx.expect_eq(
        tr!("the rootless config maps container root to uid 1000 only", "rootless 配置只把容器的 root 映射到 uid 1000"),
        "0 1000 1",
        map(linux.uid_mappings()),
        tr!("an unprivileged user may map only its own uid", "非特权用户只能映射自己的 uid"),
    );
    state.remember("user-map", squeeze(&uid_map));
    Ok(())
}

fn cgroup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).context("reading /proc/PID/cgroup")?;
    let system = labcgroup::System::detect()?;
    let path = format!("{}/{ID}", labruntime::cgroups::DEFAULT_PARENT);
    let group = system.runtime_group(&labcgroup::GroupPath::absolute(&path)?)?;
    let v2 = system.version() == labcgroup::Version::V2;
    let files: [(&str, String); 3] = if v2 {
        [
            ("memory.max", MEMORY.to_string()),
            ("pids.max", PIDS.to_string()),
            ("cpu.max", format!("{CPU_QUOTA} {CPU_PERIOD}")),
        ]
    } else {
        [
            ("memory.limit_in_bytes", MEMORY.to_string()),
            ("pids.max", PIDS.to_string()),
            ("cpu.cfs_quota_us", CPU_QUOTA.to_string()),
        ]
    };
    let lines: Vec<Vec<Fact>> = proc_cgroup
        .lines()
        .filter(|l| l.starts_with("0::") || [":memory:", ":pids:", ":cpu,"].iter().any(|c| l.contains(c)))
        .map(|l| vec![Fact::text(l.split_once(':').map_or(l, |(_, rest)| rest))])
        .collect();
    ctx.observe(Observation::Excerpt { path: Fact::text("/proc/PID/cgroup"), lines });
    let mut rows = Vec::new();
    let mut all_ok = true;
    for (file, want) in &files {
        let got = group.read(file).map(|s| s.trim().to_string()).unwrap_or_else(|e| e.to_string());
        all_ok &= &got == want;
        let shown = group.file(file).map(|p| p.display().to_string()).unwrap_or_default();
        rows.push(vec![Fact::text(shown), Fact::text(got)]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            format!("The limits, read back (cgroup {}):", system.version().name()),
            format!("读回的限制（cgroup {}）：", system.version().name())
        ),
        columns: ["FILE", "VALUE"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.set("world", Fact::text(system.version().name()));
    let inside = group.procs().unwrap_or_default().contains(&pid);
    ctx.expect(
        tr!("the init is in the container's cgroup", "init 在容器的 cgroup 里"),
        ctx.word("member"),
        if inside { ctx.word("member") } else { ctx.word("not a member") },
        inside,
        tr!(
            "lcrun writes the init's pid to cgroup.procs before it runs",
            "lcrun 在 init 运行前把它的 pid 写进 cgroup.procs"
        ),
    );
    ctx.expect(
        tr!(
            "memory, pids and cpu limits are what linux.resources said",
            "memory、pids、cpu 限制与 linux.resources 一致"
        ),
        ctx.word("as configured"),
        if all_ok { ctx.word("as configured") } else { ctx.word("different") },
        all_ok,
        tr!(
            "labcgroup's v1/v2 driver writes each limit to its controller's file",
            "labcgroup 的 v1/v2 驱动把每个限制写进对应控制器的文件"
        ),
    );
    state.remember("cgroup", format!("{} {MEMORY}, pids.max {PIDS}", files[0].0));
    Ok(())
}

fn network(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    // The "host": a network namespace of the lab's own, registered before it exists.
    ctx.register(Undo::Netns { name: HOST_NS.to_string() });
    if let Err(e) = labnet::netns::add(HOST_NS) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            ctx.cleanup().forget(&Undo::Netns { name: HOST_NS.to_string() });
            bail!("network namespace {HOST_NS} already exists: another run is using it, or one was killed (sudo labctl clean)");
        }
        return Err(anyhow::Error::new(e).context(format!("ip netns add {HOST_NS}")));
    }
    labnet::Netlink::open_in(&host_ns())?.set_up("lo", true)?;
    // labnet's allocator keeps its state per bridge and netns inode under the run dir.
    let ino = labnet::netns::inode_of(&host_ns())?;
    let net_dir = labkit::paths::run_dir().join("net");
    let files: Vec<String> =
        ["json", "lock"].iter().map(|e| net_dir.join(format!("{BRIDGE}-{ino}.{e}")).display().to_string()).collect();
    let mut rm = vec!["rm".to_string(), "-f".into()];
    rm.extend(files);
    ctx.register(Undo::Command { argv: rm });
    let sandbox = format!("/proc/{pid}/ns/net");
    let subnet: labnet::Subnet = labnet::bridge::DEFAULT_SUBNET.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let lease = labnet::netns::run_in(&host_ns(), || -> anyhow::Result<labnet::Lease> {
        labnet::bridge_up(BRIDGE, subnet)?;
        Ok(labnet::attach(BRIDGE, &sandbox, &[PORTS])?)
    })??;
    let mut host = labnet::Netlink::open_in(&host_ns())?;
    let bridge = host.link(BRIDGE)?.context("the bridge is gone")?;
    let veth = host.link(&lease.host_veth)?.context("the host veth is gone")?;
    let mut inside = labnet::Netlink::open_in(Path::new(&sandbox))?;
    let eth0 = inside.link(labnet::bridge::CONTAINER_IF)?.context("the container has no eth0")?;
    let addrs: Vec<String> = inside
        .addresses()?
        .into_iter()
        .filter(|a| a.index == eth0.index && a.ip.is_ipv4())
        .map(|a| format!("{}/{}", a.ip, a.prefix))
        .collect();
    let routes = inside.routes()?;
    let default = routes
        .iter()
        .find(|r| r.destination.is_none())
        .and_then(|r| r.gateway)
        .map_or("(none)".to_string(), |g| g.to_string());
    let firewall = labnet::firewall::Firewall::in_netns(&host_ns())?;
    let listing = firewall.listing()?;
    let dest = format!("{}:{}", lease.ip, PORTS.container);
    let rule = listing.lines().find(|l| l.contains(&dest)).map(str::trim).unwrap_or("(none)").to_string();
    let masquerade = listing.lines().any(|l| l.to_ascii_lowercase().contains("masquerade"));
    ctx.observe(Observation::Values {
        title: tr!(
            "Read back in the host's and the container's network namespaces:",
            "在主机和容器的 network namespace 中读回："
        ),
        values: vec![
            (
                ctx.t(&tr!("host: bridge", "主机：网桥")),
                Fact::text(format!("{BRIDGE} {}/{}", subnet.gateway(), subnet.prefix)),
            ),
            (
                ctx.t(&tr!("host: veth", "主机：veth")),
                Fact::text(format!(
                    "{} (master {})",
                    veth.name,
                    if veth.master == Some(bridge.index) { BRIDGE } else { "none" }
                )),
            ),
            (ctx.t(&tr!("container: eth0", "容器：eth0")), Fact::text(addrs.join(" "))),
            (ctx.t(&tr!("container: default via", "容器：默认路由经由")), Fact::text(default.clone())),
            (
                ctx.t(&tr!("host: NAT (masquerade)", "主机：NAT（masquerade）")),
                Fact::text(if masquerade { ctx.word("yes") } else { ctx.word("no") }),
            ),
            (ctx.t(&tr!("host: -p 8080:80", "主机：-p 8080:80")), Fact::Host(rule.clone())),
        ],
    });
    ctx.expect(
        tr!("the host end of the veth is a port of the bridge", "veth 的主机端是网桥的一个端口"),
        BRIDGE,
        Fact::text(if veth.master == Some(bridge.index) { BRIDGE } else { "none" }),
        veth.master == Some(bridge.index),
        tr!("labnet::attach sets IFLA_MASTER of the host veth", "labnet::attach 设置主机端 veth 的 IFLA_MASTER"),
    );
    ctx.expect_eq(
        tr!("the container's default route goes through the bridge's address", "容器的默认路由经过网桥的地址"),
        subnet.gateway().to_string(),
        default,
        tr!("the gateway is the bridge's address on the host", "网关就是主机上网桥的地址"),
    );
    ctx.expect(
        tr!("a DNAT rule sends port 8080 to the container's port 80", "一条 DNAT 规则把 8080 端口转给容器的 80 端口"),
        dest.clone(),
        Fact::Host(rule.clone()),
        rule != "(none)",
        tr!(
            "labnet's firewall adds the port map in prerouting and output",
            "labnet 的 firewall 在 prerouting 和 output 中加入端口映射"
        ),
    );
    ctx.set("ip", Fact::text(lease.ip.to_string()));
    state.remember("network", format!("eth0 {}, 8080 → {dest}", lease.ip));
    state.ip = Some(lease.ip);
    state.gateway = Some(subnet.gateway());
    Ok(())
}

fn container_mounts(pid: i32) -> anyhow::Result<Vec<labkit::mountinfo::Mount>> {
    Ok(labkit::mountinfo::read(format!("/proc/{pid}/mountinfo"))?)
}

fn top_mount<'a>(mounts: &'a [labkit::mountinfo::Mount], point: &str) -> Option<&'a labkit::mountinfo::Mount> {
    mounts.iter().rev().find(|m| m.mount_point == point)
}

/// The options that are the lesson (ro, nosuid, nodev, noexec), in a fixed order.
fn key_options(options: &str) -> String {
    let have: Vec<&str> = options.split(',').collect();
    let shown: Vec<&str> = ["ro", "rw", "nosuid", "nodev", "noexec"].into_iter().filter(|o| have.contains(o)).collect();
    shown.join(",")
}

fn mounts(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let all = container_mounts(state.pid)?;
    let points = ["/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/proc/sys"];
    let mut rows = Vec::new();
    for p in points {
        if let Some(m) = top_mount(&all, p) {
            rows.push(vec![Fact::text(p), Fact::text(m.fstype.clone()), Fact::text(key_options(&m.options))]);
        }
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "/proc/PID/mountinfo of the init (the top mount of each point):",
            "init 的 /proc/PID/mountinfo（每个挂载点最上面的挂载）："
        ),
        columns: ["POINT", "FSTYPE", "OPTIONS"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let ro = |p: &str| top_mount(&all, p).is_some_and(|m| m.options.split(',').any(|o| o == "ro"));
    let fstype = |p: &str| top_mount(&all, p).map_or("(none)".to_string(), |m| m.fstype.clone());
    ctx.expect_eq(
        tr!("/proc is a proc of the container's own pid namespace", "/proc 是容器自己 pid namespace 的 proc"),
        "proc",
        fstype("/proc"),
        tr!(
            "mounts[] of the config: proc on /proc, after the clone",
            "配置的 mounts[]：clone 之后把 proc 挂在 /proc 上"
        ),
    );
    ctx.expect_eq(
        tr!("/dev is a tmpfs, not the host's devtmpfs", "/dev 是 tmpfs，不是主机的 devtmpfs"),
        "tmpfs",
        fstype("/dev"),
        tr!("the runtime creates only the standard device nodes in it", "运行时只在里面创建标准的设备节点"),
    );
    ctx.expect(
        tr!("/sys and /proc/sys are read-only", "/sys 和 /proc/sys 是只读的"),
        "ro, ro",
        format!("{}, {}", if ro("/sys") { "ro" } else { "rw" }, if ro("/proc/sys") { "ro" } else { "rw" }),
        ro("/sys") && ro("/proc/sys"),
        tr!(
            "sysfs is mounted ro; readonlyPaths remounts /proc/sys ro",
            "sysfs 以 ro 挂载；readonlyPaths 把 /proc/sys 重新挂载为 ro"
        ),
    );
    state.remember("mounts", "/proc, /dev tmpfs, /sys ro");
    Ok(())
}

fn pivot_root(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let all = container_mounts(pid)?;
    let root_of_init = dev_ino(Path::new(&format!("/proc/{pid}/root")))?;
    let merged = dev_ino(&state.merged)?;
    let host_root = dev_ino(Path::new("/"))?;
    let root = top_mount(&all, "/").context("the container has no / mount")?;
    let base = state.base.to_string_lossy().to_string();
    let host_paths =
        all.iter().filter(|m| m.mount_point.starts_with(&base) || m.mount_point.starts_with("/run")).count();
    let host_mounts = labkit::mountinfo::read("/proc/self/mountinfo")?.len();
    ctx.observe(Observation::Values {
        title: tr!("The init's root after pivot_root:", "pivot_root 之后 init 的根："),
        values: vec![
            (
                "stat /proc/PID/root".into(),
                Fact::text(if root_of_init == merged { "= $LAB/merged" } else { "≠ $LAB/merged" }),
            ),
            (
                ctx.t(&tr!("stat / (labctl)", "stat /（labctl）")),
                Fact::text(if host_root == root_of_init {
                    ctx.t(&tr!("= the init's root", "= init 的根"))
                } else {
                    ctx.t(&tr!("≠ the init's root", "≠ init 的根"))
                }),
            ),
            ("mountinfo \"/\"".into(), Fact::text(root.fstype.clone())),
            (ctx.t(&tr!("mounts the init sees", "init 看到的挂载数")), Fact::Host(all.len().to_string())),
            (ctx.t(&tr!("mounts labctl sees", "labctl 看到的挂载数")), Fact::Measured(host_mounts.to_string())),
            (
                ctx.t(&tr!("host paths among them (/run, $LAB)", "其中的主机路径（/run、$LAB）")),
                Fact::Number(host_paths as i64),
            ),
        ],
    });
    ctx.expect(
        tr!("the init's / is the overlay", "init 的 / 就是那个 overlay"),
        "$LAB/merged",
        if root_of_init == merged { "$LAB/merged".to_string() } else { ctx.word("elsewhere") },
        root_of_init == merged && root.fstype == "overlay",
        tr!(
            "pivot_root(\".\", \".\") in the rootfs made it the root of the mount namespace",
            "在 rootfs 中执行 pivot_root(\".\", \".\") 使它成为 mount namespace 的根"
        ),
    );
    ctx.expect_eq(
        tr!("no mount of the host is left in its table", "它的挂载表中不再有主机的挂载"),
        Fact::Number(0),
        Fact::Number(host_paths as i64),
        tr!(
            "the old root was detached with umount2(MNT_DETACH) after the pivot",
            "pivot 之后旧的根用 umount2(MNT_DETACH) 卸掉了"
        ),
    );
    state.remember("pivot-root", ctx.t(&tr!("/ = the overlay, no host mount", "/ = 那个 overlay，没有主机的挂载")));
    Ok(())
}

fn protections(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let all = container_mounts(pid)?;
    let inside = |p: &str| PathBuf::from(format!("/proc/{pid}/root{p}"));
    let timer_list = std::fs::metadata(inside("/proc/timer_list"));
    let masked_null =
        timer_list.as_ref().is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == nix::sys::stat::makedev(1, 3));
    let acpi = top_mount(&all, "/proc/acpi")
        .map_or("(no mount)".to_string(), |m| format!("{} {}", m.fstype, key_options(&m.options)));
    let eff = status_field(pid, "CapEff");
    let names = cap_names(&eff);
    let (nnp, seccomp) = (status_field(pid, "NoNewPrivs"), status_field(pid, "Seccomp"));
    ctx.observe(Observation::Values {
        title: tr!("The protections, read from the waiting init:", "从等待中的 init 读出的保护措施："),
        values: vec![
            (
                ctx.t(&tr!("/proc/timer_list (masked)", "/proc/timer_list（被屏蔽）")),
                Fact::text(if masked_null {
                    ctx.t(&tr!("char 1:3, /dev/null", "字符设备 1:3，即 /dev/null"))
                } else {
                    ctx.word("the real file")
                }),
            ),
            (ctx.t(&tr!("/proc/acpi (masked)", "/proc/acpi（被屏蔽）")), Fact::Host(acpi)),
            ("CapEff".into(), Fact::text(eff.clone())),
            (ctx.t(&tr!("capabilities", "capability")), Fact::text(format!("{}: {}", names.len(), names.join(" ")))),
            ("NoNewPrivs".into(), Fact::text(nnp.clone())),
            ("Seccomp".into(), Fact::text(seccomp.clone())),
        ],
    });
    ctx.set("caps", Fact::Number(names.len() as i64));
    ctx.expect(
        tr!("/proc/timer_list is /dev/null inside", "在里面 /proc/timer_list 是 /dev/null"),
        ctx.t(&tr!("char 1:3", "字符设备 1:3")),
        if masked_null { ctx.t(&tr!("char 1:3", "字符设备 1:3")) } else { ctx.t(&tr!("not masked", "未屏蔽")) },
        masked_null,
        tr!(
            "maskedPaths: a file gets /dev/null bind-mounted over it",
            "maskedPaths：文件上被 bind mount 一个 /dev/null"
        ),
    );
    ctx.expect(
        tr!("docker's 14 capabilities, without CAP_SYS_ADMIN", "docker 的 14 个 capability，不含 CAP_SYS_ADMIN"),
        ctx.t(&tr!("14, no CAP_SYS_ADMIN", "14，无 CAP_SYS_ADMIN")),
        format!(
            "{}{}",
            names.len(),
            if names.iter().any(|n| n == "CAP_SYS_ADMIN") {
                ctx.t(&tr!(", CAP_SYS_ADMIN", "，有 CAP_SYS_ADMIN"))
            } else {
                ctx.t(&tr!(", no CAP_SYS_ADMIN", "，无 CAP_SYS_ADMIN"))
            }
        ),
        names.len() == 14 && !names.iter().any(|n| n == "CAP_SYS_ADMIN"),
        tr!(
            "process.capabilities is labruntime::caps::docker_defaults",
            "process.capabilities 是 labruntime::caps::docker_defaults"
        ),
    );
    ctx.expect(
        tr!("no_new_privs and seccomp are not on yet", "no_new_privs 和 seccomp 还没有打开"),
        "NoNewPrivs 0, Seccomp 0",
        format!("NoNewPrivs {nnp}, Seccomp {seccomp}"),
        nnp == "0" && seccomp == "0",
        tr!(
            "with noNewPrivileges the runtime installs both just before execve",
            "设置 noNewPrivileges 时，运行时在 execve 之前才装上两者"
        ),
    );
    let n = names.len();
    state.remember(
        "protections",
        ctx.t(&tr!(
            format!("{n} caps, /proc/timer_list masked"),
            format!("{n} 个 capability，/proc/timer_list 被屏蔽")
        )),
    );
    Ok(())
}

fn exec(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let rt = state.runtime();
    rt.start(ID)?;
    // The init execs the entrypoint: same pid, new program.
    let deadline = Instant::now() + Duration::from_secs(5);
    let cmdline = loop {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&raw).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        if text == ENTRYPOINT.join(" ") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| p.display().to_string()).unwrap_or_default();
    let (nnp, seccomp) = (status_field(pid, "NoNewPrivs"), status_field(pid, "Seccomp"));
    let filters = status_field(pid, "Seccomp_filters");
    ctx.observe(Observation::Values {
        title: tr!("After lcrun start, the same pid:", "lcrun start 之后，同一个 pid："),
        values: vec![
            ("lcrun state".into(), Fact::text(rt.status(ID)?)),
            ("/proc/PID/cmdline".into(), Fact::text(cmdline.clone())),
            ("/proc/PID/exe".into(), Fact::text(exe.clone())),
            ("NoNewPrivs".into(), Fact::text(nnp.clone())),
            ("Seccomp".into(), Fact::text(seccomp.clone())),
            ("Seccomp_filters".into(), Fact::text(filters)),
        ],
    });
    ctx.expect_eq(
        tr!("the init now runs the image's entrypoint", "init 现在运行的是镜像的 entrypoint"),
        ENTRYPOINT.join(" "),
        cmdline,
        tr!(
            "lcrun start opens exec.fifo; the init then calls execve(process.args)",
            "lcrun start 打开 exec.fifo；init 随后调用 execve(process.args)"
        ),
    );
    ctx.expect(
        tr!("no_new_privs is set and a seccomp filter is on", "no_new_privs 已设置，seccomp 过滤器已启用"),
        "NoNewPrivs 1, Seccomp 2",
        format!("NoNewPrivs {nnp}, Seccomp {seccomp}"),
        nnp == "1" && seccomp == "2",
        tr!("Seccomp 2 is SECCOMP_MODE_FILTER", "Seccomp 2 就是 SECCOMP_MODE_FILTER"),
    );
    state.remember("exec", ctx.t(&tr!("httpd as PID 1, Seccomp 2", "httpd 是 PID 1，Seccomp 2")));
    Ok(())
}

/// An HTTP GET from the host's network namespace; the status line and the body.
fn http_get(to: SocketAddr) -> anyhow::Result<(String, String)> {
    labnet::netns::run_in(&host_ns(), move || -> anyhow::Result<(String, String)> {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut stream = loop {
            match TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => return Err(e).with_context(|| format!("connecting to {to}")),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        stream.write_all(b"GET /index.html HTTP/1.0\r\nHost: lcmini\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let status = answer.lines().next().unwrap_or("").trim().to_string();
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((status, body))
    })?
}

fn port(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let gateway = state.gateway.context("the network step has not run")?;
    let to = SocketAddr::from((gateway, PORTS.host));
    let (status, body) = http_get(to)?;
    ctx.observe(Observation::Values {
        title: tr!(
            format!("From the host: GET http://{to}/ (the bridge's own address, port 8080)"),
            format!("从主机：GET http://{to}/（网桥自己的地址，8080 端口）")
        ),
        values: vec![
            (ctx.t(&tr!("status", "状态行")), Fact::text(status.clone())),
            (ctx.t(&tr!("body", "正文")), Fact::text(body.trim())),
        ],
    });
    ctx.expect_eq(
        tr!("the container's web server answers on the host's port 8080", "容器的 web 服务器在主机的 8080 端口上应答"),
        PAGE.trim(),
        body.trim().to_string(),
        tr!(
            "output DNAT rewrites 8080 on a local address to the container's 80",
            "output 链的 DNAT 把本机地址上的 8080 改写为容器的 80"
        ),
    );
    state.remember("port", status);
    Ok(())
}

fn stop(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.pid;
    let rt = state.runtime();
    let caught = u64::from_str_radix(&status_field(pid, "SigCgt"), 16).unwrap_or(0);
    let term_caught = caught & (1 << (libc_sigterm() - 1)) != 0;
    rt.run_ok(&["kill", ID, "TERM"])?;
    std::thread::sleep(Duration::from_secs(1));
    let after_term = !labkit::testing::process_gone(pid);
    rt.run_ok(&["kill", ID, "KILL"])?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !labkit::testing::process_gone(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let gone = labkit::testing::process_gone(pid);
    let status = rt.status(ID)?;
    ctx.observe(Observation::Values {
        title: tr!(
            "docker stop: SIGTERM, a grace period (1 s here), then SIGKILL:",
            "docker stop：先 SIGTERM，等一段时间（这里 1 秒），再 SIGKILL："
        ),
        values: vec![
            (
                ctx.t(&tr!("SigCgt has SIGTERM", "SigCgt 含 SIGTERM")),
                Fact::text(if term_caught { ctx.word("yes") } else { ctx.word("no") }),
            ),
            (
                ctx.t(&tr!("alive 1 s after SIGTERM", "SIGTERM 1 秒后仍在运行")),
                Fact::text(if after_term { ctx.word("yes") } else { ctx.word("no") }),
            ),
            (
                ctx.t(&tr!("after SIGKILL", "SIGKILL 之后")),
                Fact::text(if gone { ctx.t(&tr!("gone", "已退出")) } else { ctx.word("alive") }),
            ),
            ("lcrun state".into(), Fact::text(status.clone())),
        ],
    });
    ctx.expect(
        tr!("PID 1 without a SIGTERM handler ignores SIGTERM", "没有 SIGTERM 处理函数的 1 号进程会忽略 SIGTERM"),
        ctx.word("alive"),
        if after_term { ctx.word("alive") } else { ctx.t(&tr!("gone", "已退出")) },
        after_term && !term_caught,
        tr!(
            "the kernel drops signals to a namespace's init that it does not handle",
            "内核会丢弃发给 namespace 的 init、而它又没有处理的信号"
        ),
    );
    ctx.expect_eq(
        tr!("SIGKILL stops it", "SIGKILL 让它停下"),
        "stopped",
        status,
        tr!("SIGKILL from the parent namespace cannot be ignored", "从父 namespace 发来的 SIGKILL 无法忽略"),
    );
    state.remember("stop", "SIGTERM ignored, SIGKILL");
    Ok(())
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

fn teardown(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let rt = state.runtime();
    let ip = state.ip.context("the network step has not run")?;
    rt.delete(ctx, ID, false, None)?;
    let sandbox = format!("/proc/{}/ns/net", state.pid);
    // The container's netns is gone with its init; detach gives back the address and rules.
    let detached = labnet::netns::run_in(&host_ns(), || -> anyhow::Result<()> {
        match labnet::detach(BRIDGE, &sandbox) {
            Ok(_) | Err(labnet::bridge::Error::NotAttached { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        labnet::bridge_down(BRIDGE)?;
        Ok(())
    })?;
    detached?;
    laboverlay::unmount(&state.merged)?;
    ctx.cleanup().forget(&Undo::Unmount { path: state.merged.clone() });
    let system = labcgroup::System::detect()?;
    let group = system
        .runtime_group(&labcgroup::GroupPath::absolute(&format!("{}/{ID}", labruntime::cgroups::DEFAULT_PARENT))?)?;
    let mut host = labnet::Netlink::open_in(&host_ns())?;
    let links = host.links()?.into_iter().filter(|l| l.name != "lo").count();
    let rules = labnet::firewall::Firewall::in_netns(&host_ns())?.listing().unwrap_or_default();
    let mapped = rules.contains(&format!("{ip}:{}", PORTS.container));
    let mounted =
        labkit::mountinfo::read("/proc/self/mountinfo")?.iter().any(|m| Path::new(&m.mount_point) == state.merged);
    let upper_files = std::fs::read_dir(state.base.join("upper")).map(|d| d.count()).unwrap_or(0);
    ctx.observe(Observation::Values {
        title: tr!(
            "After lcrun delete, detach, bridge down and umount:",
            "lcrun delete、detach、bridge down 和 umount 之后："
        ),
        values: vec![
            (
                ctx.t(&tr!("the container's cgroup", "容器的 cgroup")),
                Fact::text(if group.exists() { ctx.word("still there") } else { ctx.word("removed") }),
            ),
            (
                ctx.t(&tr!("links in the host namespace besides lo", "主机 namespace 中 lo 以外的网络设备")),
                Fact::Number(links as i64),
            ),
            (
                ctx.t(&tr!("DNAT rule for the container", "容器的 DNAT 规则")),
                Fact::text(if mapped { ctx.word("still there") } else { ctx.word("removed") }),
            ),
            (
                ctx.t(&tr!("the overlay on $LAB/merged", "$LAB/merged 上的 overlay")),
                Fact::text(if mounted { ctx.word("mounted") } else { ctx.word("unmounted") }),
            ),
            (
                ctx.t(&tr!("entries left in upper (the container's writes)", "upper 中留下的条目（容器写入的）")),
                Fact::Number(upper_files as i64),
            ),
        ],
    });
    let clean = !group.exists() && links == 0 && !mapped && !mounted;
    ctx.expect(
        tr!("nothing of the container is left in the kernel", "内核中不再留有这个容器的任何东西"),
        ctx.t(&tr!("cgroup, links, rule and mount removed", "cgroup、网络设备、规则和挂载都已删除")),
        if clean {
            ctx.t(&tr!("cgroup, links, rule and mount removed", "cgroup、网络设备、规则和挂载都已删除"))
        } else {
            ctx.word("something is left")
        },
        clean,
        tr!("each piece is undone by the library that made it", "每一块都由创建它的库撤销"),
    );
    state.remember("teardown", "cgroup, veth, rules, mount removed");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The same container, with one line

fn engine_command(state: &State, args: &[&str]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", host_ns().display()))
        .arg(&state.exe)
        .arg("container")
        .args(args)
        .env("LABCTL_RUN_DIR", state.base.join("engine"))
        .env("LABCTL_STATE_DIR", state.base.join("lib"))
        .stdin(Stdio::null());
    cmd
}

fn engine_run(state: &State, args: &[&str]) -> anyhow::Result<String> {
    let out = engine_command(state, args).output().context("running nsenter … labctl container")?;
    if !out.status.success() {
        bail!("labctl container {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The one line: `labctl container run -d -p 8080:80 --memory 64m --pids-limit 64 --cpus 0.5 IMAGE`.
const RUN_ARGS: [&str; 14] = [
    "run",
    "-d",
    "--name",
    ENGINE_NAME,
    "-p",
    "8080:80",
    "--memory",
    "64m",
    "--pids-limit",
    "64",
    "--cpus",
    "0.5",
    "--security-opt",
    "no-new-privileges",
];

fn engine(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let env = [
        "env".to_string(),
        format!("LABCTL_RUN_DIR={}", state.base.join("engine").display()),
        format!("LABCTL_STATE_DIR={}", state.base.join("lib").display()),
        "nsenter".into(),
        format!("--net={}", host_ns().display()),
        state.exe.display().to_string(),
        "container".into(),
        "rm".into(),
        "-f".into(),
        ENGINE_NAME.into(),
    ];
    ctx.register(Undo::Command { argv: env.to_vec() });
    let mut args = RUN_ARGS.to_vec();
    args.push(IMAGE);
    // The client is journaled while it runs: an interrupt ends it before `rm -f` runs.
    let client = engine_command(state, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nsenter … labctl container run")?;
    let client_undo = labkit::sys::process_start_time(client.id() as i32)
        .map(|start_time| Undo::Kill { pid: client.id() as i32, start_time });
    if let Some(undo) = &client_undo {
        ctx.register(undo.clone());
    }
    let out = client.wait_with_output().context("waiting for labctl container run")?;
    if let Some(undo) = &client_undo {
        ctx.cleanup().forget(undo);
    }
    if !out.status.success() {
        bail!("labctl container {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    let pid: i32 = engine_run(state, &["inspect", "-f", "{{.State.Pid}}", ENGINE_NAME])?.parse().context("the pid")?;
    if let Some(start_time) = labkit::sys::process_start_time(pid) {
        ctx.register(Undo::Kill { pid, start_time });
    }
    let ip: Ipv4Addr = engine_run(state, &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", ENGINE_NAME])?
        .parse()
        .context("the container's address")?;
    let gateway = state.gateway.context("the network step has not run")?;
    let (status, body) = http_get(SocketAddr::from((gateway, PORTS.host)))?;
    let new: Vec<&str> = NS_TYPES
        .iter()
        .copied()
        .filter(|ns| {
            matches!((labkit::probe::ns_link(None, ns), labkit::probe::ns_link(Some(pid), ns)), (Ok(a), Ok(b)) if a.inode != b.inode)
        })
        .collect();
    let cgroup_line = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("0::") || l.contains(":memory:"))
        .map(|l| l.rsplit(':').next().unwrap_or("").to_string())
        .unwrap_or_default();
    let cgroup_dir = cgroup_line.rsplit('/').next().unwrap_or("").to_string();
    let cgroup_shown = cgroup_line.replace(&cgroup_dir, "[id]");
    let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let names = cap_names(&status_field(pid, "CapEff"));
    ctx.observe(Observation::Values {
        title: tr!("The engine's container, read the same way:", "用同样的方法读引擎的容器："),
        values: vec![
            ("/proc/PID/cmdline".into(), Fact::text(cmdline.clone())),
            (ctx.t(&tr!("new namespaces", "新建的 namespace")), Fact::text(new.join(" "))),
            ("/proc/PID/cgroup".into(), Fact::text(cgroup_shown)),
            (ctx.t(&tr!("eth0 (inspect)", "eth0（inspect）")), Fact::text(ip.to_string())),
            (ctx.t(&tr!("capabilities", "capability")), Fact::Number(names.len() as i64)),
            (
                "NoNewPrivs, Seccomp".into(),
                Fact::text(format!("{}, {}", status_field(pid, "NoNewPrivs"), status_field(pid, "Seccomp"))),
            ),
            (format!("GET http://{gateway}:8080/"), Fact::text(format!("{status}: {}", body.trim()))),
        ],
    });
    ctx.expect_eq(
        tr!("one line gives the same web server on port 8080", "一行命令得到了同样在 8080 端口上的 web 服务器"),
        PAGE.trim(),
        body.trim().to_string(),
        tr!(
            "labctl container run wrote the same bundle and network the lab built by hand",
            "labctl container run 写出了实验亲手搭建的同样的 bundle 和网络"
        ),
    );
    ctx.expect_eq(
        tr!("the same namespaces are new", "新建的 namespace 也相同"),
        state.read.iter().find(|(s, _)| *s == "namespaces").map(|(_, v)| v.clone()).unwrap_or_default(),
        new.join(" "),
        tr!("the engine's config.json asks for the same namespaces", "引擎的 config.json 要求的 namespace 相同"),
    );
    engine_run(state, &["rm", "-f", ENGINE_NAME])?;
    let undone = ctx.undo_now();
    let left = [
        (tr!("process", "进程"), !labkit::testing::process_gone(pid)),
        (tr!("netns", "netns"), host_ns().exists()),
        (tr!("directory", "目录"), state.base.exists()),
    ];
    let left_names: Vec<String> = left.iter().filter(|(_, l)| *l).map(|(n, _)| ctx.t(n)).collect();
    ctx.observe(Observation::Values {
        title: tr!("After labctl container rm -f and the lab's undo:", "labctl container rm -f 并执行实验的撤销之后："),
        values: vec![
            (ctx.t(&tr!("undone", "已撤销的对象")), Fact::Number(undone.len() as i64)),
            (
                ctx.t(&tr!("left", "残留")),
                Fact::text(if left_names.is_empty() { ctx.word("nothing") } else { left_names.join(" ") }),
            ),
        ],
    });
    ctx.expect(
        tr!(
            "nothing is left: no process, no netns, no lab directory",
            "什么也没留下：没有进程、没有 netns、没有实验目录"
        ),
        ctx.word("nothing"),
        if left_names.is_empty() { ctx.word("nothing") } else { left_names.join(" ") },
        left_names.is_empty(),
        tr!("the undo journal lists every object the lab made", "撤销日志记下了实验创建的每个对象"),
    );
    let n = new.len();
    state.remember(
        "engine",
        ctx.t(&tr!(format!("{n} namespaces new, {status}"), format!("新建了 {n} 个 namespace，{status}"))),
    );
    Ok(())
}

fn summary(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    // step → the OCI config field (or image field) it filled → what was read back → the lab.
    let index = ctx.t(&tr!("(image) index.json, manifest, config", "（镜像）index.json、manifest、config"));
    let layers = ctx.t(&tr!("(image) manifest.layers", "（镜像）manifest.layers"));
    let port = ctx.t(&tr!("(engine) -p 8080:80", "（引擎）-p 8080:80"));
    let all = ctx.t(&tr!("everything above, from one line", "以上全部，只用一行命令"));
    let table: [(&str, &str, &str); 14] = [
        ("image", &index, "image-build"),
        ("unpack", &layers, "image-build, overlay"),
        ("overlay", "root.path", "overlay"),
        ("bundle", "ociVersion, process, mounts, linux", "container-security"),
        ("namespaces", "linux.namespaces", "ns-intro … ns-ipc"),
        ("user-map", "linux.uidMappings, gidMappings", "ns-user"),
        ("cgroup", "linux.cgroupsPath, linux.resources", "cgroup-cpu, cgroup-mem, cgroup-pids"),
        ("network", "linux.namespaces[network]", "net-bridge"),
        ("mounts", "mounts, linux.readonlyPaths", "ns-mnt"),
        ("pivot-root", "root.path (pivot_root)", "ns-mnt, container-security"),
        ("protections", "linux.maskedPaths, process.capabilities", "container-security"),
        ("exec", "process.args, noNewPrivileges, linux.seccomp", "container-security"),
        ("port", &port, "net-bridge"),
        ("engine", &all, "container-lifecycle"),
    ];
    let rows: Vec<Vec<Fact>> = table
        .iter()
        .map(|(step, field, lab)| {
            let read = state.read.iter().find(|(s, _)| s == step).map(|(_, v)| v.clone()).unwrap_or_else(|| "-".into());
            vec![Fact::text(*step), Fact::text(*field), Fact::text(read), Fact::text(*lab)]
        })
        .collect();
    let missing: Vec<&str> =
        table.iter().map(|(s, _, _)| *s).filter(|s| !state.read.iter().any(|(r, _)| r == s)).collect();
    ctx.observe(Observation::Table {
        title: tr!("Which step did what:", "每一步做了什么："),
        columns: ["STEP", "OCI CONFIG FIELD", "READ BACK", "LEARNED IN"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.expect(
        tr!("every step read its result back", "每一步都读回了它的结果"),
        ctx.word("all"),
        if missing.is_empty() { ctx.word("all") } else { missing.join(" ") },
        missing.is_empty(),
        tr!(
            "a step that acted but read nothing back would be a claim, not an observation",
            "只动手却不读回的步骤只是断言，不是观察"
        ),
    );
    Ok(())
}

/// The challenge: a container of the default engine (`labctl container run -d …`) with a
/// published port, a memory limit read back from its cgroup, its own pid and net namespaces,
/// and a seccomp filter.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let engine = crate::Engine::from_env();
    let running: Vec<crate::record::Record> =
        engine.records().into_iter().filter(|r| r.state.status == "running" && engine.init_alive(r)).collect();
    let good = |r: &crate::record::Record| -> bool {
        let pid = r.state.pid;
        let own = |ns: &str| matches!((labkit::probe::ns_link(None, ns), labkit::probe::ns_link(Some(pid), ns)), (Ok(a), Ok(b)) if a.inode != b.inode);
        let limit = read_memory_limit(pid);
        !crate::network::port_maps(&r.host_config).is_empty()
            && limit.is_some_and(|l| l < u64::MAX / 2)
            && own("pid")
            && own("net")
            && status_field(pid, "Seccomp") == "2"
    };
    let found = running.iter().find(|r| good(r));
    ctx.expect(
        tr!("a running container of labctl's engine is a complete mini container", "labctl 引擎中有一个运行中的容器是完整的迷你容器"),
        ctx.t(&tr!(
            "a published port, a memory limit, its own pid and net namespaces, seccomp",
            "一个发布的端口、内存限制、自己的 pid 和 net namespace、seccomp"
        )),
        match found {
            Some(r) => format!("{} (pid {})", r.bare_name(), r.state.pid),
            None => ctx.t(&tr!(
                format!("none of {} running container(s)", running.len()),
                format!("{} 个运行中的容器都不是", running.len())
            )),
        },
        found.is_some(),
        tr!(
            "sudo labctl image import --busybox; sudo labctl container run -d -p 8080:80 --memory 64m busybox httpd -f -p 80",
            "sudo labctl image import --busybox；sudo labctl container run -d -p 8080:80 --memory 64m busybox httpd -f -p 80"
        ),
    );
    Ok(())
}

/// The memory limit of a process's cgroup (v2 memory.max, or v1 memory.limit_in_bytes), if it has one.
fn read_memory_limit(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else {
            continue;
        };
        if let Ok(v) = std::fs::read_to_string(&file) {
            let v = v.trim();
            return Some(if v == "max" { u64::MAX } else { v.parse().ok()? });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_runs_the_entrypoint_with_dockers_defaults_and_the_limits() {
        let mut image = oci_spec::image::Config::default();
        image.set_entrypoint(Some(ENTRYPOINT.iter().map(|s| s.to_string()).collect()));
        image.set_env(Some(vec![labimage::import::DEFAULT_PATH.to_string()]));
        let spec = write_config(&image, Path::new("/x/merged")).unwrap();
        let process = spec.process().as_ref().unwrap();
        assert_eq!(process.args().as_ref().unwrap().join(" "), ENTRYPOINT.join(" "));
        assert_eq!(process.no_new_privileges(), Some(true));
        assert_eq!(process.capabilities().as_ref().unwrap().effective().as_ref().unwrap().len(), 14);
        assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("/x/merged"));
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/labctl/lcrun/lcmini")));
        let resources = linux.resources().as_ref().unwrap();
        assert_eq!(resources.memory().as_ref().unwrap().limit(), Some(MEMORY));
        assert_eq!(resources.pids().as_ref().unwrap().limit(), PIDS);
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(CPU_QUOTA));
        assert!(linux.seccomp().is_some());
        assert!(linux.masked_paths().as_ref().unwrap().iter().any(|p| p == "/proc/timer_list"));
    }

    #[test]
    fn dockers_capability_mask_decodes_to_its_14_names() {
        let names = cap_names("00000000a80425fb");
        assert_eq!(names.len(), 14);
        assert!(names.contains(&"CAP_NET_BIND_SERVICE".to_string()) && !names.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn only_the_options_of_the_lesson_are_shown_in_a_fixed_order() {
        assert_eq!(key_options("rw,nosuid,nodev,noexec,relatime"), "rw,nosuid,nodev,noexec");
        assert_eq!(key_options("ro,relatime"), "ro");
    }
}
