//! `lab.yaml`: each topic crate's typed, versioned manifest of labs, steps, quiz and challenge.

use crate::text::{Lang, Text};
use serde::{Deserialize, Serialize};

/// The manifest format this engine reads. Bump it when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub labs: Vec<LabDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabDef {
    pub id: String,
    pub title: Text,
    pub summary: Text,
    /// The heading of the course notes this lab covers, e.g. `资源隔离 Namespace`.
    pub seed_section: String,
    #[serde(default)]
    pub requirements: Requirements,
    pub steps: Vec<StepDef>,
    #[serde(default)]
    pub quiz: Vec<QuizItem>,
    pub challenge: Challenge,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    #[serde(default)]
    pub root: bool,
    /// Namespace types as named in /proc/self/ns (net, pid, mnt, uts, ipc, user, cgroup, time).
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub cgroup_controllers: Vec<String>,
    #[serde(default)]
    pub overlay: bool,
    #[serde(default)]
    pub netfilter: bool,
    #[serde(default)]
    pub bridge: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub id: String,
    pub title: Text,
    /// What we do and why, shown before acting.
    pub narration: Text,
    /// The equivalent shell command(s) a learner could type.
    #[serde(default)]
    pub command: Option<String>,
    /// What the observed state means; may name values the step read as `{name}`.
    pub explanation: Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizItem {
    pub question: Text,
    pub choices: Vec<Text>,
    /// Index into `choices`, from 0.
    pub answer: usize,
    pub why: Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub task: Text,
    #[serde(default)]
    pub hints: Vec<Text>,
}

/// A manifest that could not be read, with the file and position (0 when unknown).
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", if *line > 0 { format!(":{line}:{column}") } else { String::new() })]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Manifest {
    /// Parses and validates a manifest written in YAML; `file` names it in errors.
    pub fn parse(file: &str, yaml: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_yaml_ng::from_str(yaml).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            ManifestError { file: file.to_string(), line, column, message: e.to_string() }
        })?;
        Manifest::validated(manifest, file, |anchor| find_line(yaml, anchor))
    }

    /// Parses and validates the JSON form that the topic crates embed (converted from their YAML
    /// at build time). Positions refer to the JSON, so errors name only the YAML file; `labctl
    /// dev check` reports the same problem with its YAML line.
    pub fn parse_json(file: &str, json: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_str(json).map_err(|e| ManifestError {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        Manifest::validated(manifest, file, |_| 0)
    }

    fn validated(
        mut manifest: Manifest,
        file: &str,
        line_of: impl Fn(&str) -> usize,
    ) -> Result<Manifest, ManifestError> {
        let problems = manifest.problems();
        if let Some(first) = problems.first() {
            let line = line_of(&first.anchor);
            return Err(ManifestError { file: file.to_string(), line, column: 1, message: first.message.clone() });
        }
        for lab in &mut manifest.labs {
            lab.texts_mut().into_iter().for_each(Text::tidy_zh);
        }
        Ok(manifest)
    }

    pub fn lab(&self, id: &str) -> Option<&LabDef> {
        self.labs.iter().find(|l| l.id == id)
    }

    /// Everything wrong with a parsed manifest that serde cannot see.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.format_version != FORMAT_VERSION {
            out.push(Problem {
                anchor: "format_version".into(),
                message: format!(
                    "format_version {} is not supported: this labctl reads format_version {FORMAT_VERSION}",
                    self.format_version
                ),
            });
        }
        for lab in &self.labs {
            lab.collect_problems(&mut out);
        }
        out
    }
}

/// A validation problem; `anchor` is a string to look for in the YAML to report a line.
#[derive(Debug, Clone)]
pub struct Problem {
    pub anchor: String,
    pub message: String,
}

impl LabDef {
    fn collect_problems(&self, out: &mut Vec<Problem>) {
        let lab = &self.id;
        let mut texts: Vec<(String, &Text)> = vec![
            (format!("lab {lab}: title"), &self.title),
            (format!("lab {lab}: summary"), &self.summary),
            (format!("lab {lab}: challenge task"), &self.challenge.task),
        ];
        if !valid_id(lab) {
            out.push(Problem {
                anchor: format!("id: {lab}"),
                message: format!("lab id {lab:?} must be lowercase letters, digits and '-'"),
            });
        }
        if self.steps.is_empty() {
            out.push(Problem { anchor: format!("id: {lab}"), message: format!("lab {lab} has no steps") });
        }
        let mut seen = std::collections::HashSet::new();
        for step in &self.steps {
            if !seen.insert(step.id.as_str()) {
                out.push(Problem {
                    anchor: format!("id: {}", step.id),
                    message: format!("lab {lab}: step id {:?} appears twice", step.id),
                });
            }
            if !valid_id(&step.id) {
                out.push(Problem {
                    anchor: format!("id: {}", step.id),
                    message: format!("lab {lab}: step id {:?} must be lowercase letters, digits and '-'", step.id),
                });
            }
            texts.push((format!("lab {lab}, step {}: title", step.id), &step.title));
            texts.push((format!("lab {lab}, step {}: narration", step.id), &step.narration));
            texts.push((format!("lab {lab}, step {}: explanation", step.id), &step.explanation));
        }
        for (n, q) in self.quiz.iter().enumerate() {
            if q.choices.len() < 2 || q.answer >= q.choices.len() {
                out.push(Problem {
                    anchor: q.question.en.chars().take(30).collect(),
                    message: format!(
                        "lab {lab}, quiz question {}: answer {} must index one of {} choices (from 0)",
                        n + 1,
                        q.answer,
                        q.choices.len()
                    ),
                });
            }
            texts.push((format!("lab {lab}, quiz {}: question", n + 1), &q.question));
            texts.push((format!("lab {lab}, quiz {}: why", n + 1), &q.why));
            for c in &q.choices {
                texts.push((format!("lab {lab}, quiz {}: choice", n + 1), c));
            }
        }
        for h in &self.challenge.hints {
            texts.push((format!("lab {lab}: challenge hint"), h));
        }
        for (what, text) in texts {
            for lang in text.missing() {
                out.push(Problem {
                    anchor: text.get(Lang::En).chars().take(30).collect(),
                    message: format!("{what} lacks its {lang} text"),
                });
            }
        }
    }

