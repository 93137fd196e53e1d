//! `labctl check <lab>`: verifies the learner's own attempt at the challenge.

use anyhow::bail;
use labctl::catalogue;
use labkit::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lab whose challenge to check
    pub lab: String,
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
    let passed = labkit::runner::run_check(&entry.def, code, lang, format, std::io::stdout().lock())?;
    if passed {
        let path = Progress::default_path();
        if let Ok(mut progress) = Progress::load(&path) {
            progress.record_challenge(&entry.def.id);
            let _ = progress.save(&path);
        }
    }
    Ok(if passed { 0 } else { 1 })
}
