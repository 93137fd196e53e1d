//! The interactive paths through a real terminal: tmux (on a socket of its own, so no user's
//! server is touched) runs labctl in a pty; keys go in with send-keys, and the tests assert what
//! the screen shows (capture-pane).

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// One detached tmux session on a private socket, 120×40, running one command; removed on drop.
struct Screen {
    socket: String,
}

impl Screen {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Screen {
        Screen::sized(args, env, 120, 40)
    }

    /// A terminal of `cols` × `rows` (COLUMNS unset: labctl reads the width from the pty).
    fn sized(args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Screen {
        assert!(labkit::testing::have_program("tmux"), "the pty tests need tmux (apt-get install tmux)");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let socket =
            format!("labctl-test-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut line = vec!["env".to_string(), "-u".into(), "LANG".into(), "-u".into(), "LC_ALL".into()];
        line.extend(["-u".to_string(), "COLUMNS".into()]);
        line.push(format!("LABCTL_LEARNER_DIR={}", labkit::testing::scratch_learner_dir().display()));
        line.push("NO_COLOR=1".into());
        line.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        line.push(labctl_bin().display().to_string());
        line.extend(args.iter().map(|a| a.to_string()));
        let screen = Screen { socket };
        let (x, y) = (cols.to_string(), rows.to_string());
        screen.tmux(&["-f", "/dev/null", "new-session", "-d", "-x", &x, "-y", &y, "-s", "t"]);
        screen.tmux(&["set-option", "-g", "history-limit", "5000"]);
        // Keep the pane after labctl exits, to read its last words and its exit status.
        screen.tmux(&["set-option", "-g", "remain-on-exit", "on"]);
        // The exit status is printed by the shell: tmux reports it only for some ends.
        let command = format!("{}; echo \"labctl exited $?\"", shell_words(&line));
        screen.tmux(&["respawn-pane", "-k", "-t", "t", &command]);
        screen
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", err_text(&out));
        text(&out)
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn shown(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-5000", "-t", "t"])
    }

    /// Waits (20 s at most) until the screen shows `what`, and returns the screen.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.shown();
            if screen.contains(what) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {what:?}; it shows:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status once labctl has ended (20 s at most).
    fn exit_status(&self) -> i32 {
        let screen = self.wait_for("labctl exited ");
        let tail = &screen[screen.rfind("labctl exited ").unwrap() + "labctl exited ".len()..];
        tail.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

fn shell_words(words: &[String]) -> String {
    words.iter().map(|w| format!("'{}'", w.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" ")
}

#[test]
fn pause_shows_the_steps_title_before_the_prompt_and_q_quits_cleaning_up() {
    if !require_root("--pause in a pty") {
        return;
    }
    let _guard = kernel_lock();
    let screen = Screen::start(&["run", "ns-uts", "--pause"], &[]);
    let first = screen.wait_for("[step 1/");
    let title = first.find("Step 1/").expect("the title of step 1 is on screen");
    assert!(title < first.find("[step 1/").unwrap(), "the title comes before the prompt:\n{first}");
    assert!(first.contains("Enter: run this step · q: quit"), "{first}");
    assert!(!first.contains('✓'), "step 1 ran before Enter:\n{first}");
    screen.keys(&["Enter"]);
    let second = screen.wait_for("[step 2/");
    assert!(second.contains('✓') && second.contains("Step 2/"), "Enter ran step 1 and showed step 2:\n{second}");
    screen.keys(&["q", "Enter"]);
    let end = screen.wait_for("Stopped before step 2");
    assert!(end.contains("Cleanup"), "{end}");
    assert_eq!(screen.exit_status(), 0, "{end}");
    assert_nothing_left("ns-uts after q");
}

#[test]
fn pause_in_chinese_and_ctrl_c_at_the_prompt_says_where_it_stopped() {
    if !require_root("Ctrl-C in a pty") {
        return;
    }
    let _guard = kernel_lock();
    let screen = Screen::start(&["run", "ns-pid", "--pause", "--lang", "zh"], &[]);
    screen.wait_for("[步骤 1/");
    screen.keys(&["Enter"]);
    let prompt = screen.wait_for("[步骤 2/");
    assert!(prompt.contains("回车：执行这一步 · q：退出"), "{prompt}");
    screen.keys(&["C-c"]);
    let end = screen.wait_for("收到 SIGINT，实验停在这里。");
    assert!(end.contains("在步骤 2/"), "{end}");
    assert!(end.contains("清理\n  - 进程"), "the Cleanup section lists what was removed:\n{end}");
    assert_eq!(screen.exit_status(), 130);
    assert_nothing_left("ns-pid after Ctrl-C");
}

#[test]
fn explore_opens_a_shell_whose_prompt_names_the_lab_and_namespace() {
    if !require_root("--explore in a pty") {
        return;
    }
    let _guard = kernel_lock();
    let screen = Screen::start(&["run", "ns-uts", "--explore"], &[("SHELL", "/bin/bash")]);
    let shell = screen.wait_for("(labctl ns-uts · uts)");
    assert!(shell.contains("--explore: a shell in the uts namespace(s)"), "{shell}");
    screen.keys(&["hostname", "Enter"]);
    screen.keys(&["exit", "Enter"]);
    let end = screen.wait_for("All checks passed.");
    assert_eq!(screen.exit_status(), 0, "{end}");
    assert_nothing_left("ns-uts after --explore");
}

#[test]
fn the_quiz_asks_in_a_terminal_and_scores() {
    let screen = Screen::start(&["quiz", "ns-net"], &[]);
    screen.wait_for("1. ");
    for n in 2..=3 {
        screen.keys(&["Enter"]);
        screen.wait_for(&format!("{n}. "));
    }
    screen.keys(&["Enter"]);
    let end = screen.wait_for("score: ");
    assert!(end.contains("score: 1/3"), "the first choices are a,a,a:\n{end}");
    assert_eq!(screen.exit_status(), 1, "all first choices are not all right:\n{end}");
    // Feedback came after each answer, before the next question: ✗, the right answer, why.
    let first_feedback = end.find("✗ 1. ").expect("feedback on question 1");
    let second_question = end.rfind("2. ").unwrap();
    assert!(first_feedback < second_question, "{end}");
    assert!(end[first_feedback..].contains("answer: b)"), "{end}");
    assert!(end.contains("try again: labctl quiz ns-net"), "a retry hint at the end:\n{end}");
    assert!(!end.contains("?:"), "a question ends with its own mark, no colon after it:\n{end}");
    assert!(end.contains("? → a)"), "the chosen answer follows the question:\n{end}");
}

/// Every line on a `cols`-wide screen, soft wraps joined back (capture-pane -J), fits in it.
fn assert_fits(screen: &str, cols: usize, what: &str) {
    for line in screen.lines() {
        let width = labkit::render::display_width(line);
        assert!(
            width <= cols,
            "{what}: a line of {width} columns does not fit in {cols}:\n{line}\n--- screen\n{screen}"
        );
    }
}

#[test]
fn a_run_wraps_to_80_and_120_columns_in_both_languages() {
    if !require_root("ns-pid in a pty") {
        return;
    }
    let _guard = kernel_lock();
    for (cols, lang) in [(80, "en"), (80, "zh"), (120, "en"), (120, "zh")] {
        let screen = Screen::sized(&["run", "ns-pid", "--yes", "--lang", lang], &[], cols, 50);
        let passed = if lang == "zh" { "所有检查均已通过。" } else { "All checks passed." };
        let end = screen.wait_for(passed);
        assert_eq!(screen.exit_status(), 0, "{end}");
        let what = format!("ns-pid --lang {lang} at {cols} columns");
        assert_fits(&end, cols as usize, &what);
        // The summary (one paragraph in lab.yaml) now takes several lines, none cut mid-word.
        let summary: Vec<&str> = end.lines().skip_while(|l| !l.starts_with("== ns-pid")).skip(1).take(3).collect();
        assert!(summary.iter().all(|l| !l.is_empty()), "{what}: the summary is wrapped:\n{end}");
        if lang == "en" {
            for line in &summary {
                let last = line.split(' ').next_back().unwrap();
                assert!(!last.is_empty() && !line.ends_with('-'), "{what}: {line:?}");
            }
        } else {
            for line in end.lines() {
                let first = line.trim_start().chars().next();
                assert!(
                    !first.is_some_and(|c| "。，、）：；".contains(c)),
                    "{what}: a line starts with {first:?}:\n{end}"
                );
            }
        }
    }
    assert_nothing_left("ns-pid in a pty");
}

#[test]
fn check_gives_a_nudge_then_more_hints_on_request() {
    let screen = Screen::start(&["check", "ns-uts", "--lang", "en"], &[]);
    let nudge = screen.wait_for("labctl exited ");
    assert!(nudge.contains("Hint 1/3: unshare --uts"), "{nudge}");
    assert!(!nudge.contains("Hint 2/3"), "only the nudge at first:\n{nudge}");
    assert!(nudge.contains("More help: labctl check ns-uts --hint 2"), "{nudge}");
    let more = Screen::start(&["check", "ns-uts", "--hint", "3"], &[]);
    let all = more.wait_for("labctl exited ");
    assert!(all.contains("Hint 2/3") && all.contains("Hint 3/3"), "{all}");
    assert!(all.contains("That was the last hint."), "{all}");
}

#[test]
fn the_menu_lists_the_labs_and_esc_quits() {
    let screen = Screen::start(&[], &[]);
    let menu = screen.wait_for("Pick a lab to run");
    assert!(menu.contains("ns-intro") && menu.contains("ns-net"), "{menu}");
    screen.keys(&["Escape"]);
    assert_eq!(screen.exit_status(), 0, "{}", screen.shown());
}

#[test]
fn image_build_streams_run_output_while_it_runs_and_says_seconds() {
    if !require_root("RUN in a pty") {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let import = labctl(&["image", "import", "--busybox"]).env("LABCTL_STATE_DIR", state_dir).output().unwrap();
    assert!(import.status.success(), "image import --busybox: {}", err_text(&import));
    let ctx = state.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo first; sleep 2; echo last\n").unwrap();
    let screen =
        Screen::start(&["image", "build", "-t", "live:1", ctx.to_str().unwrap()], &[("LABCTL_STATE_DIR", state_dir)]);
    let running = screen.wait_for("| first");
    assert!(!running.contains("| last"), "the first line shows while RUN still runs:\n{running}");
    let end = screen.wait_for("live:1 sha256:");
    assert!(end.contains("| last"), "{end}");
    let run_layer = end.lines().skip_while(|l| !l.contains("| last")).find(|l| l.contains("=> layer")).unwrap();
    assert!(run_layer.ends_with(" s)") && !run_layer.ends_with(" ms)"), "2 s are said in seconds: {run_layer}");
    assert_eq!(screen.exit_status(), 0, "{end}");
}

#[test]
fn explore_opens_a_shell_inside_the_cgroup_and_in_the_merged_dir() {
    if !require_root("--explore in a pty") {
        return;
    }
    let _guard = kernel_lock();
    let screen = Screen::start(&["run", "cgroup-pids", "--explore"], &[("SHELL", "/bin/bash")]);
    let shell = screen.wait_for("(labctl cgroup-pids · cgroup labctl/pids-demo)");
    assert!(shell.contains("--explore: a shell inside cgroup labctl/pids-demo"), "{shell}");
    // v1: a line per hierarchy the group is in (pids, freezer); v2: the one line 0::/labctl/pids-demo.
    screen.keys(&["grep pids-demo /proc/self/cgroup", "Enter"]);
    screen.wait_for(":/labctl/pids-demo\n");
    screen.keys(&["exit", "Enter"]);
    let end = screen.wait_for("All checks passed.");
    assert_eq!(screen.exit_status(), 0, "{end}");

    let screen = Screen::start(&["run", "overlay", "--explore"], &[("SHELL", "/bin/bash")]);
    screen.wait_for("(labctl overlay · merged)");
    screen.keys(&["ls; pwd", "Enter"]);
    let merged = screen.wait_for("/overlay-lab/merged\n");
    assert!(merged.contains("in_both.txt") && merged.contains("in_lower.txt"), "the union of both layers:\n{merged}");
    screen.keys(&["exit", "Enter"]);
    let end = screen.wait_for("All checks passed.");
    assert_eq!(screen.exit_status(), 0, "{end}");
    assert_nothing_left("cgroup-pids and overlay after --explore");
}
