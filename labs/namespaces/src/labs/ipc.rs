//! `ns-ipc`: a System V message queue made inside one IPC namespace is invisible from another,
//! and the same key can name a different queue in each; POSIX message queues (mq_open) too,
//! each namespace with its own /dev/mqueue. Queues are made only inside two IPC namespaces the
//! lab creates (A and B), never in the machine's own: they die with them.

use super::{alive, link, listed, start};
use crate::spawn::{NsChild, Spawner};
use anyhow::Context;
use labkit::probe::{self, NsId};
use labkit::sys;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use nix::sched::CloneFlags;
use std::path::Path;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-ipc",
    source: file!(),
    steps: &[
        ("two-namespaces", two_namespaces),
        ("queue-in-a", queue_in_a),
        ("same-key-in-b", same_key_in_b),
        ("posix-mqueue", posix_mqueue),
        ("remove", remove),
        ("cleanup", cleanup),
    ],
    check,
};

/// The key of our queues: "LC" and 1 (ipcs shows keys in hex).
const KEY: i32 = 0x4c43_0001;
const MSG_A: &[u8] = b"hello from A";
const MSG_B: &[u8] = b"B";
/// The POSIX queue's name (mq_open) and its file in an mqueue mount.
const MQ_NAME: &std::ffi::CStr = c"/labctl-ipc";
const MQ_FILE: &str = "labctl-ipc";

#[derive(Default)]
pub struct State {
    a: Option<(NsChild, NsId)>,
    b: Option<(NsChild, NsId)>,
    queue_a: Option<i32>,
}

impl State {
    fn both(&self) -> anyhow::Result<(i32, i32)> {
        match (&self.a, &self.b) {
            (Some((a, _)), Some((b, _))) => Ok((a.pid, b.pid)),
            _ => anyhow::bail!("the two processes of step two-namespaces are not running"),
        }
    }
}

/// One line of /proc/sysvipc/msg.
#[derive(Debug, Clone, PartialEq)]
struct Queue {
    key: u32,
    msqid: i64,
    perms: String,
    cbytes: i64,
    qnum: i64,
    lspid: i64,
}

fn parse_msg(text: &str) -> Vec<Queue> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                return None;
            }
            Some(Queue {
                key: f[0].parse::<i64>().ok()? as u32,
                msqid: f[1].parse().ok()?,
                perms: f[2].to_string(),
                cbytes: f[3].parse().ok()?,
                qnum: f[4].parse().ok()?,
                lspid: f[5].parse().ok()?,
            })
        })
        .collect()
}

/// Runs `f` on a thread of ours that joined the IPC namespace of `pid`.
fn in_ipc<T: Send>(pid: i32, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let ns = probe::ns_path(Some(pid), "ipc");
    sys::in_namespaces(&[(Path::new(&ns), CloneFlags::CLONE_NEWIPC)], f).with_context(|| format!("setns {ns}"))
}

/// /proc/sysvipc/msg as a reader in `pid`'s IPC namespace sees it (ours with `None`).
fn queues(pid: Option<i32>) -> anyhow::Result<Vec<Queue>> {
    let read = || std::fs::read_to_string("/proc/sysvipc/msg");
    let text = match pid {
        Some(pid) => in_ipc(pid, read)?,
        None => read(),
    }
    .context("reading /proc/sysvipc/msg")?;
    Ok(parse_msg(&text))
}

fn ours_with_key(list: &[Queue]) -> Vec<&Queue> {
    list.iter().filter(|q| q.key == KEY as u32).collect()
}

fn queue_table(title: labkit::Text, list: &[Queue]) -> Observation {
    Observation::Table {
        title,
        columns: ["KEY", "MSQID", "PERMS", "CBYTES", "QNUM", "LSPID"].iter().map(|s| s.to_string()).collect(),
        rows: list
            .iter()
            .map(|q| {
                vec![
                    Fact::text(format!("{:#010x}", q.key)),
                    Fact::Number(q.msqid),
                    Fact::text(q.perms.clone()),
                    Fact::Number(q.cbytes),
                    Fact::Number(q.qnum),
                    if q.lspid == 0 { Fact::Number(0) } else { Fact::Pid(q.lspid) },
                ]
            })
            .collect(),
    }
}

