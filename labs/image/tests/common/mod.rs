//! Shared helpers for the image tests: a temp state dir, the labimage binary, contexts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn store(&self) -> labimage::Store {
        labimage::Store::open(self.state().join("images")).expect("open store")
    }

    /// `labimage ARGS` with LABCTL_STATE_DIR set to this env.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_labimage"))
            .args(args)
            .env("LABCTL_STATE_DIR", self.state())
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run labimage")
    }

    /// A context directory with files (path, content).
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.dir.path().join(name);
        for (path, content) in files {
            let p = ctx.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
        }
        std::fs::create_dir_all(&ctx).unwrap();
        ctx
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Fails with the command's output when it did not succeed.
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "failed: {}\n{}", stdout(&o), stderr(&o));
    o
}

/// Asserts failure with a message containing every `needle`.
pub fn fails_with(o: Output, needles: &[&str]) -> String {
    assert!(!o.status.success(), "expected failure, got success: {}", stdout(&o));
    let err = stderr(&o);
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in:\n{err}");
    }
    err
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
