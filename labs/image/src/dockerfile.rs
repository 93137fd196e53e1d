//! Dockerfile parsing: logical lines (continuations, comments), instructions and their
//! arguments, and errors that point at the file, line and column with a caret.
//! Variables (`$VAR`, `${VAR:-default}`) are expanded at build time by [`lex`], which the
//! parser also runs once without variables to catch bad quoting early.

use std::fmt;

/// A parse or build error located in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    /// 1-based column of the caret in `source`.
    pub column: usize,
    /// How many carets.
    pub width: usize,
    pub source: String,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        writeln!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)?;
        writeln!(f, " {num} | {}", self.source)?;
        write!(f, " {pad} | {}{}", " ".repeat(self.column.saturating_sub(1)), "^".repeat(self.width.max(1)))
    }
}

impl std::error::Error for Located {}

/// `RUN`, `CMD` and `ENTRYPOINT` arguments: a JSON array (exec form) or a command line
/// for `/bin/sh -c` (shell form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    Exec(Vec<String>),
    Shell(String),
}

impl CommandForm {
    /// What the config stores: the shell form becomes `["/bin/sh", "-c", TEXT]`.
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inst {
    From {
        image: String,
        alias: Option<String>,
    },
    Arg {
        name: String,
        default: Option<String>,
    },
    /// Raw text of `key=value ...` (or legacy `key value`), expanded at build time.
    Env(String),
    Label(String),
    Add(Copy),
    Copy(Copy),
    Expose(String),
    Entrypoint(CommandForm),
    Cmd(CommandForm),
    Workdir(String),
    User(String),
    Run(CommandForm),
    StopSignal(String),
    Volume(Vec<String>),
}

/// ADD/COPY arguments; paths expanded at build time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `COPY --from=NAME|INDEX|IMAGE`: the files come from that stage's (or image's) rootfs.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// Sources then destination, as written (JSON form already decoded).
    pub paths: Vec<String>,
    /// Whether `paths` came from a JSON array (no further word splitting).
    pub json: bool,
    /// Column of each path (for errors) in the logical line.
    pub columns: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// First physical line of the instruction (1-based).
    pub line: usize,
    /// The instruction as one logical line (continuations joined).
    pub text: String,
    /// Column where the arguments start in `text` (1-based).
    pub args_column: usize,
    pub inst: Inst,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    /// Offset in the logical text where this physical line's content starts.
    logical: usize,
    line: usize,
    source: String,
}

#[derive(Debug, Clone)]
pub struct Dockerfile {
    pub file: String,
    pub instructions: Vec<Instruction>,
}

impl Instruction {
    /// The keyword as written in upper case (`ADD`).
    pub fn keyword(&self) -> String {
        self.text.split_whitespace().next().unwrap_or("").to_uppercase()
    }

    /// An error pointing at `column` (1-based, logical) over `width` characters.
    pub fn error_at(&self, file: &str, column: usize, width: usize, message: impl Into<String>) -> Located {
        locate(file, &self.segments, column, width, message.into())
    }

    /// An error pointing at the arguments.
    pub fn error(&self, file: &str, message: impl Into<String>) -> Located {
        let width = self.text.chars().count().saturating_sub(self.args_column - 1);
        self.error_at(file, self.args_column, width, message)
    }
}

fn locate(file: &str, segments: &[Segment], column: usize, width: usize, message: String) -> Located {
    let offset = column.saturating_sub(1);
    let seg = segments.iter().rev().find(|s| s.logical <= offset).unwrap_or(&segments[0]);
    // Column within the physical line: leading whitespace was kept in `source`.
    let lead = seg.source.len() - seg.source.trim_start().len();
    let col = if std::ptr::eq(seg, &segments[0]) { offset + 1 + lead } else { offset - seg.logical + 1 + lead };
    Located { file: file.to_string(), line: seg.line, column: col, width, source: seg.source.clone(), message }
}

const KNOWN: &[&str] = &[
    "FROM",
    "ARG",
    "ENV",
    "LABEL",
    "ADD",
    "COPY",
    "EXPOSE",
    "ENTRYPOINT",
    "CMD",
    "WORKDIR",
    "USER",
    "RUN",
    "STOPSIGNAL",
    "VOLUME",
    "MAINTAINER",
];
const UNSUPPORTED: &[&str] = &["ONBUILD", "HEALTHCHECK", "SHELL"];

