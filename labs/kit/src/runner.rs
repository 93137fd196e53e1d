//! Running a lab: step functions bound to manifest step ids, the context they act through,
//! and the loop that renders, pauses, checks, and always cleans up.

use crate::cleanup::{Cleanup, Undo};
use crate::fact::Fact;
use crate::failure::Failure;
use crate::manifest::LabDef;
use crate::observe::Observation;
use crate::render::{Format, Renderer};
use crate::report::{fill, Check, Outcome, Report, StepReport, JSON_SCHEMA};
use crate::text::{Lang, Text};
use std::any::Any;
use std::fmt::Display;
use std::io::Write;

/// A step function: act, observe, expect. `S` is the lab's own state carried between steps.
pub type StepFn<S> = fn(&mut Ctx, &mut S) -> anyhow::Result<()>;

/// A lab's code: its step functions in order and its challenge check.
pub struct Walkthrough<S: Default + 'static> {
    pub id: &'static str,
    /// Where this lab's code is: always `file!()`, so `labctl dev check` can hold it to
    /// `labs/<topic>/src/labs/<id suffix>.rs`.
    pub source: &'static str,
    pub steps: &'static [(&'static str, StepFn<S>)],
    /// Verifies the learner's own attempt at the challenge (`labctl check`).
    pub check: fn(&mut Ctx) -> anyhow::Result<()>,
}

/// The type-erased face of a [`Walkthrough`], so a catalogue can hold labs of any state type.
pub trait Lab: Sync {
    fn id(&self) -> &'static str;
    /// The source file that declares the lab (`file!()` there).
    fn source(&self) -> &'static str;
    fn step_ids(&self) -> Vec<&'static str>;
    /// Runs step `index` (0-based) with `state` created by `new_state`.
    fn run_step(&self, index: usize, ctx: &mut Ctx, state: &mut dyn Any) -> anyhow::Result<()>;
    fn new_state(&self) -> Box<dyn Any>;
    fn check(&self, ctx: &mut Ctx) -> anyhow::Result<()>;
}

impl<S: Default + 'static> Lab for Walkthrough<S> {
    fn id(&self) -> &'static str {
        self.id
    }

    fn source(&self) -> &'static str {
        self.source
    }

    fn step_ids(&self) -> Vec<&'static str> {
        self.steps.iter().map(|(id, _)| *id).collect()
    }

    fn run_step(&self, index: usize, ctx: &mut Ctx, state: &mut dyn Any) -> anyhow::Result<()> {
        let state = state.downcast_mut::<S>().expect("state created by new_state");
        (self.steps[index].1)(ctx, state)
    }

    fn new_state(&self) -> Box<dyn Any> {
        Box::new(S::default())
    }

    fn check(&self, ctx: &mut Ctx) -> anyhow::Result<()> {
        (self.check)(ctx)
    }
}

/// What a step acts through: the language, the undo registry, and the report being filled.
pub struct Ctx {
    lang: Lang,
    cleanup: Cleanup,
    report: StepReport,
    explore: Option<crate::interact::Checkpoint>,
}

