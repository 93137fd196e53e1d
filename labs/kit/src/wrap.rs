//! Wrapping prose to the terminal: narration, explanations, notes and hints.
//!
//! Line breaks follow Unicode's line-breaking rules (UAX #14, through textwrap): English breaks
//! at spaces and never inside a word; Chinese may break between any two characters but never
//! before closing punctuation (。，、）) nor after opening punctuation (（「). Tables and file
//! excerpts are not prose and are not wrapped here.

use crate::render::display_width;
use std::os::fd::AsFd;
use textwrap::{Options, WordSeparator, WordSplitter};

/// Prose is never wider than this, even on a wide terminal: long lines are hard to read.
pub const MAX_PROSE: usize = 100;

/// Below this a terminal is too narrow to wrap usefully; lines are then left as they are.
const MIN_WIDTH: usize = 40;

/// The width lab output wraps to: `COLUMNS` when it is set (a script or test can ask for a
/// width), else the terminal's width when stdout is one, else [`MAX_PROSE`] (pipes, files and
/// the reference transcripts read the same in a pager, a book page and a snapshot diff).
pub fn output_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        return usable(cols);
    }
    if !crate::sys::stdout_is_tty() {
        return Some(MAX_PROSE);
    }
    let (_, cols) = crate::sys::window_size(std::io::stdout().as_fd()).ok()?;
    usable(cols as usize)
}

fn usable(cols: usize) -> Option<usize> {
    (cols >= MIN_WIDTH).then_some(cols)
}

/// `text` wrapped to `width` columns: the first line starts with `first`, the others with
/// `rest` (a hanging indent). Each line of `text` is a paragraph of its own (lab.yaml's own
/// line breaks stay). Without a width, each line is only prefixed.
pub fn wrap(text: &str, width: Option<usize>, first: &str, rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let lead = if out.is_empty() { first } else { rest };
        match width {
            Some(width) if display_width(lead) + display_width(line) > width => {
                let options = Options::new(width)
                    .initial_indent(lead)
                    .subsequent_indent(rest)
                    .word_separator(WordSeparator::Custom(words_cjk_aware))
                    .word_splitter(WordSplitter::NoHyphenation)
                    .break_words(false);
                out.extend(textwrap::wrap(line, &options).into_iter().map(|l| l.into_owned()));
            }
            _ => out.push(format!("{lead}{line}")),
        }
    }
    out
}

/// Break opportunities: after spaces, and beside a wide (CJK) character — never inside a run
/// of ASCII (a path, a flag, `code`), never before closing punctuation (。，、）…) and never
/// after opening punctuation (（「…). UAX #14 would also break after the `/` of a path.
fn words_cjk_aware(line: &str) -> Box<dyn Iterator<Item = textwrap::core::Word<'_>> + '_> {
    const NO_BREAK_BEFORE: &str = "。，、）：；！？」』》〉】”’…—·%)]}.,;:!?'\"";
    const NO_BREAK_AFTER: &str = "（「『《〈【“([{";
    let wide = |c: char| unicode_width::UnicodeWidthChar::width(c) == Some(2);
    let mut cuts = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if let Some(p) = prev {
            let after_space = p == ' ' && c != ' ';
            let beside_wide = (wide(p) || wide(c))
                && p != ' '
                && c != ' '
                && !NO_BREAK_BEFORE.contains(c)
                && !NO_BREAK_AFTER.contains(p);
            if after_space || beside_wide {
                cuts.push(i);
            }
        }
        prev = Some(c);
    }
    cuts.push(line.len());
    let mut start = 0;
    Box::new(cuts.into_iter().map(move |end| {
        let word = textwrap::core::Word::from(&line[start..end]);
        start = end;
        word
    }))
}

/// [`wrap`] for one block of text (a check, a note, a value): without a width it is `first`
/// then the text exactly as given, inner line breaks included, as lab output always was.
pub fn block(text: &str, width: Option<usize>, first: &str, rest: &str) -> Vec<String> {
    match width {
        None => vec![format!("{first}{text}")],
        Some(_) if text.is_empty() => vec![first.to_string()],
        Some(_) => wrap(text, width, first, rest),
    }
}

