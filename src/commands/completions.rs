//! `labctl completions <shell>`.

use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let mut cmd = with_lab_ids(crate::Cli::command())?;
    clap_complete::generate(args.shell, &mut cmd, "labctl", &mut std::io::stdout());
    Ok(0)
}

/// The completion scripts offer the lab ids after `run`, `check` and `quiz`. Only here: parsing
/// keeps a plain string, so an unknown id still gets "did you mean".
fn with_lab_ids(cmd: clap::Command) -> anyhow::Result<clap::Command> {
    // clap wants 'static names; this process prints one script and exits.
    let ids: Vec<&'static str> =
        labctl::catalogue::load()?.ids().iter().map(|id| &*Box::leak(id.to_string().into_boxed_str())).collect();
    let mut cmd = cmd;
    for verb in ["run", "check", "quiz"] {
        let ids = ids.clone();
        cmd = cmd.mut_subcommand(verb, |sub| {
            sub.mut_arg("lab", |arg| arg.value_parser(clap::builder::PossibleValuesParser::new(ids)))
        });
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_about().is_none() && sub.get_name() != "help" {
                out.push(format!("{path} {} (no description)", sub.get_name()));
            }
            missing_help(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    /// Every visible verb: the learner's, the lab topics' tools, the runtime (lcrun's verbs) and
    /// the engine (docker's).
    const VERBS: [&str; 15] = [
        "list",
        "run",
        "doctor",
        "clean",
        "check",
        "quiz",
        "progress",
        "completions",
        "ns",
        "cgroup",
        "overlay",
        "net",
        "image",
        "runtime",
        "container",
    ];

    #[test]
    fn every_option_and_argument_of_the_learners_verbs_has_a_help_line() {
        let mut missing = Vec::new();
        let cli = crate::Cli::command();
        for verb in VERBS {
            missing_help(cli.find_subcommand(verb).unwrap(), &format!("labctl {verb}"), &mut missing);
        }
        assert!(missing.is_empty(), "without a help line:\n{}", missing.join("\n"));
    }

    #[test]
    fn the_lab_argument_completes_to_lab_ids() {
        let cmd = with_lab_ids(crate::Cli::command()).unwrap();
        for verb in ["run", "check", "quiz"] {
            let lab = cmd.find_subcommand(verb).unwrap().get_arguments().find(|a| a.get_id() == "lab").unwrap();
            let values: Vec<String> = lab.get_possible_values().iter().map(|v| v.get_name().to_string()).collect();
            assert!(
                values.iter().any(|v| v == "ns-net") && values.iter().any(|v| v == "cgroup-cpu"),
                "{verb}: {values:?}"
            );
        }
    }
}
