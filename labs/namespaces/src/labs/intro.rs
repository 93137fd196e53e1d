//! `ns-intro`: task_struct → nsproxy as /proc/PID/ns shows it; every namespace type with the
//! kernel that introduced it; the system's namespaces (lsns); fork inherits; the three
//! operations clone, setns and unshare, each with the inode it changed.

use super::{alive, headers, link, listed, start};
use crate::spawn::{NsChild, Spawner};
use anyhow::Context;
use labkit::probe::{self, NsId, NAMESPACE_TYPES};
use labkit::sys;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use nix::sched::CloneFlags;
use std::path::Path;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-intro",
    source: file!(),
    steps: &[
        ("nsproxy", nsproxy),
        ("lsns", lsns),
        ("fork", fork),
        ("clone", clone),
        ("setns", setns),
        ("unshare", unshare),
        ("cleanup", cleanup),
    ],
    check,
};

/// Where the kernel keeps each type's pointer, and what the type isolates (en, zh).
const KERNEL: [(&str, &str, &str, &str); 8] = [
    ("mnt", "nsproxy->mnt_ns", "mount points", "挂载点"),
    ("uts", "nsproxy->uts_ns", "hostname, NIS domainname", "主机名、NIS 域名"),
    ("ipc", "nsproxy->ipc_ns", "System V IPC, POSIX message queues", "System V IPC、POSIX 消息队列"),
    // ns/pid is the task's own pid namespace (from its struct pid); nsproxy->pid_ns_for_children is pid_for_children.
    ("pid", "task_active_pid_ns(task)", "process IDs", "进程号"),
    ("net", "nsproxy->net_ns", "network devices, stacks, ports", "网络设备、协议栈、端口"),
    ("user", "cred->user_ns", "user and group IDs, capabilities", "用户和组 ID、capability"),
    ("cgroup", "nsproxy->cgroup_ns", "the cgroup root a process sees", "进程看到的 cgroup 根目录"),
    ("time", "nsproxy->time_ns", "CLOCK_MONOTONIC, CLOCK_BOOTTIME offsets", "CLOCK_MONOTONIC、CLOCK_BOOTTIME 偏移"),
];

/// The two types the clone step creates (`unshare --uts --ipc`).
const CLONED: [&str; 2] = ["uts", "ipc"];

#[derive(Default)]
pub struct State {
    ours: Vec<NsId>,
    forked: Option<NsChild>,
    cloned: Option<NsChild>,
    cloned_ns: Vec<NsId>,
}

fn types() -> impl Iterator<Item = &'static str> {
    NAMESPACE_TYPES.iter().map(|t| t.name)
}

/// Our link of each type next to `pid`'s: rows TYPE OURS CHILD MARK (`same_word` or `new_word`),
/// and the types that differ.
fn compare(pid: i32, same_word: &str, new_word: &str) -> anyhow::Result<(Vec<Vec<Fact>>, Vec<&'static str>)> {
    let mut rows = Vec::new();
    let mut differing = Vec::new();
    for t in types() {
        let ours = link(None, t)?;
        let theirs = link(Some(pid), t)?;
        if ours != theirs {
            differing.push(t);
        }
        rows.push(vec![
            Fact::text(t),
            Fact::Inode(ours.inode),
            Fact::Inode(theirs.inode),
            Fact::text(if ours == theirs { same_word } else { new_word }),
        ]);
    }
    Ok((rows, differing))
}

