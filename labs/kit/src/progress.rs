//! The learner's progress: labs completed and quiz scores, in a small JSON file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    #[serde(default)]
    pub labs: BTreeMap<String, LabProgress>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LabProgress {
    /// Runs where every check passed.
    #[serde(default)]
    pub completed_runs: u32,
    /// Best quiz score as (correct, total).
    #[serde(default)]
    pub quiz_best: Option<(u32, u32)>,
    #[serde(default)]
    pub challenge_passed: bool,
}

impl Progress {
    pub fn default_path() -> PathBuf {
        crate::paths::learner_dir().join("progress.json")
    }

    /// Reads progress; a missing file is an empty record, a corrupt one an error (never
    /// silently overwritten: that would lose the learner's record).
    pub fn load(path: &Path) -> Result<Progress, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!("{} is not a labctl progress file ({e}); move it away to start afresh", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Progress::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).expect("progress serialises");
        std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
        crate::paths::give_to_learner(path);
        if let Some(dir) = path.parent() {
            crate::paths::give_to_learner(dir);
        }
        Ok(())
    }

    pub fn record_run(&mut self, lab: &str) {
        self.labs.entry(lab.to_string()).or_default().completed_runs += 1;
    }

    pub fn record_quiz(&mut self, lab: &str, correct: u32, total: u32) {
        let entry = self.labs.entry(lab.to_string()).or_default();
        let better = entry.quiz_best.is_none_or(|(best, _)| correct > best);
        if better {
            entry.quiz_best = Some((correct, total));
        }
    }

    pub fn record_challenge(&mut self, lab: &str) {
        self.labs.entry(lab.to_string()).or_default().challenge_passed = true;
    }

    /// The mark `labctl list` shows: ✓ completed, · not yet.
    pub fn mark(&self, lab: &str) -> &'static str {
        match self.labs.get(lab) {
            Some(p) if p.completed_runs > 0 => "✓",
            _ => "·",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_keeps_the_best_quiz() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/progress.json");
        let mut p = Progress::load(&path).unwrap();
        p.record_run("ns-net");
        p.record_quiz("ns-net", 2, 3);
        p.record_quiz("ns-net", 1, 3);
        p.save(&path).unwrap();
        let back = Progress::load(&path).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.labs["ns-net"].quiz_best, Some((2, 3)));
        assert_eq!(back.mark("ns-net"), "✓");
        assert_eq!(back.mark("ns-pid"), "·");
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress.json");
        std::fs::write(&path, "not json").unwrap();
        let err = Progress::load(&path).unwrap_err();
        assert!(err.contains("not a labctl progress file"), "{err}");
    }
}