/// The host's view, summarised: its own queues are none of our business (and vary).
fn host_view(ctx: &mut Ctx) -> anyhow::Result<usize> {
    let host = queues(None)?;
    let ours = ours_with_key(&host).len();
    ctx.observe(Observation::Values {
        title: tr!(
            "Our own (the machine's) IPC namespace, /proc/sysvipc/msg:",
            "我们自己（本机）的 IPC namespace，/proc/sysvipc/msg："
        ),
        values: vec![
            (ctx.t(&tr!("queues", "队列数")), Fact::Measured(host.len().to_string())),
            (
                ctx.t(&tr!(format!("queues with key {KEY:#010x}"), format!("key 为 {KEY:#010x} 的队列数"))),
                Fact::Number(ours as i64),
            ),
        ],
    });
    Ok(ours)
}

fn two_namespaces(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let ours = link(None, "ipc")?;
    let a = start(ctx, Spawner::new(CloneFlags::CLONE_NEWIPC), &["sleep", "infinity"])
        .context("starting A in a new IPC namespace")?;
    let a_ns = link(Some(a.pid), "ipc")?;
    state.a = Some((a.clone(), a_ns.clone()));
    let b = start(ctx, Spawner::new(CloneFlags::CLONE_NEWIPC), &["sleep", "infinity"])
        .context("starting B in a new IPC namespace")?;
    let b_ns = link(Some(b.pid), "ipc")?;
    state.b = Some((b.clone(), b_ns.clone()));
    ctx.observe(Observation::ns_link(None, &ours));
    ctx.observe(Observation::ns_link(Some(a.pid), &a_ns));
    ctx.observe(Observation::ns_link(Some(b.pid), &b_ns));
    let (in_a, in_b) = (queues(Some(a.pid))?, queues(Some(b.pid))?);
    ctx.observe(Observation::Values {
        title: tr!(
            "Message queues in /proc/sysvipc/msg, read inside each:",
            "分别在里面读取 /proc/sysvipc/msg 中的消息队列："
        ),
        values: vec![("A".into(), Fact::Number(in_a.len() as i64)), ("B".into(), Fact::Number(in_b.len() as i64))],
    });
    host_view(ctx)?;
    ctx.set("a", Fact::Pid(a.pid.into()));
    ctx.set("b", Fact::Pid(b.pid.into()));
    let distinct = a_ns != b_ns && a_ns != ours && b_ns != ours;
    ctx.expect(
        tr!("A, B and we are in three different IPC namespaces", "A、B 和我们分处三个不同的 IPC namespace"),
        ctx.t(&tr!("three inodes", "三个不同的 inode")),
        if distinct { ctx.t(&tr!("three inodes", "三个不同的 inode")) } else { ctx.word("shared") },
        distinct,
        tr!("clone(CLONE_NEWIPC) makes a new one each time", "每次 clone(CLONE_NEWIPC) 都新建一个"),
    );
    ctx.expect_eq(
        tr!("a new IPC namespace starts without queues", "新的 IPC namespace 一开始没有队列"),
        "0 0",
        format!("{} {}", in_a.len(), in_b.len()),
        tr!("System V objects are never copied into a new namespace", "System V 对象从不会被复制到新 namespace"),
    );
    ctx.explore_in(a.pid);
    Ok(())
}

fn queue_in_a(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (a, b) = state.both()?;
    let id = in_ipc(a, || -> std::io::Result<i32> {
        let id = sys::sysv_msg_create(KEY)?;
        sys::sysv_msg_send(id, 1, MSG_A)?;
        Ok(id)
    })?
    .with_context(|| format!("msgget({KEY:#x}) and msgsnd inside A"))?;
    state.queue_a = Some(id);
    let in_a = queues(Some(a))?;
    let in_b = queues(Some(b))?;
    ctx.observe(queue_table(tr!("Inside A:", "A 里面："), &in_a));
    ctx.observe(queue_table(tr!("Inside B:", "B 里面："), &in_b));
    let host_has = host_view(ctx)?;
    let a_q = ours_with_key(&in_a).first().map(|q| (*q).clone());
    ctx.set("msqid", Fact::Number(id.into()));
    ctx.set("cbytes", a_q.as_ref().map_or(Fact::text("-"), |q| Fact::Number(q.cbytes)));
    ctx.expect(
        tr!("A sees its queue with one message", "A 能看到自己的队列，里面有一条消息"),
        format!("key {KEY:#010x}, qnum 1"),
        a_q.as_ref().map(|q| format!("key {:#010x}, qnum {}", q.key, q.qnum)).unwrap_or_else(|| ctx.word("missing")),
        a_q.as_ref().is_some_and(|q| q.qnum == 1 && q.cbytes == MSG_A.len() as i64),
        tr!("msgget and msgsnd act on the caller's IPC namespace", "msgget 和 msgsnd 作用于调用者所在的 IPC namespace"),
    );
    ctx.expect_eq(
        tr!("B does not see it", "B 看不到它"),
        Fact::Number(0),
        Fact::Number(in_b.len() as i64),
        tr!("B is a separate IPC namespace", "B 是另一个独立的 IPC namespace"),
    );
    ctx.expect_eq(
        tr!("the machine's own namespace does not see it either", "本机自己的 namespace 也看不到它"),
        Fact::Number(0),
        Fact::Number(host_has as i64),
        tr!("the queue must stay inside A", "队列应当只留在 A 里"),
    );
    Ok(())
}

