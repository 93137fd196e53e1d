//! `labctl dev check`: the maintainer check CI runs.

use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Fail when a manifest step lacks its function (or the reverse), a text lacks en or zh, a lab
    /// lacks its reference snapshot or a book chapter, a lab's code is not in
    /// labs/<topic>/src/labs/<id suffix>.rs, or a Chinese transcript shows English words
    /// (outside tests/zh-terms.txt) in its values, checks or notes
    Check {
        /// The repository root (default: the current directory)
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

pub fn exec(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Check { root } => {
            // The manifests on disk first: an author sees file:line before rebuilding.
            let mut problems = disk_manifest_problems(&root);
            // The embedded ones (what this binary runs); their errors carry file:line too.
            let catalogue = labctl::catalogue::load()?;
            problems.extend(catalogue.problems(&root));
            let summary = std::fs::read_to_string(root.join("book/en/src/SUMMARY.md")).unwrap_or_default();
            let summary_zh = std::fs::read_to_string(root.join("book/zh/src/SUMMARY.md")).unwrap_or_default();
            for entry in &catalogue.entries {
                let section = &entry.def.seed_section;
                if labkit::catalogue::part_heading(section, labkit::Lang::En).is_none() {
                    problems.push(format!(
                        "lab {}: part {section:?} has no English heading in labkit::catalogue::part_heading",
                        entry.def.id
                    ));
                }
            }
            for id in catalogue.ids() {
                let link = format!("labs/{id}.md");
                if !summary.contains(&link) {
                    problems.push(format!("lab {id}: book/en/src/SUMMARY.md does not list {link}"));
                }
                if !summary_zh.contains(&link) {
                    problems.push(format!("lab {id}: book/zh/src/SUMMARY.md does not list {link}"));
                }
            }
            problems.extend(zh_transcript_problems(&root));
            for p in &problems {
                println!("✗ {p}");
            }
            if problems.is_empty() {
                println!(
                    "✓ {} labs: every step bound, every text in en and zh, each lab in its file, snapshots and chapters present",
                    catalogue.entries.len()
                );
                Ok(0)
            } else {
                println!("{} problem(s)", problems.len());
                Ok(1)
            }
        }
    }
}

/// Parses every `labs/*/lab.yaml` under `root` and reports each one that does not validate.
fn disk_manifest_problems(root: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("labs")) else {
        return vec![format!("{} has no labs/ directory: pass --root REPO", root.display())];
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("lab.yaml")).filter(|p| p.exists()).collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let yaml = std::fs::read_to_string(&path).ok()?;
            labkit::Manifest::parse(&path.display().to_string(), &yaml).err().map(|e| e.to_string())
        })
        .collect()
}

/// The list of English words a Chinese transcript may show: terms, commands, tools' verbatim output.
const ZH_TERMS: &str = "tests/zh-terms.txt";

/// English words in the values, tables, checks and notes of every Chinese reference transcript,
/// where labs write plain strings (narration and titles are `tr!` texts, checked elsewhere).
fn zh_transcript_problems(root: &std::path::Path) -> Vec<String> {
    let terms = match std::fs::read_to_string(root.join(ZH_TERMS)) {
        Ok(text) => text,
        Err(e) => return vec![format!("{ZH_TERMS}: {e}")],
    };
    let terms: std::collections::HashSet<&str> =
        terms.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let Ok(dir) = std::fs::read_dir(root.join("tests/snapshots")) else {
        return vec!["tests/snapshots: cannot read it (pass --root REPO)".into()];
    };
    let mut files: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("_zh") && n.ends_with(".snap")))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (line, words) in english_in_zh(&text) {
            let unknown: Vec<&str> = words.iter().map(String::as_str).filter(|w| !terms.contains(w)).collect();
            if !unknown.is_empty() {
                problems.push(format!(
                    "{}:{line}: English in a Chinese transcript: {} — translate it where the lab writes it \
                     (tr!, ctx.word), or list a term, command or tool output that stays English in {ZH_TERMS}",
                    file.strip_prefix(root).unwrap_or(&file).display(),
                    unknown.join(", ")
                ));
            }
        }
    }
    problems
}

