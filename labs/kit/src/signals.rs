//! SIGINT, SIGTERM and SIGHUP (the terminal closed) during a lab: undo everything registered,
//! say where the run stopped and what was removed, then exit 128+signal.

use crate::cleanup::Cleanup;
use crate::text::Lang;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use std::sync::{Arc, Mutex};

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

/// The step a run is in ("3/6 · title"), shared with the signal thread.
#[derive(Debug, Clone, Default)]
pub struct StepTracker(Arc<Mutex<Option<String>>>);

impl StepTracker {
    pub fn enter(&self, index: usize, total: usize, title: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{index}/{total} · {title}"));
    }

    fn current(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Watches SIGINT, SIGTERM and SIGHUP on a thread of its own; on any, undoes `cleanup` (unless
/// `keep`) and exits with 128 + the signal number.
pub fn undo_on_signal(cleanup: Cleanup, keep: bool) -> std::io::Result<SignalGuard> {
    undo_on_signal_in(cleanup, keep, Lang::En, StepTracker::default())
}

/// [`undo_on_signal`] for a lab run: the message names the step `at` holds, in `lang`, and
/// lists what was removed like the Cleanup section of a finished run.
pub fn undo_on_signal_in(cleanup: Cleanup, keep: bool, lang: Lang, at: StepTracker) -> std::io::Result<SignalGuard> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let thread = std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = match signal {
                SIGINT => "SIGINT",
                SIGHUP => "SIGHUP",
                _ => "SIGTERM",
            };
            let (removed, failures) = if keep { (cleanup.keep(), Vec::new()) } else { cleanup.interrupt() };
            let items: Vec<String> = removed.iter().map(|u| u.describe_in(lang)).collect();
            eprint!("{}", interrupted_message(lang, name, at.current().as_deref(), keep, &items, &failures));
            std::process::exit(128 + signal);
        }
    });
    Ok(SignalGuard { handle, thread: Some(thread) })
}

/// What an interrupted run prints: where it stopped, then a Cleanup section.
pub fn interrupted_message(
    lang: Lang,
    signal: &str,
    step: Option<&str>,
    keep: bool,
    removed: &[String],
    failures: &[String],
) -> String {
    let mut out = String::from("\n");
    out.push_str(&match (lang, step) {
        (Lang::En, Some(step)) => format!("labctl: {signal} at step {step}: the lab stopped there.\n"),
        (Lang::En, None) => format!("labctl: {signal} before the first step: the lab stopped.\n"),
        (Lang::Zh, Some(step)) => format!("labctl：在步骤 {step} 收到 {signal}，实验停在这里。\n"),
        (Lang::Zh, None) => format!("labctl：在第一步之前收到 {signal}，实验已停止。\n"),
    });
    let title = crate::render::word(lang, if keep { "kept" } else { "cleanup" });
    out.push_str(title);
    out.push('\n');
    if removed.is_empty() && failures.is_empty() {
        out.push_str(&format!("  {}\n", crate::render::word(lang, "nothing")));
    }
    for item in removed {
        out.push_str(&format!("  - {item}\n"));
    }
    for f in failures {
        let failed = match lang {
            Lang::En => "FAILED",
            Lang::Zh => "失败",
        };
        out.push_str(&format!("  - {failed}: {f}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_run_says_where_and_lists_what_was_removed() {
        let removed = ["process 42".to_string(), "netns labctl-demo".to_string()];
        let en = interrupted_message(Lang::En, "SIGINT", Some("3/6 · Enter it"), false, &removed, &[]);
        assert_eq!(
            en,
            "\nlabctl: SIGINT at step 3/6 · Enter it: the lab stopped there.\nCleanup\n  - process 42\n  - netns labctl-demo\n"
        );
        let zh = interrupted_message(Lang::Zh, "SIGTERM", Some("3/6 · 进入"), false, &removed, &[]);
        assert!(
            zh.starts_with("\nlabctl：在步骤 3/6 · 进入 收到 SIGTERM，实验停在这里。\n清理\n  - process 42"),
            "{zh}"
        );
    }

    #[test]
    fn keep_says_kept_and_nothing_says_so() {
        let kept = interrupted_message(Lang::En, "SIGHUP", None, true, &["mount /x".into()], &[]);
        assert!(kept.contains("before the first step") && kept.contains("Kept (--keep)"), "{kept}");
        let none = interrupted_message(Lang::Zh, "SIGINT", Some("1/2 · a"), false, &[], &[]);
        assert!(none.ends_with("清理\n  没有需要撤销的对象\n"), "{none}");
    }
}
