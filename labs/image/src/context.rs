//! The build context: the directory sent to the builder, minus what `.dockerignore` excludes,
//! and the resolution of ADD/COPY sources inside it (never outside).

use globset::GlobMatcher;
use std::path::{Path, PathBuf};

/// `.dockerignore` rules: Go `filepath.Match` patterns plus `**`, `!` to re-include; the
/// last matching rule wins; a rule matching a directory excludes what is below it.
#[derive(Debug, Default)]
pub struct Ignore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pat = crate::layer::resolve_in_root(pat);
            if pat.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&pat)
                .literal_separator(true)
                .build()
                .map_err(|e| format!(".dockerignore:{}: bad pattern {pat:?}: {e}", n + 1))?;
            rules.push((glob.compile_matcher(), negate));
        }
        Ok(Ignore { rules })
    }

    pub fn load(context: &Path) -> Result<Ignore, String> {
        match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => Ignore::parse(&text),
            Err(_) => Ok(Ignore::default()),
        }
    }

    /// Is `rel` (relative to the context, `/`-separated) excluded?
    pub fn excluded(&self, rel: &str) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        // Check the path and every ancestor: excluding `dir` excludes `dir/x`.
        let mut prefixes = Vec::new();
        let mut acc = String::new();
        for comp in rel.split('/') {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(comp);
            prefixes.push(acc.clone());
        }
        let mut excluded = false;
        for p in &prefixes {
            for (glob, negate) in &self.rules {
                if glob.is_match(p) {
                    excluded = !negate;
                }
            }
        }
        excluded
    }
}

/// One file system object of the context, as found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Relative to the context root, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
}

/// A source that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    Outside(String),
    Missing(String),
    Ignored(String),
    NoMatch(String),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Outside(s) => write!(
                f,
                "source {s:?} is outside the build context: only files under the context directory can be added"
            ),
            SourceError::Missing(s) => write!(f, "source {s:?} not found in the build context"),
            SourceError::Ignored(s) => write!(f, "source {s:?} is excluded by .dockerignore"),
            SourceError::NoMatch(s) => write!(f, "no file in the build context matches {s:?}"),
        }
    }
}

pub struct Context {
    pub root: PathBuf,
    pub ignore: Ignore,
}

impl Context {
    pub fn open(root: &Path) -> Result<Context, String> {
        let root = root.canonicalize().map_err(|e| format!("build context {}: {e}", root.display()))?;
        if !root.is_dir() {
            return Err(format!("build context {} is not a directory", root.display()));
        }
        Ok(Context { ignore: Ignore::load(&root)?, root })
    }

    /// Resolves an ADD/COPY source (possibly a glob) to context entries, sorted.
    pub fn resolve(&self, source: &str) -> Result<Vec<Found>, SourceError> {
        // Lexically: `a/../b` is fine, `../b` climbs out.
        let mut depth: i32 = 0;
        let mut comps: Vec<&str> = Vec::new();
        for c in source.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(SourceError::Outside(source.to_string()));
                    }
                    comps.pop();
                }
                c => {
                    depth += 1;
                    comps.push(c);
                }
            }
        }
        let rel = comps.join("/");
        if rel.contains(['*', '?', '[']) {
            let glob = globset::GlobBuilder::new(&rel)
                .literal_separator(true)
                .build()
                .map_err(|_| SourceError::NoMatch(source.to_string()))?
                .compile_matcher();
            let mut found = Vec::new();
            self.walk(&self.root, "", &mut |f| {
                if glob.is_match(&f.rel) {
                    found.push(f.clone());
                }
            });
            if found.is_empty() {
                return Err(SourceError::NoMatch(source.to_string()));
            }
            // A matched directory brings its content; do not list its children twice.
            let dirs: Vec<String> = found.iter().filter(|f| f.path.is_dir()).map(|f| f.rel.clone()).collect();
            found.retain(|f| !dirs.iter().any(|d| f.rel.starts_with(&format!("{d}/"))));
            return Ok(found);
        }
        let path = self.root.join(&rel);
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(SourceError::Missing(source.to_string()));
        }
        // A symlink may still lead out of the context.
        if let Ok(real) = path.canonicalize() {
            if !real.starts_with(&self.root) {
                return Err(SourceError::Outside(source.to_string()));
            }
        }
        if !rel.is_empty() && self.ignore.excluded(&rel) {
            return Err(SourceError::Ignored(source.to_string()));
        }
        Ok(vec![Found { rel, path }])
    }

    /// Every non-excluded entry under `dir` (recursively), sorted by name.
    pub fn walk(&self, dir: &Path, rel: &str, f: &mut dyn FnMut(&Found)) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            let child_rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if self.ignore.excluded(&child_rel) {
                continue;
            }
            let found = Found { rel: child_rel.clone(), path: e.path() };
            f(&found);
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                self.walk(&e.path(), &child_rel, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_excludes_directories_and_exceptions_reinclude() {
        let ig = Ignore::parse("# comment\n*.log\nbuild\n!build/keep.txt\n").unwrap();
        assert!(ig.excluded("a.log"));
        assert!(!ig.excluded("sub/a.log"), "a single * does not cross /");
        assert!(ig.excluded("build/x"));
        assert!(!ig.excluded("build/keep.txt"));
        let ig = Ignore::parse("**/*.tmp").unwrap();
        assert!(ig.excluded("a/b/c.tmp"));
    }

    #[test]
    fn sources_outside_the_context_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "a").unwrap();
        let ctx = Context::open(dir.path()).unwrap();
        assert_eq!(ctx.resolve("../etc/passwd").unwrap_err(), SourceError::Outside("../etc/passwd".into()));
        assert_eq!(ctx.resolve("x/../a").unwrap()[0].rel, "a");
        assert_eq!(ctx.resolve("missing").unwrap_err(), SourceError::Missing("missing".into()));
        assert_eq!(ctx.resolve("*.txt").unwrap_err(), SourceError::NoMatch("*.txt".into()));
    }
}