fn nsproxy(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for (probe::NsType { name: t, flag_name: flag, since, .. }, (_, field, en, zh)) in
        NAMESPACE_TYPES.iter().zip(KERNEL)
    {
        let Ok(id) = link(None, t) else { continue };
        rows.push(vec![
            Fact::text(*t),
            Fact::Inode(id.inode),
            Fact::text(*flag),
            Fact::text(*since),
            Fact::text(field),
            Fact::text(ctx.t(&tr!(en, zh))),
        ]);
        state.ours.push(id);
    }
    let present = rows.len();
    ctx.observe(Observation::Table {
        title: tr!(
            "ls -l /proc/self/ns: one link per namespace type, with where the kernel keeps it:",
            "ls -l /proc/self/ns：每种 namespace 一个链接，以及内核把它存在哪里："
        ),
        columns: headers(
            ctx,
            &[
                ("TYPE", "类型"),
                ("INODE", "INODE"),
                ("CLONE FLAG", "CLONE 标志"),
                ("SINCE", "引入版本"),
                ("KERNEL POINTER", "内核指针"),
                ("ISOLATES", "隔离的内容"),
            ],
        ),
        rows,
    });
    let mut children = Vec::new();
    for (entry, t) in [("pid_for_children", "pid"), ("time_for_children", "time")] {
        let target = std::fs::read_link(format!("/proc/self/ns/{entry}"))
            .with_context(|| format!("reading /proc/self/ns/{entry}"))?;
        let id = probe::parse_ns_link(&target.to_string_lossy())?;
        let own = link(None, t)?;
        children.push(vec![
            Fact::text(entry),
            Fact::Inode(id.inode),
            Fact::text(if id == own {
                ctx.t(&tr!(format!("same as {t}"), format!("与 {t} 相同")))
            } else {
                ctx.t(&tr!(format!("differs from {t}"), format!("与 {t} 不同")))
            }),
        ]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "The two links for the namespaces our future children get:",
            "另外两个链接：我们将来的子进程会得到的 namespace："
        ),
        columns: headers(ctx, &[("ENTRY", "条目"), ("INODE", "INODE"), ("", "")]),
        rows: children,
    });
    ctx.set("types", Fact::Number(present as i64));
    ctx.expect_eq(
        tr!("/proc/self/ns has a link for all eight types", "/proc/self/ns 里八种类型的链接都在"),
        Fact::Number(NAMESPACE_TYPES.len() as i64),
        Fact::Number(present as i64),
        tr!(
            "cgroup namespaces need Linux 4.6 and time namespaces 5.6 (CONFIG_TIME_NS)",
            "cgroup namespace 需要 Linux 4.6，time namespace 需要 5.6（CONFIG_TIME_NS）"
        ),
    );
    Ok(())
}

fn lsns(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let all = probe::list_namespaces(None);
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for t in types() {
        let of_type: Vec<_> = all.iter().filter(|e| e.id.ns_type == t).collect();
        let processes: usize = of_type.iter().map(|e| e.processes).sum();
        let ours = state.ours.iter().find(|id| id.ns_type == t);
        let ours_entry = ours.and_then(|id| of_type.iter().find(|e| &e.id == id));
        if ours_entry.is_none() {
            missing.push(t);
        }
        rows.push(vec![
            Fact::text(t),
            Fact::Measured(of_type.len().to_string()),
            Fact::Measured(processes.to_string()),
            ours.map(|id| Fact::Inode(id.inode)).unwrap_or_else(|| Fact::text("-")),
            ours_entry.map(|e| Fact::Measured(e.processes.to_string())).unwrap_or_else(|| Fact::text("-")),
        ]);
    }
    ctx.observe(Observation::Table {
        title: tr!(
            "Every namespace of this system, read from /proc/*/ns (lsns), counted per type:",
            "从 /proc/*/ns 读出的本机全部 namespace（lsns），按类型计数："
        ),
        columns: headers(
            ctx,
            &[
                ("TYPE", "类型"),
                ("NAMESPACES", "namespace 数"),
                ("PROCESSES", "进程数"),
                ("OURS", "我们的"),
                ("PROCESSES IN OURS", "与我们同在的进程数"),
            ],
        ),
        rows,
    });
    ctx.set("total", Fact::Measured(all.len().to_string()));
    ctx.expect(
        tr!("each of our namespaces is in the listing", "我们的每个 namespace 都在列表里"),
        ctx.t(&tr!("all 8 listed", "8 个全部列出")),
        if missing.is_empty() {
            ctx.t(&tr!("all listed", "全部列出"))
        } else {
            ctx.t(&tr!(format!("missing: {}", missing.join(", ")), format!("缺少：{}", missing.join("、"))))
        },
        missing.is_empty(),
        tr!(
            "lsns finds a namespace through the processes in it: is /proc mounted from our pid namespace?",
            "lsns 通过其中的进程找到 namespace：/proc 是从我们的 pid namespace 挂载的吗？"
        ),
    );
    Ok(())
}

