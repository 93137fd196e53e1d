//! `labctl check <lab>`: verifies the learner's own attempt at the challenge.
//!
//! Hints come one at a time, in the lab's order (a nudge first, each next one closer to the
//! answer): a failed check shows the nudge and how to ask for more; `--hint N` shows N.

use anyhow::bail;
use colored::Colorize;
use labctl::catalogue;
use labkit::manifest::LabDef;
use labkit::progress::Progress;
use labkit::{Format, Lang};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lab whose challenge to check
    pub lab: String,
    /// Show the first N hints (`--hint` alone: two); each comes closer to the answer
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "2")]
    pub hint: Option<usize>,
    #[command(flatten)]
    pub lang: labkit::LangFlag,
    #[command(flatten)]
    pub format: labkit::FormatFlag,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    let entry = catalogue::find(&catalogue, &args.lab)?;
    let (lang, format) = (args.lang.resolve(), args.format.resolve());
    let Some(code) = entry.code else { bail!("lab {} has no challenge check in this build", entry.def.id) };
    if args.hint == Some(0) {
        bail!("--hint counts from 1: --hint 1 is the first hint");
    }
    let passed = labkit::runner::run_check(&entry.def, code, lang, format, std::io::stdout().lock())?;
    if format != Format::Json {
        let text = if passed { passed_line(&entry.def, lang) } else { String::new() };
        print!("{text}{}", hints(&entry.def, lang, passed, args.hint));
    }
    if passed {
        let path = Progress::default_path();
        if let Ok(mut progress) = Progress::load(&path) {
            progress.record_challenge(&entry.def.id);
            let _ = progress.save(&path);
        }
    }
    Ok(if passed { 0 } else { 1 })
}

fn passed_line(def: &LabDef, lang: Lang) -> String {
    let line = match lang {
        Lang::En => format!("Challenge passed: {} is done.", def.id),
        Lang::Zh => format!("挑战通过：{} 已完成。", def.id),
    };
    format!("{}\n", line.green().bold())
}

/// The hints to show: none after a pass unless asked, the nudge after a failure, the first
/// `asked` when asked; then how to get the next one.
fn hints(def: &LabDef, lang: Lang, passed: bool, asked: Option<usize>) -> String {
    let all = &def.challenge.hints;
    let shown = match asked {
        Some(n) => n.min(all.len()),
        None if passed => 0,
        None => 1.min(all.len()),
    };
    let mut out = String::new();
    for (n, hint) in all.iter().take(shown).enumerate() {
        let label = match lang {
            Lang::En => format!("Hint {}/{}:", n + 1, all.len()),
            Lang::Zh => format!("提示 {}/{}：", n + 1, all.len()),
        };
        out.push_str(&format!("{} {}\n", label.bold(), hint.get(lang)));
    }
    if shown < all.len() && (asked.is_some() || !passed) {
        let next = shown + 1;
        let more = match lang {
            Lang::En => format!("More help: labctl check {} --hint {next}", def.id),
            Lang::Zh => format!("更多提示：labctl check {} --hint {next}", def.id),
        };
        out.push_str(&format!("{}\n", more.dimmed()));
    } else if asked.is_some() && shown == all.len() && !all.is_empty() {
        let last = match lang {
            Lang::En => "That was the last hint.",
            Lang::Zh => "这已经是最后一条提示。",
        };
        out.push_str(&format!("{}\n", last.dimmed()));
    }
    out
}
