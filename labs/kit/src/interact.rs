//! Prompts and the `--explore` shell. Nothing here ever blocks without a terminal.

use crate::text::Lang;
use anyhow::{bail, Context};

/// Prompts need a terminal on stdin (to read) and stderr (to draw).
pub fn can_prompt() -> bool {
    crate::sys::stdin_is_tty() && crate::sys::stderr_is_tty()
}

/// What the presenter answered at a `--pause` prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Continue,
    Quit,
}

/// The `--pause` prompt, shown under the step's title: Enter runs the step, `q` quits.
pub fn wait_for_enter(lang: Lang, step: usize, total: usize) -> anyhow::Result<Pause> {
    if !can_prompt() {
        bail!("--pause needs a terminal (stdin and stderr): run it interactively or drop --pause");
    }
    let prompt = match lang {
        Lang::En => format!("[step {step}/{total}] Enter: run this step · q: quit"),
        Lang::Zh => format!("[步骤 {step}/{total}] 回车：执行这一步 · q：退出"),
    };
    eprint!("{prompt} ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).context("reading Enter")? == 0 {
        bail!("the terminal closed while waiting for Enter; the lab stopped and cleaned up");
    }
    Ok(parse_pause_answer(&line))
}

fn parse_pause_answer(line: &str) -> Pause {
    match line.trim() {
        "q" | "Q" | "quit" | "退出" => Pause::Quit,
        _ => Pause::Continue,
    }
}

/// Where an `--explore` shell opens after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// Every namespace of this process that differs from ours.
    Namespaces(i32),
    /// Inside a cgroup: the shell writes itself into each `cgroup.procs` before it starts.
    Cgroup { name: String, procs: Vec<std::path::PathBuf> },
    /// In a directory (an overlay's merged dir).
    Dir(std::path::PathBuf),
}

/// Opens the checkpoint's interactive shell; the lab continues when the shell exits.
pub fn explore(lang: Lang, lab: &str, checkpoint: &Checkpoint) -> anyhow::Result<()> {
    match checkpoint {
        Checkpoint::Namespaces(pid) => explore_shell(lang, lab, *pid),
        Checkpoint::Cgroup { name, procs } => {
            let files = procs
                .iter()
                .map(|p| {
                    std::fs::OpenOptions::new().write(true).open(p).with_context(|| format!("opening {}", p.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let said = match lang {
                Lang::En => format!(
                    "--explore: a shell inside cgroup {name} (cat /proc/self/cgroup); type exit to continue the lab"
                ),
                Lang::Zh => {
                    format!("--explore：已进入 cgroup {name}（cat /proc/self/cgroup 可以看到）；输入 exit 继续实验")
                }
            };
            shell(lab, &format!("cgroup {name}"), &said, |cmd| crate::sys::spawn_in_cgroups(cmd, files))
        }
        Checkpoint::Dir(dir) => {
            let said = match lang {
                Lang::En => format!("--explore: a shell in {}; type exit to continue the lab", dir.display()),
                Lang::Zh => format!("--explore：已进入 {}；输入 exit 继续实验", dir.display()),
            };
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            shell(lab, &name, &said, |cmd| cmd.current_dir(dir).spawn())
        }
    }
}

/// Opens an interactive shell inside every namespace of `pid` that differs from ours; the lab
/// continues when the shell exits.
pub fn explore_shell(lang: Lang, lab: &str, pid: i32) -> anyhow::Result<()> {
    let mut namespaces = Vec::new();
    let mut joined = Vec::new();
    for &crate::probe::NsType { name: kind, flag, .. } in crate::probe::in_setns_order() {
        let (Ok(theirs), Ok(ours)) = (crate::probe::ns_link(Some(pid), kind), crate::probe::ns_link(None, kind)) else {
            continue;
        };
        if theirs != ours {
            let file = std::fs::File::open(crate::probe::ns_path(Some(pid), kind))?;
            namespaces.push((file, flag));
            joined.push(kind);
        }
    }
    let said = match lang {
        Lang::En => format!(
            "--explore: a shell in the {} namespace(s) of pid {pid}; type exit to continue the lab",
            joined.join(", ")
        ),
        Lang::Zh => format!("--explore：已进入 pid {pid} 的 {} namespace，输入 exit 继续实验", joined.join("、")),
    };
    let place = if joined.is_empty() { "host".to_string() } else { joined.join(",") };
    shell(lab, &place, &said, |cmd| crate::sys::spawn_in_namespaces(cmd, namespaces))
}

/// The learner's shell, its prompt naming the lab and the place, started by `spawn`.
fn shell(
    lab: &str,
    place: &str,
    said: &str,
    spawn: impl FnOnce(&mut std::process::Command) -> std::io::Result<std::process::Child>,
) -> anyhow::Result<()> {
    if !can_prompt() {
        bail!("--explore needs a terminal: run it interactively or drop --explore");
    }
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    eprintln!("{said}");
    let prompt = explore_prompt(lab, place);
    let mut cmd = std::process::Command::new(&shell);
    // /etc/bash.bashrc sets PS1 after the environment does: bash gets an rcfile of ours that
    // sources the usual ones first, then sets the prompt. Other shells take PS1 as given.
    cmd.env("PS1", format!("{prompt} # "));
    let rcfile = crate::paths::run_dir().join(format!("explore-{}.bashrc", std::process::id()));
    let is_bash = std::path::Path::new(&shell).file_name().is_some_and(|n| n == "bash");
    if is_bash {
        std::fs::create_dir_all(crate::paths::run_dir())?;
        std::fs::write(&rcfile, bash_rcfile(&prompt)).with_context(|| format!("writing {}", rcfile.display()))?;
        cmd.arg("--rcfile").arg(&rcfile).arg("-i");
    }
    let spawned = spawn(&mut cmd).with_context(|| format!("starting {shell}"));
    let waited = spawned.and_then(|mut child| child.wait().context("waiting for the shell"));
    if is_bash {
        let _ = std::fs::remove_file(&rcfile);
    }
    waited?;
    Ok(())
}

/// `(labctl ns-net · net,uts)`: which lab, and where the shell is (namespaces, cgroup, dir).
fn explore_prompt(lab: &str, place: &str) -> String {
    format!("(labctl {lab} · {place})")
}

/// The user's usual bash start-up, then our prompt (single-quoted, so nothing in it expands).
fn bash_rcfile(prompt: &str) -> String {
    let quoted = prompt.replace('\'', "'\\''");
    format!(
        "[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc\n[ -r \"$HOME/.bashrc\" ] && . \"$HOME/.bashrc\"\nPS1='{quoted} \\w # '\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_quits_and_anything_else_continues() {
        assert_eq!(parse_pause_answer("q\n"), Pause::Quit);
        assert_eq!(parse_pause_answer(" Q \n"), Pause::Quit);
        assert_eq!(parse_pause_answer("\n"), Pause::Continue);
        assert_eq!(parse_pause_answer("next\n"), Pause::Continue);
    }

    #[test]
    fn the_rcfile_sources_the_users_then_sets_the_prompt() {
        let rc = bash_rcfile(&explore_prompt("ns-net", "net,uts"));
        assert_eq!(
            rc,
            "[ -r /etc/bash.bashrc ] && . /etc/bash.bashrc\n[ -r \"$HOME/.bashrc\" ] && . \"$HOME/.bashrc\"\n\
             PS1='(labctl ns-net · net,uts) \\w # '\n"
        );
    }
}
