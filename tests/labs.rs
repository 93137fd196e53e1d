//! Every lab's reference transcript: `labctl run ID --yes --format plain --redact`, in English
//! and Chinese, run inside a throwaway network namespace that plays the host, compared with
//! the insta snapshot `tests/snapshots/labs__ID_LANG[@v1|@v2].snap`, then checked for leaks.
//! The book includes these snapshot files, so book and tool cannot drift.
//!
//! A custom harness (libtest-mimic) makes one test per lab and language from the catalogue:
//! `cargo test --test labs -- ns-net` runs only ns-net.

mod common;

use common::{assert_nothing_left, err_text, kernel_lock, labctl, require_root, text, TestHost};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let ids = lab_ids();
    let mut trials = Vec::new();
    for id in &ids {
        for lang in ["en", "zh"] {
            let (id, lang_owned) = (id.clone(), lang.to_string());
            trials.push(Trial::test(format!("{id}_{lang}"), move || run_lab(&id, &lang_owned)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn lab_ids() -> Vec<String> {
    let out = labctl(&["list", "--ids"]).output().expect("labctl list --ids");
    assert!(out.status.success(), "labctl list --ids failed: {}", err_text(&out));
    text(&out).lines().map(String::from).collect()
}

/// `@v1` or `@v2` for labs whose output depends on the cgroup world, else nothing.
fn world_suffix(id: &str) -> Option<&'static str> {
    let catalogue = labctl::catalogue::load().expect("catalogue");
    let needs_cgroups = catalogue.get(id).is_some_and(|e| !e.def.requirements.cgroup_controllers.is_empty());
    needs_cgroups.then(common::cgroup_world)
}

fn run_lab(id: &str, lang: &str) -> Result<(), Failed> {
    if !require_root(&format!("lab {id}")) {
        return Ok(());
    }
    let _guard = kernel_lock();
    let host = TestHost::new();
    let out = host
        .labctl(&["run", id, "--yes", "--format", "plain", "--redact", "--lang", lang])
        .output()
        .map_err(|e| format!("running labctl: {e}"))?;
    let transcript = text(&out);
    if !out.status.success() {
        return Err(format!(
            "labctl run {id} --lang {lang} exited {:?}\n--- stdout\n{transcript}\n--- stderr\n{}",
            out.status.code(),
            err_text(&out)
        )
        .into());
    }
    drop(host);
    assert_nothing_left(&format!("after labctl run {id}"));

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_prepend_module_to_snapshot(true);
    settings.set_omit_expression(true);
    if let Some(world) = world_suffix(id) {
        settings.set_snapshot_suffix(world);
    }
    let name = format!("{id}_{lang}");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, transcript));
    }));
    result.map_err(|_| {
        Failed::from(format!("the transcript of {id} ({lang}) differs from its snapshot (see the diff above)"))
    })
}