fn fork(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let child = start(ctx, Spawner::new(CloneFlags::empty()), &["sleep", "infinity"])
        .context("forking a child that runs sleep")?;
    let (rows, differing) = compare(child.pid, &ctx.word("same"), &ctx.word("new"))?;
    ctx.observe(Observation::Table {
        title: tr!(
            "A plain fork's namespaces (clone without CLONE_NEW* flags) next to ours:",
            "普通 fork（不带 CLONE_NEW* 标志的 clone）得到的 namespace 与我们的对比："
        ),
        columns: headers(ctx, &[("TYPE", "类型"), ("OURS", "我们的"), ("CHILD", "子进程"), ("", "")]),
        rows,
    });
    ctx.set("pid", Fact::Pid(child.pid.into()));
    let none_differ = ctx.t(&tr!("none differ", "没有一个不同"));
    ctx.expect(
        tr!("the child shares every one of our namespaces", "子进程与我们共享每一个 namespace"),
        none_differ.clone(),
        if differing.is_empty() { none_differ } else { differing.join(", ") },
        differing.is_empty(),
        tr!("fork copies the parent's nsproxy pointer", "fork 复制了父进程的 nsproxy 指针"),
    );
    state.forked = Some(child);
    Ok(())
}

fn clone(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let spawner = Spawner::new(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC);
    let child =
        start(ctx, spawner, &["sleep", "infinity"]).context("cloning a child with CLONE_NEWUTS | CLONE_NEWIPC")?;
    let pid = child.pid;
    let (rows, differing) = compare(pid, &ctx.word("shared"), &ctx.t(&tr!("NEW", "新的")))?;
    ctx.observe(Observation::Table {
        title: tr!(
            "clone(CLONE_NEWUTS | CLONE_NEWIPC): the child's namespaces next to ours:",
            "clone(CLONE_NEWUTS | CLONE_NEWIPC)：子进程的 namespace 与我们的对比："
        ),
        columns: headers(ctx, &[("TYPE", "类型"), ("OURS", "我们的"), ("CHILD", "子进程"), ("", "")]),
        rows,
    });
    let mut created = Vec::new();
    for t in CLONED {
        created.push(link(Some(pid), t)?);
    }
    let mut listing = Vec::new();
    for entry in probe::list_namespaces(None).into_iter().filter(|e| created.contains(&e.id)) {
        listing.push(vec![
            Fact::Inode(entry.id.inode),
            Fact::text(entry.id.ns_type.clone()),
            Fact::Number(entry.processes as i64),
            Fact::Pid(entry.lowest_pid.into()),
            Fact::text(entry.command.clone()),
        ]);
    }
    // lsns orders by inode; show uts before ipc whatever the inodes were.
    listing.sort_by_key(|r| r[1] != Fact::text("uts"));
    let listed_new = listing.len();
    ctx.observe(Observation::Table {
        title: tr!("lsns, the rows of the new namespaces:", "lsns 中新 namespace 的那几行："),
        // lsns's own column names.
        columns: ["NS", "TYPE", "NPROCS", "PID", "COMMAND"].iter().map(|s| s.to_string()).collect(),
        rows: listing,
    });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("differing", Fact::text(differing.join(", ")));
    ctx.expect_eq(
        tr!("exactly the uts and ipc pointers are new", "恰好 uts 和 ipc 两个指针是新的"),
        "uts, ipc",
        differing.join(", "),
        tr!("each CLONE_NEW* flag replaces one pointer", "每个 CLONE_NEW* 标志替换一个指针"),
    );
    ctx.expect_eq(
        tr!("lsns lists both new namespaces", "lsns 列出了两个新 namespace"),
        Fact::Number(2),
        Fact::Number(listed_new as i64),
        tr!("the child may have exited", "子进程可能已经退出"),
    );
    ctx.explore_in(pid);
    state.cloned = Some(child);
    state.cloned_ns = created;
    Ok(())
}

