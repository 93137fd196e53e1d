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

/// Is a namespace still held by some process?
pub(crate) fn listed(id: &NsId) -> bool {
    probe::list_namespaces(Some(&id.ns_type)).iter().any(|e| &e.id == id)
}

pub(crate) use labkit::process::alive;

/// The closing checks of a one-namespace lab: its child is gone, and the namespace went with
/// it. `kind` names the namespace as the learner reads it ("UTS", "user", "network").
pub(crate) fn expect_child_and_namespace_gone(ctx: &mut labkit::Ctx, child_gone: bool, still_listed: bool, kind: &str) {
    use labkit::tr;
    ctx.expect(
        tr!("the child is gone", "子进程已经消失"),
        "gone",
        if child_gone { "gone" } else { "alive" },
        child_gone,
        tr!("SIGKILL should end it at once", "SIGKILL 应当立刻结束它"),
    );
    ctx.expect(
        tr!(format!("its {kind} namespace is gone with it"), format!("它的 {kind} namespace 也随之消失")),
        "not listed",
        if still_listed { "still listed" } else { "not listed" },
        !still_listed,
        tr!(
            "something else still holds the namespace (a process, a bind mount or an open fd)",
            "还有别的东西持有这个 namespace（进程、bind mount 或打开的 fd）"
        ),
    );
}