fn same_key_in_b(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (a, b) = state.both()?;
    let id_b = in_ipc(b, || -> std::io::Result<i32> {
        let id = sys::sysv_msg_create(KEY)?;
        sys::sysv_msg_send(id, 1, MSG_B)?;
        Ok(id)
    })?
    .with_context(|| format!("msgget({KEY:#x}, IPC_CREAT | IPC_EXCL) inside B"))?;
    let in_a = queues(Some(a))?;
    let in_b = queues(Some(b))?;
    ctx.observe(queue_table(tr!("Inside A:", "A 里面："), &in_a));
    ctx.observe(queue_table(tr!("Inside B:", "B 里面："), &in_b));
    let qa = ours_with_key(&in_a).first().map(|q| (*q).clone());
    let qb = ours_with_key(&in_b).first().map(|q| (*q).clone());
    ctx.set("msqid_b", Fact::Number(id_b.into()));
    ctx.set("msqid_a", Fact::Number(state.queue_a.unwrap_or(-1).into()));
    ctx.expect(
        tr!("B made its own queue with the same key (no EEXIST)", "B 用同一个 key 建了自己的队列（没有 EEXIST）"),
        ctx.t(&tr!(format!("key {KEY:#010x} in B"), format!("B 里的 key {KEY:#010x}"))),
        qb.as_ref()
            .map(|q| ctx.t(&tr!(format!("key {:#010x} in B", q.key), format!("B 里的 key {:#010x}", q.key))))
            .unwrap_or_else(|| ctx.word("missing")),
        qb.is_some(),
        tr!("IPC_EXCL fails only if this namespace has the key", "只有本 namespace 已有这个 key 时 IPC_EXCL 才会失败"),
    );
    ctx.expect(
        tr!("they are two queues: A's message count and size are unchanged", "它们是两个队列：A 的消息数和字节数没变"),
        format!("A: qnum 1, cbytes {}; B: cbytes {}", MSG_A.len(), MSG_B.len()),
        format!(
            "A: qnum {}, cbytes {}; B: cbytes {}",
            qa.as_ref().map(|q| q.qnum).unwrap_or(-1),
            qa.as_ref().map(|q| q.cbytes).unwrap_or(-1),
            qb.as_ref().map(|q| q.cbytes).unwrap_or(-1)
        ),
        qa.as_ref().is_some_and(|q| q.qnum == 1 && q.cbytes == MSG_A.len() as i64)
            && qb.as_ref().is_some_and(|q| q.cbytes == MSG_B.len() as i64),
        tr!("each namespace has its own key table", "每个 namespace 都有自己的 key 表"),
    );
    Ok(())
}

/// What one IPC namespace's own mqueue filesystem shows, mounted at /dev/mqueue in a private
/// mount namespace of a thread of ours (a tmpfs /dev there hides the machine's: nothing of
/// the machine's mount tree changes).
#[derive(Debug, Clone, PartialEq)]
struct MqView {
    /// The names in /dev/mqueue.
    names: Vec<String>,
    /// QSIZE of our queue's file: the bytes waiting in it.
    qsize: Option<i64>,
}

fn read_mqueue_mount() -> anyhow::Result<MqView> {
    use nix::mount::{mount, MsFlags};
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("make / private")?;
    mount(Some("tmpfs"), "/dev", Some("tmpfs"), MsFlags::MS_NOSUID, Some("size=16k"))
        .context("mount a tmpfs on /dev")?;
    std::fs::create_dir("/dev/mqueue").context("mkdir /dev/mqueue")?;
    // An mqueue filesystem shows the queues of the IPC namespace of whoever mounts it.
    mount(Some("mqueue"), "/dev/mqueue", Some("mqueue"), MsFlags::MS_NOSUID, None::<&str>)
        .context("mount -t mqueue none /dev/mqueue")?;
    let mut names: Vec<String> =
        std::fs::read_dir("/dev/mqueue")?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let qsize = std::fs::read_to_string(format!("/dev/mqueue/{MQ_FILE}"))
        .ok()
        .and_then(|t| t.split_whitespace().find_map(|f| f.strip_prefix("QSIZE:").and_then(|n| n.parse().ok())));
    Ok(MqView { names, qsize })
}

