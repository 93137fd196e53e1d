//! `labctl list`: the labs in course order with progress marks.

use labctl::catalogue;
use labkit::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print only the lab ids, one per line (for scripts)
    #[arg(long)]
    pub ids: bool,
    #[command(flatten)]
    pub lang: labkit::LangFlag,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    if args.ids {
        for id in catalogue.ids() {
            println!("{id}");
        }
        return Ok(0);
    }
    let lang = args.lang.resolve();
    // Progress is decoration here: an unreadable file must not hide the list.
    let progress = Progress::load(&Progress::default_path()).unwrap_or_default();
    let width = catalogue.ids().iter().map(|id| id.len()).max().unwrap_or(0);
    let mut section = "";
    for entry in &catalogue.entries {
        if entry.def.seed_section != section {
            section = &entry.def.seed_section;
            println!("{}", labkit::catalogue::part_heading(section, lang).unwrap_or_else(|| section.to_string()));
        }
        println!("  {} {:width$}  {}", progress.mark(&entry.def.id), entry.def.id, entry.def.title.get(lang));
    }
    Ok(0)
}
