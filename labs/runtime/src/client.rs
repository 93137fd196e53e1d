//! lcrun (`labctl runtime --root ROOT …`) as a child process, for the labs that make containers
//! from the lab runner: the runner holds a signal thread, and the runtime forks only from a
//! single-threaded process.

use anyhow::{bail, Context};
use labkit::{Ctx, Undo};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// lcrun's command line: this labctl binary, a state root, and a directory for the inits' output.
pub struct Client {
    pub exe: PathBuf,
    pub root: PathBuf,
    pub base: PathBuf,
}

/// What one runtime command answered.
pub struct Answer {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Client {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("runtime").arg("--root").arg(&self.root).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs `args`; a refusal is an answer, not an error.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Answer> {
        let out = self.command(args).output().with_context(|| format!("running labctl runtime {}", args.join(" ")))?;
        Ok(Answer {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// Runs `args`; its stdout, or an error with its stderr.
    pub fn run_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let a = self.run(args)?;
        if !a.ok {
            bail!("labctl runtime {}: {}", args.join(" "), a.stderr);
        }
        Ok(a.stdout)
    }

    pub fn delete_undo(&self, id: &str) -> Undo {
        let mut argv: Vec<String> = vec![self.exe.display().to_string(), "runtime".into(), "--root".into()];
        argv.extend([self.root.display().to_string(), "delete".into(), "--force".into(), id.into()]);
        Undo::Command { argv }
    }

    /// `lcrun create [EXTRA…] --bundle BUNDLE ID`: registers `lcrun delete --force` first, then the
    /// init's kill. The init inherits create's stdio (as with runc), so its output goes to
    /// BASE/ID.log, not a pipe we would wait on. Err(what it wrote) when the runtime refused.
    pub fn create(&self, ctx: &Ctx, id: &str, bundle: &Path, extra: &[&str]) -> anyhow::Result<Result<i32, String>> {
        ctx.register(self.delete_undo(id));
        let log = self.base.join(format!("{id}.log"));
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut args = vec!["create", "--bundle", bundle.to_str().context("bundle path")?];
        args.extend_from_slice(extra);
        args.push(id);
        let status = self
            .command(&args)
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()
            .context("running labctl runtime create")?;
        if !status.success() {
            return Ok(Err(std::fs::read_to_string(&log).unwrap_or_default().trim().to_string()));
        }
        let pid = self.pid(id)?;
        let start_time = labkit::sys::process_start_time(pid).context("the container's init is gone")?;
        ctx.register(Undo::Kill { pid, start_time });
        Ok(Ok(pid))
    }

    /// `lcrun state ID`, parsed.
    pub fn state(&self, id: &str) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&self.run_ok(&["state", id])?).context("lcrun state JSON")
    }

    /// The init's pid, from `lcrun state`.
    pub fn pid(&self, id: &str) -> anyhow::Result<i32> {
        Ok(self.state(id)?["pid"].as_i64().context("lcrun state has no pid")? as i32)
    }

    /// The container's status (created, running, stopped), from `lcrun state`.
    pub fn status(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.state(id)?["status"].as_str().unwrap_or("?").to_string())
    }

    pub fn start(&self, id: &str) -> anyhow::Result<()> {
        self.run_ok(&["start", id]).map(drop)
    }

    /// `lcrun exec [--user U] ID ARGS…`.
    pub fn exec(&self, id: &str, user: Option<&str>, args: &[&str]) -> anyhow::Result<Answer> {
        let mut all = vec!["exec"];
        if let Some(user) = user {
            all.extend(["--user", user]);
        }
        all.push(id);
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `lcrun delete [--force] ID`, and forgets the undos that `create` registered.
    pub fn delete(&self, ctx: &Ctx, id: &str, force: bool, pid: Option<i32>) -> anyhow::Result<()> {
        let args: &[&str] = if force { &["delete", "--force", id] } else { &["delete", id] };
        self.run_ok(args)?;
        ctx.cleanup().forget(&self.delete_undo(id));
        if let Some(pid) = pid {
            if let Some(start_time) = labkit::sys::process_start_time(pid) {
                ctx.cleanup().forget(&Undo::Kill { pid, start_time });
            }
        }
        Ok(())
    }
}
