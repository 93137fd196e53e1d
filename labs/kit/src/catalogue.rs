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
    /// The crate's directory in the repository (`labs/namespaces`).
    pub fn dir(&self) -> &'static str {
        self.manifest_path.rsplit_once('/').map_or(".", |(dir, _)| dir)
    }

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
    /// Each topic's directory with the (id, source file) of each lab it registers.
    pub layouts: Vec<(&'static str, Vec<(&'static str, &'static str)>)>,
}

impl Catalogue {
    pub fn load(topics: Vec<Topic>) -> Result<Catalogue, ManifestError> {
        let mut entries = Vec::new();
        let mut orphans = Vec::new();
        let mut layouts = Vec::new();
        for topic in topics {
            let manifest = topic.manifest()?;
            layouts.push((topic.dir(), topic.labs.iter().map(|l| (l.id(), l.source())).collect()));
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
        Ok(Catalogue { entries, orphans, layouts })
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
        for (dir, labs) in &self.layouts {
            out.extend(layout_problems(root, dir, labs));
        }
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

/// Where a lab's code lives: `TOPIC_DIR/src/labs/SUFFIX.rs`, the suffix being the id after its
/// first `-` (`ns-net` → `net.rs`, `image-build` → `build.rs`), or the whole id when it has none
/// (`overlay` → `overlay.rs`); further dashes become underscores (a module name).
pub fn lab_source_path(topic_dir: &str, id: &str) -> String {
    let suffix = id.split_once('-').map_or(id, |(_, rest)| rest).replace('-', "_");
    format!("{topic_dir}/src/labs/{suffix}.rs")
}

/// One path per lab: each lab of the topic at `topic_dir` is declared in its
/// [`lab_source_path`], and `src/labs/` holds nothing but those files and `mod.rs` (what the
/// labs share). `labs` are (id, source file) pairs; `root` is the repository.
pub fn layout_problems(root: &Path, topic_dir: &str, labs: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    let expected: Vec<String> = labs.iter().map(|(id, _)| lab_source_path(topic_dir, id)).collect();
    for ((id, source), want) in labs.iter().zip(&expected) {
        if *source != want.as_str() {
            out.push(format!(
                "lab {id}: its code is in {source}; move it to {want} (one file per lab, named by its id)"
            ));
        }
    }
    let dir = root.join(topic_dir).join("src/labs");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    found.sort();
    for name in found {
        let path = format!("{topic_dir}/src/labs/{name}");
        if name != "mod.rs" && !expected.contains(&path) {
            out.push(format!(
                "{path}: not the file of a lab of {topic_dir}/lab.yaml; src/labs/ holds mod.rs and one file per lab"
            ));
        }
    }
    out
}

/// Where a lab's chapter lives in each language's book.
pub fn chapter_path(id: &str, lang: &str) -> String {
    format!("book/{lang}/src/labs/{id}.md")
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment), so
/// the typo `ns-nte` is closest to `ns-net`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_file_is_named_by_the_id_suffix() {
        assert_eq!(lab_source_path("labs/namespaces", "ns-net"), "labs/namespaces/src/labs/net.rs");
        assert_eq!(lab_source_path("labs/net", "net-bridge"), "labs/net/src/labs/bridge.rs");
        assert_eq!(lab_source_path("labs/overlay", "overlay"), "labs/overlay/src/labs/overlay.rs");
        assert_eq!(lab_source_path("labs/image", "image-build"), "labs/image/src/labs/build.rs");
        assert_eq!(lab_source_path("labs/x", "x-two-words"), "labs/x/src/labs/two_words.rs");
    }

    /// A repository with `labs/t/src/labs/` holding `files`.
    fn repo_with(files: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("labs/t/src/labs");
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        root
    }

    #[test]
    fn labs_in_their_own_files_pass() {
        let root = repo_with(&["mod.rs", "one.rs", "two.rs"]);
        let labs = [("t-one", "labs/t/src/labs/one.rs"), ("t-two", "labs/t/src/labs/two.rs")];
        assert_eq!(layout_problems(root.path(), "labs/t", &labs), Vec::<String>::new());
    }

    #[test]
    fn a_lab_declared_elsewhere_is_rejected() {
        let root = repo_with(&["mod.rs"]);
        let problems = layout_problems(root.path(), "labs/t", &[("t-net", "labs/t/src/net.rs")]);
        assert_eq!(
            problems,
            ["lab t-net: its code is in labs/t/src/net.rs; move it to labs/t/src/labs/net.rs (one file per lab, named by its id)"]
        );
    }

    #[test]
    fn a_stray_file_in_src_labs_is_rejected() {
        let root = repo_with(&["mod.rs", "one.rs", "helpers.rs"]);
        let problems = layout_problems(root.path(), "labs/t", &[("t-one", "labs/t/src/labs/one.rs")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("labs/t/src/labs/helpers.rs: not the file of a lab"), "{problems:?}");
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("ns-nte", "ns-net"), 1);
        assert_eq!(edit_distance("ns-nte", "ns-enter"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}

/// A course part's heading in `lang`. Labs name their part by the course notes' own (Chinese)
/// heading; English shows the English name with that heading as a subtitle. None for a
/// heading this table does not know (`labctl dev check` reports it).
pub fn part_heading(seed_section: &str, lang: crate::Lang) -> Option<String> {
    let (english, chinese) = match seed_section {
        "资源隔离 Namespace" => ("Namespaces", seed_section),
        "资源配额 Cgroups" => ("Cgroups", seed_section),
        "Union FS" => ("Union FS", seed_section),
        "网络" => ("Network", seed_section),
        "构建镜像" => ("Images", seed_section),
        "Runtime" => ("Runtime", "容器运行时 Runtime"),
        _ => return None,
    };
    Some(match lang {
        crate::Lang::Zh => chinese.to_string(),
        crate::Lang::En if english == seed_section => english.to_string(),
        crate::Lang::En => format!("{english} ({seed_section})"),
    })
}

#[cfg(test)]
mod part_tests {
    use super::*;

    #[test]
    fn english_headings_are_english_with_the_course_heading_as_subtitle() {
        assert_eq!(part_heading("网络", crate::Lang::En).as_deref(), Some("Network (网络)"));
        assert_eq!(part_heading("Union FS", crate::Lang::En).as_deref(), Some("Union FS"));
        assert_eq!(part_heading("网络", crate::Lang::Zh).as_deref(), Some("网络"));
        assert_eq!(part_heading("Runtime", crate::Lang::Zh).as_deref(), Some("容器运行时 Runtime"));
        assert_eq!(part_heading("somewhere", crate::Lang::En), None);
    }
}
