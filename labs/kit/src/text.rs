//! Bilingual text. Every string a learner reads exists in English and Chinese.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The narration language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Parses `--lang`; the error names the accepted values.
    pub fn parse(code: &str) -> Result<Lang, String> {
        match code.to_ascii_lowercase().as_str() {
            "en" | "english" => Ok(Lang::En),
            "zh" | "cn" | "chinese" | "中文" => Ok(Lang::Zh),
            other => Err(format!("unknown language {other:?}: use --lang en or --lang zh")),
        }
    }

    /// The language from LC_ALL, LC_MESSAGES or LANG (the first one set wins, as in POSIX).
    pub fn from_env() -> Lang {
        for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(value) = std::env::var(var) {
                if value.is_empty() {
                    continue;
                }
                return if value.to_ascii_lowercase().starts_with("zh") { Lang::Zh } else { Lang::En };
            }
        }
        Lang::En
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A text in both languages, as written in `lab.yaml` (`{en: ..., zh: ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub zh: String,
}

impl Text {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Text {
        Text { en: en.into(), zh: zh.into() }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }

    /// Which languages are missing (blank counts as missing).
    pub fn missing(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| self.get(*l).trim().is_empty()).collect()
    }
}

/// A bilingual text written in code: `tr!("lo is DOWN", "lo 处于 DOWN 状态")`.
#[macro_export]
macro_rules! tr {
    ($en:expr, $zh:expr $(,)?) => {
        $crate::Text::new($en, $zh)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_codes_and_rejects_others_by_name() {
        assert_eq!(Lang::parse("zh").unwrap(), Lang::Zh);
        assert_eq!(Lang::parse("EN").unwrap(), Lang::En);
        let err = Lang::parse("xx").unwrap_err();
        assert!(err.contains("\"xx\"") && err.contains("--lang zh"), "{err}");
    }

    #[test]
    fn missing_reports_blank_languages() {
        assert_eq!(Text::new("hi", " ").missing(), vec![Lang::Zh]);
        assert!(Text::new("hi", "你好").missing().is_empty());
    }
}
