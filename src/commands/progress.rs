//! `labctl progress`: labs completed, quiz scores, challenges.

use labctl::catalogue;
use labkit::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn exec(_args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    let progress = Progress::load(&Progress::default_path()).map_err(anyhow::Error::msg)?;
    let rows: Vec<Vec<String>> = catalogue
        .entries
        .iter()
        .map(|e| {
            let p = progress.labs.get(&e.def.id).cloned().unwrap_or_default();
            vec![
                e.def.id.clone(),
                p.completed_runs.to_string(),
                p.quiz_best.map(|(c, t)| format!("{c}/{t}")).unwrap_or_else(|| "-".into()),
                if p.challenge_passed { "passed".into() } else { "-".into() },
            ]
        })
        .collect();
    let columns: Vec<String> = ["LAB", "RUNS", "QUIZ", "CHALLENGE"].iter().map(|s| s.to_string()).collect();
    for line in labkit::render::table(&columns, &rows) {
        println!("{line}");
    }
    let done = progress.labs.values().filter(|p| p.completed_runs > 0).count();
    println!("\n{done}/{} labs completed", catalogue.entries.len());
    Ok(0)
}