impl Ctx {
    pub fn new(lang: Lang, cleanup: Cleanup) -> Ctx {
        Ctx { lang, cleanup, report: blank_report(), explore: None }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Picks the current language from a code-side text.
    pub fn t(&self, text: &Text) -> String {
        text.get(self.lang).to_string()
    }

    /// A value word from the shared vocabulary ([`crate::words`]) in the current language.
    pub fn word(&self, en: &str) -> String {
        crate::words::word(self.lang, en)
    }

    /// `true`/`false` as an observed value, in the current language.
    pub fn boolean(&self, b: bool) -> String {
        crate::words::boolean(self.lang, b)
    }

    pub fn cleanup(&self) -> &Cleanup {
        &self.cleanup
    }

    /// Registers an undo before creating the object it undoes.
    pub fn register(&self, undo: Undo) {
        self.cleanup.register(undo);
    }

    /// Registers `undo` and creates the object; a failed creation is not undone later.
    pub fn create<T, E>(&self, undo: Undo, create: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.cleanup.create(undo, create)
    }

    /// Undoes everything registered so far (a lab's own cleanup step) and returns what it did.
    pub fn undo_now(&mut self) -> Vec<Undo> {
        let (done, failures) = self.cleanup.undo_all();
        for f in failures {
            self.report.error.get_or_insert_with(String::new).push_str(&f);
        }
        done
    }

    pub fn observe(&mut self, observation: Observation) {
        self.report.observations.push(observation);
    }

    /// Names a value for the explanation's `{name}` placeholders.
    pub fn set(&mut self, name: &str, value: impl Into<Fact>) {
        let value = value.into();
        self.report.values.retain(|(k, _)| k != name);
        self.report.values.push((name.to_string(), value));
    }

    pub fn note(&mut self, text: Text) {
        let note = self.t(&text);
        self.report.notes.push(note);
    }

    /// Checks that `found` satisfies the lesson; returns whether it did.
    pub fn expect(
        &mut self,
        label: Text,
        expected: impl Display,
        found: impl Into<Fact>,
        ok: bool,
        hint: Text,
    ) -> bool {
        let check = Check {
            label: self.t(&label),
            expected: expected.to_string(),
            found: found.into(),
            outcome: if ok { Outcome::Passed } else { Outcome::Failed },
            hint: if ok { None } else { Some(self.t(&hint)) },
        };
        self.report.checks.push(check);
        ok
    }

    /// Checks equality of two shown values.
    pub fn expect_eq(&mut self, label: Text, expected: impl Into<Fact>, found: impl Into<Fact>, hint: Text) -> bool {
        let (expected, found) = (expected.into(), found.into());
        let ok = expected.to_string() == found.to_string();
        self.expect(label, expected, found, ok, hint)
    }

    /// An operation that must fail, and fail with `expected`, for the lesson to hold. An error
    /// of that errno or kind is the expected failure (shown with what was read); success or
    /// another error is a failed check that says what came back.
    pub fn expect_failure<T, E: Into<anyhow::Error>>(
        &mut self,
        label: Text,
        expected: Failure,
        result: Result<T, E>,
        hint: Text,
    ) -> bool {
        match result.map_err(Into::into) {
            Err(e) if expected.matches(&e) => {
                let check = Check {
                    label: self.t(&label),
                    expected: expected.to_string(),
                    found: Fact::Text(crate::failure::describe_in(&e, self.lang)),
                    outcome: Outcome::ExpectedFailure,
                    hint: None,
                };
                self.report.checks.push(check);
                true
            }
            Err(e) => self.expect(label, expected, crate::failure::describe_in(&e, self.lang), false, hint),
            Ok(_) => {
                let succeeded = self.word("succeeded");
                self.expect(label, expected, succeeded, false, hint)
            }
        }
    }

    /// Marks a process whose namespaces `--explore` opens a shell in after this step.
    pub fn explore_in(&mut self, pid: i32) {
        self.explore = Some(crate::interact::Checkpoint::Namespaces(pid));
    }

    /// `--explore` opens a shell inside a cgroup after this step: `name` as the learner knows it
    /// (labctl/cpu-demo), `procs` its cgroup.procs file in each hierarchy (one on v2).
    pub fn explore_cgroup(&mut self, name: &str, procs: Vec<std::path::PathBuf>) {
        self.explore = Some(crate::interact::Checkpoint::Cgroup { name: name.to_string(), procs });
    }

    /// `--explore` opens a shell in this directory after this step (an overlay's merged dir).
    pub fn explore_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.explore = Some(crate::interact::Checkpoint::Dir(dir.into()));
    }

    pub fn checks(&self) -> &[Check] {
        &self.report.checks
    }

    fn take_report(&mut self) -> StepReport {
        std::mem::replace(&mut self.report, blank_report())
    }
}

fn blank_report() -> StepReport {
    StepReport {
        index: 0,
        total: 0,
        id: String::new(),
        title: String::new(),
        narration: String::new(),
        command: None,
        observations: Vec::new(),
        explanation: String::new(),
        values: Vec::new(),
        checks: Vec::new(),
        notes: Vec::new(),
        error: None,
    }
}

/// How to run a lab (the `labctl run` flags).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub lang: Lang,
    pub format: Format,
    pub redact: bool,
    pub keep: bool,
    pub pause: bool,
    pub explore: bool,
    /// Run up to this step (0-based), showing only it.
    pub only_step: Option<usize>,
    pub yes: bool,
    /// Wrap prose to this many columns ([`crate::wrap::output_width`]: the terminal's, else the
    /// fixed width of pipes, files and reference transcripts); none leaves lines as they are.
    pub width: Option<usize>,
}

