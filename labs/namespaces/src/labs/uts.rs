//! `ns-uts`: hostname and domainname changed inside a new UTS namespace, unchanged outside.

use super::{alive, link, listed, start};
use crate::spawn::Spawner;
use anyhow::Context;
use labkit::probe::NsId;
use labkit::sys;
use labkit::{tr, Ctx, Fact, Observation, Walkthrough};
use nix::sched::CloneFlags;
use std::path::Path;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "ns-uts",
    source: file!(),
    steps: &[("host-uts", host_uts), ("new-uts", new_uts), ("rename-inside", rename_inside), ("cleanup", cleanup)],
    check,
};

const INSIDE_HOST: &str = "labctl-box";
const INSIDE_DOMAIN: &str = "labctl.test";
const RENAMED: &str = "labctl-renamed";

#[derive(Default)]
pub struct State {
    host: Option<NsId>,
    hostname: String,
    domainname: String,
    child: Option<(i32, NsId)>,
}

/// (hostname, domainname) of the calling thread's UTS namespace, as uname(2) reports them.
fn names() -> (String, String) {
    let u = nix::sys::utsname::uname().expect("uname never fails");
    (u.nodename().to_string_lossy().into_owned(), u.domainname().to_string_lossy().into_owned())
}

fn names_in(pid: i32) -> anyhow::Result<(String, String)> {
    let ns = labkit::probe::ns_path(Some(pid), "uts");
    sys::in_namespaces(&[(Path::new(&ns), CloneFlags::CLONE_NEWUTS)], names).with_context(|| format!("setns {ns}"))
}

fn host_uts(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let host = link(None, "uts")?;
    let (hostname, domainname) = names();
    ctx.observe(Observation::ns_link(None, &host));
    ctx.observe(Observation::Values {
        title: tr!("uname(2) from here:", "在这里调用 uname(2)："),
        values: vec![
            (ctx.t(&tr!("nodename (hostname)", "nodename（主机名）")), Fact::Host(hostname.clone())),
            ("domainname".into(), Fact::Host(domainname.clone())),
        ],
    });
    ctx.set("host_inode", Fact::Inode(host.inode));
    ctx.expect(
        tr!("we have a hostname", "我们有主机名"),
        ctx.t(&tr!("a non-empty name", "非空的名字")),
        Fact::Host(hostname.clone()),
        !hostname.is_empty(),
        tr!("uname returned an empty nodename", "uname 返回了空的 nodename"),
    );
    state.host = Some(host);
    state.hostname = hostname;
    state.domainname = domainname;
    Ok(())
}

fn new_uts(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let host = state.host.clone().context("step host-uts did not run")?;
    let spawner = Spawner::new(CloneFlags::CLONE_NEWUTS).hostname(INSIDE_HOST).domainname(INSIDE_DOMAIN);
    let child = start(ctx, spawner, &["sleep", "infinity"]).context("starting sleep in a new UTS namespace")?;
    let pid = child.pid;
    let theirs = link(Some(pid), "uts")?;
    let (inside_host, inside_domain) = names_in(pid)?;
    let (outside_host, outside_domain) = names();
    ctx.observe(Observation::ns_link(Some(pid), &theirs));
    ctx.observe(Observation::Table {
        title: tr!("Hostname and domainname, inside and outside:", "里面和外面的主机名与域名："),
        columns: ["", "NODENAME", "DOMAINNAME"].iter().map(|s| s.to_string()).collect(),
        rows: vec![
            vec![
                Fact::text(ctx.t(&tr!("inside", "里面"))),
                Fact::text(inside_host.clone()),
                Fact::text(inside_domain.clone()),
            ],
            vec![
                Fact::text(ctx.t(&tr!("outside", "外面"))),
                Fact::Host(outside_host.clone()),
                Fact::Host(outside_domain.clone()),
            ],
        ],
    });
    ctx.set("pid", Fact::Pid(pid.into()));
    ctx.set("child_inode", Fact::Inode(theirs.inode));
    ctx.set("inside_host", Fact::text(inside_host.clone()));
    ctx.expect(
        tr!("the child has its own UTS namespace", "子进程有自己的 UTS namespace"),
        ctx.word("a different inode"),
        Fact::Inode(theirs.inode),
        theirs.inode != host.inode,
        tr!("clone(CLONE_NEWUTS) did not take effect", "clone(CLONE_NEWUTS) 没有生效"),
    );
    ctx.expect_eq(
        tr!("inside, the hostname is the one the child set", "里面的主机名是子进程设置的那个"),
        INSIDE_HOST,
        inside_host,
        tr!("sethostname runs in the child before exec", "sethostname 在子进程 exec 之前执行"),
    );
    ctx.expect_eq(
        tr!("inside, the domainname too", "里面的域名也是"),
        INSIDE_DOMAIN,
        inside_domain,
        tr!("the child writes /proc/sys/kernel/domainname", "子进程写入了 /proc/sys/kernel/domainname"),
    );
    ctx.expect(
        tr!("outside, nothing changed", "外面没有任何变化"),
        ctx.t(&tr!("our hostname and domainname as before", "我们的主机名和域名，和之前一样")),
        Fact::Host(format!("{outside_host} {outside_domain}")),
        outside_host == state.hostname && outside_domain == state.domainname,
        tr!("the change leaked out of the namespace", "改动泄漏到了 namespace 之外"),
    );
    ctx.explore_in(pid);
    state.child = Some((pid, theirs));
    Ok(())
}

