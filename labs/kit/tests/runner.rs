//! The runner's logic with a fake lab and an in-memory cleanup: step order, rendering in every
//! format, `--redact`, `--step`, `--keep`, errors, panics and cleanup order. No root, no kernel
//! objects: the undos are `true WORD` commands, so what was undone is read from the report.

use labkit::runner::{run_check, run_lab};
use labkit::{tr, Cleanup, Ctx, Fact, Format, LabDef, Lang, Manifest, Observation, RunOptions, Undo, Walkthrough};

const MANIFEST: &str = r#"
format_version: 1
labs:
  - id: fake
    title: {en: Fake lab, zh: 假实验}
    summary: {en: Only logic, zh: 只有逻辑}
    seed_section: 资源隔离 Namespace
    requirements: {root: false}
    steps:
      - id: make
        title: {en: Make three things, zh: 造三样东西}
        narration: {en: We register undos, zh: 登记撤销}
        command: make things
        explanation: {en: "made {count}, inode {inode}", zh: "造了 {count} 个，inode 是 {inode}"}
      - id: look
        title: {en: Look at them, zh: 看看它们}
        narration: {en: We observe, zh: 观察}
        explanation: {en: "pid {pid}", zh: "pid 是 {pid}"}
      - id: last
        title: {en: The last step, zh: 最后一步}
        narration: {en: We finish, zh: 收尾}
        explanation: {en: done, zh: 完成}
    quiz:
      - question: {en: Q?, zh: 问？}
        choices: [{en: a, zh: 甲}, {en: b, zh: 乙}]
        answer: 1
        why: {en: because, zh: 因为}
    challenge:
      task: {en: Do it, zh: 做吧}
      hints: [{en: hint, zh: 提示}]
"#;

fn def() -> LabDef {
    Manifest::parse("fake.yaml", MANIFEST).unwrap().labs.remove(0)
}

fn undo(word: &str) -> Undo {
    Undo::Command { argv: vec!["true".into(), word.into()] }
}

#[derive(Default)]
struct State {
    made: usize,
}

fn make(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    for word in ["first", "second", "third"] {
        ctx.register(undo(word));
        state.made += 1;
    }
    ctx.set("count", Fact::Number(state.made as i64));
    ctx.set("inode", Fact::Inode(4026531840));
    ctx.expect_eq(tr!("three made", "造了三个"), Fact::Number(3), Fact::Number(state.made as i64), tr!("h", "提示"));
    Ok(())
}

fn look(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    ctx.observe(Observation::Excerpt {
        path: Fact::text("/proc/fake"),
        lines: vec![vec![Fact::text("pid "), Fact::Pid(4242)]],
    });
    ctx.set("pid", Fact::Pid(4242));
    ctx.expect(tr!("still three", "仍是三个"), 3, Fact::Number(state.made as i64), state.made == 3, tr!("h", "提示"));
    Ok(())
}

fn last(ctx: &mut Ctx, _: &mut State) -> anyhow::Result<()> {
    ctx.note(tr!("the end", "结束"));
    Ok(())
}

fn fails(_: &mut Ctx, _: &mut State) -> anyhow::Result<()> {
    anyhow::bail!("the kernel said no")
}

fn panics(_: &mut Ctx, _: &mut State) -> anyhow::Result<()> {
    panic!("a bug in the step")
}

fn failing_check(ctx: &mut Ctx, _: &mut State) -> anyhow::Result<()> {
    ctx.expect(tr!("wrong", "错误"), "yes", "no", false, tr!("try again", "再试"));
    Ok(())
}

fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    ctx.expect(tr!("the challenge holds", "挑战成立"), "ok", "ok", true, tr!("h", "提示"));
    Ok(())
}

fn no_checks(_: &mut Ctx) -> anyhow::Result<()> {
    Ok(())
}

static LAB: Walkthrough<State> =
    Walkthrough { id: "fake", source: file!(), steps: &[("make", make), ("look", look), ("last", last)], check };

static FAILS: Walkthrough<State> =
    Walkthrough { id: "fake", source: file!(), steps: &[("make", make), ("look", fails), ("last", last)], check };

static PANICS: Walkthrough<State> =
    Walkthrough { id: "fake", source: file!(), steps: &[("make", make), ("look", panics), ("last", last)], check };

static CHECK_FAILS: Walkthrough<State> = Walkthrough {
    id: "fake",
    source: file!(),
    steps: &[("make", make), ("look", failing_check), ("last", last)],
    check: no_checks,
};

fn opts(format: Format) -> RunOptions {
    RunOptions::unattended(Lang::En, format)
}

/// Runs `lab` and returns (passed, cleanup list, output).
fn run(lab: &Walkthrough<State>, opts: &RunOptions) -> (bool, Vec<String>, String) {
    let mut out = Vec::new();
    let outcome = run_lab(&def(), lab, opts, Cleanup::in_memory("fake"), &mut out).unwrap();
    (outcome.passed, outcome.report.cleanup, String::from_utf8(out).unwrap())
}

