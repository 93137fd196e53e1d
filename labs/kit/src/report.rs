//! What a lab run produced: one report per step, rendered by any renderer.

use crate::fact::Fact;
use crate::observe::Observation;
use serde::{Deserialize, Serialize};

/// A check a step made on what it observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub label: String,
    pub expected: String,
    pub found: Fact,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// An operation failed, and that failure is the lesson (EBUSY from pivot_root, say).
    ExpectedFailure,
}

/// One step as run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub index: usize,
    pub total: usize,
    pub id: String,
    pub title: String,
    pub narration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub observations: Vec<Observation>,
    /// The explanation with `{name}` placeholders filled from `values`.
    pub explanation: String,
    /// Values the step read and named for the explanation.
    pub values: Vec<(String, Fact)>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StepReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.checks.iter().all(|c| c.outcome != Outcome::Failed)
    }

    /// A copy with volatile values replaced, so JSON and text agree under `--redact`.
    pub fn redacted(&self, explanation_template: &str) -> StepReport {
        let values: Vec<(String, Fact)> = self.values.iter().map(|(k, v)| (k.clone(), v.redacted())).collect();
        StepReport {
            observations: self.observations.iter().map(Observation::redacted).collect(),
            explanation: fill(explanation_template, &self.values, true),
            values,
            checks: self.checks.iter().map(|c| Check { found: c.found.redacted(), ..c.clone() }).collect(),
            ..self.clone()
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The JSON schema version of this document (see book: "JSON output").
    pub schema: u32,
    pub lab: String,
    pub title: String,
    pub lang: String,
    pub steps: Vec<StepReport>,
    pub passed: bool,
    pub cleanup: Vec<String>,
    /// The step (from 1) a run stopped before, when it did not reach its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<usize>,
}

pub const JSON_SCHEMA: u32 = 1;

/// Fills `{name}` placeholders; unknown names are left visible so the maintainer check can flag them.
pub fn fill(template: &str, values: &[(String, Fact)], redact: bool) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                let name = &after[..close];
                match values.iter().find(|(k, _)| k == name) {
                    Some((_, fact)) => out.push_str(&fact.show(redact)),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{name}` placeholders a template uses.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                names.push(after[..close].to_string());
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    names
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_substitutes_and_redacts_volatile_values() {
        let values = vec![("inode".to_string(), Fact::Inode(4026532000)), ("n".to_string(), Fact::Number(1))];
        assert_eq!(fill("net:[{inode}] has {n} iface", &values, false), "net:[4026532000] has 1 iface");
        assert_eq!(fill("net:[{inode}] has {n} iface", &values, true), "net:[[inode]] has 1 iface");
    }

    #[test]
    fn fill_leaves_unknown_names_and_non_names_alone() {
        assert_eq!(fill("{missing} {not a name} {}", &[], false), "{missing} {not a name} {}");
        assert_eq!(placeholders("a {x} b {y_2} {not one}"), vec!["x", "y_2"]);
    }
}