fn setns(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let child = state.cloned.as_ref().context("the child of step clone is not running")?;
    let target = probe::ns_path(Some(child.pid), "uts");
    let theirs = link(Some(child.pid), "uts")?;
    let before = probe::thread_ns_link("uts")?;
    let (thread_after, process_meanwhile) =
        sys::in_namespaces(&[(Path::new(&target), CloneFlags::CLONE_NEWUTS)], || {
            (probe::thread_ns_link("uts"), link(None, "uts"))
        })
        .with_context(|| format!("setns {target}"))?;
    let (thread_after, process_meanwhile) = (thread_after?, process_meanwhile?);
    ctx.observe(Observation::Table {
        title: tr!(
            "A thread of ours calls setns(open(\"/proc/CHILD/ns/uts\"), CLONE_NEWUTS):",
            "我们的一个线程调用 setns(open(\"/proc/CHILD/ns/uts\"), CLONE_NEWUTS)："
        ),
        columns: headers(ctx, &[("LINK", "链接"), ("UTS INODE", "UTS INODE")]),
        rows: vec![
            vec![
                Fact::text(ctx.t(&tr!("/proc/thread-self/ns/uts, before", "/proc/thread-self/ns/uts，之前"))),
                Fact::Inode(before.inode),
            ],
            vec![
                Fact::text(
                    ctx.t(&tr!("/proc/thread-self/ns/uts, after setns", "/proc/thread-self/ns/uts，setns 之后")),
                ),
                Fact::Inode(thread_after.inode),
            ],
            vec![Fact::text("/proc/CHILD/ns/uts"), Fact::Inode(theirs.inode)],
            vec![
                Fact::text(ctx.t(&tr!(
                    "/proc/self/ns/uts (our main thread), meanwhile",
                    "/proc/self/ns/uts（我们的主线程），与此同时"
                ))),
                Fact::Inode(process_meanwhile.inode),
            ],
        ],
    });
    ctx.set("child_inode", Fact::Inode(theirs.inode));
    ctx.set("our_inode", Fact::Inode(before.inode));
    ctx.expect_eq(
        tr!("after setns the thread is in the child's UTS namespace", "setns 之后该线程位于子进程的 UTS namespace"),
        Fact::Inode(theirs.inode),
        Fact::Inode(thread_after.inode),
        tr!("setns needs CAP_SYS_ADMIN", "setns 需要 CAP_SYS_ADMIN"),
    );
    ctx.expect_eq(
        tr!("the rest of the process stayed where it was", "进程的其余部分留在原处"),
        Fact::Inode(before.inode),
        Fact::Inode(process_meanwhile.inode),
        tr!("setns moves only the calling thread", "setns 只移动调用它的线程"),
    );
    Ok(())
}

