//! `labctl` with no arguments: a menu on a terminal, help otherwise.

use clap::CommandFactory;

pub fn exec() -> anyhow::Result<i32> {
    if !labkit::interact::can_prompt() {
        crate::Cli::command().print_help()?;
        return Ok(0);
    }
    let catalogue = labctl::catalogue::load()?;
    let lang = labkit::Lang::from_env();
    let items: Vec<String> =
        catalogue.entries.iter().map(|e| format!("{:<14} {}", e.def.id, e.def.title.get(lang))).collect();
    let prompt = match lang {
        labkit::Lang::En => "Pick a lab to run (Esc to quit)",
        labkit::Lang::Zh => "选择一个实验（Esc 退出）",
    };
    let Some(picked) = dialoguer::Select::new().with_prompt(prompt).items(&items).default(0).interact_opt()? else {
        return Ok(0);
    };
    let id = catalogue.entries[picked].def.id.clone();
    crate::commands::run::exec(crate::commands::run::Args {
        lab: id,
        pause: false,
        explore: false,
        step: None,
        lang: labkit::LangFlag::default(),
        format: labkit::FormatFlag::default(),
        redact: false,
        keep: false,
        yes: false,
    })
}