    /// Every text of the lab, for normalisation.
    fn texts_mut(&mut self) -> Vec<&mut Text> {
        let mut out = vec![&mut self.title, &mut self.summary, &mut self.challenge.task];
        out.extend(self.challenge.hints.iter_mut());
        for step in &mut self.steps {
            out.extend([&mut step.title, &mut step.narration, &mut step.explanation]);
        }
        for q in &mut self.quiz {
            out.extend([&mut q.question, &mut q.why]);
            out.extend(q.choices.iter_mut());
        }
        out
    }

    pub fn step(&self, id: &str) -> Option<(usize, &StepDef)> {
        self.steps.iter().enumerate().find(|(_, s)| s.id == id)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn find_line(yaml: &str, anchor: &str) -> usize {
    if anchor.is_empty() {
        return 0;
    }
    yaml.lines().position(|l| l.contains(anchor)).map(|n| n + 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
format_version: 1
labs:
  - id: demo
    title: {en: Demo, zh: 演示}
    summary: {en: A demo, zh: 一个演示}
    seed_section: 资源隔离 Namespace
    requirements: {root: true, namespaces: [net]}
    steps:
      - id: first
        title: {en: First, zh: 第一步}
        narration: {en: We act, zh: 我们动手}
        command: unshare -fn sleep infinity
        explanation: {en: "inode {inode}", zh: "inode 是 {inode}"}
    quiz:
      - question: {en: Q?, zh: 问？}
        choices: [{en: a, zh: 甲}, {en: b, zh: 乙}]
        answer: 1
        why: {en: because, zh: 因为}
    challenge:
      task: {en: Do it, zh: 做吧}
      hints: [{en: hint, zh: 提示}]
"#;

    #[test]
    fn a_complete_manifest_parses() {
        let m = Manifest::parse("lab.yaml", GOOD).unwrap();
        assert_eq!(m.labs[0].steps[0].id, "first");
        assert!(m.labs[0].requirements.root);
    }

    #[test]
    fn unknown_keys_are_rejected_with_file_and_line() {
        let bad = GOOD.replace("    seed_section:", "    colour: blue\n    seed_section:");
        let err = Manifest::parse("labs/x/lab.yaml", &bad).unwrap_err();
        assert_eq!(err.file, "labs/x/lab.yaml");
        assert!(err.line > 0, "{err}");
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn a_text_without_chinese_is_a_problem_naming_where() {
        let bad = GOOD.replace("narration: {en: We act, zh: 我们动手}", "narration: {en: We act, zh: ''}");
        let err = Manifest::parse("lab.yaml", &bad).unwrap_err();
        assert!(err.message.contains("step first: narration lacks its zh text"), "{err}");
        assert!(err.line > 0);
    }

    #[test]
    fn a_text_without_english_key_fails_to_parse() {
        let bad = GOOD.replace("title: {en: First, zh: 第一步}", "title: {zh: 第一步}");
        let err = Manifest::parse("lab.yaml", &bad).unwrap_err();
        assert!(err.message.contains("missing field `en`"), "{err}");
    }

    #[test]
    fn a_future_format_version_is_refused() {
        let bad = GOOD.replace("format_version: 1", "format_version: 9");
        let err = Manifest::parse("lab.yaml", &bad).unwrap_err();
        assert!(err.message.contains("format_version 9"), "{err}");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn a_quiz_answer_out_of_range_is_a_problem() {
        let bad = GOOD.replace("answer: 1", "answer: 5");
        let err = Manifest::parse("lab.yaml", &bad).unwrap_err();
        assert!(err.message.contains("answer 5"), "{err}");
    }

    #[test]
    fn duplicate_step_ids_are_a_problem() {
        let step = "      - id: first\n        title: {en: First, zh: 第一步}\n        narration: {en: We act, zh: 我们动手}\n        explanation: {en: x, zh: 叉}\n";
        let bad = GOOD.replace("    quiz:", &format!("{step}    quiz:"));
        let err = Manifest::parse("lab.yaml", &bad).unwrap_err();
        assert!(err.message.contains("appears twice"), "{err}");
    }
}
