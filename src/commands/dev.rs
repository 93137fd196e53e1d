//! `labctl dev check`: the maintainer check CI runs.

use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Fail when a manifest step lacks its function (or the reverse), a text lacks en or zh, a lab
    /// lacks its reference snapshot or a book chapter, or a lab's code is not in
    /// labs/<topic>/src/labs/<id suffix>.rs
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
