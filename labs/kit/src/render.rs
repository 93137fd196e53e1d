//! Renderers: coloured terminal, plain text, Markdown and JSON, all from the same reports.

use crate::fact::Fact;
use crate::observe::Observation;
use crate::report::{Outcome, Report, StepReport};
use crate::text::Lang;
use colored::Colorize;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Coloured text (a terminal without NO_COLOR)
    #[value(aliases = ["color", "colour"])]
    Terminal,
    /// The same text without colour (NO_COLOR, pipes, reference output)
    #[value(alias = "text")]
    Plain,
    /// Markdown, for notes and issues
    #[value(alias = "md")]
    Markdown,
    /// One JSON document (its `schema` field gives the version)
    Json,
}

impl Format {
    /// The text format for this stdout: colour only on a terminal and without NO_COLOR.
    pub fn auto() -> Format {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if crate::sys::stdout_is_tty() && !no_color {
            Format::Terminal
        } else {
            Format::Plain
        }
    }
}

/// Interface words of the renderers in both languages.
pub(crate) fn word(lang: Lang, key: &str) -> &'static str {
    match (lang, key) {
        (Lang::En, "step") => "Step",
        (Lang::Zh, "step") => "步骤",
        (Lang::En, "expected") => "expected",
        (Lang::Zh, "expected") => "期望",
        (Lang::En, "found") => "found",
        (Lang::Zh, "found") => "实际",
        (Lang::En, "hint") => "hint",
        (Lang::Zh, "hint") => "提示",
        (Lang::En, "expected_failure") => "fails, as expected",
        (Lang::Zh, "expected_failure") => "按预期失败",
        (Lang::En, "error") => "error",
        (Lang::Zh, "error") => "错误",
        (Lang::En, "cleanup") => "Cleanup",
        (Lang::Zh, "cleanup") => "清理",
        (Lang::En, "nothing") => "nothing to undo",
        (Lang::Zh, "nothing") => "没有需要撤销的对象",
        (Lang::En, "passed") => "All checks passed.",
        (Lang::Zh, "passed") => "所有检查均已通过。",
        (Lang::En, "failed") => "Some checks failed: see ✗ above.",
        (Lang::Zh, "failed") => "有检查未通过：见上面的 ✗。",
        (Lang::En, "kept") => "Kept (--keep); remove later with: sudo labctl clean",
        (Lang::Zh, "kept") => "已保留（--keep）；之后可用 sudo labctl clean 清理",
        _ => "?",
    }
}

/// Streams a lab run to a writer.
pub struct Renderer<W: Write> {
    out: W,
    pub format: Format,
    pub redact: bool,
    pub lang: Lang,
    /// Suppresses step output (`--step N` runs earlier steps quietly).
    pub quiet: bool,
    collected: Vec<StepReport>,
}

impl<W: Write> Renderer<W> {
    pub fn new(out: W, format: Format, redact: bool, lang: Lang) -> Renderer<W> {
        if format == Format::Terminal {
            colored::control::set_override(true);
        } else {
            colored::control::set_override(false);
        }
        Renderer { out, format, redact, lang, quiet: false, collected: Vec::new() }
    }

    pub fn lab_start(&mut self, id: &str, title: &str, summary: &str) -> std::io::Result<()> {
        match self.format {
            Format::Terminal | Format::Plain => {
                let line = format!("== {id} · {title} ==");
                writeln!(self.out, "{}", line.bold())?;
                writeln!(self.out, "{summary}")?;
                writeln!(self.out)
            }
            Format::Markdown => writeln!(self.out, "# {id} · {title}\n\n{summary}\n"),
            Format::Json => Ok(()),
        }
    }

