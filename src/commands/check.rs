//! `labctl check <lab>`: verifies the learner's own attempt at the challenge.

use anyhow::bail;
use labctl::catalogue;
use labkit::progress::Progress;
use labkit::Format;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lab whose challenge to check
    pub lab: String,
    #[arg(long)]
    pub lang: Option<String>,
    /// Output format: terminal, plain, markdown or json
    #[arg(long)]
    pub format: Option<String>,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    let entry = catalogue::find(&catalogue, &args.lab)?;
    let lang = catalogue::lang(args.lang.as_deref())?;
    let format = match &args.format {
        Some(f) => Format::parse(f).map_err(anyhow::Error::msg)?,
        None => Format::auto(),
    };
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