impl RunOptions {
    /// A whole run that never prompts, cleans up, and shows real values (a test or script).
    pub fn unattended(lang: Lang, format: Format) -> RunOptions {
        RunOptions {
            lang,
            format,
            redact: false,
            keep: false,
            pause: false,
            explore: false,
            only_step: None,
            yes: true,
            width: None,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub passed: bool,
    pub report: Report,
    /// The run stopped before its last step: `q` at a `--pause` prompt, or the reader of its
    /// output went away (`labctl run LAB | head`). It cleaned up; it is not a completion.
    pub stopped: bool,
}

/// Runs a lab end to end. Cleanup always happens (unless `keep`), including on SIGINT/SIGTERM
/// (a signal thread undoes and exits 130/143) and on panic (caught per step).
pub fn run_lab<W: Write>(
    def: &LabDef,
    lab: &dyn Lab,
    opts: &RunOptions,
    cleanup: Cleanup,
    out: W,
) -> anyhow::Result<RunOutcome> {
    let lang = opts.lang;
    // Whatever ends this function early (a closed terminal, a broken pipe) still undoes.
    let guard = UndoGuard { cleanup: cleanup.clone(), armed: !opts.keep };
    let reader_gone = std::rc::Rc::new(std::cell::Cell::new(false));
    let out = UntilReaderGone { inner: out, gone: reader_gone.clone() };
    let mut renderer = Renderer::new(out, opts.format, opts.redact, lang);
    renderer.width = opts.width;
    let at = crate::signals::StepTracker::default();
    let _signals = crate::signals::undo_on_signal_in(cleanup.clone(), opts.keep, lang, at.clone())?;
    renderer.lab_start(&def.id, def.title.get(lang), def.summary.get(lang))?;

    let mut ctx = Ctx::new(lang, cleanup.clone());
    let mut state = lab.new_state();
    let total = def.steps.len();
    let last = opts.only_step.unwrap_or(total - 1);
    let mut reports = Vec::new();
    let mut passed = true;
    let mut stopped = false;
    let mut explored = false;

    for (index, step_def) in def.steps.iter().enumerate().take(last + 1) {
        renderer.quiet = opts.only_step.is_some_and(|only| index != only);
        at.enter(index + 1, total, step_def.title.get(lang));
        ctx.report = StepReport {
            index: index + 1,
            total,
            id: step_def.id.clone(),
            title: step_def.title.get(lang).to_string(),
            narration: step_def.narration.get(lang).to_string(),
            command: step_def.command.clone(),
            ..blank_report()
        };
        renderer.step_start(&ctx.report)?;
        // The presenter sees the step's title and narration, then decides to run it.
        if opts.pause
            && !renderer.quiet
            && crate::interact::wait_for_enter(lang, index + 1, total)? == crate::interact::Pause::Quit
        {
            stopped = true;
            break;
        }
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lab.run_step(index, &mut ctx, state.as_mut())));
        let mut report = ctx.take_report();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.error = Some(format!("{e:#}")),
            Err(panic) => report.error = Some(format!("panic: {}", panic_message(&panic))),
        }
        let template = step_def.explanation.get(lang);
        report.explanation = fill(template, &report.values, false);
        let shown = if opts.redact { report.redacted(template) } else { report.clone() };
        renderer.step_end(&shown)?;
        let step_ok = report.passed();
        let failed_hard = report.error.is_some();
        passed &= step_ok;
        reports.push(shown);
        if opts.explore && !renderer.quiet {
            if let Some(checkpoint) = ctx.explore.take() {
                explored = true;
                crate::interact::explore(lang, &def.id, &checkpoint)?;
            }
        }
        if reader_gone.get() {
            stopped = index + 1 < total;
            break;
        }
        if failed_hard {
            break;
        }
        step_delay();
    }

    if opts.explore && !explored && !stopped {
        eprintln!("{}", no_checkpoint(lang, &def.id));
    }
    let undone: Vec<String> = if opts.keep {
        cleanup
            .keep()
            .iter()
            .map(|u| if opts.redact { u.describe_redacted_in(lang) } else { u.describe_in(lang) })
            .collect()
    } else {
        let (done, failures) = cleanup.undo_all();
        if !failures.is_empty() {
            passed = false;
        }
        done.iter()
            .map(|u| if opts.redact { u.describe_redacted_in(lang) } else { u.describe_in(lang) })
            .chain(failures.into_iter().map(|f| format!("{}: {f}", crate::render::word(lang, "undo_failed"))))
            .collect()
    };
    let stopped_at = stopped.then(|| reports.len() + 1);
    let report = Report {
        schema: JSON_SCHEMA,
        lab: def.id.clone(),
        title: def.title.get(lang).to_string(),
        lang: lang.code().to_string(),
        steps: reports,
        passed,
        cleanup: undone,
        stopped_at,
    };
    drop(guard);
    renderer.quiet = false;
    renderer.lab_end(&report, opts.keep)?;
    Ok(RunOutcome { passed, report, stopped })
}

