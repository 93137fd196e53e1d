//! The labs of the namespace part, one file each (`ns-net` → `net.rs`), and what their steps share.

pub mod enter;
pub mod intro;
pub mod ipc;
pub mod mnt;
pub mod net;
pub mod pid;
pub mod user;
pub mod uts;

use crate::spawn::{NsChild, Spawner, Stdio};
use labkit::probe::{self, NsId};
use labkit::Ctx;
use std::ffi::OsString;

/// This topic's labs in course order.
pub fn all() -> Vec<&'static dyn labkit::Lab> {
    vec![&intro::LAB, &net::LAB, &uts::LAB, &pid::LAB, &mnt::LAB, &ipc::LAB, &user::LAB, &enter::LAB]
}

/// Starts `argv` with `spawner` in the background (stdio on /dev/null, killed if we die) and
/// registers its undo at once.
pub(crate) fn start(ctx: &mut Ctx, spawner: Spawner, argv: &[&str]) -> anyhow::Result<NsChild> {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let child = spawner.stdio(Stdio::Null).kill_with_parent(true).spawn(&argv)?;
    ctx.register(child.undo());
    Ok(child)
}

/// `readlink /proc/PID/ns/TYPE` (or ours with `None`).
pub(crate) fn link(pid: Option<i32>, ns_type: &str) -> anyhow::Result<NsId> {
    Ok(probe::ns_link(pid, ns_type)?)
}

/// Is a namespace still held: by a process in it, an open fd on it, or a bind mount of it?
pub(crate) fn listed(id: &NsId) -> bool {
    !probe::ns_holders(id).is_empty()
}

pub(crate) use labkit::process::alive;

/// Column headers in the run's language, each given as (en, zh).
pub(crate) fn headers(ctx: &Ctx, columns: &[(&str, &str)]) -> Vec<String> {
    columns.iter().map(|(en, zh)| ctx.t(&labkit::tr!(*en, *zh))).collect()
}

/// The closing checks of a one-namespace lab: its child is gone, and the namespace went with
/// it. `kind` names the namespace as the learner reads it ("UTS", "user", "network").
pub(crate) fn expect_child_and_namespace_gone(ctx: &mut labkit::Ctx, child_gone: bool, ns: &NsId, kind: &str) {
    let holders = probe::ns_holders(ns);
    use labkit::tr;
    ctx.expect(
        tr!("the child is gone", "子进程已经消失"),
        ctx.word("gone"),
        ctx.word(if child_gone { "gone" } else { "alive" }),
        child_gone,
        tr!("SIGKILL should end it at once", "SIGKILL 应当立刻结束它"),
    );
    ctx.expect(
        tr!(format!("its {kind} namespace is gone with it"), format!("它的 {kind} namespace 也随之消失")),
        ctx.t(&tr!("no process, open fd or bind mount holds it", "没有进程、打开的 fd 或 bind mount 持有它")),
        if holders.is_empty() {
            ctx.word("nothing holds it")
        } else {
            let shown: Vec<String> = holders.iter().map(|h| h.describe(ctx.lang())).collect();
            shown.join(&ctx.t(&tr!("; ", "；")))
        },
        holders.is_empty(),
        tr!(
            "the holder named above keeps the namespace alive: end it, close it or umount it",
            "上面列出的持有者让这个 namespace 继续存在：结束它、关闭它或卸载它"
        ),
    );
}
