//! SIGINT, SIGTERM and SIGHUP (the terminal closed) during a lab: undo everything registered,
//! then exit 128+signal.

use crate::cleanup::Cleanup;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// Stops watching for signals when dropped.
pub struct SignalGuard {
    handle: Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Watches SIGINT, SIGTERM and SIGHUP on a thread of its own; on any, undoes `cleanup` (unless
/// `keep`) and exits with 128 + the signal number.
pub fn undo_on_signal(cleanup: Cleanup, keep: bool) -> std::io::Result<SignalGuard> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let thread = std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = match signal {
                SIGINT => "SIGINT",
                SIGHUP => "SIGHUP",
                _ => "SIGTERM",
            };
            if keep {
                eprintln!("\nlabctl: {name}: leaving objects in place (--keep); remove them with: sudo labctl clean");
            } else {
                let (done, failures) = cleanup.undo_all();
                eprintln!("\nlabctl: {name}: undid {} object(s)", done.len());
                for f in failures {
                    eprintln!("labctl: cleanup failed: {f}");
                }
            }
            std::process::exit(128 + signal);
        }
    });
    Ok(SignalGuard { handle, thread: Some(thread) })
}