fn rename_inside(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, _) = state.child.clone().context("the child of step new-uts is not running")?;
    let ns = labkit::probe::ns_path(Some(pid), "uts");
    let inside = sys::in_namespaces(&[(Path::new(&ns), CloneFlags::CLONE_NEWUTS)], || -> anyhow::Result<String> {
        nix::unistd::sethostname(RENAMED)?;
        Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?)
    })
    .with_context(|| format!("setns {ns}"))?
    .context("sethostname inside")?;
    let inside = inside.trim().to_string();
    let outside = std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string();
    ctx.observe(Observation::Values {
        title: tr!(
            "/proc/sys/kernel/hostname, read inside and outside:",
            "分别在里面和外面读取 /proc/sys/kernel/hostname："
        ),
        values: vec![
            (ctx.t(&tr!("inside", "里面")), Fact::text(inside.clone())),
            (ctx.t(&tr!("outside", "外面")), Fact::Host(outside.clone())),
        ],
    });
    ctx.set("renamed", Fact::text(inside.clone()));
    ctx.expect_eq(
        tr!("the rename is visible inside", "改名在里面可见"),
        RENAMED,
        inside,
        tr!("sethostname after setns acts on the joined namespace", "setns 之后的 sethostname 作用于加入的 namespace"),
    );
    ctx.expect(
        tr!("our hostname did not change", "我们的主机名没有变"),
        ctx.t(&tr!("as before", "和之前一样")),
        Fact::Host(outside.clone()),
        outside == state.hostname,
        tr!("the rename escaped the namespace", "改名逃出了 namespace"),
    );
    Ok(())
}

fn cleanup(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let (pid, ns) = state.child.take().context("the child of step new-uts is not running")?;
    let undone = ctx.undo_now();
    let gone = !alive(pid);
    let still = listed(&ns);
    ctx.observe(Observation::Values {
        title: tr!("After killing the child:", "杀掉子进程之后："),
        values: vec![
            (ctx.word("undone"), Fact::Number(undone.len() as i64)),
            (ctx.t(&tr!("uts namespace held", "uts namespace 仍被持有")), Fact::text(ctx.boolean(still))),
        ],
    });
    ctx.set("child_inode", Fact::Inode(ns.inode));
    super::expect_child_and_namespace_gone(ctx, gone, &ns, "UTS");
    Ok(())
}

/// The challenge: some process runs in its own UTS namespace whose hostname is labctl-challenge.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    const WANTED: &str = "labctl-challenge";
    if !sys::is_root() {
        anyhow::bail!("labctl check ns-uts needs root (it looks into other processes' UTS namespaces): try sudo labctl check ns-uts");
    }
    let ours = link(None, "uts")?;
    let mut found = None;
    for entry in labkit::probe::list_namespaces(Some("uts")) {
        if entry.id == ours {
            continue;
        }
        if let Ok((host, _)) = names_in(entry.lowest_pid) {
            if host == WANTED {
                found = Some(entry.lowest_pid);
                break;
            }
        }
    }
    let (our_host, _) = names();
    ctx.expect(
        tr!(
            "a process lives in a UTS namespace named labctl-challenge",
            "有进程位于主机名为 labctl-challenge 的 UTS namespace 中"
        ),
        WANTED,
        if found.is_some() { WANTED.to_string() } else { ctx.word("none found") },
        found.is_some(),
        tr!(
            "sudo unshare --uts sh -c 'hostname labctl-challenge; exec sleep 600' &",
            "sudo unshare --uts sh -c 'hostname labctl-challenge; exec sleep 600' &"
        ),
    );
    ctx.expect(
        tr!("this machine kept its own hostname", "本机保留了自己的主机名"),
        ctx.t(&tr!(format!("not {WANTED}"), format!("不是 {WANTED}"))),
        Fact::Host(our_host.clone()),
        our_host != WANTED,
        tr!(
            "you renamed the host itself: set it back with hostnamectl",
            "你改的是主机本身的名字：用 hostnamectl 改回来"
        ),
    );
    Ok(())
}
