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
        (Lang::En, "colon") => ": ",
        (Lang::Zh, "colon") => "：",
        (Lang::En, "comma") => ", ",
        (Lang::Zh, "comma") => "，",
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
        (Lang::En, "undo_failed") => "FAILED",
        (Lang::Zh, "undo_failed") => "失败",
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
    /// Wrap prose to this many columns (terminal output); none leaves lines as they are.
    pub width: Option<usize>,
    collected: Vec<StepReport>,
}

impl<W: Write> Renderer<W> {
    pub fn new(out: W, format: Format, redact: bool, lang: Lang) -> Renderer<W> {
        if format == Format::Terminal {
            colored::control::set_override(true);
        } else {
            colored::control::set_override(false);
        }
        Renderer { out, format, redact, lang, quiet: false, width: None, collected: Vec::new() }
    }

    pub fn lab_start(&mut self, id: &str, title: &str, summary: &str) -> std::io::Result<()> {
        match self.format {
            Format::Terminal | Format::Plain => {
                let line = format!("== {id} · {title} ==");
                writeln!(self.out, "{}", line.bold())?;
                if self.width.is_none() {
                    writeln!(self.out, "{summary}")?;
                }
                for l in self.width.map(|_| self.prose(summary, "", "")).unwrap_or_default() {
                    writeln!(self.out, "{l}")?;
                }
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
                // Bold and the terminal's own foreground: readable on light and dark themes alike.
                writeln!(self.out, "{}", header.bold().underline())?;
                for line in self.prose(step.narration.trim_end(), "  ", "  ") {
                    writeln!(self.out, "{line}")?;
                }
                if let Some(cmd) = &step.command {
                    // Long commands continue with `\` so that they still paste as one command.
                    let width = self.width.map(|w| w.min(crate::wrap::MAX_PROSE).saturating_sub(2));
                    for line in cmd.trim_end().lines() {
                        for part in crate::wrap::command(line, width, "$ ", "    ") {
                            writeln!(self.out, "  {}", part.bold())?;
                        }
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
            let inner = if md { None } else { self.width.map(|w| w.saturating_sub(4)) };
            let lines = observation_lines_within(obs, self.redact, self.lang, inner);
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
                for line in self.prose_marked(explanation, "→".green().to_string()) {
                    writeln!(self.out, "{line}")?;
                }
            }
        }
        for note in &step.notes {
            if md {
                writeln!(self.out, "> {note}\n")?;
            } else {
                self.item_at("  ", "·".dimmed().to_string(), note)?;
            }
        }
        let found_word = word(self.lang, "found");
        for check in &step.checks {
            let found = check.found.show(self.redact);
            match check.outcome {
                Outcome::Passed => {
                    // A label that ends in its own parenthesis takes the reading inside it.
                    let label = check.label.as_str();
                    let body = match self.lang {
                        Lang::En => match label.strip_suffix(')') {
                            Some(open) => format!("{open}; {found_word} {found})"),
                            None => format!("{label} ({found_word} {found})"),
                        },
                        Lang::Zh => match label.strip_suffix('）') {
                            Some(open) => format!("{open}；{found_word} {found}）"),
                            None => format!("{label}（{found_word} {found}）"),
                        },
                    };
                    self.item("✓".green().to_string(), &body)?
                }
                Outcome::ExpectedFailure => {
                    let (colon, ending) = (word(self.lang, "colon"), word(self.lang, "expected_failure"));
                    let body = format!("{}{colon}{found} — {ending}", check.label);
                    self.item("✓".green().to_string(), &body)?
                }
                Outcome::Failed => {
                    let body = format!(
                        "{}{}{} {}{}{found_word} {found}",
                        check.label,
                        word(self.lang, "colon"),
                        word(self.lang, "expected"),
                        check.expected,
                        word(self.lang, "comma"),
                    );
                    self.item("✗".red().bold().to_string(), &body)?;
                    if let Some(hint) = &check.hint {
                        let lead = if md { "- " } else { "  " };
                        let first = format!("{lead}  {}{}", word(self.lang, "hint"), word(self.lang, "colon"));
                        for line in self.block(hint, &first, "      ") {
                            writeln!(self.out, "{line}")?;
                        }
                    }
                }
            }
        }
        if let Some(error) = &step.error {
            let body = format!("{}{}{error}", word(self.lang, "error"), word(self.lang, "colon"));
            self.item("✗".red().bold().to_string(), &body)?;
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
                    for line in self.block(item, if md { "- " } else { "  - " }, "    ") {
                        writeln!(self.out, "{line}")?;
                    }
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

    /// Prose wrapped to the width (terminal and plain text; Markdown leaves it to the reader).
    fn prose(&self, text: &str, first: &str, rest: &str) -> Vec<String> {
        let width =
            if self.format == Format::Markdown { None } else { self.width.map(|w| w.min(crate::wrap::MAX_PROSE)) };
        crate::wrap::wrap(text, width, first, rest)
    }

    /// One block (a check, note, hint, cleanup item) wrapped like prose; unwrapped it is
    /// printed exactly as given.
    fn block(&self, text: &str, first: &str, rest: &str) -> Vec<String> {
        let width =
            if self.format == Format::Markdown { None } else { self.width.map(|w| w.min(crate::wrap::MAX_PROSE)) };
        crate::wrap::block(text, width, first, rest)
    }

    /// Prose after a one-column mark (→), indented two and hanging under the text.
    fn prose_marked(&self, text: &str, mark: String) -> Vec<String> {
        let mut lines = self.prose(text, "    ", "    ");
        if let Some(first) = lines.first_mut() {
            *first = format!("  {mark} {}", first.strip_prefix("    ").unwrap_or(first));
        }
        lines
    }

    /// A check or error line: `  ✓ body` (or `- ✓ body` in Markdown), wrapped under the body.
    fn item(&mut self, mark: String, body: &str) -> std::io::Result<()> {
        let lead = if self.format == Format::Markdown { "- " } else { "  " };
        self.item_at(lead, mark, body)
    }

    fn item_at(&mut self, lead: &str, mark: String, body: &str) -> std::io::Result<()> {
        let mut lines = self.block(body, "    ", "    ");
        if let Some(first) = lines.first_mut() {
            *first = format!("{lead}{mark} {}", first.strip_prefix("    ").unwrap_or(first));
        }
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Text lines for one observation (shared by the terminal, plain and Markdown renderers).
pub fn observation_lines(obs: &Observation, redact: bool, lang: Lang) -> Vec<String> {
    observation_lines_within(obs, redact, lang, None)
}

/// [`observation_lines`] fitted to `width` columns: titles and `key = value` values wrap with
/// a hanging indent, a table's last column wraps under itself; file excerpts never wrap.
pub fn observation_lines_within(obs: &Observation, redact: bool, lang: Lang, width: Option<usize>) -> Vec<String> {
    let show = |f: &Fact| f.show(redact);
    match obs {
        Observation::NsLink { owner, ns_type, inode } => {
            // A redacted inode is already in brackets: `net:[inode]`, not `net:[[inode]]`.
            let inode = if redact && inode.is_volatile() { show(inode) } else { format!("[{}]", show(inode)) };
            vec![format!("/proc/{}/ns/{ns_type} -> {ns_type}:{inode}", show(owner))]
        }
        Observation::Excerpt { path, lines } => {
            let mut out = vec![format!("# {}", show(path))];
            out.extend(lines.iter().map(|segments| segments.iter().map(show).collect::<String>()));
            out
        }
        Observation::Table { title, columns, rows } => {
            let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(show).collect()).collect();
            let mut out = crate::wrap::block(title.get(lang), width, "", "  ");
            let columns: Vec<String> = columns.iter().map(|c| header(lang, c)).collect();
            out.extend(table_within(&columns, &cells, width));
            out
        }
        Observation::Interfaces { title, interfaces } => {
            let columns: Vec<String> =
                ["INDEX", "NAME", "STATE", "FLAGS", "MAC", "ADDRESSES"].iter().map(|s| header(lang, s)).collect();
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
            let mut out = crate::wrap::block(title.get(lang), width, "", "  ");
            out.extend(table_within(&columns, &rows, width));
            out
        }
        Observation::Values { title, values } => {
            let mut out = crate::wrap::block(title.get(lang), width, "", "  ");
            let keys = values.iter().map(|(k, _)| display_width(k)).max().unwrap_or(0);
            for (k, v) in values {
                let first = format!("  {k}{} = ", " ".repeat(keys - display_width(k)));
                let rest = " ".repeat(keys + 5);
                // A value starting past the middle would wrap into a thin column: leave it.
                let fit = width.filter(|w| keys + 5 <= w / 2);
                out.extend(crate::wrap::block(&show(v), fit, &first, &rest));
            }
            out
        }
    }
}

/// A column header in the learner's language: the renderer's dictionary of the headers labs
/// use; an unknown header (a file name such as MEMORY.MAX, a new lab's word) stays as written.
pub fn header(lang: Lang, column: &str) -> String {
    if lang == Lang::En {
        return column.to_string();
    }
    let zh = match column {
        "INDEX" => "序号",
        "NAME" => "名称",
        "STATE" => "状态",
        "FLAGS" => "标志",
        "ADDRESSES" => "地址",
        "FILE" => "文件",
        "VALUE" => "值",
        "GROUP" => "组",
        "TYPE" => "类型",
        "OURS" => "我们的",
        "CONTAINER" => "容器",
        "STEP" => "步骤",
        "INSTRUCTION" => "指令",
        "RESULT" => "结果",
        "CACHE" => "缓存",
        "USAGE" => "用量",
        "SHARE" => "占比",
        "HIERARCHY" => "层级",
        "ENABLED" => "已启用",
        "FORKER" => "父进程",
        "CHILD" => "子进程",
        "HERE" => "本机",
        "SEED" => "课程笔记",
        "ATTEMPT" => "尝试",
        "DEFAULTS" => "默认配置",
        "PRIVILEGED" => "特权模式",
        "ALLOCATED MiB" => "已分配 MiB",
        "CONTENT" => "内容",
        "DIRECTORY" => "目录",
        "ENTRIES" => "条目",
        // container-lifecycle (docker's own ps columns and /proc field names stay as printed).
        "READ" => "读取",
        "STOP TOOK" => "stop 用时",
        "LAST LOG LINE" => "最后一行日志",
        "THE INIT" => "init",
        "EXEC'D SLEEP" => "exec 出的 sleep",
        "SAME" => "相同",
        "NSENTER'S SH" => "nsenter 的 sh",
        "SAME AS THE INIT" => "与 init 相同",
        "FIRST RUN" => "第一次运行",
        "NOW" => "现在",
        "OWN" => "自己的",
        "PROCESS" => "进程",
        "PIPE INODE / FILE" => "管道 inode / 文件",
        "SigCgt (handled)" => "SigCgt（已处理）",
        "SigIgn (ignored)" => "SigIgn（已忽略）",
        // mini-container.
        "OCI CONFIG FIELD" => "OCI 配置字段",
        "READ BACK" => "读回的值",
        "LEARNED IN" => "讲授它的实验",
        "DIR" => "目录",
        "LAYER" => "层",
        "FILES" => "文件数",
        "DIRS" => "目录数",
        "SYMLINKS" => "符号链接数",
        "POINT" => "挂载点",
        "OPTIONS" => "选项",
        "FIELD" => "字段",
        "BYTES" => "字节数",
        // ip route's own words (via, dev, proto, scope, src) stay: they are what `ip route` prints.
        "DESTINATION" => "目的地址",
        "DEVICE" => "设备",
        "TX PACKETS" => "TX 包数",
        "TX BYTES" => "TX 字节",
        "RX PACKETS" => "RX 包数",
        "RX BYTES" => "RX 字节",
        _ => return column.to_string(),
    };
    zh.to_string()
}

/// Aligned columns, two spaces apart; the last column is not padded.
pub fn table(columns: &[String], rows: &[Vec<String>]) -> Vec<String> {
    table_within(columns, rows, None)
}

/// [`table`] within `width` columns: when a row is wider, its last cell wraps under the last
/// column (if that column still has a useful width); the other columns never break.
pub fn table_within(columns: &[String], rows: &[Vec<String>], width: Option<usize>) -> Vec<String> {
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
    let last_at = 2 + widths.iter().take(widths.len().saturating_sub(1)).map(|w| w + 2).sum::<usize>();
    let room = width.map(|w| w.saturating_sub(last_at)).filter(|room| *room >= 16);
    let mut out = vec![format!("  {}", line(columns))];
    for row in rows {
        let whole = format!("  {}", line(row));
        match room {
            Some(room) if display_width(&whole) > last_at + room && row.len() == widths.len() => {
                let head = format!("  {}", line(&[&row[..row.len() - 1], &[String::new()]].concat()));
                let head = format!("{head}{}", " ".repeat(last_at.saturating_sub(display_width(&head))));
                let indent = " ".repeat(last_at);
                out.extend(crate::wrap::block(&row[row.len() - 1], Some(last_at + room), &head, &indent));
            }
            _ => out.push(whole),
        }
    }
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
                Check {
                    label: "throttled (nr_throttled grows)".into(),
                    expected: "> 0".into(),
                    found: Fact::Number(3),
                    outcome: Outcome::Passed,
                    hint: None,
                },
            ],
            notes: vec![],
            error: None,
        }
    }

    /// Colour is a process-wide switch (colored's override): tests that render take turns.
    static COLOUR: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn render(format: Format, redact: bool) -> String {
        let _turn = COLOUR.lock().unwrap_or_else(|e| e.into_inner());
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
        assert!(text.contains("✓ throttled (nr_throttled grows; found 3)"), "one pair of parentheses: {text}");
        assert!(!text.contains('\u{1b}'), "plain output has no escape codes");
    }

    #[test]
    fn redaction_hides_inodes_and_indexes_in_text() {
        let text = render(Format::Plain, true);
        assert!(text.contains("net:[inode]") && !text.contains("[[inode]]"), "{text}");
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

    fn long_step() -> StepReport {
        let mut s = step();
        s.narration = "We clone a child with CLONE_NEWPID | CLONE_NEWNS. unshare(CLONE_NEWPID) would not do: it only moves the caller's future children into the new namespace, which is why `unshare -p` needs -f.".into();
        s.explanation = "在外面，我们的子进程是进程 4242；在它的 pid namespace 里面，它是 PID 1。同一个进程，两个编号：外层 namespace 能看到内层的所有进程，只是用自己的编号。".into();
        s.observations.push(Observation::Values {
            title: Text::new("After SIGKILL to PID 1 alone:", "只向 PID 1 发送 SIGKILL 之后："),
            values: vec![(
                "decoded".into(),
                Fact::text("CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW"),
            )],
        });
        s.observations.push(Observation::Table {
            title: Text::new("Escapes", "逃逸"),
            columns: vec!["ATTEMPT".into(), "RESULT".into()],
            rows: vec![vec![
                Fact::text("chroot jail (chroot rootfs)"),
                Fact::text("read: it is the host's file, which a container must never see, nor write, nor list"),
            ]],
        });
        s
    }

    fn render_wide(lang: Lang, width: usize) -> String {
        let _turn = COLOUR.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = Renderer::new(Vec::new(), Format::Plain, false, lang);
        r.width = Some(width);
        r.step_start(&long_step()).unwrap();
        r.step_end(&long_step()).unwrap();
        String::from_utf8(r.into_inner()).unwrap()
    }

    #[test]
    fn with_a_width_every_line_fits_in_both_languages() {
        for lang in Lang::ALL {
            for width in [80, 120] {
                let text = render_wide(lang, width);
                for line in text.lines() {
                    assert!(
                        display_width(line) <= width,
                        "{lang} at {width}: {line:?} is {} wide\n{text}",
                        display_width(line)
                    );
                }
                assert!(text.contains("  → "), "{text}");
            }
        }
    }

    #[test]
    fn wrapped_lines_hang_under_their_text() {
        let text = render_wide(Lang::En, 80);
        let lines: Vec<&str> = text.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("  We clone")).unwrap();
        assert!(lines[at + 1].starts_with("  ") && !lines[at + 1].starts_with("   "), "{text}");
        let cap = lines.iter().position(|l| l.contains("decoded = CAP_CHOWN")).unwrap();
        let value_at = lines[cap].find("CAP_CHOWN").unwrap();
        assert!(lines[cap + 1].starts_with(&" ".repeat(value_at)), "{text}");
        assert!(lines[cap + 1].trim_start().starts_with("CAP_"), "{text}");
        let row = lines.iter().position(|l| l.contains("chroot jail")).unwrap();
        let cell_at = lines[row].find("read:").unwrap();
        assert_eq!(lines[row + 1].len() - lines[row + 1].trim_start().len(), cell_at, "{text}");
    }

    #[test]
    fn without_a_width_nothing_is_wrapped() {
        let _turn = COLOUR.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = Renderer::new(Vec::new(), Format::Plain, false, Lang::En);
        r.step_start(&long_step()).unwrap();
        r.step_end(&long_step()).unwrap();
        let text = String::from_utf8(r.into_inner()).unwrap();
        assert!(text.lines().any(|l| l.starts_with("  We clone") && l.ends_with("needs -f.")), "{text}");
    }

    #[test]
    fn zh_tables_have_chinese_headers_and_unknown_headers_stay() {
        assert_eq!(header(Lang::Zh, "FILE"), "文件");
        assert_eq!(header(Lang::Zh, "MEMORY.MAX"), "MEMORY.MAX");
        assert_eq!(header(Lang::En, "FILE"), "FILE");
        let lines = observation_lines(&step().observations[1], false, Lang::Zh);
        assert!(lines[1].contains("序号") && lines[1].contains("MAC"), "{lines:?}");
    }

    #[test]
    fn commands_are_bold_not_yellow() {
        let text = render(Format::Terminal, false);
        assert!(!text.contains("\u{1b}[33m"), "yellow vanishes on a light background: {text:?}");
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