#[test]
fn every_step_runs_in_order_and_cleanup_undoes_in_reverse() {
    let (passed, cleanup, out) = run(&LAB, &opts(Format::Plain));
    assert!(passed, "{out}");
    assert_eq!(cleanup, ["true third", "true second", "true first"]);
    let (make, look, last) =
        (out.find("Make three things").unwrap(), out.find("Look at them").unwrap(), out.find("The last step").unwrap());
    assert!(make < look && look < last, "{out}");
    assert!(out.contains("made 3, inode 4026531840"), "{out}");
}

#[test]
fn redact_hides_volatile_values_and_keeps_the_lesson() {
    let (_, _, out) = run(&LAB, &RunOptions { redact: true, ..opts(Format::Plain) });
    assert!(out.contains("made 3, inode [inode]"), "{out}");
    assert!(out.contains("pid [pid]") && !out.contains("4242") && !out.contains("4026531840"), "{out}");
}

#[test]
fn chinese_narration_comes_from_the_manifest() {
    let (_, _, out) = run(&LAB, &RunOptions { lang: Lang::Zh, ..opts(Format::Plain) });
    assert!(out.contains("造三样东西") && out.contains("造了 3 个"), "{out}");
}

#[test]
fn json_is_one_document_with_schema_steps_and_cleanup() {
    let (_, _, out) = run(&LAB, &RunOptions { redact: true, ..opts(Format::Json) });
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["schema"], labkit::report::JSON_SCHEMA);
    assert_eq!(doc["lab"], "fake");
    assert_eq!(doc["passed"], true);
    assert_eq!(doc["steps"].as_array().map(Vec::len), Some(3));
    assert_eq!(doc["cleanup"][0], "true third");
    assert!(!out.contains("4242"), "redacted JSON shows a pid: {out}");
}

#[test]
fn markdown_puts_the_command_in_a_code_block() {
    let (_, _, out) = run(&LAB, &opts(Format::Markdown));
    assert!(out.contains("```") && out.contains("make things"), "{out}");
}

#[test]
fn step_shows_only_that_step_but_runs_the_earlier_ones() {
    let (passed, cleanup, out) = run(&LAB, &RunOptions { only_step: Some(1), ..opts(Format::Plain) });
    assert!(passed, "{out}");
    assert!(out.contains("Look at them") && !out.contains("Make three things") && !out.contains("The last step"));
    // Step 2 saw what step 1 made, and its undos still ran.
    assert!(out.contains("still three"), "{out}");
    assert_eq!(cleanup.len(), 3);
}

#[test]
fn keep_lists_what_stays_and_undoes_nothing() {
    let cleanup = Cleanup::in_memory("fake");
    let mut out = Vec::new();
    let outcome =
        run_lab(&def(), &LAB, &RunOptions { keep: true, ..opts(Format::Plain) }, cleanup.clone(), &mut out).unwrap();
    assert_eq!(outcome.report.cleanup, ["true first", "true second", "true third"]);
    assert_eq!(cleanup.pending().len(), 3, "--keep must leave the undos registered");
}

#[test]
fn an_error_stops_the_run_fails_it_and_still_cleans_up() {
    let (passed, cleanup, out) = run(&FAILS, &opts(Format::Plain));
    assert!(!passed);
    assert!(out.contains("the kernel said no"), "{out}");
    assert!(!out.contains("The last step"), "a step after an error ran: {out}");
    assert_eq!(cleanup, ["true third", "true second", "true first"]);
}

#[test]
fn a_panicking_step_is_reported_and_cleaned_up() {
    let (passed, cleanup, out) = run(&PANICS, &opts(Format::Plain));
    assert!(!passed);
    assert!(out.contains("panic: a bug in the step"), "{out}");
    assert_eq!(cleanup.len(), 3);
}

#[test]
fn a_failed_check_fails_the_run_with_expected_found_and_hint_but_the_run_goes_on() {
    let (passed, _, out) = run(&CHECK_FAILS, &opts(Format::Plain));
    assert!(!passed);
    assert!(out.contains("yes") && out.contains("no") && out.contains("try again"), "{out}");
    assert!(out.contains("The last step"), "a failed check is not an error: {out}");
}

#[test]
fn a_challenge_passes_only_when_a_check_ran_and_held() {
    let mut out = Vec::new();
    assert!(run_check(&def(), &LAB, Lang::En, Format::Plain, &mut out).unwrap());
    assert!(String::from_utf8_lossy(&out).contains("the challenge holds"));
    assert!(!run_check(&def(), &CHECK_FAILS, Lang::En, Format::Plain, Vec::new()).unwrap(), "no check ran");
}

#[test]
fn a_challenge_in_json_is_one_step_report() {
    let mut out = Vec::new();
    run_check(&def(), &LAB, Lang::En, Format::Json, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["id"], "challenge");
    assert_eq!(doc["checks"][0]["outcome"], "passed");
}
