//! `Cleanup::interrupt`, the undo that SIGINT/SIGTERM runs on the signal thread while the run's
//! own thread goes on: a command in flight finishes first (so what it makes is undone), the
//! run's thread stops at its next registration, and one registered after the undo is undone at
//! once. One test in its own binary: it looks at every child of the process.

use labkit::{Cleanup, Undo};
use std::process::Command;
use std::time::{Duration, Instant};

fn kill_undo(child: &std::process::Child) -> Undo {
    let pid = child.id() as i32;
    Undo::Kill { pid, start_time: labkit::sys::process_start_time(pid).unwrap() }
}

#[test]
fn a_command_in_flight_finishes_before_the_undo_and_the_run_stops_at_its_next_registration() {
    let dir = tempfile::tempdir().unwrap();
    let cleanup = Cleanup::in_memory("interrupt-test");
    // A registered long-running process: killed by the undo, never waited for.
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    cleanup.register(kill_undo(&sleeper));
    // The step thread registers a directory, then runs a command that makes it a little later,
    // then registers the next object: it must stop there, before creating it.
    let made = dir.path().join("made");
    let next = dir.path().join("next");
    let step = {
        let (cleanup, made, next) = (cleanup.clone(), made.clone(), next.clone());
        std::thread::spawn(move || {
            cleanup.register(Undo::RemoveDir { path: made.clone() });
            let status = Command::new("sh").arg("-c").arg("sleep 0.5; mkdir \"$0\"").arg(&made).status().unwrap();
            assert!(status.success());
            cleanup.register(Undo::RemoveDir { path: next.clone() });
            std::fs::create_dir(&next).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let (done, failures) = cleanup.interrupt();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(start.elapsed() >= Duration::from_millis(300), "the undo did not wait for the command in flight");
    assert!(!made.exists(), "what the command in flight made is left");
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(!labkit::process::alive(sleeper.id() as i32), "the registered process survived");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!step.is_finished(), "the step thread went past its registration");
    assert!(!next.exists());

    // Registered after the undo (a process the step thread had just started): undone at once.
    let mut late = Command::new("sleep").arg("60").spawn().unwrap();
    let undo = kill_undo(&late);
    let late_thread = {
        let cleanup = cleanup.clone();
        std::thread::spawn(move || cleanup.register(undo))
    };
    let until = Instant::now() + Duration::from_secs(5);
    while labkit::process::alive(late.id() as i32) {
        assert!(Instant::now() < until, "a process registered after the undo survived");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!late_thread.is_finished());
    assert!(cleanup.pending().is_empty());
    // The undo reaped both already (ECHILD); this is only for the zombie lint.
    let _ = sleeper.wait();
    let _ = late.wait();
}