fn unshare(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ours = link(None, "uts")?;
    let child = state.cloned_ns.iter().find(|id| id.ns_type == "uts").cloned().context("step clone did not run")?;
    let before = probe::thread_ns_link("uts")?;
    let after = sys::in_new_namespaces(CloneFlags::CLONE_NEWUTS, || probe::thread_ns_link("uts"))
        .context("unshare(CLONE_NEWUTS) on a thread of ours")??;
    let ours_now = link(None, "uts")?;
    ctx.observe(Observation::Table {
        title: tr!(
            "A fresh thread of ours calls unshare(CLONE_NEWUTS):",
            "我们新开的一个线程调用 unshare(CLONE_NEWUTS)："
        ),
        columns: headers(ctx, &[("LINK", "链接"), ("UTS INODE", "UTS INODE")]),
        rows: vec![
            vec![
                Fact::text(ctx.t(&tr!("/proc/thread-self/ns/uts, before", "/proc/thread-self/ns/uts，之前"))),
                Fact::Inode(before.inode),
            ],
            vec![
                Fact::text(
                    ctx.t(&tr!("/proc/thread-self/ns/uts, after unshare", "/proc/thread-self/ns/uts，unshare 之后")),
                ),
                Fact::Inode(after.inode),
            ],
            vec![
                Fact::text(ctx.t(&tr!("/proc/self/ns/uts, after the thread ended", "/proc/self/ns/uts，线程结束之后"))),
                Fact::Inode(ours_now.inode),
            ],
        ],
    });
    ctx.set("new_inode", Fact::Inode(after.inode));
    ctx.expect(
        tr!("unshare made a namespace that did not exist before", "unshare 新建了一个此前不存在的 namespace"),
        ctx.t(&tr!("neither ours nor the child's", "既不是我们的，也不是子进程的")),
        Fact::Inode(after.inode),
        after != ours && after != child,
        tr!("unshare(CLONE_NEWUTS) needs CAP_SYS_ADMIN", "unshare(CLONE_NEWUTS) 需要 CAP_SYS_ADMIN"),
    );
    ctx.expect_eq(
        tr!("our process is still in its own UTS namespace", "我们的进程仍在原来的 UTS namespace"),
        Fact::Inode(ours.inode),
        Fact::Inode(ours_now.inode),
        tr!("unshare acts on the calling thread only", "unshare 只作用于调用它的线程"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pids: Vec<i32> = state.forked.iter().chain(state.cloned.iter()).map(|c| c.pid).collect();
    let undone = ctx.undo_now();
    let alive_now = pids.iter().filter(|p| alive(**p)).count();
    let still = state.cloned_ns.iter().filter(|n| listed(n)).count();
    let ours_still = state.ours.iter().filter(|n| listed(n)).count();
    ctx.observe(Observation::Values {
        title: tr!("After killing both children:", "杀掉两个子进程之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("children alive", "仍在运行的子进程")), Fact::Number(alive_now as i64)),
            (
                ctx.t(&tr!("the clone's new namespaces held", "仍被持有的、clone 新建的 namespace")),
                Fact::Number(still as i64),
            ),
            (ctx.t(&tr!("our namespaces held", "仍被持有的、我们自己的 namespace")), Fact::Number(ours_still as i64)),
        ],
    });
    ctx.expect_eq(
        tr!("both children are gone", "两个子进程都已消失"),
        Fact::Number(0),
        Fact::Number(alive_now as i64),
        tr!("SIGKILL should end them", "SIGKILL 应当结束它们"),
    );
    ctx.expect_eq(
        tr!("the namespaces the clone made are gone", "clone 新建的 namespace 都已消失"),
        Fact::Number(0),
        Fact::Number(still as i64),
        tr!("something still holds them", "还有东西持有它们"),
    );
    ctx.expect_eq(
        tr!("ours are all still there", "我们自己的仍然都在"),
        Fact::Number(state.ours.len() as i64),
        Fact::Number(ours_still as i64),
        tr!("we are still in them", "我们仍在其中"),
    );
    Ok(())
}

/// The challenge: a running process whose cgroup and time namespaces — the two types the
/// course's table leaves out — both differ from ours.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let our_cgroup = link(None, "cgroup")?;
    let our_time = link(None, "time").context("this kernel has no time namespaces (Linux 5.6+)")?;
    let mut found = None;
    let Ok(dir) = std::fs::read_dir("/proc") else { anyhow::bail!("cannot list /proc") };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let (Ok(cgroup), Ok(time)) = (link(Some(pid), "cgroup"), link(Some(pid), "time")) else { continue };
        if cgroup != our_cgroup && time != our_time && alive(pid) {
            found = Some((pid, probe::command_line(pid)));
            break;
        }
    }
    if let Some((pid, command)) = &found {
        ctx.observe(Observation::Values {
            title: tr!("Found:", "找到："),
            values: vec![
                (ctx.t(&tr!("pid", "PID")), Fact::Pid((*pid).into())),
                (ctx.t(&tr!("command", "命令")), Fact::text(command.clone())),
            ],
        });
    }
    ctx.expect(
        tr!(
            "a process runs in a cgroup namespace and a time namespace of its own",
            "有进程运行在自己的 cgroup namespace 和 time namespace 中"
        ),
        ctx.t(&tr!("new cgroup and time namespaces", "新的 cgroup 和 time namespace")),
        ctx.word(if found.is_some() { "found" } else { "none found" }),
        found.is_some(),
        tr!(
            "sudo unshare --fork --cgroup --time sleep 600 &   (--fork: a new time namespace is for children, like pid)",
            "sudo unshare --fork --cgroup --time sleep 600 &   （--fork：新的 time namespace 和 pid 一样只给子进程）"
        ),
    );
    Ok(())
}
