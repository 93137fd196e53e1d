//! `container-lifecycle`: docker's everyday verbs on labctl's engine — run -d, ps, inspect, the
//! nsenter recipe, exec, logs, attach, cp, stop, start, rm — with the kernel state at each point
//! read from /proc and /sys. The engine is driven as a subprocess (`labctl container …`, the
//! learner's own command line): the lab runner holds a signal thread, and the runtime forks only
//! from a single-threaded process. Its containers live in state dirs of the lab's own
//! (`LABCTL_RUN_DIR`, `LABCTL_STATE_DIR`), so the learner's containers are never touched.

use anyhow::{bail, Context};
use labkit::failure::Failure;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "container-lifecycle",
    source: file!(),
    steps: &[
        ("image", image),
        ("run", run),
        ("ps", ps),
        ("inspect", inspect),
        ("nsenter", nsenter),
        ("exec", exec),
        ("logs", logs),
        ("attach", attach),
        ("cp", cp),
        ("stop", stop),
        ("cp-stopped", cp_stopped),
        ("start", start),
        ("rm", rm),
    ],
    check,
};

/// The lab's containers (engine names).
const WEB: &str = "lclife-web";
const TRAP: &str = "lclife-trap";
const TTY: &str = "lclife-tty";
const WEB_SCRIPT: &str = "echo started; echo written inside > /tmp/note; exec sleep 100000";
const TRAP_SCRIPT: &str = "trap 'echo got SIGTERM; exit 0' TERM; echo waiting; while true; do sleep 1; done";
/// What `exec -d` starts, found again from the host by its command line.
const EXEC_ARGS: [&str; 2] = ["sleep", "100001"];
/// The namespaces a container has of its own (the engine makes no user or time namespace).
const NS: [&str; 6] = ["mnt", "uts", "ipc", "net", "pid", "cgroup"];
/// The five the course's nsenter recipe enters.
const RECIPE: [&str; 5] = ["mnt", "uts", "ipc", "net", "pid"];

#[derive(Default)]
pub struct State {
    base: PathBuf,
    docker: Option<EngineCli>,
    /// lclife-web: its id, the first run's init and namespaces, its upper dir.
    web_id: String,
    web_pid: i32,
    web_ns: Vec<(String, u64)>,
    upper: PathBuf,
    exec_pid: i32,
    ids: Vec<String>,
}

impl State {
    fn docker(&self) -> anyhow::Result<&EngineCli> {
        self.docker.as_ref().context("the image step has not run")
    }
}

/// `labctl container …` with the lab's state dirs: the engine's command line as a child process.
struct EngineCli {
    exe: PathBuf,
    run: PathBuf,
    lib: PathBuf,
    /// The run's undo registry: each client is in it while it runs.
    cleanup: labkit::cleanup::Cleanup,
}

/// What one engine command answered.
struct Answer {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Answer {
    fn ok(&self) -> bool {
        self.code == 0
    }
}

impl EngineCli {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("container")
            .args(args)
            .env("LABCTL_RUN_DIR", &self.run)
            .env("LABCTL_STATE_DIR", &self.lib)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<Answer> {
        let what = || format!("running labctl container {}", args.join(" "));
        let child = self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().with_context(what)?;
        // Journaled while it runs: an interrupt ends the client before the undo's `rm -f`, so a
        // client still at work cannot make something after the undo has run.
        let pid = child.id() as i32;
        let undo = labkit::sys::process_start_time(pid).map(|start_time| Undo::Kill { pid, start_time });
        if let Some(u) = &undo {
            self.cleanup.register(u.clone());
        }
        let out = child.wait_with_output().with_context(what)?;
        if let Some(u) = &undo {
            self.cleanup.forget(u);
        }
        Ok(Answer {
            code: out.status.code().unwrap_or(128),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Runs and insists on exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let a = self.run(args)?;
        if !a.ok() {
            bail!("labctl container {} exited {}: {}", args.join(" "), a.code, a.stderr);
        }
        Ok(a.stdout)
    }

    /// `rm -f NAME` with our state dirs: what `labctl clean` runs from the journal after a SIGKILL.
    fn rm_undo(&self, name: &str) -> Undo {
        let argv = vec![
            "env".to_string(),
            format!("LABCTL_RUN_DIR={}", self.run.display()),
            format!("LABCTL_STATE_DIR={}", self.lib.display()),
            self.exe.display().to_string(),
            "container".into(),
            "rm".into(),
            "-f".into(),
            name.into(),
        ];
        Undo::Command { argv }
    }

    /// `run -d --name NAME --network none ARGS…`: registers `rm -f` first, then the kills of
    /// the supervisor and the init (what a journal reader needs to end them). Returns the id.
    fn run_detached(&self, ctx: &Ctx, name: &str, flags: &[&str], args: &[&str]) -> anyhow::Result<Container> {
        ctx.register(self.rm_undo(name));
        let mut all = vec!["run", "-d", "--name", name, "--network", "none"];
        all.extend_from_slice(flags);
        all.push("busybox");
        all.extend_from_slice(args);
        let id = self.ok(&all)?.trim().to_string();
        let c = self.container(&id)?;
        for pid in [c.supervisor, c.pid] {
            if let Some(start_time) = labkit::sys::process_start_time(pid) {
                ctx.register(Undo::Kill { pid, start_time });
            }
        }
        Ok(c)
    }

    fn record(&self, id: &str) -> anyhow::Result<Value> {
        let path = self.lib.join("containers").join(id).join("config.v2.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn container(&self, id: &str) -> anyhow::Result<Container> {
        let r = self.record(id)?;
        let num = |k: &str| r["State"][k].as_i64().unwrap_or(0) as i32;
        Ok(Container { id: id.to_string(), pid: num("Pid"), supervisor: num("SupervisorPid") })
    }

    /// `inspect NAME` as JSON (its one element).
    fn inspect(&self, name: &str) -> anyhow::Result<Value> {
        let doc: Value = serde_json::from_str(&self.ok(&["inspect", name])?).context("inspect's JSON")?;
        Ok(doc[0].clone())
    }
}

struct Container {
    id: String,
    pid: i32,
    supervisor: i32,
}

// ---------------------------------------------------------------------------------------
// Reading the kernel

fn ns_inode(pid: &str, ns: &str) -> u64 {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .ok()
        .and_then(|t| parse_ns_link(&t.to_string_lossy()))
        .unwrap_or(0)
}

/// `net:[4026532008]` → 4026532008.
fn parse_ns_link(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.trim_end_matches(']').parse().ok()
}

fn status_field(pid: i32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "(gone)".into())
}

/// The signal names of a /proc/PID/status mask (`SigCgt: 0000000000014002`): bit N-1 is signal N.
fn signal_names(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    (1..=64)
        .filter(|n| mask & (1u64 << (n - 1)) != 0)
        .map(|n| match nix::sys::signal::Signal::try_from(n) {
            Ok(s) => s.as_str().to_string(),
            Err(_) => format!("SIG{n}"),
        })
        .collect()
}

fn has_signal(hex: &str, name: &str) -> bool {
    signal_names(hex).iter().any(|s| s == name)
}

fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn gone(pid: i32) -> bool {
    labkit::testing::process_gone(pid)
}

/// The line of /proc/PID/cgroup for the container's group: v1's pids hierarchy, or v2's `0::`.
fn cgroup_line(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let v1 = text.lines().find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == "pids")));
    v1.or_else(|| text.lines().find(|l| l.starts_with("0::"))).map(str::to_string)
}

/// The container's group directory under /sys/fs/cgroup, from that line.
fn cgroup_dir(line: &str) -> PathBuf {
    let mut parts = line.splitn(3, ':');
    let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let base =
        if controllers.is_empty() { PathBuf::from("/sys/fs/cgroup") } else { PathBuf::from("/sys/fs/cgroup/pids") };
    base.join(path.trim_start_matches('/'))
}