    /// Before a step acts: its header, narration and equivalent command.
    pub fn step_start(&mut self, step: &StepReport) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        let header = format!("{} {}/{} · {}", word(self.lang, "step"), step.index, step.total, step.title);
        match self.format {
            Format::Terminal | Format::Plain => {
                writeln!(self.out, "{}", header.bold().cyan())?;
                for line in step.narration.trim_end().lines() {
                    writeln!(self.out, "  {line}")?;
                }
                if let Some(cmd) = &step.command {
                    for line in cmd.trim_end().lines() {
                        writeln!(self.out, "  {}", format!("$ {line}").yellow())?;
                    }
                }
                self.out.flush()
            }
            Format::Markdown => {
                writeln!(self.out, "## {header}\n\n{}\n", step.narration.trim_end())?;
                if let Some(cmd) = &step.command {
                    writeln!(self.out, "```console")?;
                    for line in cmd.trim_end().lines() {
                        writeln!(self.out, "$ {line}")?;
                    }
                    writeln!(self.out, "```\n")?;
                }
                Ok(())
            }
            Format::Json => Ok(()),
        }
    }

    /// After a step: what it observed, what that means, and its checks.
    pub fn step_end(&mut self, step: &StepReport) -> std::io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        if self.format == Format::Json {
            self.collected.push(step.clone());
            return Ok(());
        }
        let md = self.format == Format::Markdown;
        for obs in &step.observations {
            let lines = observation_lines(obs, self.redact, self.lang);
            if md {
                writeln!(self.out, "```text")?;
                for l in &lines {
                    writeln!(self.out, "{l}")?;
                }
                writeln!(self.out, "```\n")?;
            } else {
                for l in &lines {
                    writeln!(self.out, "    {l}")?;
                }
            }
        }
        let explanation = step.explanation.trim_end();
        if !explanation.is_empty() {
            if md {
                writeln!(self.out, "{explanation}\n")?;
            } else {
                for (n, line) in explanation.lines().enumerate() {
                    let lead = if n == 0 { "→" } else { " " };
                    writeln!(self.out, "  {} {line}", lead.green())?;
                }
            }
        }
        for note in &step.notes {
            if md {
                writeln!(self.out, "> {note}\n")?;
            } else {
                writeln!(self.out, "  {} {note}", "·".dimmed())?;
            }
        }
        let lead = if md { "- " } else { "  " };
        for check in &step.checks {
            let found = check.found.show(self.redact);
            match check.outcome {
                Outcome::Passed => {
                    writeln!(self.out, "{lead}{} {} ({} {found})", "✓".green(), check.label, word(self.lang, "found"))?
                }
                Outcome::ExpectedFailure => writeln!(
                    self.out,
                    "{lead}{} {}: {found} — {}",
                    "✓".green(),
                    check.label,
                    word(self.lang, "expected_failure")
                )?,
                Outcome::Failed => {
                    writeln!(
                        self.out,
                        "{lead}{} {}: {} {}, {} {found}",
                        "✗".red().bold(),
                        check.label,
                        word(self.lang, "expected"),
                        check.expected,
                        word(self.lang, "found")
                    )?;
                    if let Some(hint) = &check.hint {
                        writeln!(self.out, "{lead}  {}: {hint}", word(self.lang, "hint"))?;
                    }
                }
            }
        }
        if let Some(error) = &step.error {
            writeln!(self.out, "{lead}{} {}: {error}", "✗".red().bold(), word(self.lang, "error"))?;
        }
        writeln!(self.out)?;
        self.out.flush()
    }

    /// The end: what was cleaned up, the verdict; JSON prints the whole document here.
    pub fn lab_end(&mut self, report: &Report, kept: bool) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                let mut doc = report.clone();
                doc.steps = std::mem::take(&mut self.collected);
                serde_json::to_writer_pretty(&mut self.out, &doc)?;
                writeln!(self.out)
            }
            _ => {
                let md = self.format == Format::Markdown;
                let title = word(self.lang, if kept { "kept" } else { "cleanup" });
                if md {
                    writeln!(self.out, "## {title}\n")?;
                } else {
                    writeln!(self.out, "{}", title.bold())?;
                }
                if report.cleanup.is_empty() {
                    writeln!(self.out, "  {}", word(self.lang, "nothing"))?;
                }
                for item in &report.cleanup {
                    writeln!(self.out, "{}{item}", if md { "- " } else { "  - " })?;
                }
                writeln!(self.out)?;
                if let Some(step) = report.stopped_at {
                    let stopped = match self.lang {
                        Lang::En => format!("Stopped before step {step}: the steps from there on did not run."),
                        Lang::Zh => format!("在步骤 {step} 之前停止：之后的步骤没有执行。"),
                    };
                    return writeln!(self.out, "{}", stopped.bold());
                }
                let verdict = word(self.lang, if report.passed { "passed" } else { "failed" });
                if report.passed {
                    writeln!(self.out, "{}", verdict.green().bold())
                } else {
                    writeln!(self.out, "{}", verdict.red().bold())
                }
            }
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Text lines for one observation (shared by the terminal, plain and Markdown renderers).
pub fn observation_lines(obs: &Observation, redact: bool, lang: Lang) -> Vec<String> {
    let show = |f: &Fact| f.show(redact);
    match obs {
        Observation::NsLink { owner, ns_type, inode } => {
            vec![format!("/proc/{}/ns/{ns_type} -> {ns_type}:[{}]", show(owner), show(inode))]
        }
        Observation::Excerpt { path, lines } => {
            let mut out = vec![format!("# {}", show(path))];
            out.extend(lines.iter().map(|segments| segments.iter().map(show).collect::<String>()));
            out
        }
        Observation::Table { title, columns, rows } => {
            let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(show).collect()).collect();
            let mut out = vec![title.get(lang).to_string()];
            out.extend(table(columns, &cells));
            out
        }
        Observation::Interfaces { title, interfaces } => {
            let columns: Vec<String> =
                ["INDEX", "NAME", "STATE", "FLAGS", "MAC", "ADDRESSES"].iter().map(|s| s.to_string()).collect();
            let rows: Vec<Vec<String>> = interfaces
                .iter()
                .map(|i| {
                    vec![
                        if redact { "[index]".to_string() } else { i.index.to_string() },
                        i.name.clone(),
                        i.state.clone(),
                        i.flags.join(","),
                        i.mac.as_ref().map(show).unwrap_or_else(|| "-".into()),
                        if i.addresses.is_empty() {
                            "-".into()
                        } else {
                            i.addresses.iter().map(show).collect::<Vec<_>>().join(" ")
                        },
                    ]
                })
                .collect();
            let mut out = vec![title.get(lang).to_string()];
            out.extend(table(&columns, &rows));
            out
        }
        Observation::Values { title, values } => {
            let mut out = vec![title.get(lang).to_string()];
            let width = values.iter().map(|(k, _)| display_width(k)).max().unwrap_or(0);
            for (k, v) in values {
                out.push(format!("  {k}{} = {}", " ".repeat(width - display_width(k)), show(v)));
            }
            out
        }
    }
}

