//! The flags every front door shares, declared once (like ripgrep's flag table): each is a
//! clap `Args` to `#[command(flatten)]`, with typed values, so help, errors and shell
//! completions all come from here.

use crate::render::Format;
use crate::text::Lang;

/// `--lang en|zh`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct LangFlag {
    /// Narration language (default from LC_ALL, LC_MESSAGES or LANG)
    #[arg(long, value_enum, ignore_case = true)]
    pub lang: Option<Lang>,
}

impl LangFlag {
    /// The language given, else the one of the environment.
    pub fn resolve(self) -> Lang {
        self.lang.unwrap_or_else(Lang::from_env)
    }
}

/// `--format terminal|plain|markdown|json`.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct FormatFlag {
    /// Output format (default: terminal on a terminal without NO_COLOR, else plain)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

impl FormatFlag {
    /// The format given, else the one for this stdout.
    pub fn resolve(self) -> Format {
        self.format.unwrap_or_else(Format::auto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        lang: LangFlag,
        #[command(flatten)]
        format: FormatFlag,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("labctl").chain(args.iter().copied()))
    }

    #[test]
    fn lang_takes_codes_names_and_any_case() {
        for (given, lang) in
            [("zh", Lang::Zh), ("EN", Lang::En), ("chinese", Lang::Zh), ("中文", Lang::Zh), ("cn", Lang::Zh)]
        {
            assert_eq!(parse(&["--lang", given]).unwrap().lang.lang, Some(lang), "{given}");
        }
    }

    #[test]
    fn an_unknown_lang_names_the_choices() {
        let err = parse(&["--lang", "xx"]).unwrap_err().to_string();
        assert!(
            err.contains("invalid value 'xx' for '--lang <LANG>'") && err.contains("[possible values: en, zh]"),
            "{err}"
        );
    }

    #[test]
    fn format_takes_names_and_aliases() {
        for (given, format) in [
            ("plain", Format::Plain),
            ("text", Format::Plain),
            ("colour", Format::Terminal),
            ("md", Format::Markdown),
            ("json", Format::Json),
        ] {
            assert_eq!(parse(&["--format", given]).unwrap().format.format, Some(format), "{given}");
        }
        let err = parse(&["--format", "yaml"]).unwrap_err().to_string();
        assert!(err.contains("[possible values: terminal, plain, markdown, json]"), "{err}");
    }

    #[test]
    fn without_flags_the_environment_decides() {
        let cli = parse(&[]).unwrap();
        assert_eq!((cli.lang.lang, cli.format.format), (None, None));
    }
}