/// Parses a Dockerfile. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, Located> {
    let mut instructions = Vec::new();
    let mut pending: Option<(String, Vec<Segment>)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') {
            continue; // comments (and parser directives) — also inside continuations
        }
        if pending.is_none() && trimmed.trim_end().is_empty() {
            continue;
        }
        let (mut logical, mut segments) = pending.take().unwrap_or_default();
        let content = trimmed.trim_end();
        let continued = content.ends_with('\\');
        let body = if continued { &content[..content.len() - 1] } else { content };
        segments.push(Segment { logical: logical.len(), line: line_no, source: raw.trim_end().to_string() });
        logical.push_str(body);
        if continued {
            pending = Some((logical, segments));
            continue;
        }
        instructions.push(parse_instruction(file, logical, segments)?);
    }
    if let Some((logical, segments)) = pending {
        if !logical.trim().is_empty() {
            instructions.push(parse_instruction(file, logical, segments)?);
        }
    }
    let dockerfile = Dockerfile { file: file.to_string(), instructions };
    dockerfile.check_from()?;
    Ok(dockerfile)
}

impl Dockerfile {
    fn check_from(&self) -> Result<(), Located> {
        let first = self.instructions.iter().find(|i| !matches!(i.inst, Inst::Arg { .. }));
        match first {
            None => Err(Located {
                file: self.file.clone(),
                line: 1,
                column: 1,
                width: 1,
                source: String::new(),
                message: "no FROM instruction: a Dockerfile must start with FROM (FROM scratch for an empty base)"
                    .into(),
            }),
            Some(i) if !matches!(i.inst, Inst::From { .. }) => Err(i.error_at(
                &self.file,
                1,
                i.keyword().len(),
                format!("{} before FROM: a Dockerfile must start with FROM (only ARG may come first)", i.keyword()),
            )),
            Some(_) => {
                // Stage names are case-insensitive and must be unique (what BuildKit and buildah say).
                let mut seen: Vec<String> = Vec::new();
                for i in &self.instructions {
                    if let Inst::From { alias: Some(alias), .. } = &i.inst {
                        let name = alias.to_lowercase();
                        if seen.contains(&name) {
                            return Err(i.error(
                                &self.file,
                                format!("FROM ... AS {alias}: a stage named {name:?} already exists"),
                            ));
                        }
                        seen.push(name);
                    }
                }
                Ok(())
            }
        }
    }
}