/// In `pid`'s IPC namespace: optionally mq_open(O_CREAT | O_EXCL) and mq_send `message`, then
/// read that namespace's /dev/mqueue.
fn mq_in(pid: i32, message: Option<&'static [u8]>) -> anyhow::Result<MqView> {
    in_ipc(pid, || -> anyhow::Result<MqView> {
        if let Some(message) = message {
            use nix::mqueue::{mq_close, mq_open, mq_send, MQ_OFlag};
            let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_WRONLY;
            // An explicit attr: without one nix 0.29 leaves the mode argument out of O_CREAT.
            let attr = nix::mqueue::MqAttr::new(0, 4, 64, 0);
            let mq = mq_open(MQ_NAME, flags, nix::sys::stat::Mode::from_bits_truncate(0o600), Some(&attr))
                .with_context(|| format!("mq_open({MQ_NAME:?}, O_CREAT | O_EXCL)"))?;
            mq_send(&mq, message, 0).context("mq_send")?;
            mq_close(mq).context("mq_close")?;
        }
        sys::in_new_namespaces(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS, read_mqueue_mount)?
    })?
}

fn mq_row(ctx: &Ctx, name: &str, view: &MqView) -> Vec<Fact> {
    vec![
        Fact::text(name),
        Fact::text(if view.names.is_empty() { ctx.t(&tr!("(empty)", "（空）")) } else { view.names.join(" ") }),
        view.qsize.map(Fact::Number).unwrap_or_else(|| Fact::text("-")),
    ]
}

fn posix_mqueue(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (a, b) = state.both()?;
    let in_a = mq_in(a, Some(MSG_A)).context("the POSIX queue inside A")?;
    let in_b = mq_in(b, Some(MSG_B)).context("the POSIX queue inside B")?;
    // Ours: only looked at, never created in.
    let ours = nix::mqueue::mq_open(MQ_NAME, nix::mqueue::MQ_OFlag::O_RDONLY, nix::sys::stat::Mode::empty(), None);
    ctx.observe(Observation::Table {
        title: tr!(
            "Each namespace's own mqueue filesystem, mounted at /dev/mqueue:",
            "每个 namespace 自己的 mqueue 文件系统，挂载在 /dev/mqueue："
        ),
        columns: vec![ctx.t(&tr!("NAMESPACE", "namespace")), "/dev/mqueue".into(), format!("{MQ_FILE} QSIZE")],
        rows: vec![mq_row(ctx, "A", &in_a), mq_row(ctx, "B", &in_b)],
    });
    let errno = match &ours {
        Ok(_) => ctx.t(&tr!("no error: it opened", "没有出错：打开成功了")),
        Err(e) => format!("{e:?}"),
    };
    ctx.set("ours_errno", Fact::text(errno));
    ctx.set("qsize_a", in_a.qsize.map(Fact::Number).unwrap_or_else(|| Fact::text("-")));
    ctx.set("qsize_b", in_b.qsize.map(Fact::Number).unwrap_or_else(|| Fact::text("-")));
    ctx.expect_eq(
        tr!("A's /dev/mqueue holds its queue with A's message", "A 的 /dev/mqueue 里有它的队列和 A 的消息"),
        format!("{MQ_FILE} QSIZE {}", MSG_A.len()),
        format!("{} QSIZE {}", in_a.names.join(" "), in_a.qsize.map(|q| q.to_string()).unwrap_or("-".into())),
        tr!("mq_open creates the queue in the caller's IPC namespace", "mq_open 在调用者所在的 IPC namespace 里建队列"),
    );
    ctx.expect_eq(
        tr!(
            "B created the same name with O_EXCL: its own queue, holding only B's byte",
            "B 用 O_EXCL 建了同名队列：这是它自己的队列，里面只有 B 的一个字节"
        ),
        format!("{MQ_FILE} QSIZE {}", MSG_B.len()),
        format!("{} QSIZE {}", in_b.names.join(" "), in_b.qsize.map(|q| q.to_string()).unwrap_or("-".into())),
        tr!(
            "each IPC namespace has its own set of POSIX queue names",
            "每个 IPC namespace 都有自己的一套 POSIX 队列名"
        ),
    );
    ctx.expect_failure(
        tr!("the machine's own namespace has no such queue", "本机自己的 namespace 里没有这个队列"),
        labkit::Failure::Errno(nix::errno::Errno::ENOENT),
        ours.map(nix::mqueue::mq_close),
        tr!("a queue must never be made in the machine's namespace", "绝不能在本机的 namespace 里建队列"),
    );
    Ok(())
}