fn cgroup_dirs_of(id: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/labctl/containers").join(id)];
    for entry in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        dirs.push(entry.path().join("labctl/containers").join(id));
    }
    dirs.into_iter().filter(|d| d.exists()).collect()
}

/// Text with every occurrence of the container id (full or short) as a volatile segment.
fn with_id(text: &str, id: &str) -> Vec<Fact> {
    let mut out = Vec::new();
    let mut rest = text;
    let short = &id[..12.min(id.len())];
    while let Some(i) = rest.find(short) {
        if i > 0 {
            out.push(Fact::text(&rest[..i]));
        }
        let len = if rest[i..].starts_with(id) { id.len() } else { short.len() };
        out.push(Fact::Measured(rest[i..i + len].to_string()));
        rest = &rest[i + len..];
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(Fact::text(rest));
    }
    out
}

/// A path that contains a container id: volatile as a whole.
fn id_path(path: impl AsRef<Path>) -> Fact {
    Fact::TempPath(path.as_ref().display().to_string())
}

/// The top mount of `/` in /proc/PID/mountinfo: its fstype and super options.
fn root_mount(pid: i32) -> Option<(String, String)> {
    labkit::mountinfo::read(format!("/proc/{pid}/mountinfo"))
        .ok()?
        .iter()
        .rev()
        .find(|m| m.mount_point == "/")
        .map(|m| (m.fstype.clone(), m.super_options.clone()))
}