fn parse_instruction(file: &str, logical: String, segments: Vec<Segment>) -> Result<Instruction, Located> {
    let lead = logical.len() - logical.trim_start().len();
    let text = logical.trim().to_string();
    let segments: Vec<Segment> =
        segments.into_iter().map(|s| Segment { logical: s.logical.saturating_sub(lead), ..s }).collect();
    let keyword_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let keyword = text[..keyword_len].to_uppercase();
    let rest_start =
        text[keyword_len..].find(|c: char| !c.is_whitespace()).map(|i| keyword_len + i).unwrap_or(text.len());
    let rest = text[rest_start..].to_string();
    let mut ins = Instruction {
        line: segments[0].line,
        text: text.clone(),
        args_column: rest_start + 1,
        inst: Inst::Workdir(String::new()),
        segments,
    };
    let err_kw = |ins: &Instruction, msg: String| ins.error_at(file, 1, keyword_len, msg);
    if !KNOWN.contains(&keyword.as_str()) {
        if UNSUPPORTED.contains(&keyword.as_str()) {
            return Err(err_kw(&ins, format!("{keyword} is not supported by labctl image build")));
        }
        let hint = KNOWN
            .iter()
            .map(|k| (labkit::catalogue::edit_distance(&keyword, k), *k))
            .min()
            .filter(|(d, _)| *d <= 2)
            .map(|(_, k)| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        return Err(err_kw(&ins, format!("unknown instruction {:?}{hint}", &text[..keyword_len])));
    }
    if rest.is_empty() {
        return Err(err_kw(&ins, format!("{keyword} needs arguments")));
    }
    // Quoting is checked now, so a bad quote is reported before anything is built.
    let needs_words = matches!(keyword.as_str(), "ENV" | "LABEL" | "ADD" | "COPY" | "EXPOSE" | "ARG" | "FROM");
    if needs_words {
        lex(&rest, None)
            .map_err(|e| ins.error_at(file, rest_start + e.offset + 1, 1, format!("{keyword}: {}", e.message)))?;
    }
    ins.inst = match keyword.as_str() {
        "FROM" => {
            let words: Vec<&str> = rest.split_whitespace().filter(|w| !w.starts_with("--platform")).collect();
            match words.as_slice() {
                [image] => Inst::From { image: image.to_string(), alias: None },
                [image, as_, alias] if as_.eq_ignore_ascii_case("as") => {
                    Inst::From { image: image.to_string(), alias: Some(alias.to_string()) }
                }
                _ => return Err(ins.error(file, "FROM takes IMAGE [AS NAME]")),
            }
        }
        "ARG" => {
            let (name, default) = match rest.split_once('=') {
                Some((n, d)) => (n.trim().to_string(), Some(unquote(d.trim()))),
                None => (rest.trim().to_string(), None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ins.error(file, format!("ARG name {name:?} must be letters, digits and '_'")));
            }
            Inst::Arg { name, default }
        }
        "ENV" => {
            check_pairs(file, &ins, &rest, rest_start, "ENV", true)?;
            Inst::Env(rest)
        }
        "LABEL" => {
            check_pairs(file, &ins, &rest, rest_start, "LABEL", false)?;
            Inst::Label(rest)
        }
        "MAINTAINER" => Inst::Label(format!("maintainer={}", shell_quote(&rest))),
        "ADD" | "COPY" => {
            let copy = parse_copy(file, &ins, &rest, rest_start, &keyword)?;
            if keyword == "ADD" {
                Inst::Add(copy)
            } else {
                Inst::Copy(copy)
            }
        }
        "EXPOSE" => Inst::Expose(rest),
        "ENTRYPOINT" => Inst::Entrypoint(command_form(&rest)),
        "CMD" => Inst::Cmd(command_form(&rest)),
        "RUN" => Inst::Run(command_form(&rest)),
        "WORKDIR" => Inst::Workdir(rest),
        "USER" => Inst::User(rest),
        "STOPSIGNAL" => Inst::StopSignal(rest),
        "VOLUME" => Inst::Volume(match serde_json::from_str::<Vec<String>>(&rest) {
            Ok(v) if rest.starts_with('[') => v,
            _ => rest.split_whitespace().map(String::from).collect(),
        }),
        _ => unreachable!("KNOWN lists every keyword handled here"),
    };
    Ok(ins)
}

fn unquote(s: &str) -> String {
    lex(s, None).ok().and_then(|w| w.into_iter().next()).map(|w| w.value).unwrap_or_else(|| s.to_string())
}

fn shell_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn command_form(rest: &str) -> CommandForm {
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest) {
            return CommandForm::Exec(v);
        }
    }
    CommandForm::Shell(rest.to_string())
}

fn check_pairs(
    file: &str,
    ins: &Instruction,
    rest: &str,
    start: usize,
    kw: &str,
    legacy_ok: bool,
) -> Result<(), Located> {
    let words =
        lex(rest, None).map_err(|e| ins.error_at(file, start + e.offset + 1, 1, format!("{kw}: {}", e.message)))?;
    let first_has_eq = words.first().is_some_and(|w| w.raw.contains('='));
    if legacy_ok && !first_has_eq {
        return Ok(()); // ENV key value
    }
    for w in &words {
        match w.raw.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => {
                return Err(ins.error_at(
                    file,
                    start + w.offset + 1,
                    w.raw.chars().count(),
                    format!("{kw} needs key=value pairs; {:?} has no '='", w.value),
                ))
            }
        }
    }
    Ok(())
}

fn parse_copy(file: &str, ins: &Instruction, rest: &str, start: usize, kw: &str) -> Result<Copy, Located> {
    let mut from = None;
    let mut chown = None;
    let mut chmod = None;
    let mut args = rest;
    let mut offset = 0;
    while args.starts_with("--") {
        let end = args.find(char::is_whitespace).unwrap_or(args.len());
        let flag = &args[..end];
        match flag.split_once('=') {
            Some(("--chown", v)) => chown = Some(v.to_string()),
            Some(("--chmod", v)) => chmod = Some(v.to_string()),
            Some(("--from", v)) if kw == "COPY" && !v.is_empty() => from = Some(v.to_string()),
            Some(("--from", _)) => {
                return Err(ins.error_at(
                    file,
                    start + offset + 1,
                    end,
                    if kw == "COPY" {
                        "COPY --from needs a stage name, a stage index or an image: COPY --from=builder /src /dst"
                            .to_string()
                    } else {
                        format!("{kw} has no --from (only COPY does): use COPY --from=STAGE")
                    },
                ))
            }
            _ => {
                return Err(ins.error_at(
                    file,
                    start + offset + 1,
                    end,
                    if kw == "COPY" {
                        format!("{kw}: unknown flag {flag:?} (known: --from, --chown, --chmod)")
                    } else {
                        format!("{kw}: unknown flag {flag:?} (known: --chown, --chmod)")
                    },
                ))
            }
        }
        let skip = args[end..].len() - args[end..].trim_start().len();
        offset += end + skip;
        args = &args[end + skip..];
    }
    let (paths, columns, json) = if args.starts_with('[') {
        match serde_json::from_str::<Vec<String>>(args) {
            Ok(v) => {
                let cols = vec![start + offset + 1; v.len()];
                (v, cols, true)
            }
            Err(e) => {
                return Err(ins.error_at(file, start + offset + 1, args.len(), format!("{kw}: bad JSON array: {e}")))
            }
        }
    } else {
        let words = lex(args, None).map_err(|e| ins.error_at(file, start + offset + e.offset + 1, 1, e.message))?;
        (
            words.iter().map(|w| w.raw.clone()).collect(),
            words.iter().map(|w| start + offset + w.offset + 1).collect(),
            false,
        )
    };
    if paths.len() < 2 {
        return Err(ins.error(file, format!("{kw} needs at least one source and a destination")));
    }
    Ok(Copy { from, chown, chmod, paths, json, columns })
}