/// A shell command wrapped to `width` with `\` continuations, so the lines still paste as
/// one command: breaks only at spaces outside quotes (a `\` newline inside single quotes
/// would stay in the argument).
pub fn command(cmd: &str, width: Option<usize>, first: &str, rest: &str) -> Vec<String> {
    let Some(width) = width.filter(|w| display_width(first) + display_width(cmd) > *w) else {
        return vec![format!("{first}{cmd}")];
    };
    let mut words: Vec<String> = Vec::new();
    let (mut current, mut quote) = (String::new(), None::<char>);
    for c in cmd.chars() {
        match (c, quote) {
            (' ', None) => words.push(std::mem::take(&mut current)),
            ('\'' | '"', None) => {
                quote = Some(c);
                current.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    words.push(current);
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in words.into_iter().filter(|w| !w.is_empty()) {
        // Room for " word" and, unless it is the last, the " \\" that continues the line.
        if !empty && display_width(&line) + 1 + display_width(&word) + 2 > width {
            lines.push(format!("{line} \\"));
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_continue_with_a_backslash_outside_quotes() {
        let cmd = r#"unshare -fp --mount-proc sh -c "sh -c 'sleep infinity &'; exec sleep infinity" &"#;
        let lines = command(cmd, Some(60), "  $ ", "      ");
        assert!(lines.len() > 1 && lines.iter().all(|l| display_width(l) <= 60), "{lines:#?}");
        assert!(lines[..lines.len() - 1].iter().all(|l| l.ends_with(" \\")), "{lines:#?}");
        let joined: String = lines
            .iter()
            .map(|l| l.trim_start_matches("  $ ").trim().trim_end_matches('\\').trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(joined, cmd, "the quoted script is whole");
        assert_eq!(command("ls /proc", Some(60), "  $ ", "    "), vec!["  $ ls /proc"]);
    }

    fn widest(lines: &[String]) -> usize {
        lines.iter().map(|l| display_width(l)).max().unwrap_or(0)
    }

    #[test]
    fn english_breaks_at_spaces_with_a_hanging_indent() {
        let text = "The child is PID 1 in its new namespace, and the host still sees it under its own number.";
        let lines = wrap(text, Some(40), "  → ", "    ");
        assert!(widest(&lines) <= 40, "{lines:#?}");
        assert!(lines[0].starts_with("  → The child"));
        assert!(lines[1..].iter().all(|l| l.starts_with("    ") && !l.starts_with("     ")), "{lines:#?}");
        let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).filter(|w| *w != "→").collect();
        assert_eq!(words.join(" "), text, "no word was cut");
    }

    #[test]
    fn chinese_breaks_between_characters_but_never_before_closing_punctuation() {
        let text = "子进程在新的 PID namespace 里是 1 号进程，而主机仍然用它自己的编号看到它。每个 namespace 都有自己的编号空间（从 1 开始），互不干扰。";
        for width in 40..60 {
            let lines = wrap(text, Some(width), "  ", "  ");
            assert!(widest(&lines) <= width, "width {width}: {lines:#?}");
            for line in &lines[1..] {
                let first = line.trim_start().chars().next().unwrap();
                assert!(!"。，、）：；！？".contains(first), "width {width}: a line starts with {first}: {lines:#?}");
            }
            let joined: String = lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join("");
            assert_eq!(joined.replace(' ', ""), text.replace(' ', ""), "width {width}: nothing lost");
        }
    }

    #[test]
    fn paths_and_commands_are_not_cut() {
        let text = "Read /proc/self/ns/pid_for_children after unshare --pid --fork --mount-proc sleep 60 returns.";
        let lines = wrap(text, Some(44), "", "");
        for token in ["/proc/self/ns/pid_for_children", "--mount-proc", "unshare"] {
            assert!(lines.iter().any(|l| l.contains(token)), "{token} cut: {lines:#?}");
        }
    }

    #[test]
    fn a_path_in_chinese_text_stays_whole() {
        let text = "子进程的 /proc/PID/status 里有一行 NSpid，列出它在所属的每一层 pid namespace 中的 PID。";
        for width in 10..50 {
            let lines = wrap(text, Some(width), "", "");
            assert!(lines.iter().any(|l| l.contains("/proc/PID/status")), "width {width}: {lines:#?}");
            let joined: String = lines.concat();
            assert_eq!(joined.replace(' ', ""), text.replace(' ', ""), "width {width}: nothing lost");
        }
    }

    #[test]
    fn without_a_width_lines_are_only_prefixed() {
        let lines = wrap("one\ntwo", None, "→ ", "  ");
        assert_eq!(lines, vec!["→ one", "  two"]);
    }

    #[test]
    fn narrow_terminals_are_not_wrapped() {
        assert_eq!(usable(20), None);
        assert_eq!(usable(80), Some(80));
    }
}
