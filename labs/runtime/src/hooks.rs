//! OCI hooks: programs run at fixed points of the lifecycle with the container's state on
//! their stdin (prestart, createRuntime, createContainer, startContainer, poststart, poststop).

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs each hook in order with `state` (JSON) on stdin; stops at the first failure.
pub fn run_all(hooks: Option<&Vec<Hook>>, state: &str) -> Result<()> {
    for hook in hooks.into_iter().flatten() {
        run(hook, state)?;
    }
    Ok(())
}

fn run(hook: &Hook, state: &str) -> Result<()> {
    let fail = |why: String| Error::Hook { path: hook.path().clone(), why };
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(argv0) = args.first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1)).env_clear().stdin(Stdio::piped());
    for pair in hook.env().iter().flatten() {
        if let Some((k, v)) = pair.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not fail us: ignore EPIPE.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook.timeout().filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait().map_err(|e| fail(format!("waiting for it: {e}")))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(fail(format!("exited with {status}"))),
            None => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {} s", hook.timeout().unwrap_or(0))));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