fn no_checkpoint(lang: Lang, lab: &str) -> String {
    match lang {
        Lang::En => format!(
            "--explore: {lab} has no checkpoint (no step leaves a namespace, cgroup or directory a shell could \
             enter); use --keep and look around after the run"
        ),
        Lang::Zh => format!(
            "--explore：{lab} 没有检查点（没有步骤留下可供 shell 进入的 namespace、cgroup 或目录）；可以用 --keep 在实验结束后查看"
        ),
    }
}

/// Passes writes through until the reader goes away (EPIPE: `labctl run LAB | head`), then
/// swallows them and says so through `gone`, so the run stops quietly and still cleans up.
struct UntilReaderGone<W> {
    inner: W,
    gone: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<W: Write> UntilReaderGone<W> {
    fn absorb(&self, result: std::io::Result<usize>, len: usize) -> std::io::Result<usize> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.gone.set(true);
                Ok(len)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for UntilReaderGone<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.gone.get() {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.gone.get() {
            return Ok(());
        }
        let result = self.inner.flush().map(|()| 0);
        self.absorb(result, 0).map(|_| ())
    }
}

/// Undoes everything still registered when dropped (on an early return or a panic).
struct UndoGuard {
    cleanup: Cleanup,
    armed: bool,
}

impl Drop for UndoGuard {
    fn drop(&mut self) {
        if self.armed {
            self.cleanup.undo_all();
        }
    }
}

/// Runs a lab's challenge check, rendering its checks as one step. Passes only when at least
/// one check ran and none failed.
pub fn run_check<W: Write>(
    def: &LabDef,
    lab: &dyn Lab,
    lang: Lang,
    format: Format,
    mut out: W,
) -> anyhow::Result<bool> {
    let mut ctx = Ctx::new(lang, Cleanup::in_memory(&def.id));
    ctx.report.title = def.challenge.task.get(lang).to_string();
    ctx.report.id = "challenge".into();
    ctx.report.index = 1;
    ctx.report.total = 1;
    let result = lab.check(&mut ctx);
    ctx.cleanup().undo_all();
    let mut report = ctx.take_report();
    if let Err(e) = result {
        report.error = Some(format!("{e:#}"));
    }
    let passed = report.passed() && !report.checks.is_empty();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let mut renderer = Renderer::new(out, format, false, lang);
        renderer.step_start(&report)?;
        renderer.step_end(&report)?;
    }
    Ok(passed)
}

/// `LABCTL_STEP_DELAY_MS` slows a run between steps so tests (and curious learners) can
/// interrupt it at a known point.
fn step_delay() {
    if let Some(ms) = std::env::var("LABCTL_STEP_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tr;
    use nix::errno::Errno;

    fn ctx() -> Ctx {
        Ctx::new(Lang::En, Cleanup::in_memory("test"))
    }

    fn rmdir_failing_with(errno: Errno) -> Result<(), std::io::Error> {
        Err(std::io::Error::from_raw_os_error(errno as i32))
    }

    #[test]
    fn an_expected_failure_passes_only_with_the_expected_errno() {
        let mut ctx = ctx();
        assert!(ctx.expect_failure(
            tr!("a", "a"),
            Failure::Errno(Errno::EBUSY),
            rmdir_failing_with(Errno::EBUSY),
            tr!("", "")
        ));
        assert_eq!(ctx.checks()[0].outcome, Outcome::ExpectedFailure);
        assert_eq!(ctx.checks()[0].found, Fact::text("EBUSY: Device or resource busy (os error 16)"));
    }

    #[test]
    fn another_errno_fails_and_says_what_was_found() {
        let mut ctx = ctx();
        let ok = ctx.expect_failure(
            tr!("a", "a"),
            Failure::Errno(Errno::EBUSY),
            rmdir_failing_with(Errno::ENOENT),
            tr!("h", "h"),
        );
        assert!(!ok);
        let check = &ctx.checks()[0];
        assert_eq!(check.outcome, Outcome::Failed);
        assert_eq!(check.expected, "EBUSY");
        assert!(check.found.to_string().starts_with("ENOENT"), "{}", check.found);
    }

    #[test]
    fn success_fails_an_expected_failure() {
        let mut ctx = ctx();
        assert!(!ctx.expect_failure(
            tr!("a", "a"),
            Failure::Errno(Errno::EBUSY),
            Ok::<(), std::io::Error>(()),
            tr!("", "")
        ));
        assert_eq!(ctx.checks()[0].found, Fact::text("succeeded"));
    }
}
