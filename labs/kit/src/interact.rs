//! Prompts and the `--explore` shell. Nothing here ever blocks without a terminal.

use crate::text::Lang;
use anyhow::{bail, Context};

/// Prompts need a terminal on stdin (to read) and stderr (to draw).
pub fn can_prompt() -> bool {
    crate::sys::stdin_is_tty() && crate::sys::stderr_is_tty()
}

/// The `--pause` prompt before a step.
pub fn wait_for_enter(lang: Lang, step: usize, total: usize) -> anyhow::Result<()> {
    if !can_prompt() {
        bail!("--pause needs a terminal (stdin and stderr): run it interactively or drop --pause");
    }
    let prompt = match lang {
        Lang::En => format!("[step {step}/{total}] press Enter to continue"),
        Lang::Zh => format!("[步骤 {step}/{total}] 按回车继续"),
    };
    eprint!("{prompt} ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).context("reading Enter")? == 0 {
        bail!("the terminal closed while waiting for Enter; the lab stopped and cleaned up");
    }
    Ok(())
}

/// Opens an interactive shell inside every namespace of `pid` that differs from ours; the lab
/// continues when the shell exits.
pub fn explore_shell(lang: Lang, pid: i32) -> anyhow::Result<()> {
    if !can_prompt() {
        bail!("--explore needs a terminal: run it interactively or drop --explore");
    }
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
    let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
    match lang {
        Lang::En => eprintln!(
            "--explore: a shell in the {} namespace(s) of pid {pid}; type exit to continue the lab",
            joined.join(", ")
        ),
        Lang::Zh => eprintln!("--explore：已进入 pid {pid} 的 {} namespace，输入 exit 继续实验", joined.join("、")),
    }
    let mut cmd = std::process::Command::new(&shell);
    cmd.env("PS1", "(labctl explore) # ");
    let mut child =
        crate::sys::spawn_in_namespaces(&mut cmd, namespaces).with_context(|| format!("starting {shell}"))?;
    child.wait()?;
    Ok(())
}
