//! `ns-pid`: the child is PID 1 of a new pid namespace; NSpid shows both numbers; a fresh
//! /proc only inside a new mount namespace; an orphan goes to PID 1; killing PID 1 ends all.

use super::{alive, link, listed, start};
use crate::spawn::{NsChild, Spawner};
use anyhow::Context;
use labkit::probe::NsId;
use labkit::{tr, Ctx, Fact, Observation, Text, Walkthrough};
use nix::sched::CloneFlags;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-pid",
    source: file!(),
    steps: &[("pid-one", pid_one), ("proc-inside", proc_inside), ("orphan", orphan), ("kill-init", kill_init)],
    check,
};

/// PID 1 starts a shell that starts `sleep` in the background and exits at once: the sleep is
/// orphaned. PID 1 then becomes `sleep infinity` itself.
const INIT: [&str; 3] = ["sh", "-c", "sh -c 'sleep infinity &'; exec sleep infinity"];

#[derive(Default)]
pub struct State {
    init: Option<NsChild>,
    pidns: Option<NsId>,
    orphan: Option<i32>,
}

impl State {
    fn init(&self) -> anyhow::Result<&NsChild> {
        self.init.as_ref().context("PID 1 of step pid-one is not running")
    }
}

/// The NSpid line of /proc/PID/status: the pid in each pid namespace, outermost first.
fn nspid(pid: i32) -> anyhow::Result<Vec<i64>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:")).context("no NSpid line (kernel < 4.1?)")?;
    Ok(line.split_whitespace().filter_map(|n| n.parse().ok()).collect())
}

fn status_field(path: &str, field: &str) -> anyhow::Result<String> {
    let status = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .with_context(|| format!("no {field} line in {path}"))
}

/// Numeric entries of a /proc directory, sorted.
fn pids_in(dir: &str) -> anyhow::Result<Vec<i64>> {
    let mut pids: Vec<i64> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {dir}"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    pids.sort();
    Ok(pids)
}

fn nspid_line(pid: i32, numbers: &[i64]) -> Vec<Fact> {
    let mut line = vec![Fact::text("NSpid:")];
    for (i, n) in numbers.iter().enumerate() {
        line.push(Fact::text("\t"));
        // The outer numbers vary; the innermost one is the lesson.
        line.push(if i + 1 == numbers.len() { Fact::Number(*n) } else { Fact::Pid(*n) });
    }
    let _ = pid;
    line
}

fn pid_one(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ours = link(None, "pid")?;
    let spawner = Spawner::new(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS).mount_proc(true);
    let init = start(ctx, spawner, &INIT).context("starting PID 1 in a new pid namespace")?;
    let pid = init.pid;
    // PID 1 execs sleep only after the orphan-making shell has exited: from then on, all is final.
    labkit::process::wait_for_exec(pid, "sleep");
    let theirs = link(Some(pid), "pid")?;
    let numbers = nspid(pid)?;
    ctx.observe(Observation::ns_link(None, &ours));
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::Excerpt { path: Fact::text("/proc/PID/status"), lines: vec![nspid_line(pid, &numbers)] });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("inner", Fact::Number(*numbers.last().unwrap_or(&0)));
    ctx.expect_eq(
        tr!("the child is PID 1 inside its pid namespace", "子进程在它的 pid namespace 里是 PID 1"),
        Fact::Number(1),
        Fact::Number(*numbers.last().unwrap_or(&0)),
        tr!("clone(CLONE_NEWPID) makes the child the first process", "clone(CLONE_NEWPID) 让子进程成为第一个进程"),
    );
    ctx.expect_eq(
        tr!("NSpid names it in two pid namespaces", "NSpid 给出了它在两个 pid namespace 中的编号"),
        Fact::Number(2),
        Fact::Number(numbers.len() as i64),
        tr!("one number per level: ours, then the new one", "每层一个编号：先是我们的，再是新的"),
    );
    ctx.expect(
        tr!("its pid namespace differs from ours", "它的 pid namespace 与我们的不同"),
        ctx.word("a different inode"),
        Fact::Inode(theirs.inode),
        theirs != ours,
        tr!("CLONE_NEWPID did not take effect", "CLONE_NEWPID 没有生效"),
    );
    ctx.explore_in(pid);
    state.init = Some(init);
    state.pidns = Some(theirs);
    Ok(())
}