fn remove(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (a, b) = state.both()?;
    let id = state.queue_a.context("step queue-in-a did not run")?;
    in_ipc(a, || sys::sysv_msg_remove(id))?.with_context(|| format!("msgctl({id}, IPC_RMID) inside A"))?;
    state.queue_a = None;
    let in_a = queues(Some(a))?;
    let in_b = queues(Some(b))?;
    ctx.observe(queue_table(tr!("Inside A:", "A 里面："), &in_a));
    ctx.observe(queue_table(tr!("Inside B:", "B 里面："), &in_b));
    ctx.expect_eq(
        tr!("A's queue is gone", "A 的队列已经没了"),
        Fact::Number(0),
        Fact::Number(in_a.len() as i64),
        tr!("IPC_RMID removes it at once", "IPC_RMID 会立即删除它"),
    );
    ctx.expect_eq(
        tr!("B's queue with the same key is untouched", "B 里同一个 key 的队列毫发无损"),
        Fact::Number(1),
        Fact::Number(ours_with_key(&in_b).len() as i64),
        tr!("msgctl acts on the caller's namespace only", "msgctl 只作用于调用者所在的 namespace"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (a, a_ns) = state.a.take().context("A is not running")?;
    let (b, b_ns) = state.b.take().context("B is not running")?;
    let undone = ctx.undo_now();
    let alive_now = [a.pid, b.pid].iter().filter(|p| alive(**p)).count();
    let still = [&a_ns, &b_ns].iter().filter(|n| listed(n)).count();
    ctx.observe(Observation::Values {
        title: tr!("After killing A and B:", "杀掉 A 和 B 之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("processes alive", "仍在运行的进程")), Fact::Number(alive_now as i64)),
            (ctx.t(&tr!("IPC namespaces held", "仍被持有的 IPC namespace")), Fact::Number(still as i64)),
        ],
    });
    let host_has = host_view(ctx)?;
    ctx.expect_eq(
        tr!("both IPC namespaces are gone", "两个 IPC namespace 都已消失"),
        Fact::Number(0),
        Fact::Number(still as i64),
        tr!("something still holds them", "还有东西持有它们"),
    );
    ctx.expect_eq(
        tr!("no queue with our key exists on this machine", "本机上没有任何带我们 key 的队列"),
        Fact::Number(0),
        Fact::Number(host_has as i64),
        tr!("a queue must never be made in the machine's namespace", "绝不能在本机的 namespace 里建队列"),
    );
    Ok(())
}

/// The challenge: a process in an IPC namespace of its own in which a message queue exists.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    if !sys::is_root() {
        anyhow::bail!(
            "labctl check ns-ipc needs root (it joins other processes' IPC namespaces): try sudo labctl check ns-ipc"
        );
    }
    let ours = link(None, "ipc")?;
    let mut found = None;
    for entry in probe::list_namespaces(Some("ipc")) {
        if entry.id == ours {
            continue;
        }
        if let Ok(list) = queues(Some(entry.lowest_pid)) {
            if !list.is_empty() {
                found = Some((entry.lowest_pid, list));
                break;
            }
        }
    }
    if let Some((pid, list)) = &found {
        ctx.observe(Observation::Values {
            title: tr!("Found:", "找到："),
            values: vec![
                (ctx.t(&tr!("pid", "PID")), Fact::Pid((*pid).into())),
                (ctx.t(&tr!("command", "命令")), Fact::text(probe::command_line(*pid))),
            ],
        });
        ctx.observe(queue_table(tr!("Its /proc/sysvipc/msg:", "它的 /proc/sysvipc/msg："), list));
    }
    ctx.expect(
        tr!(
            "a process lives in an IPC namespace of its own that holds a message queue",
            "有进程位于自己的 IPC namespace 中，且里面有一个消息队列"
        ),
        ctx.word("found"),
        ctx.word(if found.is_some() { "found" } else { "none found" }),
        found.is_some(),
        tr!(
            "sudo unshare --ipc sh -c 'ipcmk -Q; exec sleep 600' &",
            "sudo unshare --ipc sh -c 'ipcmk -Q; exec sleep 600' &"
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_sysvipc_msg_lines_parse_with_negative_keys() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
                    1279459329          0   600          12          1  4242     0     0     0     0     0 1795945891          0 1795945891\n\
                    -1705316501         1   644           0          0     0     0     0     0     0     0          0          0 1795945891\n";
        let list = parse_msg(text);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].key, KEY as u32);
        assert_eq!((list[0].msqid, list[0].cbytes, list[0].qnum, list[0].lspid), (0, 12, 1, 4242));
        assert_eq!(list[1].key, (-1705316501i64) as u32);
    }
}