fn upperdir_of(pid: i32) -> String {
    root_mount(pid)
        .and_then(|(_, opts)| opts.split(',').find_map(|o| o.strip_prefix("upperdir=")).map(str::to_string))
        .unwrap_or_default()
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ns_table_row(ns: &str, cells: Vec<Fact>) -> Vec<Fact> {
    let mut row = vec![Fact::text(ns)];
    row.extend(cells);
    row
}

// ---------------------------------------------------------------------------------------
// The steps

fn image(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let base = labkit::paths::run_dir().join("container-lifecycle");
    if base.exists() {
        bail!(
            "{} exists: another run of container-lifecycle is going on, or one was killed (sudo labctl clean)",
            base.display()
        );
    }
    ctx.register(Undo::RemoveDir { path: base.clone() });
    let lib = base.join("lib");
    let store_root = lib.join("images");
    let store = labimage::Store::open(&store_root).context("opening the lab's image store")?;
    labimage::import::import_busybox(&store, "busybox:latest").context(
        "importing busybox (the lab's image is made from busybox-static: sudo apt-get install busybox-static)",
    )?;
    let image = store.resolve("busybox").context("resolving busybox in the lab's store")?;
    let docker = EngineCli {
        exe: std::env::current_exe().context("finding labctl's own binary")?,
        run: base.join("run"),
        lib: lib.clone(),
        cleanup: ctx.cleanup().clone(),
    };
    let listed = docker.ok(&["ps", "-aq"])?;
    let cmd = image.config.config().as_ref().and_then(|c| c.cmd().clone()).unwrap_or_default();
    ctx.observe(Observation::Values {
        title: tr!("The lab's engine and its image:", "实验自己的引擎和它的镜像："),
        values: vec![
            ("LABCTL_STATE_DIR".into(), Fact::text(lib.display().to_string())),
            ("LABCTL_RUN_DIR".into(), Fact::text(docker.run.display().to_string())),
            (ctx.t(&tr!("image", "镜像")), Fact::text(image.name.clone())),
            (ctx.t(&tr!("layers", "层数")), Fact::Number(image.manifest.layers().len() as i64)),
            ("Config.Cmd".into(), Fact::text(format!("{cmd:?}"))),
            (ctx.t(&tr!("containers (ps -aq)", "容器数（ps -aq）")), Fact::Number(listed.lines().count() as i64)),
        ],
    });
    ctx.expect_eq(
        tr!("the lab's engine starts with no container", "实验的引擎一开始没有任何容器"),
        Fact::Number(0),
        Fact::Number(listed.lines().count() as i64),
        tr!("the lab's state dirs are new for each run", "实验的状态目录每次运行都是新的"),
    );
    state.base = base;
    state.docker = Some(docker);
    Ok(())
}

fn run(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let web = docker.run_detached(ctx, WEB, &[], &["sh", "-c", WEB_SCRIPT])?;
    // `run -d` returns once the init runs; its script then execs sleep: read /proc after that.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cmdline(web.pid) != "sleep 100000" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let ppid: i32 = status_field(web.pid, "PPid").parse().unwrap_or(0);
    let comm = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
    ctx.observe(Observation::Values {
        title: tr!(
            "`run -d` printed the id; the processes it left behind (/proc):",
            "`run -d` 打印了 id；它留下的进程（/proc）："
        ),
        values: vec![
            ("id".into(), Fact::Measured(web.id.clone())),
            (ctx.t(&tr!("supervisor pid", "supervisor 的 pid")), Fact::Pid(web.supervisor.into())),
            (
                ctx.t(&tr!("supervisor /proc/PID/comm", "supervisor 的 /proc/PID/comm")),
                Fact::text(comm(web.supervisor)),
            ),
            (ctx.t(&tr!("init pid (the container's PID 1)", "init 的 pid（容器的 PID 1）")), Fact::Pid(web.pid.into())),
            (ctx.t(&tr!("init /proc/PID/cmdline", "init 的 /proc/PID/cmdline")), Fact::text(cmdline(web.pid))),
            (ctx.t(&tr!("init PPid", "init 的 PPid")), Fact::Pid(ppid.into())),
            (
                ctx.t(&tr!("init NSpid", "init 的 NSpid")),
                Fact::text(status_field(web.pid, "NSpid").split_whitespace().last().unwrap_or("")),
            ),
        ],
    });
    ctx.expect(
        tr!("the id is 64 hex digits", "id 是 64 个十六进制数字"),
        "64 hex digits",
        Fact::Measured(web.id.clone()),
        web.id.len() == 64 && web.id.chars().all(|c| c.is_ascii_hexdigit()),
        tr!("docker's ids are 32 random bytes in hex", "docker 的 id 是 32 个随机字节的十六进制"),
    );
    ctx.expect_eq(
        tr!("the init is a child of the supervisor", "init 是 supervisor 的子进程"),
        Fact::Pid(web.supervisor.into()),
        Fact::Pid(ppid.into()),
        tr!(
            "the supervisor (docker's containerd-shim) forks the init and waits for it",
            "supervisor（相当于 docker 的 containerd-shim）fork 出 init 并等待它"
        ),
    );
    ctx.expect_eq(
        tr!("inside its pid namespace the init is PID 1", "在它的 pid namespace 里 init 是 PID 1"),
        "1",
        status_field(web.pid, "NSpid").split_whitespace().last().unwrap_or("").to_string(),
        tr!(
            "NSpid lists the pid in every namespace, the container's last",
            "NSpid 列出每层 namespace 中的 pid，最后一个是容器里的"
        ),
    );
    state.web_ns = NS.iter().map(|ns| (ns.to_string(), ns_inode(&web.pid.to_string(), ns))).collect();
    state.web_id = web.id.clone();
    state.web_pid = web.pid;
    state.ids.push(web.id);
    ctx.explore_in(web.pid);
    Ok(())
}

fn ps(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let out = docker.ok(&["ps", "--format", "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Status}}\t{{.Names}}"])?;
    let rows: Vec<Vec<Fact>> = out
        .lines()
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            let cell = |i: usize| cells.get(i).copied().unwrap_or("").to_string();
            vec![
                Fact::Measured(cell(0)),
                Fact::text(cell(1)),
                Fact::text(cell(2)),
                Fact::Measured(cell(3)),
                Fact::text(cell(4)),
            ]
        })
        .collect();
    ctx.observe(Observation::Table {
        title: tr!("labctl container ps:", "labctl container ps："),
        columns: ["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "NAMES"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let record = docker.record(&state.web_id)?;
    let recorded_start = record["State"]["PidStartTime"].as_u64().unwrap_or(0);
    let kernel_start = labkit::sys::process_start_time(state.web_pid).unwrap_or(0);
    ctx.observe(Observation::Values {
        title: tr!("What `Up` is made of: the record and the kernel", "`Up` 从何而来：记录和内核"),
        values: vec![
            ("config.v2.json State.Status".into(), Fact::text(record["State"]["Status"].as_str().unwrap_or(""))),
            ("config.v2.json State.PidStartTime".into(), Fact::Measured(recorded_start.to_string())),
            (
                ctx.t(&tr!("/proc/PID/stat field 22 (starttime)", "/proc/PID/stat 第 22 个字段（starttime）")),
                Fact::Measured(kernel_start.to_string()),
            ),
        ],
    });
    let line = out.lines().find(|l| l.ends_with(WEB)).unwrap_or("");
    let status = line.split('\t').nth(3).unwrap_or("");
    ctx.expect(
        tr!("ps lists lclife-web as Up", "ps 列出 lclife-web，状态为 Up"),
        "Up …",
        Fact::Measured(status.to_string()),
        status.starts_with("Up "),
        tr!("ps shows running containers; -a adds the stopped ones", "ps 显示运行中的容器；-a 会加上已停止的"),
    );
    ctx.expect(
        tr!(
            "the recorded start time is the kernel's: the pid was not reused",
            "记录的启动时间与内核的一致：这个 pid 没有被复用"
        ),
        ctx.word("equal"),
        Fact::text(ctx.word(if recorded_start == kernel_start && kernel_start > 0 { "equal" } else { "different" })),
        recorded_start == kernel_start && kernel_start > 0,
        tr!(
            "a pid alone can be reused after a reboot; pid + start time cannot",
            "单独一个 pid 在重启后可能被复用；pid 加启动时间则不会"
        ),
    );
    Ok(())
}

fn inspect(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let pid_text = docker.ok(&["inspect", "--format", "{{.State.Pid}}", WEB])?;
    let pid: i32 = pid_text.trim().parse().context("inspect --format {{.State.Pid}} is not a number")?;
    let doc = docker.inspect(WEB)?;
    let upper = doc["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap_or("").to_string();
    let cmd: Vec<String> =
        doc["Config"]["Cmd"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    let (fstype, _) = root_mount(pid).unwrap_or_default();
    let kernel_upper = upperdir_of(pid);
    ctx.observe(Observation::Values {
        title: tr!(
            "labctl container inspect lclife-web (a few fields):",
            "labctl container inspect lclife-web（部分字段）："
        ),
        values: vec![
            ("{{.State.Pid}}".into(), Fact::Pid(pid.into())),
            ("State.Status".into(), Fact::text(doc["State"]["Status"].as_str().unwrap_or(""))),
            ("Config.Cmd".into(), Fact::text(format!("{cmd:?}"))),
            ("HostConfig.NetworkMode".into(), Fact::text(doc["HostConfig"]["NetworkMode"].as_str().unwrap_or(""))),
            ("GraphDriver.Name".into(), Fact::text(doc["GraphDriver"]["Name"].as_str().unwrap_or(""))),
            ("GraphDriver.Data.UpperDir".into(), id_path(&upper)),
        ],
    });
    ctx.observe(Observation::Values {
        title: tr!("The same facts, from the kernel:", "同样的事实，从内核读取："),
        values: vec![
            ("/proc/PID/cmdline".into(), Fact::text(cmdline(pid))),
            (
                ctx.t(&tr!("/proc/PID/mountinfo, the mount on /", "/proc/PID/mountinfo 中挂在 / 上的")),
                Fact::text(fstype.clone()),
            ),
            (ctx.t(&tr!("  its upperdir=", "  它的 upperdir=")), id_path(&kernel_upper)),
        ],
    });
    ctx.expect_eq(
        tr!("{{.State.Pid}} is the init the supervisor started", "{{.State.Pid}} 就是 supervisor 启动的那个 init"),
        Fact::Pid(state.web_pid.into()),
        Fact::Pid(pid.into()),
        tr!("inspect reads the record the supervisor wrote", "inspect 读取的是 supervisor 写下的记录"),
    );
    ctx.expect_eq(
        tr!("the container's / is an overlay", "容器的 / 是一个 overlay"),
        "overlay",
        fstype,
        tr!(
            "the engine mounts the image's layers with an upper dir of the container's own",
            "引擎用镜像的各层加上容器自己的 upper 目录挂载出根文件系统"
        ),
    );
    ctx.expect(
        tr!("the kernel's upperdir is inspect's UpperDir", "内核里的 upperdir 就是 inspect 的 UpperDir"),
        ctx.word("equal"),
        id_path(&kernel_upper),
        !upper.is_empty() && kernel_upper == upper,
        tr!("GraphDriver.Data names the overlay's directories", "GraphDriver.Data 列出的就是 overlay 的各个目录"),
    );
    state.upper = PathBuf::from(upper);
    Ok(())
}

fn nsenter(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let pid = docker.ok(&["inspect", "--format", "{{.State.Pid}}", WEB])?.trim().to_string();
    let script = "for n in mnt uts ipc net pid cgroup; do readlink /proc/self/ns/$n; done; \
                  echo pid=$$; hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /sys/class/net";
    let out = Command::new("nsenter")
        .args(["--target", &pid, "--mount", "--uts", "--ipc", "--net", "--pid", "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .context("running nsenter (util-linux): sudo apt-get install util-linux")?;
    if !out.status.success() {
        bail!("nsenter --target {pid} …: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let inside: Vec<u64> = lines.iter().take(NS.len()).map(|l| parse_ns_link(l).unwrap_or(0)).collect();
    let mut rows = Vec::new();
    let mut entered_equal = true;
    let mut cgroup_ours = false;
    for (i, ns) in NS.iter().enumerate() {
        let (ours, init, sh) = (ns_inode("self", ns), ns_inode(&pid, ns), inside.get(i).copied().unwrap_or(0));
        if RECIPE.contains(ns) {
            entered_equal &= sh == init && init != ours;
        } else {
            cgroup_ours = sh == ours && init != ours;
        }
        rows.push(ns_table_row(
            ns,
            vec![
                Fact::Inode(ours),
                Fact::Inode(init),
                Fact::Inode(sh),
                Fact::text(ctx.word(if sh == init { "yes" } else { "no" })),
            ],
        ));
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "readlink /proc/self/ns/* (labctl), /proc/PID/ns/* (the init), and inside nsenter's sh:",
            "readlink /proc/self/ns/*（labctl）、/proc/PID/ns/*（init），以及 nsenter 的 sh 里面："
        ),
        columns: ["NS", "LABCTL", "THE INIT", "NSENTER'S SH", "SAME AS THE INIT"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        rows,
    });
    let rest = &lines[NS.len().min(lines.len())..];
    let sh_pid = rest.first().and_then(|l| l.strip_prefix("pid=")).and_then(|p| p.parse::<i64>().ok()).unwrap_or(0);
    let hostname = rest.get(1).copied().unwrap_or("").to_string();
    let init_cmd = rest.get(2).copied().unwrap_or("").trim().to_string();
    let links: Vec<&str> = rest.iter().skip(3).copied().collect();
    ctx.observe(Observation::Values {
        title: tr!("What the shell sees there:", "这个 shell 在那里看到的："),
        values: vec![
            ("echo $$".into(), Fact::Pid(sh_pid)),
            ("hostname".into(), Fact::Measured(hostname.clone())),
            ("cat /proc/1/cmdline".into(), Fact::text(init_cmd.clone())),
            ("ls /sys/class/net".into(), Fact::text(links.join(" "))),
        ],
    });
    ctx.expect(
        tr!("the five namespaces of the recipe are the init's", "配方里的五个 namespace 都是 init 的"),
        ctx.t(&tr!("mnt uts ipc net pid equal", "mnt uts ipc net pid 均相同")),
        Fact::text(if entered_equal {
            ctx.t(&tr!("mnt uts ipc net pid equal", "mnt uts ipc net pid 均相同"))
        } else {
            ctx.word("different")
        }),
        entered_equal,
        tr!(
            "nsenter opens /proc/PID/ns/TYPE and calls setns(2) on each",
            "nsenter 打开 /proc/PID/ns/TYPE 并对每个调用 setns(2)"
        ),
    );
    ctx.expect(
        tr!("the cgroup namespace, not in the recipe, stays labctl's", "不在配方里的 cgroup namespace 仍是 labctl 的"),
        ctx.t(&tr!("labctl's", "labctl 的")),
        Fact::text(if cgroup_ours { ctx.t(&tr!("labctl's", "labctl 的")) } else { ctx.word("different") }),
        cgroup_ours,
        tr!("add --cgroup to enter it too", "加上 --cgroup 也能进入它"),
    );
    ctx.expect_eq(
        tr!("its PID 1 is the container's sleep", "它的 PID 1 是容器里的 sleep"),
        "sleep 100000",
        init_cmd,
        tr!(
            "--pid makes nsenter fork into the pid namespace; /proc is the container's",
            "--pid 让 nsenter fork 进该 pid namespace；/proc 是容器的"
        ),
    );
    let expected_host = state.web_id[..12].to_string();
    ctx.expect(
        tr!("its hostname is the container's (the short id)", "它的主机名是容器的（短 id）"),
        ctx.t(&tr!("the id's first 12 digits", "id 的前 12 位")),
        Fact::Measured(hostname.clone()),
        hostname == expected_host,
        tr!("--uts joins the container's UTS namespace", "--uts 加入容器的 UTS namespace"),
    );
    Ok(())
}

fn exec(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let mut args = vec!["exec", "-d", WEB];
    args.extend(EXEC_ARGS);
    docker.ok(&args)?;
    let init = state.web_pid;
    let group_line = cgroup_line(init).context("the init has no cgroup line")?;
    let procs = cgroup_dir(&group_line).join("cgroup.procs");
    let wanted = EXEC_ARGS.join(" ");
    let mut found = 0;
    wait_for(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&procs).unwrap_or_default();
        found = text.lines().filter_map(|l| l.trim().parse::<i32>().ok()).find(|p| cmdline(*p) == wanted).unwrap_or(0);
        found > 0
    });
    if found == 0 {
        bail!("exec -d {wanted}: no such process appeared in {}", procs.display());
    }
    if let Some(start_time) = labkit::sys::process_start_time(found) {
        ctx.register(Undo::Kill { pid: found, start_time });
    }
    let mut rows = Vec::new();
    let mut all_equal = true;
    for ns in NS {
        let (a, b) = (ns_inode(&init.to_string(), ns), ns_inode(&found.to_string(), ns));
        all_equal &= a == b && a != 0;
        rows.push(ns_table_row(
            ns,
            vec![Fact::Inode(a), Fact::Inode(b), Fact::text(ctx.word(if a == b { "yes" } else { "no" }))],
        ));
    }
    ctx.observe(Observation::Table {
        title: tr!("/proc/PID/ns of the init and of the exec'd process:", "init 与 exec 出来的进程的 /proc/PID/ns："),
        columns: ["NS", "THE INIT", "EXEC'D SLEEP", "SAME"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let id = state.web_id.clone();
    let exec_line = cgroup_line(found).unwrap_or_default();
    ctx.observe(Observation::Excerpt {
        path: Fact::text("/proc/EXEC'D/cgroup"),
        lines: vec![with_id(&exec_line, &id)],
    });
    let field = |pid: i32, f: &str| status_field(pid, f);
    ctx.observe(Observation::Table {
        title: tr!("/proc/PID/status of both:", "两者的 /proc/PID/status："),
        columns: ["FIELD", "THE INIT", "EXEC'D SLEEP"].iter().map(|s| s.to_string()).collect(),
        rows: ["CapEff", "Seccomp", "NoNewPrivs"]
            .iter()
            .map(|f| vec![Fact::text(*f), Fact::text(field(init, f)), Fact::text(field(found, f))])
            .collect(),
    });
    ctx.expect(
        tr!("exec joins every namespace of the init", "exec 加入了 init 的每一个 namespace"),
        ctx.t(&tr!("all six equal", "六个都相同")),
        Fact::text(if all_equal { ctx.t(&tr!("all six equal", "六个都相同")) } else { ctx.word("different") }),
        all_equal,
        tr!(
            "the runtime's exec calls setns(2) with the init's /proc/PID/ns files",
            "运行时的 exec 用 init 的 /proc/PID/ns 文件调用 setns(2)"
        ),
    );
    ctx.expect(
        tr!("exec joins the init's cgroup", "exec 加入了 init 的 cgroup"),
        ctx.t(&tr!("the same line", "同一行")),
        Fact::text(if exec_line == group_line {
            ctx.t(&tr!("the same line", "同一行"))
        } else {
            ctx.word("different")
        }),
        exec_line == group_line,
        tr!(
            "the runtime writes the new pid into the group's cgroup.procs",
            "运行时把新 pid 写进该 group 的 cgroup.procs"
        ),
    );
    for f in ["CapEff", "Seccomp"] {
        ctx.expect_eq(
            tr!(format!("exec has the init's {f}"), format!("exec 的 {f} 与 init 相同")),
            Fact::text(field(init, f)),
            Fact::text(field(found, f)),
            tr!(
                "exec applies the container's capabilities and seccomp profile again",
                "exec 再次应用容器的 capability 和 seccomp profile"
            ),
        );
    }
    let inside =
        |pid: i32| -> i64 { field(pid, "NSpid").split_whitespace().last().and_then(|p| p.parse().ok()).unwrap_or(0) };
    let inner = inside(found);
    ctx.observe(Observation::Values {
        title: tr!("Their pids inside the container (the last NSpid):", "它们在容器里的 pid（NSpid 的最后一个）："),
        values: vec![
            (ctx.t(&tr!("the init", "init")), Fact::Number(inside(init))),
            (ctx.t(&tr!("the exec'd sleep", "exec 出的 sleep")), Fact::Pid(inner)),
        ],
    });
    ctx.expect(
        tr!("inside, the exec'd process has a small pid, not 1", "在里面，exec 出来的进程有一个小的 pid，而不是 1"),
        "> 1",
        Fact::Pid(inner),
        inner > 1,
        tr!("PID 1 stays the init; the others get the next numbers", "PID 1 仍是 init；其他进程得到后面的编号"),
    );
    state.exec_pid = found;
    Ok(())
}

fn logs(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let out = docker.ok(&["logs", WEB])?;
    let doc = docker.inspect(WEB)?;
    let log_path = PathBuf::from(doc["LogPath"].as_str().unwrap_or(""));
    let raw = std::fs::read_to_string(&log_path).with_context(|| format!("reading {}", log_path.display()))?;
    let rows: Vec<Vec<Fact>> = raw
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            vec![
                Fact::text(format!("{:?}", v["log"].as_str().unwrap_or(""))),
                Fact::text(v["stream"].as_str().unwrap_or("")),
                Fact::Measured(v["time"].as_str().unwrap_or("").to_string()),
            ]
        })
        .collect();
    ctx.observe(Observation::Values {
        title: tr!("labctl container logs lclife-web:", "labctl container logs lclife-web："),
        values: vec![("stdout".into(), Fact::text(out.trim_end()))],
    });
    ctx.observe(Observation::Table {
        title: tr!(
            "Its json-file log (LogPath), one JSON object a line:",
            "它的 json-file 日志（LogPath），每行一个 JSON 对象："
        ),
        columns: ["log", "stream", "time"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    let web = docker.container(&state.web_id)?;
    let fd_target = |pid: i32, fd: &str| {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).map(|t| t.display().to_string()).unwrap_or_default()
    };
    let init_out = fd_target(web.pid, "1");
    let mut sup_fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{}/fd", web.supervisor))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let fd = e.file_name().to_string_lossy().into_owned();
            let t = fd_target(web.supervisor, &fd);
            (fd, t)
        })
        .collect();
    sup_fds.sort_by_key(|(fd, _)| fd.parse::<i32>().unwrap_or(0));
    let reader = sup_fds.iter().find(|(_, t)| *t == init_out).map(|(fd, _)| fd.clone());
    let writer = sup_fds.iter().find(|(_, t)| Path::new(t) == log_path).map(|(fd, _)| fd.clone());
    let inode =
        |t: &str| t.strip_prefix("pipe:[").and_then(|r| r.strip_suffix(']')).and_then(|n| n.parse::<u64>().ok());
    let mut rows = vec![vec![
        Fact::text("init"),
        Fact::text("1 (stdout)"),
        inode(&init_out).map(Fact::Inode).unwrap_or_else(|| Fact::text(init_out.clone())),
    ]];
    if let Some(fd) = &reader {
        rows.push(vec![
            Fact::text("supervisor"),
            Fact::Measured(fd.clone()),
            inode(&init_out).map(Fact::Inode).unwrap_or(Fact::Number(0)),
        ]);
    }
    if let Some(fd) = &writer {
        rows.push(vec![Fact::text("supervisor"), Fact::Measured(fd.clone()), Fact::text("LogPath (-json.log)")]);
    }
    ctx.observe(Observation::Table {
        title: tr!("Who holds what (ls -l /proc/PID/fd):", "谁拿着什么（ls -l /proc/PID/fd）："),
        columns: ["PROCESS", "FD", "PIPE INODE / FILE"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.expect_eq(
        tr!("logs prints what the container wrote", "logs 打印出容器写的内容"),
        "started",
        out.trim_end().to_string(),
        tr!("the init ran `echo started` first", "init 首先执行了 `echo started`"),
    );
    ctx.expect(
        tr!(
            "the init's stdout is a pipe whose other end the supervisor reads",
            "init 的 stdout 是一个管道，另一端由 supervisor 读取"
        ),
        ctx.t(&tr!("the same pipe inode", "同一个管道 inode")),
        Fact::text(if reader.is_some() && init_out.starts_with("pipe:") {
            ctx.t(&tr!("the same pipe inode", "同一个管道 inode"))
        } else {
            ctx.t(&tr!("not found", "没有找到"))
        }),
        reader.is_some() && init_out.starts_with("pipe:"),
        tr!("the supervisor copies each line into the json-file log", "supervisor 把每一行复制进 json-file 日志"),
    );
    ctx.expect(
        tr!("the supervisor has the log file open", "supervisor 打开着日志文件"),
        ctx.word("open"),
        Fact::text(if writer.is_some() { ctx.word("open") } else { ctx.t(&tr!("not open", "没有打开")) }),
        writer.is_some(),
        tr!(
            "docker's json-file driver lives in dockerd; here in the supervisor",
            "docker 的 json-file 驱动在 dockerd 里；这里在 supervisor 里"
        ),
    );
    Ok(())
}

/// `attach NAME` on a pseudo-terminal of the lab's own: types `line`, reads until `answer`
/// appears, then detaches with Ctrl-P Ctrl-Q. Returns what the screen showed after the
/// command and attach's exit code.
fn attach_through_pty(
    ctx: &Ctx,
    docker: &EngineCli,
    name: &str,
    line: &str,
    answer: &str,
) -> anyhow::Result<(bool, i32)> {
    use nix::fcntl::OFlag;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let mut master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).context("posix_openpt")?;
    grantpt(&master).context("grantpt")?;
    unlockpt(&master).context("unlockpt")?;
    let slave_path = ptsname_r(&master).context("ptsname")?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .with_context(|| format!("opening {slave_path}"))?;
    let mut child = docker
        .command(&["attach", name])
        .stdin(slave.try_clone()?)
        .stdout(slave.try_clone()?)
        .stderr(slave)
        .spawn()
        .context("running labctl container attach")?;
    let pid = child.id() as i32;
    let undo = labkit::sys::process_start_time(pid).map(|start_time| Undo::Kill { pid, start_time });
    if let Some(u) = &undo {
        ctx.register(u.clone());
    }
    master.write_all(format!("{line}\r").as_bytes()).context("typing into the pty")?;
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) > 0 {
            let mut buf = [0u8; 4096];
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => screen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        if screen.split(['\r', '\n']).any(|l| l.trim() == answer) {
            seen = true;
            break;
        }
    }
    // Ctrl-P Ctrl-Q: docker's detach keys.
    master.write_all(&[0x10, 0x11]).context("typing the detach keys")?;
    let mut code = None;
    wait_for(Duration::from_secs(10), || {
        code = child.try_wait().ok().flatten().map(|s| s.code().unwrap_or(128));
        code.is_some()
    });
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some(u) = undo {
        ctx.cleanup().forget(&u);
    }
    Ok((seen, code.unwrap_or(-1)))
}

fn attach(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let tty = docker.run_detached(ctx, TTY, &["-i", "-t"], &["sh"])?;
    let fd0 =
        std::fs::read_link(format!("/proc/{}/fd/0", tty.pid)).map(|t| t.display().to_string()).unwrap_or_default();
    let supervisor_ptmx = std::fs::read_dir(format!("/proc/{}/fd", tty.supervisor))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.ends_with("ptmx")))
        .count();
    let (seen, code) = attach_through_pty(ctx, docker, TTY, "echo $((6*7))", "42")?;
    let alive = !gone(tty.pid);
    ctx.observe(Observation::Values {
        title: tr!("run -dit, then attach on a pty of the lab's own:", "run -dit，然后在实验自己的 pty 上 attach："),
        values: vec![
            (ctx.t(&tr!("init /proc/PID/fd/0", "init 的 /proc/PID/fd/0")), Fact::text(fd0.clone())),
            (
                ctx.t(&tr!("supervisor fds on /dev/ptmx", "supervisor 指向 /dev/ptmx 的 fd")),
                Fact::Number(supervisor_ptmx as i64),
            ),
            (ctx.t(&tr!("typed", "输入")), Fact::text("echo $((6*7))")),
            (
                ctx.t(&tr!("the container's sh answered 42", "容器的 sh 答出了 42")),
                Fact::text(ctx.word(if seen { "yes" } else { "no" })),
            ),
            (
                ctx.t(&tr!("Ctrl-P Ctrl-Q: attach exit code", "Ctrl-P Ctrl-Q：attach 的退出码")),
                Fact::Number(code.into()),
            ),
            (
                ctx.t(&tr!("the container after the detach", "分离之后的容器")),
                Fact::text(if alive { ctx.word("running") } else { ctx.t(&tr!("gone", "已退出")) }),
            ),
        ],
    });
    ctx.expect(
        tr!("the container's stdin is a pty inside it", "容器的 stdin 是它里面的一个 pty"),
        "/dev/pts/N",
        Fact::text(fd0.clone()),
        fd0.starts_with("/dev/pts/"),
        tr!(
            "-t asks the runtime for a console: a pty pair, the master sent to the supervisor",
            "-t 要求运行时提供 console：一对 pty，主端交给 supervisor"
        ),
    );
    ctx.expect(
        tr!(
            "what we typed reached the container's shell, and its answer came back",
            "我们输入的内容到达了容器的 shell，它的回答也传了回来"
        ),
        "42",
        Fact::text(if seen { "42".to_string() } else { ctx.t(&tr!("no answer", "没有回答")) }),
        seen,
        tr!(
            "attach relays our terminal to the pty master the supervisor holds",
            "attach 把我们的终端转接到 supervisor 持有的 pty 主端"
        ),
    );
    ctx.expect(
        tr!(
            "Ctrl-P Ctrl-Q detaches: attach exits 0, the container runs on",
            "Ctrl-P Ctrl-Q 分离：attach 以 0 退出，容器继续运行"
        ),
        ctx.t(&tr!("0, running", "0，运行中")),
        Fact::text(format!(
            "{code}{}{}",
            ctx.t(&tr!(", ", "，")),
            if alive { ctx.word("running") } else { ctx.t(&tr!("gone", "已退出")) }
        )),
        code == 0 && alive,
        tr!(
            "detaching closes only the client's connection; the supervisor keeps the pty",
            "分离只关闭客户端的连接；supervisor 仍保留着 pty"
        ),
    );
    state.ids.push(tty.id);
    Ok(())
}

fn cp(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let host = state.base.join("host");
    std::fs::create_dir_all(&host).with_context(|| format!("mkdir {}", host.display()))?;
    let from_host = host.join("from-host.txt");
    std::fs::write(&from_host, "written on the host\n")?;
    let src = from_host.display().to_string();
    docker.ok(&["cp", &src, &format!("{WEB}:/tmp/from-host.txt")])?;
    let back = host.join("note.txt");
    docker.ok(&["cp", &format!("{WEB}:/tmp/note"), &back.display().to_string()])?;
    let inside = docker.ok(&["exec", WEB, "cat", "/tmp/from-host.txt"])?;
    let copied_back = std::fs::read_to_string(&back).unwrap_or_default();
    let via_root = std::fs::read_to_string(format!("/proc/{}/root/tmp/note", state.web_pid)).unwrap_or_default();
    let in_upper = std::fs::read_to_string(state.upper.join("tmp/from-host.txt")).unwrap_or_default();
    ctx.observe(Observation::Table {
        title: tr!("Both ways, while the container runs:", "两个方向，在容器运行时："),
        columns: ["READ", "CONTENT"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![Fact::text("exec lclife-web cat /tmp/from-host.txt"), Fact::text(inside.trim_end())],
            vec![Fact::text("UpperDir/tmp/from-host.txt (host)"), Fact::text(in_upper.trim_end())],
            vec![Fact::text("host/note.txt (cp lclife-web:/tmp/note)"), Fact::text(copied_back.trim_end())],
            vec![Fact::text("/proc/PID/root/tmp/note (host)"), Fact::text(via_root.trim_end())],
        ],
    });
    ctx.expect_eq(
        tr!("the host's file arrived inside", "主机的文件到了容器里"),
        "written on the host",
        inside.trim_end().to_string(),
        tr!("cp writes through /proc/PID/root, the init's own /", "cp 经由 /proc/PID/root（init 自己的 /）写入"),
    );
    ctx.expect_eq(
        tr!("and landed in the container's upper dir", "并落在容器的 upper 目录里"),
        "written on the host",
        in_upper.trim_end().to_string(),
        tr!("a new file in an overlay is written to the upper dir", "overlay 中新建的文件写在 upper 目录里"),
    );
    ctx.expect_eq(
        tr!("the container's file came out", "容器里的文件被拷了出来"),
        "written inside",
        copied_back.trim_end().to_string(),
        tr!("the init wrote /tmp/note when it started", "init 启动时写下了 /tmp/note"),
    );
    Ok(())
}

fn stop(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let trap = docker.run_detached(ctx, TRAP, &[], &["sh", "-c", TRAP_SCRIPT])?;
    // The trap is set once sh has printed "waiting".
    wait_for(Duration::from_secs(5), || docker.ok(&["logs", TRAP]).is_ok_and(|l| l.contains("waiting")));
    let web = docker.container(&state.web_id)?;
    let masks = |pid: i32| (status_field(pid, "SigCgt"), status_field(pid, "SigIgn"));
    let (web_cgt, web_ign) = masks(web.pid);
    let (trap_cgt, trap_ign) = masks(trap.pid);
    let names = |hex: &str| {
        let n = signal_names(hex);
        if n.is_empty() {
            "-".to_string()
        } else {
            n.join(" ")
        }
    };
    ctx.observe(Observation::Table {
        title: tr!("The signal masks of each PID 1 (/proc/PID/status):", "每个 PID 1 的信号掩码（/proc/PID/status）："),
        columns: ["CONTAINER", "PID 1", "SigCgt (handled)", "SigIgn (ignored)"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                Fact::text(WEB),
                Fact::text(cmdline(web.pid)),
                Fact::text(names(&web_cgt)),
                Fact::text(names(&web_ign)),
            ],
            vec![
                Fact::text(TRAP),
                Fact::text("sh -c trap … TERM"),
                Fact::text(names(&trap_cgt)),
                Fact::text(names(&trap_ign)),
            ],
        ],
    });
    let t = Instant::now();
    docker.ok(&["stop", "-t", "10", TRAP])?;
    let trap_took = t.elapsed();
    let t = Instant::now();
    docker.ok(&["stop", "-t", "2", WEB])?;
    let web_took = t.elapsed();
    let code =
        |name: &str| -> anyhow::Result<i64> { Ok(docker.inspect(name)?["State"]["ExitCode"].as_i64().unwrap_or(-1)) };
    let (web_code, trap_code) = (code(WEB)?, code(TRAP)?);
    let trap_log = docker.ok(&["logs", TRAP])?;
    let exec_gone = gone(state.exec_pid);
    let cgroups = cgroup_dirs_of(&state.web_id).len();
    ctx.observe(Observation::Table {
        title: tr!("stop: SIGTERM, then SIGKILL after -t seconds:", "stop：先 SIGTERM，-t 秒后 SIGKILL："),
        columns: ["CONTAINER", "STOP TOOK", "State.ExitCode", "LAST LOG LINE"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                Fact::text(format!("{TRAP} (stop -t 10)")),
                Fact::Duration(trap_took),
                Fact::Number(trap_code),
                Fact::text(trap_log.lines().last().unwrap_or("")),
            ],
            vec![
                Fact::text(format!("{WEB} (stop -t 2)")),
                Fact::Duration(web_took),
                Fact::Number(web_code),
                Fact::text("started"),
            ],
        ],
    });
    ctx.observe(Observation::Values {
        title: tr!("After the stop (/proc, /sys/fs/cgroup):", "stop 之后（/proc、/sys/fs/cgroup）："),
        values: vec![
            (
                ctx.t(&tr!("lclife-web's init", "lclife-web 的 init")),
                Fact::text(if gone(web.pid) { ctx.t(&tr!("gone", "已退出")) } else { ctx.word("alive") }),
            ),
            (
                ctx.t(&tr!("the exec'd sleep", "exec 出的 sleep")),
                Fact::text(if exec_gone { ctx.t(&tr!("gone", "已退出")) } else { ctx.word("alive") }),
            ),
            (
                ctx.t(&tr!("lclife-web's cgroup directories", "lclife-web 的 cgroup 目录数")),
                Fact::Number(cgroups as i64),
            ),
            (
                ctx.t(&tr!("lclife-web's supervisor", "lclife-web 的 supervisor")),
                Fact::text(if gone(web.supervisor) { ctx.t(&tr!("gone", "已退出")) } else { ctx.word("alive") }),
            ),
        ],
    });
    ctx.expect(
        tr!("sleep as PID 1 handles no signal", "作为 PID 1 的 sleep 不处理任何信号"),
        ctx.t(&tr!("SIGTERM not in SigCgt", "SigCgt 中没有 SIGTERM")),
        Fact::text(names(&web_cgt)),
        !has_signal(&web_cgt, "SIGTERM"),
        tr!("sleep installs no handlers", "sleep 不安装任何信号处理函数"),
    );
    ctx.expect(
        tr!("the trapping sh handles SIGTERM", "设置了 trap 的 sh 处理 SIGTERM"),
        ctx.t(&tr!("SIGTERM in SigCgt", "SigCgt 中有 SIGTERM")),
        Fact::text(names(&trap_cgt)),
        has_signal(&trap_cgt, "SIGTERM"),
        tr!("`trap … TERM` installs a handler", "`trap … TERM` 安装了一个处理函数"),
    );
    ctx.expect_eq(
        tr!(
            "the SIGTERM the kernel delivered ended the trapping sh: exit 0",
            "内核递送的 SIGTERM 结束了那个 sh：退出码 0"
        ),
        Fact::Number(0),
        Fact::Number(trap_code),
        tr!("its handler ran `exit 0`", "它的处理函数执行了 `exit 0`"),
    );
    ctx.expect_eq(
        tr!(
            "sleep ignored SIGTERM and was SIGKILLed: 128 + 9",
            "sleep 忽略了 SIGTERM，被 SIGKILL：128 + 9"
        ),
        Fact::Number(137),
        Fact::Number(web_code),
        tr!(
            "the kernel drops a signal with no handler sent to a pid namespace's init; only SIGKILL from outside gets through",
            "发给 pid namespace 的 init、而 init 没有处理函数的信号会被内核丢弃；只有来自外面的 SIGKILL 能穿过"
        ),
    );
    ctx.expect(
        tr!("the exec'd process died with the init", "exec 出来的进程随 init 一起结束"),
        ctx.t(&tr!("gone", "已退出")),
        Fact::text(if exec_gone { ctx.t(&tr!("gone", "已退出")) } else { ctx.word("alive") }),
        exec_gone,
        tr!(
            "when a pid namespace's init dies the kernel SIGKILLs every process in it",
            "pid namespace 的 init 死去时，内核会 SIGKILL 其中的每个进程"
        ),
    );
    ctx.expect_eq(
        tr!("the container's cgroup is removed", "容器的 cgroup 被删除了"),
        Fact::Number(0),
        Fact::Number(cgroups as i64),
        tr!(
            "stop deletes the runtime's container: its cgroup goes with it",
            "stop 会删除运行时中的容器：它的 cgroup 也随之删除"
        ),
    );
    state.ids.push(trap.id);
    Ok(())
}

fn cp_stopped(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let file = state.base.join("host/while-stopped.txt");
    std::fs::write(&file, "copied while stopped\n")?;
    docker.ok(&["cp", &file.display().to_string(), &format!("{WEB}:/tmp/while-stopped.txt")])?;
    let merged = state.web_dir().join("merged");
    let mounted = labkit::mountinfo::read("/proc/self/mountinfo")
        .unwrap_or_default()
        .iter()
        .any(|m| Path::new(&m.mount_point) == merged);
    let mut files: Vec<String> = std::fs::read_dir(state.upper.join("tmp"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let content = std::fs::read_to_string(state.upper.join("tmp/while-stopped.txt")).unwrap_or_default();
    let status = docker.ok(&["inspect", "--format", "{{.State.Status}}", WEB])?;
    ctx.observe(Observation::Values {
        title: tr!("cp into the stopped container, then the host's view:", "cp 进已停止的容器，然后从主机上看："),
        values: vec![
            ("State.Status".into(), Fact::text(status.trim())),
            ("ls UpperDir/tmp".into(), Fact::text(files.join(" "))),
            ("UpperDir/tmp/while-stopped.txt".into(), Fact::text(content.trim_end())),
            (
                ctx.t(&tr!("MergedDir mounted now", "MergedDir 现在已挂载")),
                Fact::text(ctx.word(if mounted { "yes" } else { "no" })),
            ),
        ],
    });
    ctx.expect_eq(
        tr!("the file is in the upper dir", "文件在 upper 目录里"),
        "copied while stopped",
        content.trim_end().to_string(),
        tr!(
            "with no init there is no /proc/PID/root: cp mounts the overlay for the copy",
            "没有 init 就没有 /proc/PID/root：cp 为这次拷贝挂载 overlay"
        ),
    );
    ctx.expect(
        tr!("and the overlay is unmounted again", "之后 overlay 又被卸载了"),
        ctx.word("no"),
        ctx.word(if mounted { "yes" } else { "no" }),
        !mounted,
        tr!("a stopped container holds no mount", "已停止的容器不占用任何挂载"),
    );
    Ok(())
}

impl State {
    fn web_dir(&self) -> PathBuf {
        self.base.join("lib/containers").join(&self.web_id)
    }
}

fn start(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    docker.ok(&["start", WEB])?;
    let web = docker.container(&state.web_id)?;
    for pid in [web.supervisor, web.pid] {
        if let Some(start_time) = labkit::sys::process_start_time(pid) {
            ctx.register(Undo::Kill { pid, start_time });
        }
    }
    let upper = docker.inspect(WEB)?["GraphDriver"]["Data"]["UpperDir"].as_str().unwrap_or("").to_string();
    let kernel_upper = upperdir_of(web.pid);
    let files = docker.ok(&["exec", WEB, "cat", "/tmp/note", "/tmp/from-host.txt", "/tmp/while-stopped.txt"])?;
    let log = docker.ok(&["logs", WEB])?;
    let mut rows = Vec::new();
    let mut own = true;
    for (ns, before) in &state.web_ns {
        let (ours, now) = (ns_inode("self", ns), ns_inode(&web.pid.to_string(), ns));
        own &= now != ours && now != 0;
        rows.push(ns_table_row(
            ns,
            vec![
                Fact::Inode(*before),
                Fact::Inode(now),
                Fact::Inode(ours),
                Fact::text(ctx.word(if now != ours { "yes" } else { "no" })),
            ],
        ));
    }
    ctx.observe(Observation::Values {
        title: tr!("start lclife-web:", "start lclife-web："),
        values: vec![
            (ctx.t(&tr!("init pid, first run", "init 的 pid，第一次运行")), Fact::Pid(state.web_pid.into())),
            (ctx.t(&tr!("init pid, now", "init 的 pid，现在")), Fact::Pid(web.pid.into())),
            (ctx.t(&tr!("UpperDir (inspect)", "UpperDir（inspect）")), id_path(&upper)),
            (
                ctx.t(&tr!("upperdir= (/proc/PID/mountinfo)", "upperdir=（/proc/PID/mountinfo）")),
                id_path(&kernel_upper),
            ),
            (
                "cat /tmp/note /tmp/from-host.txt /tmp/while-stopped.txt".into(),
                Fact::text(files.trim_end().replace('\n', " | ")),
            ),
            ("logs".into(), Fact::text(log.trim_end().replace('\n', " | "))),
        ],
    });
    ctx.observe(Observation::Table {
        title: tr!("Its namespaces, first run and now:", "它的 namespace，第一次运行时和现在："),
        columns: ["NS", "FIRST RUN", "NOW", "LABCTL", "OWN"].iter().map(|s| s.to_string()).collect(),
        rows,
    });
    ctx.expect(
        tr!("a new init with a new pid", "一个新的 init，pid 也是新的"),
        ctx.t(&tr!("a different pid", "一个不同的 pid")),
        Fact::Pid(web.pid.into()),
        web.pid != state.web_pid && web.pid > 0,
        tr!("start runs the container's process again: a new process", "start 再次运行容器的进程：一个新进程"),
    );
    ctx.expect(
        tr!("the same upper dir, mounted again", "同一个 upper 目录，再次被挂载"),
        ctx.t(&tr!("inspect's UpperDir, as before", "inspect 的 UpperDir，和之前一样")),
        id_path(&kernel_upper),
        kernel_upper == upper && Path::new(&upper) == state.upper,
        tr!("the container's writable layer is kept until rm", "容器的可写层一直保留到 rm"),
    );
    ctx.expect_eq(
        tr!("every file written before is still there", "之前写入的每个文件都还在"),
        "written inside | written on the host | copied while stopped",
        files.trim_end().replace('\n', " | "),
        tr!(
            "they live in the upper dir; note was written again by the init",
            "它们在 upper 目录里；note 被 init 又写了一遍"
        ),
    );
    ctx.expect(
        tr!("the new init has six namespaces of its own again", "新的 init 又有了自己的六个 namespace"),
        ctx.t(&tr!("all six differ from labctl's", "六个都与 labctl 的不同")),
        Fact::text(if own {
            ctx.t(&tr!("all six differ from labctl's", "六个都与 labctl 的不同"))
        } else {
            ctx.t(&tr!("some are labctl's", "有些是 labctl 的"))
        }),
        own,
        tr!(
            "the first run's namespaces died with its init: the runtime made new ones",
            "第一次运行的 namespace 随它的 init 一起消失了：运行时创建了新的"
        ),
    );
    ctx.expect_eq(
        tr!("the log kept the first run's line and added the second's", "日志保留了第一次运行的那行，又加上了第二次的"),
        "started | started",
        log.trim_end().replace('\n', " | "),
        tr!("the json-file log is appended to, not replaced", "json-file 日志是追加写入，而不是替换"),
    );
    state.web_pid = web.pid;
    Ok(())
}

fn rm(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let docker = state.docker()?;
    let refused = docker.run(&["rm", WEB])?;
    let refusal: anyhow::Result<()> = if refused.ok() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("exit {}: {}", refused.code, refused.stderr.trim_start_matches("labctl container: ")))
    };
    ctx.expect_failure(
        tr!("rm of a running container", "rm 一个运行中的容器"),
        Failure::Labctl {
            what: "a refusal naming rm -f (exit 125)",
            is: |e| e.to_string().starts_with("exit 125: ") && e.to_string().contains("rm -f"),
        },
        refusal,
        tr!("docker refuses too: stop it first, or rm -f", "docker 也会拒绝：先 stop，或者用 rm -f"),
    );
    let pids: Vec<i32> = [WEB, TTY, TRAP]
        .iter()
        .filter_map(|n| docker.inspect(n).ok())
        .flat_map(|d| [d["State"]["Pid"].as_i64().unwrap_or(0) as i32])
        .filter(|p| *p > 0)
        .collect();
    docker.ok(&["rm", "-f", WEB, TTY])?;
    docker.ok(&["rm", TRAP])?;
    for name in [WEB, TTY, TRAP] {
        ctx.cleanup().forget(&docker.rm_undo(name));
    }
    let listed = docker.ok(&["ps", "-aq"])?;
    let dirs: usize = std::fs::read_dir(docker.lib.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    let mounts = labkit::mountinfo::read("/proc/self/mountinfo")
        .unwrap_or_default()
        .iter()
        .filter(|m| Path::new(&m.mount_point).starts_with(&state.base))
        .count();
    let cgroups: usize = state.ids.iter().map(|id| cgroup_dirs_of(id).len()).sum();
    let alive = pids.iter().filter(|p| !gone(**p)).count();
    ctx.observe(Observation::Values {
        title: tr!(
            "After rm -f lclife-web lclife-tty and rm lclife-trap:",
            "rm -f lclife-web lclife-tty 和 rm lclife-trap 之后："
        ),
        values: vec![
            ("ps -aq".into(), Fact::Number(listed.lines().count() as i64)),
            (
                ctx.t(&tr!("container directories (config, log, upper dir)", "容器目录（配置、日志、upper 目录）")),
                Fact::Number(dirs as i64),
            ),
            (ctx.t(&tr!("mounts under the lab's directory", "实验目录下的挂载")), Fact::Number(mounts as i64)),
            (ctx.t(&tr!("cgroup directories of the three", "这三个容器的 cgroup 目录")), Fact::Number(cgroups as i64)),
            (ctx.t(&tr!("their processes alive", "仍在运行的进程")), Fact::Number(alive as i64)),
        ],
    });
    let nothing = listed.trim().is_empty() && dirs == 0 && mounts == 0 && cgroups == 0 && alive == 0;
    ctx.expect(
        tr!("rm leaves nothing of the containers", "rm 之后容器什么都没有留下"),
        ctx.t(&tr!("0 everywhere", "处处为 0")),
        Fact::text(if nothing { ctx.t(&tr!("0 everywhere", "处处为 0")) } else { ctx.word("something is left") }),
        nothing,
        tr!(
            "rm -f kills, unmounts, removes the cgroup and the container's directory, upper dir included",
            "rm -f 会杀掉进程、卸载、删除 cgroup 以及容器的目录（包括 upper 目录）"
        ),
    );
    Ok(())
}

/// The challenge: a running container of the learner's engine whose PID 1 handles SIGTERM and
/// holds /tmp/hello.txt containing `hello`.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let engine = crate::Engine::from_env();
    let running: Vec<crate::record::Record> =
        engine.records().into_iter().filter(|r| engine.live(r) == crate::engine::Live::Running).collect();
    let fits = |r: &crate::record::Record| {
        let pid = r.state.pid;
        let hello = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/hello.txt")).unwrap_or_default();
        has_signal(&status_field(pid, "SigCgt"), "SIGTERM") && hello.trim_end() == "hello"
    };
    let found = running.iter().find(|r| fits(r));
    ctx.expect(
        tr!(
            "a running container whose PID 1 handles SIGTERM and holds /tmp/hello.txt",
            "一个运行中的容器，它的 PID 1 处理 SIGTERM，并且有 /tmp/hello.txt"
        ),
        ctx.t(&tr!("SIGTERM in SigCgt, /tmp/hello.txt = hello", "SigCgt 中有 SIGTERM，/tmp/hello.txt = hello")),
        match found {
            Some(r) => format!("{} (pid {})", r.bare_name(), r.state.pid),
            None => ctx.t(&tr!(
                format!("none of {} running container(s)", running.len()),
                format!("{} 个运行中的容器都不是", running.len())
            )),
        },
        found.is_some(),
        tr!(
            "sudo labctl container run -d --name mybox busybox sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done', then echo hello > hello.txt and sudo labctl container cp hello.txt mybox:/tmp/",
            "sudo labctl container run -d --name mybox busybox sh -c 'trap \"exit 0\" TERM; while true; do sleep 1; done'，然后 echo hello > hello.txt，再 sudo labctl container cp hello.txt mybox:/tmp/"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_masks_decode_to_names() {
        assert_eq!(signal_names("0000000000014002"), ["SIGINT", "SIGTERM", "SIGCHLD"]);
        assert!(signal_names("0000000000000000").is_empty());
        assert!(has_signal("0000000000004000", "SIGTERM"));
    }

    #[test]
    fn ns_links_parse_to_inodes() {
        assert_eq!(parse_ns_link("net:[4026532008]"), Some(4026532008));
        assert_eq!(parse_ns_link("pipe:[60603]"), Some(60603));
        assert_eq!(parse_ns_link("/dev/null"), None);
    }

    #[test]
    fn a_container_id_in_text_becomes_volatile_segments() {
        let id = "990aff4ff60950edf24fd2b147d7c62281cb56ec8988fa0f68a5c161b1ad0342";
        let line = format!("0::/labctl/containers/{id}");
        let facts = with_id(&line, id);
        assert_eq!(facts, [Fact::text("0::/labctl/containers/"), Fact::Measured(id.into())]);
        let short = with_id("host 990aff4ff609 end", id);
        assert_eq!(short, [Fact::text("host "), Fact::Measured("990aff4ff609".into()), Fact::text(" end")]);
    }

    #[test]
    fn the_cgroup_dir_follows_the_hierarchy_of_the_line() {
        assert_eq!(cgroup_dir("0::/labctl/containers/x"), Path::new("/sys/fs/cgroup/labctl/containers/x"));
        assert_eq!(cgroup_dir("8:pids:/labctl/containers/x"), Path::new("/sys/fs/cgroup/pids/labctl/containers/x"));
    }
}