/// Aligned columns, two spaces apart; the last column is not padded.
pub fn table(columns: &[String], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = columns.iter().map(|c| display_width(c)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            s.push_str(cell);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i].saturating_sub(display_width(cell)) + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![format!("  {}", line(columns))];
    out.extend(rows.iter().map(|r| format!("  {}", line(r))));
    out
}

/// Terminal columns a string takes (CJK characters take two), by Unicode's East Asian Width.
pub fn display_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Interface;
    use crate::report::Check;
    use crate::text::Text;

    fn step() -> StepReport {
        StepReport {
            index: 3,
            total: 6,
            id: "enter".into(),
            title: "Enter it".into(),
            narration: "We setns.".into(),
            command: Some("nsenter -t PID -n ip addr".into()),
            observations: vec![
                Observation::NsLink {
                    owner: Fact::text("self"),
                    ns_type: "net".into(),
                    inode: Fact::Inode(4026532001),
                },
                Observation::Interfaces {
                    title: Text::new("Inside", "里面"),
                    interfaces: vec![Interface {
                        index: 1,
                        name: "lo".into(),
                        state: "DOWN".into(),
                        flags: vec!["LOOPBACK".into()],
                        mac: None,
                        addresses: vec![],
                    }],
                },
            ],
            explanation: "Only lo.".into(),
            values: vec![],
            checks: vec![
                Check {
                    label: "lo is DOWN".into(),
                    expected: "DOWN".into(),
                    found: Fact::text("DOWN"),
                    outcome: Outcome::Passed,
                    hint: None,
                },
                Check {
                    label: "one interface".into(),
                    expected: "1".into(),
                    found: Fact::Number(2),
                    outcome: Outcome::Failed,
                    hint: Some("is something else in there?".into()),
                },
            ],
            notes: vec![],
            error: None,
        }
    }

    fn render(format: Format, redact: bool) -> String {
        let mut r = Renderer::new(Vec::new(), format, redact, Lang::En);
        r.step_start(&step()).unwrap();
        r.step_end(&step()).unwrap();
        String::from_utf8(r.into_inner()).unwrap()
    }

    #[test]
    fn plain_output_shows_checks_with_expected_found_and_hint() {
        let text = render(Format::Plain, false);
        assert!(text.contains("Step 3/6 · Enter it"), "{text}");
        assert!(text.contains("$ nsenter -t PID -n ip addr"));
        assert!(text.contains("/proc/self/ns/net -> net:[4026532001]"));
        assert!(text.contains("✓ lo is DOWN (found DOWN)"));
        assert!(text.contains("✗ one interface: expected 1, found 2"));
        assert!(text.contains("hint: is something else in there?"));
        assert!(!text.contains('\u{1b}'), "plain output has no escape codes");
    }

    #[test]
    fn redaction_hides_inodes_and_indexes_in_text() {
        let text = render(Format::Plain, true);
        assert!(text.contains("net:[[inode]]"), "{text}");
        assert!(!text.contains("4026532001"));
        assert!(text.contains("[index]"));
    }

    #[test]
    fn terminal_output_is_coloured() {
        assert!(render(Format::Terminal, false).contains('\u{1b}'));
    }

    #[test]
    fn markdown_puts_commands_and_observations_in_code_blocks() {
        let md = render(Format::Markdown, false);
        assert!(md.contains("## Step 3/6 · Enter it"));
        assert!(md.contains("```console\n$ nsenter"));
        assert!(md.contains("```text\n/proc/self/ns/net"));
        assert!(md.contains("- ✗ one interface"));
    }

    #[test]
    fn tables_align_wide_characters() {
        let rows = vec![vec!["网络".to_string(), "x".to_string()], vec!["ab".to_string(), "y".to_string()]];
        let out = table(&["A".into(), "B".into()], &rows);
        assert_eq!(out[1], "  网络  x");
        assert_eq!(out[2], "  ab    y");
    }

    #[test]
    fn full_width_punctuation_and_hangul_are_wide_and_symbols_narrow() {
        assert_eq!(display_width("（中文）"), 8);
        assert_eq!(display_width("한국"), 4);
        assert_eq!(display_width("✓ → …"), 5);
    }
}