fn proc_inside(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let pid = state.init()?.pid;
    // /proc/PID/root is the child's root, seen through its own mount namespace.
    let inside_dir = format!("/proc/{pid}/root/proc");
    let inside = pids_in(&inside_dir)?;
    let outside = pids_in("/proc")?;
    let our_mnt = link(None, "mnt")?;
    let their_mnt = link(Some(pid), "mnt")?;
    let me = std::process::id() as i64;
    ctx.observe(Observation::Values {
        title: tr!("Process directories in each /proc:", "两个 /proc 里的进程目录："),
        values: vec![
            (
                ctx.t(&tr!("inside  (/proc/PID/root/proc)", "里面（/proc/PID/root/proc）")),
                Fact::text(inside.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")),
            ),
            (ctx.t(&tr!("outside (/proc), count", "外面（/proc）的数量")), Fact::Measured(outside.len().to_string())),
            (
                ctx.t(&tr!("outside lists us", "外面的 /proc 列出了我们")),
                Fact::text(ctx.boolean(outside.contains(&me))),
            ),
        ],
    });
    ctx.observe(Observation::ns_link(None, &our_mnt));
    ctx.observe(Observation::ns_link(Some(pid), &their_mnt));
    ctx.set("inside", Fact::text(inside.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")));
    ctx.expect_eq(
        tr!(
            "the fresh /proc inside shows only the namespace's processes",
            "里面新挂载的 /proc 只显示该 namespace 的进程"
        ),
        "1 3",
        inside.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" "),
        tr!("proc shows the pid namespace of whoever mounted it", "proc 显示的是挂载者所在的 pid namespace"),
    );
    ctx.expect(
        tr!("our /proc is untouched and still lists us", "我们的 /proc 没有被动过，仍然列出我们自己"),
        ctx.word("listed"),
        ctx.word(if outside.contains(&me) { "listed" } else { "missing" }),
        outside.contains(&me),
        tr!("the proc mount escaped the child's mount namespace", "proc 挂载逃出了子进程的 mount namespace"),
    );
    ctx.expect(
        tr!("the child has its own mount namespace for that /proc", "子进程为这个 /proc 有自己的 mount namespace"),
        ctx.word("a different inode"),
        Fact::Inode(their_mnt.inode),
        their_mnt != our_mnt,
        tr!("never mount proc without CLONE_NEWNS", "没有 CLONE_NEWNS 时绝不要挂载 proc"),
    );
    Ok(())
}

fn orphan(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let init = state.init()?.pid;
    let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap_or_default();
    let orphan: i32 = children.split_whitespace().next().and_then(|p| p.parse().ok()).context("PID 1 has no child")?;
    if let Some(start_time) = labkit::sys::process_start_time(orphan) {
        ctx.register(labkit::Undo::Kill { pid: orphan, start_time });
    }
    let numbers = nspid(orphan)?;
    let ppid_outside: i64 = status_field(&format!("/proc/{orphan}/status"), "PPid:")?.parse()?;
    let inner = *numbers.last().unwrap_or(&0);
    let ppid_inside: i64 = status_field(&format!("/proc/{init}/root/proc/{inner}/status"), "PPid:")?.parse()?;
    let comm = std::fs::read_to_string(format!("/proc/{orphan}/comm"))?.trim().to_string();
    ctx.observe(Observation::Excerpt {
        path: Fact::text("/proc/ORPHAN/status"),
        lines: vec![
            vec![Fact::text("Name:\t"), Fact::text(comm)],
            nspid_line(orphan, &numbers),
            vec![Fact::text("PPid:\t"), Fact::Pid(ppid_outside)],
        ],
    });
    ctx.observe(Observation::Excerpt {
        path: Fact::text(format!("/proc/PID/root/proc/{inner}/status")),
        lines: vec![vec![Fact::text("PPid:\t"), Fact::Number(ppid_inside)]],
    });
    ctx.set("orphan_inner", Fact::Number(inner));
    ctx.set("init", Fact::Pid(init.into()));
    ctx.expect_eq(
        tr!("inside, the orphan's parent is PID 1", "在里面，孤儿进程的父进程是 PID 1"),
        Fact::Number(1),
        Fact::Number(ppid_inside),
        tr!("orphans go to the namespace's init", "孤儿进程归 namespace 的 init 收养"),
    );
    ctx.expect_eq(
        tr!("outside, its parent is our child (the same process)", "在外面，它的父进程是我们的子进程（同一个进程）"),
        Fact::Pid(init.into()),
        Fact::Pid(ppid_outside),
        tr!("PID 1 inside is our child outside", "里面的 PID 1 就是外面我们的子进程"),
    );
    state.orphan = Some(orphan);
    Ok(())
}

fn kill_init(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let init = state.init.take().context("PID 1 of step pid-one is not running")?;
    let orphan = state.orphan.context("step orphan did not run")?;
    let ns = state.pidns.clone().context("step pid-one did not run")?;
    // We hold the namespace open, as a bind mount or `nsenter --pid=FILE` would.
    let held = std::fs::File::open(labkit::probe::ns_path(Some(init.pid), "pid")).context("open /proc/PID/ns/pid")?;
    // Only PID 1 is signalled: the kernel kills the rest of the namespace.
    init.kill()?;
    let orphan_gone = labkit::process::wait_until(std::time::Duration::from_secs(1), || !alive(orphan));
    // What kinds of holder (process, fd, bind mount), each named once.
    use labkit::probe::Holder;
    let holders = labkit::probe::ns_holders(&ns);
    let only_fd = !holders.is_empty() && holders.iter().all(|h| matches!(h, Holder::Fd { .. }));
    let mut kinds: Vec<Text> = holders
        .iter()
        .map(|h| match h {
            Holder::Process { .. } => tr!("process", "进程"),
            Holder::Fd { .. } => tr!("fd", "fd"),
            Holder::BindMount { .. } => tr!("bind mount", "bind mount"),
        })
        .collect();
    kinds.dedup();
    let while_held = if kinds.is_empty() {
        ctx.word("nothing")
    } else {
        let shown: Vec<String> = kinds.iter().map(|k| ctx.t(k)).collect();
        shown.join(&ctx.t(&tr!(", ", "、")))
    };
    drop(held);
    let still = listed(&ns);
    ctx.undo_now();
    ctx.observe(Observation::Values {
        title: tr!("After SIGKILL to PID 1 only:", "只向 PID 1 发送 SIGKILL 之后："),
        values: vec![
            (ctx.t(&tr!("PID 1 alive", "PID 1 仍在运行")), Fact::text(ctx.boolean(alive(init.pid)))),
            (ctx.t(&tr!("orphan alive", "孤儿进程仍在运行")), Fact::text(ctx.boolean(!orphan_gone))),
            (
                ctx.t(&tr!("pid namespace held by, our fd open", "我们的 fd 打开时，pid namespace 的持有者")),
                Fact::text(while_held.clone()),
            ),
            (
                ctx.t(&tr!("pid namespace held, fd closed", "fd 关闭后，pid namespace 仍被持有")),
                Fact::text(ctx.boolean(still)),
            ),
        ],
    });
    ctx.set("pidns", Fact::Inode(ns.inode));
    ctx.expect(
        tr!("the orphan died with PID 1", "孤儿进程随 PID 1 一起死亡"),
        ctx.word("gone"),
        ctx.word(if orphan_gone { "gone" } else { "alive" }),
        orphan_gone,
        tr!("when init dies the kernel SIGKILLs the whole namespace", "init 死亡时内核会 SIGKILL 整个 namespace"),
    );
    ctx.expect(
        tr!(
            "the namespace outlived its init: only our open fd held it",
            "namespace 比它的 init 活得更久：只有我们打开的 fd 持有它"
        ),
        "fd",
        while_held,
        only_fd,
        tr!(
            "no process can be in it any more; an fd or bind mount still keeps it",
            "里面已不可能再有进程；fd 或 bind mount 仍能保住它"
        ),
    );
    ctx.expect(
        tr!("once the fd is closed, nothing holds it: it is gone", "fd 关闭之后没有东西再持有它：它消失了"),
        ctx.t(&tr!("no process, open fd or bind mount holds it", "没有进程、打开的 fd 或 bind mount 持有它")),
        ctx.word(if still { "still held" } else { "nothing holds it" }),
        !still,
        tr!("a process, an open fd or a bind mount still holds it", "还有进程、打开的 fd 或 bind mount 持有它"),
    );
    Ok(())
}

/// The challenge: a process that is PID 1 of its own pid namespace and whose command is `sleep`.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let ours = link(None, "pid")?;
    let mut found = None;
    for entry in labkit::probe::list_namespaces(Some("pid")) {
        if entry.id == ours {
            continue;
        }
        let Ok(numbers) = nspid(entry.lowest_pid) else { continue };
        if numbers.last() == Some(&1) && entry.command.starts_with("sleep") {
            found = Some(entry.lowest_pid);
        }
    }
    ctx.expect(
        tr!("a sleep runs as PID 1 of its own pid namespace", "有一个 sleep 作为自己 pid namespace 的 PID 1 在运行"),
        ctx.t(&tr!("NSpid ending in 1", "以 1 结尾的 NSpid")),
        ctx.word(if found.is_some() { "found" } else { "none found" }),
        found.is_some(),
        tr!(
            "sudo unshare --pid --fork --mount-proc sleep 600 &  (or: sudo labctl ns run --pid --mnt -- sleep 600 &)",
            "sudo unshare --pid --fork --mount-proc sleep 600 &（或者：sudo labctl ns run --pid --mnt -- sleep 600 &）"
        ),
    );
    // A /proc of its own: seen through its root (its mount namespace), /proc/1 is the sleep itself.
    let own_proc = found.and_then(|pid| proc_one_as_seen_by(pid).map(|one| (pid, one)));
    let shown = match (&found, &own_proc) {
        (None, _) => tr!("no such sleep", "没有这样的 sleep"),
        (Some(_), Some((_, one))) => tr!(format!("/proc/1 there is {one}"), format!("那里的 /proc/1 是 {one}")),
        (Some(_), None) => tr!("its /proc has no 1", "它的 /proc 里没有 1"),
    };
    let shown = ctx.t(&shown);
    let ok = own_proc.as_ref().is_some_and(|(_, one)| one == "sleep");
    ctx.expect(
        tr!("it has a /proc of its own, showing its pid namespace", "它有自己的 /proc，显示的是它的 pid namespace"),
        ctx.t(&tr!("/proc/1 there is sleep", "那里的 /proc/1 是 sleep")),
        shown,
        ok,
        tr!(
            "mount a new proc inside its mount namespace: unshare --mount-proc does it",
            "在它的 mount namespace 里挂载一个新的 proc：unshare --mount-proc 会这样做"
        ),
    );
    Ok(())
}

/// The command of /proc/1 in the /proc that `pid` sees (through /proc/PID/root, its mount tree).
fn proc_one_as_seen_by(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/root/proc/1/comm")).ok().map(|s| s.trim().to_string())
}