/// (line number, English words) of a transcript's observation lines (indented 4+), check lines
/// (✓ ✗ !: what was found or expected) and notes (·). Commands, ns links, file excerpts, paths,
/// `code`, [redactions] and identifiers (CapEff, memory.max, EPERM) are skipped.
fn english_in_zh(transcript: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut excerpt: Option<usize> = None;
    for (n, line) in unwrapped(transcript) {
        let line = line.as_str();
        let s = line.trim();
        let indent = line.len() - line.trim_start().len();
        if s.is_empty() {
            excerpt = None;
            continue;
        }
        if excerpt.is_some_and(|i| indent >= i) {
            continue;
        }
        excerpt = None;
        if s.starts_with("# ") && indent >= 4 {
            excerpt = Some(indent);
            continue;
        }
        if s.starts_with("$ ") || (s.starts_with("/proc/") && s.contains(" -> ")) {
            continue;
        }
        let checked = s.starts_with(['✓', '✗', '!']);
        if !(indent >= 4 || checked || s.starts_with('·')) {
            continue;
        }
        let part = if checked {
            if s.contains("按预期失败") {
                continue; // a tool's own error, quoted as the lesson
            }
            match (s.rfind("（实际 "), s.find("期望 ")) {
                (Some(i), _) => &s[i + "（实际 ".len()..],
                (None, Some(i)) => &s[i..],
                _ => continue,
            }
        } else {
            s
        };
        let words = english_words(part);
        if !words.is_empty() {
            out.push((n, words));
        }
    }
    out
}

/// The transcript's lines after its header, numbered from 1, with wrapped items joined again:
/// a step prints observations first, then its explanation (→), checks (✓ ✗ !) and notes (·),
/// so after the first of those, a more indented line continues the item above it.
fn unwrapped(transcript: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut in_items = false;
    for (n, line) in transcript.lines().enumerate().skip(3) {
        let indent = line.len() - line.trim_start().len();
        let s = line.trim();
        // A long command continues after ` \`; an item, on more indented lines.
        let after_command =
            out.last().is_some_and(|(_, prev)| prev.trim_start().starts_with("$ ") && prev.ends_with(" \\"));
        let continues = !s.is_empty() && indent > 2 && (after_command || in_items);
        if indent < 2 || s.is_empty() {
            in_items = false;
        } else if indent == 2 && s.starts_with(['→', '✓', '✗', '!', '·']) {
            in_items = true;
        }
        match out.last_mut().filter(|_| continues) {
            Some((_, above)) => {
                above.push(' ');
                above.push_str(s);
            }
            None => out.push((n + 1, line.to_string())),
        }
    }
    out
}

/// Lower-case English words of `text`: `the`, `gone`, `container's`; not paths, not `code`, not
/// [placeholders], not identifiers with capitals inside, digits, dots, dashes or underscores.
fn english_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut in_code = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            in_code = !in_code;
            rest = &rest[1..];
            continue;
        }
        let token_len = rest
            .char_indices()
            .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || "_.-'/~$[]:@%+{}=".contains(*ch)))
            .map_or(rest.len(), |(i, _)| i);
        if token_len == 0 {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token = &rest[..token_len];
        rest = &rest[token_len..];
        if in_code || token.starts_with(['/', '~', '$', '[', '{']) {
            continue;
        }
        let token = token.trim_end_matches(['.', ':', '\'', ',']).trim_start_matches('\'');
        let mut parts = token.splitn(2, '\'');
        let stem = parts.next().unwrap_or("");
        let suffix_ok = parts.next().is_none_or(|s| s.chars().all(|c| c.is_ascii_lowercase()));
        let mut chars = stem.chars();
        let word = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && stem.len() >= 2
            && chars.all(|c| c.is_ascii_lowercase())
            && suffix_ok;
        if word {
            words.push(token.to_string());
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_words_skip_paths_identifiers_and_code() {
        let words =
            english_words("outside lists us = true, /proc/PID/status CapEff memory.max `ip link` [pid] EPERM it's");
        assert_eq!(words, ["outside", "lists", "us", "true", "it's"]);
    }

    #[test]
    fn a_zh_transcript_is_scanned_where_labs_write_plain_strings() {
        let transcript = "---\nsource: x\n---\n== lab ==\n  里面 the narration\n  $ echo hello\n    orphan alive = false\n    # /etc/hostname\n    hello\n  ✓ 孤儿进程随 PID 1 一起死亡（实际 gone）\n  ✓ rmdir：EBUSY: Device busy — 按预期失败\n";
        let found = english_in_zh(transcript);
        let wrapped =
            "---\nsource: x\n---\n== lab ==\n  ✓ 子进程已经消失（实际\n    gone）\n  → 一段解释\n    with English\n";
        // The explanation (lab.yaml's zh text) is not scanned, nor its wrapped lines.
        assert_eq!(english_in_zh(wrapped), vec![(5, vec!["gone".to_string()])]);
        assert_eq!(
            found,
            vec![(7, vec!["orphan".into(), "alive".into(), "false".into()]), (10, vec!["gone".to_string()])]
        );
    }
}