/// Looks a variable up by name.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One word of an argument list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// After quote removal and (when variables were given) expansion.
    pub value: String,
    /// As written.
    pub raw: String,
    /// Byte offset in the input.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub offset: usize,
    pub message: String,
}

/// Splits shell-like words: whitespace separates, `'...'` is literal, `"..."` allows `\"`,
/// `\\`, `\$` and variables, a backslash escapes outside quotes. With `vars`, `$NAME`,
/// `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` expand (unknown names are empty).
pub fn lex(input: &str, vars: Option<Vars>) -> Result<Vec<Word>, LexError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].1.is_whitespace() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut value = String::new();
        while i < chars.len() && !chars[i].1.is_whitespace() {
            let (off, c) = chars[i];
            match c {
                '\'' => {
                    let close = chars[i + 1..].iter().position(|(_, c)| *c == '\'');
                    let Some(close) = close else {
                        return Err(LexError {
                            offset: off,
                            message: "unterminated single quote: missing closing '".into(),
                        });
                    };
                    value.extend(chars[i + 1..i + 1 + close].iter().map(|(_, c)| c));
                    i += close + 2;
                }
                '"' => {
                    i += 1;
                    loop {
                        let Some(&(_, c)) = chars.get(i) else {
                            return Err(LexError {
                                offset: off,
                                message: "unterminated double quote: missing closing \"".into(),
                            });
                        };
                        match c {
                            '"' => {
                                i += 1;
                                break;
                            }
                            '\\' if matches!(chars.get(i + 1), Some((_, '"' | '\\' | '$'))) => {
                                value.push(chars[i + 1].1);
                                i += 2;
                            }
                            '$' if vars.is_some() => {
                                i = expand(&chars, i, vars.unwrap(), &mut value)?;
                            }
                            c => {
                                value.push(c);
                                i += 1;
                            }
                        }
                    }
                }
                '\\' => {
                    if let Some(&(_, n)) = chars.get(i + 1) {
                        value.push(n);
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                '$' if vars.is_some() => {
                    i = expand(&chars, i, vars.unwrap(), &mut value)?;
                }
                c => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        let end = chars.get(i).map(|(o, _)| *o).unwrap_or(input.len());
        words.push(Word { value, raw: input[start..end].to_string(), offset: start });
    }
    Ok(words)
}

/// Expands the variable at `chars[i]` (a `$`); returns the index after it.
fn expand(
    chars: &[(usize, char)],
    i: usize,
    vars: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<usize, LexError> {
    let off = chars[i].0;
    let mut j = i + 1;
    if chars.get(j).map(|c| c.1) == Some('{') {
        let close = chars[j..].iter().position(|(_, c)| *c == '}');
        let Some(close) = close else {
            return Err(LexError { offset: off, message: "unterminated ${...}: missing }".into() });
        };
        let inner: String = chars[j + 1..j + close].iter().map(|(_, c)| c).collect();
        let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
            Some(p) => (inner[..p].to_string(), Some((&inner[p..p + 2] == ":-", inner[p + 2..].to_string()))),
            None => (inner.clone(), None),
        };
        let value = vars(&name).filter(|v| !v.is_empty());
        match op {
            None => out.push_str(&value.unwrap_or_default()),
            Some((true, default)) => out.push_str(&value.unwrap_or(default)),
            Some((false, alt)) => {
                if value.is_some() {
                    out.push_str(&alt)
                }
            }
        }
        return Ok(j + close + 1);
    }
    let mut name = String::new();
    while let Some(&(_, c)) = chars.get(j) {
        if c.is_ascii_alphanumeric() || c == '_' {
            name.push(c);
            j += 1;
        } else {
            break;
        }
    }
    if name.is_empty() {
        out.push('$');
        return Ok(i + 1);
    }
    out.push_str(&vars(&name).unwrap_or_default());
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "FROM ubuntu\nENV MY_SERVICE_PORT=80\nLABEL multi.label1=\"value1\" multi.label2=\"value2\" other=\"value3\"\nADD bin/amd64/httpserver /httpserver\nEXPOSE 80\nENTRYPOINT /httpserver\n";

    #[test]
    fn the_seed_dockerfile_parses() {
        let d = parse("Dockerfile", SEED).unwrap();
        assert_eq!(d.instructions.len(), 6);
        assert_eq!(d.instructions[0].inst, Inst::From { image: "ubuntu".into(), alias: None });
        assert_eq!(d.instructions[5].inst, Inst::Entrypoint(CommandForm::Shell("/httpserver".into())));
        assert_eq!(CommandForm::Shell("/httpserver".into()).argv(), ["/bin/sh", "-c", "/httpserver"]);
        assert_eq!(d.instructions[3].line, 4);
    }

    #[test]
    fn continuations_and_comments_join_into_one_instruction() {
        let d = parse("Dockerfile", "# a comment\nFROM scratch\nLABEL a=1 \\\n# inside\n      b=2\n").unwrap();
        assert_eq!(d.instructions.len(), 2);
        assert_eq!(d.instructions[1].inst, Inst::Label("a=1 b=2".into()));
        assert_eq!(d.instructions[1].line, 3);
    }

    #[test]
    fn exec_form_is_json() {
        let d = parse("Dockerfile", "FROM scratch\nCMD [\"/bin/echo\", \"hi\"]\n").unwrap();
        assert_eq!(d.instructions[1].inst, Inst::Cmd(CommandForm::Exec(vec!["/bin/echo".into(), "hi".into()])));
    }

    #[test]
    fn an_unknown_instruction_points_at_its_line_with_a_caret() {
        let err = parse("ctx/Dockerfile", "FROM scratch\n\nRUNN echo hi\n").unwrap_err();
        assert_eq!((err.line, err.column, err.width), (3, 1, 4));
        let shown = err.to_string();
        assert!(shown.starts_with("ctx/Dockerfile:3:1: unknown instruction \"RUNN\" (did you mean RUN?)"), "{shown}");
        assert!(shown.contains(" 3 | RUNN echo hi\n   | ^^^^"), "{shown}");
    }

    #[test]
    fn a_dockerfile_without_from_is_refused() {
        let err = parse("Dockerfile", "ENV A=1\n").unwrap_err();
        assert!(err.message.contains("before FROM"), "{err}");
        let err = parse("Dockerfile", "# nothing\n").unwrap_err();
        assert!(err.message.contains("no FROM"), "{err}");
    }

    #[test]
    fn bad_label_quoting_points_at_the_open_quote() {
        let err = parse("Dockerfile", "FROM scratch\nLABEL a=\"one b=2\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 9), "{err}");
        assert!(err.message.contains("unterminated double quote"), "{err}");
        let err = parse("Dockerfile", "FROM scratch\nLABEL novalue\n").unwrap_err();
        assert!(err.message.contains("key=value"), "{err}");
    }

    #[test]
    fn variables_expand_with_defaults() {
        let vars = |n: &str| (n == "A").then(|| "x".to_string());
        let words = lex("$A ${A}y ${B:-d} '${A}' \"q $A\" ${A:+alt} \\$A", Some(&vars)).unwrap();
        let values: Vec<&str> = words.iter().map(|w| w.value.as_str()).collect();
        assert_eq!(values, ["x", "xy", "d", "${A}", "q x", "alt", "$A"]);
    }

    #[test]
    fn copy_flags_and_json_form() {
        let d = parse("Dockerfile", "FROM scratch\nCOPY --chown=1:2 [\"a b\", \"/c/\"]\n").unwrap();
        let Inst::Copy(c) = &d.instructions[1].inst else { panic!() };
        assert_eq!(c.chown.as_deref(), Some("1:2"));
        assert_eq!(c.paths, ["a b", "/c/"]);
        let err = parse("Dockerfile", "FROM scratch\nCOPY onlyone\n").unwrap_err();
        assert!(err.message.contains("at least one source"), "{err}");
    }
}
