//! All labs: each topic crate contributes its embedded manifest and its walkthroughs; the
//! catalogue pairs every manifest lab with its code and runs the maintainer checks.

use crate::manifest::{LabDef, Manifest, ManifestError};
use crate::runner::Lab;
use std::path::Path;

/// One topic crate's contribution.
pub struct Topic {
    /// The manifest's path in the repository, for error messages (`labs/namespaces/lab.yaml`).
    pub manifest_path: &'static str,
    /// The manifest as JSON, converted from `lab.yaml` at build time by `labs/kit/build_manifest.rs`
    /// and embedded with `include_str!`.
    pub manifest_json: &'static str,
    pub labs: Vec<&'static dyn Lab>,
}

impl Topic {
    /// Parses and validates the embedded manifest.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse_json(self.manifest_path, self.manifest_json)
    }
}

pub struct Entry {
    pub def: LabDef,
    pub code: Option<&'static dyn Lab>,
}

/// Every lab in course order.
pub struct Catalogue {
    pub entries: Vec<Entry>,
    /// Code with no manifest lab (a maintainer error).
    pub orphans: Vec<&'static str>,
}

impl Catalogue {
    pub fn load(topics: Vec<Topic>) -> Result<Catalogue, ManifestError> {
        let mut entries = Vec::new();
        let mut orphans = Vec::new();
        for topic in topics {
            let manifest = topic.manifest()?;
            for lab in &topic.labs {
                if manifest.lab(lab.id()).is_none() {
                    orphans.push(lab.id());
                }
            }
            for def in manifest.labs {
                let code = topic.labs.iter().copied().find(|l| l.id() == def.id);
                entries.push(Entry { def, code });
            }
        }
        Ok(Catalogue { entries, orphans })
    }

    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.def.id == id)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.def.id.as_str()).collect()
    }

    /// The closest known id, for "did you mean".
    pub fn suggest(&self, wrong: &str) -> Option<&str> {
        self.ids()
            .into_iter()
            .map(|id| (edit_distance(wrong, id), id))
            .filter(|(d, id)| *d <= 3.max(id.len() / 3))
            .min()
            .map(|(_, id)| id)
    }

    /// Maintainer problems: manifest steps without code and the reverse, labs without a
    /// reference snapshot or a book chapter in each language. `root` is the repository.
    pub fn problems(&self, root: &Path) -> Vec<String> {
        let mut out: Vec<String> =
            self.orphans.iter().map(|id| format!("lab {id}: code exists but no lab.yaml entry")).collect();
        for entry in &self.entries {
            let id = &entry.def.id;
            match entry.code {
                None => out.push(format!("lab {id}: in lab.yaml but no walkthrough code is registered")),
                Some(code) => {
                    let bound = code.step_ids();
                    let declared: Vec<&str> = entry.def.steps.iter().map(|s| s.id.as_str()).collect();
                    for step in &declared {
                        if !bound.contains(step) {
                            out.push(format!("lab {id}: step {step} has no step function"));
                        }
                    }
                    for step in &bound {
                        if !declared.contains(step) {
                            out.push(format!("lab {id}: step function {step} has no lab.yaml step"));
                        }
                    }
                    if bound != declared && bound.len() == declared.len() {
                        out.push(format!(
                            "lab {id}: step functions are not in lab.yaml order: {bound:?} vs {declared:?}"
                        ));
                    }
                }
            }
            // Labs whose output depends on the cgroup world keep one transcript per world.
            let worlds: &[&str] =
                if entry.def.requirements.cgroup_controllers.is_empty() { &[""] } else { &["@v1", "@v2"] };
            for world in worlds {
                let snapshot = root.join(snapshot_path(&format!("{id}_en{world}")));
                if !snapshot.exists() {
                    out.push(format!("lab {id}: no reference snapshot {}", snapshot.display()));
                }
            }
            for lang in ["en", "zh"] {
                let chapter = root.join(chapter_path(id, lang));
                match std::fs::read_to_string(&chapter) {
                    Err(_) => out.push(format!("lab {id}: no book chapter {}", chapter.display())),
                    Ok(text) => {
                        if !text.contains(&format!("snapshots/labs__{id}")) {
                            out.push(format!(
                                "lab {id}: chapter {} does not include its reference transcript",
                                chapter.display()
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Where a reference transcript lives (written by `tests/labs.rs` through insta): `name` is
/// `ID_LANG`, with `@v1`/`@v2` for labs that differ between cgroup worlds.
pub fn snapshot_path(name: &str) -> String {
    format!("tests/snapshots/labs__{name}.snap")
}

/// Where a lab's chapter lives in each language's book.
pub fn chapter_path(id: &str, lang: &str) -> String {
    format!("book/{lang}/src/labs/{id}.md")
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment), so
/// the typo `ns-nte` is closest to `ns-net`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("ns-nte", "ns-net"), 1);
        assert_eq!(edit_distance("ns-nte", "ns-enter"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
