//! Bilingual text. Every string a learner reads exists in English and Chinese.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The narration language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English
    #[default]
    #[value(alias = "english")]
    En,
    /// Chinese (中文)
    #[value(aliases = ["cn", "chinese", "中文"])]
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

    /// Folded YAML joins wrapped lines with a space, which Chinese does not use between
    /// characters: drop a space after full-width punctuation or between two CJK characters
    /// (a space between Chinese and Latin text stays).
    pub fn tidy_zh(&mut self) {
        let chars: Vec<char> = self.zh.chars().collect();
        let mut out = String::with_capacity(self.zh.len());
        for (i, c) in chars.iter().enumerate() {
            if *c == ' ' && i > 0 && i + 1 < chars.len() {
                let (prev, next) = (chars[i - 1], chars[i + 1]);
                if is_fullwidth_punct(prev) || (is_cjk(prev) && is_cjk(next)) {
                    continue;
                }
            }
            out.push(*c);
        }
        self.zh = out;
    }

    /// Which languages are missing (blank counts as missing).
    pub fn missing(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| self.get(*l).trim().is_empty()).collect()
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

fn is_fullwidth_punct(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
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
    fn tidy_zh_drops_spaces_that_folding_put_between_chinese_characters() {
        let mut t = Text::new("", "防火墙规则， 所有东西 都属于 network namespace。 然后 lsns 找到；  它");
        t.tidy_zh();
        assert_eq!(t.zh, "防火墙规则，所有东西都属于 network namespace。然后 lsns 找到； 它");
    }

    #[test]
    fn missing_reports_blank_languages() {
        assert_eq!(Text::new("hi", " ").missing(), vec![Lang::Zh]);
        assert!(Text::new("hi", "你好").missing().is_empty());
    }
}
