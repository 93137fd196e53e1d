//! `labctl quiz <lab>`: interactive on a terminal, or answered with `--answers b,a,c`.

use anyhow::bail;
use colored::Colorize;
use labctl::catalogue;
use labkit::manifest::QuizItem;
use labkit::progress::Progress;
use labkit::Lang;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The lab whose quiz to answer, e.g. ns-net (see `labctl list`)
    pub lab: String,
    /// Answers without prompting, one letter per question: --answers b,a,c
    #[arg(long)]
    pub answers: Option<String>,
    #[command(flatten)]
    pub lang: labkit::LangFlag,
}

pub fn exec(args: Args) -> anyhow::Result<i32> {
    let catalogue = catalogue::load()?;
    let entry = catalogue::find(&catalogue, &args.lab)?;
    let lang = args.lang.resolve();
    let quiz = &entry.def.quiz;
    if quiz.is_empty() {
        bail!("lab {} has no quiz", entry.def.id);
    }
    // Colour only on a terminal without NO_COLOR; marks and bold read on light and dark themes.
    colored::control::set_override(labkit::Format::auto() == labkit::Format::Terminal);
    let answers = match &args.answers {
        Some(list) => {
            let answers = parse_answers(list, quiz)?;
            for (n, (item, answer)) in quiz.iter().zip(&answers).enumerate() {
                print!("{}", feedback(n, item, *answer, lang));
            }
            answers
        }
        None if labkit::interact::can_prompt() => ask(quiz, lang)?,
        None => bail!(
            "the quiz needs a terminal, or answers given as letters: labctl quiz {} --answers {}",
            entry.def.id,
            vec!["a"; quiz.len()].join(",")
        ),
    };
    let correct = quiz.iter().zip(&answers).filter(|(item, answer)| **answer == item.answer).count() as u32;
    let total = quiz.len() as u32;
    let score = match lang {
        Lang::En => format!("score: {correct}/{total}"),
        Lang::Zh => format!("得分：{correct}/{total}"),
    };
    if correct == total {
        println!("\n{}", score.green().bold());
    } else {
        println!("\n{}", score.bold());
        let retry = match lang {
            Lang::En => format!("Read the explanations above, then try again: labctl quiz {}", entry.def.id),
            Lang::Zh => format!("先读一读上面的解释，再试一次：labctl quiz {}", entry.def.id),
        };
        println!("{}", retry.dimmed());
    }
    let path = Progress::default_path();
    if let Ok(mut progress) = Progress::load(&path) {
        progress.record_quiz(&entry.def.id, correct, total);
        let _ = progress.save(&path);
    }
    Ok(if correct == total { 0 } else { 1 })
}

/// What one answer earns: ✓ or ✗, the right answer when it was not picked, and why.
fn feedback(n: usize, item: &QuizItem, answer: usize, lang: Lang) -> String {
    let right = answer == item.answer;
    let mark = if right { "✓".green().bold() } else { "✗".red().bold() };
    let mut out = format!("{mark} {}. {}\n", n + 1, item.question.get(lang));
    if !right {
        let label = if lang == Lang::Zh { "正确答案" } else { "answer" };
        out.push_str(&format!(
            "   {}: {}) {}\n",
            label.bold(),
            letter(item.answer),
            item.choices[item.answer].get(lang)
        ));
    }
    out.push_str(&format!("   {}\n", item.why.get(lang)));
    out
}

fn letter(i: usize) -> char {
    (b'a' + i as u8) as char
}

/// `b,a,c` → indexes, checked against each question's choices.
fn parse_answers(list: &str, quiz: &[QuizItem]) -> anyhow::Result<Vec<usize>> {
    let given: Vec<&str> = list.split(',').map(str::trim).collect();
    if given.len() != quiz.len() {
        bail!("--answers has {} answer(s) but the quiz has {} question(s)", given.len(), quiz.len());
    }
    given
        .iter()
        .zip(quiz)
        .enumerate()
        .map(|(n, (a, item))| {
            let mut chars = a.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ 'a'..='z'), None) if ((c as u8 - b'a') as usize) < item.choices.len() => {
                    Ok((c as u8 - b'a') as usize)
                }
                _ => bail!("answer {} is {a:?}: use one letter from a to {}", n + 1, letter(item.choices.len() - 1)),
            }
        })
        .collect()
}

/// dialoguer's default theme ends a prompt with ":", which reads "?:" after a question.
struct QuizTheme;

impl dialoguer::theme::Theme for QuizTheme {
    fn format_select_prompt(&self, f: &mut dyn std::fmt::Write, prompt: &str) -> std::fmt::Result {
        write!(f, "{prompt}")
    }

    fn format_select_prompt_selection(&self, f: &mut dyn std::fmt::Write, prompt: &str, sel: &str) -> std::fmt::Result {
        write!(f, "{prompt} → {sel}")
    }
}

fn ask(quiz: &[QuizItem], lang: Lang) -> anyhow::Result<Vec<usize>> {
    let mut answers = Vec::new();
    for (n, item) in quiz.iter().enumerate() {
        let choices: Vec<String> =
            item.choices.iter().enumerate().map(|(i, c)| format!("{}) {}", letter(i), c.get(lang))).collect();
        let picked = dialoguer::Select::with_theme(&QuizTheme)
            .with_prompt(format!("{}. {}", n + 1, item.question.get(lang)))
            .items(&choices)
            .default(0)
            .interact()?;
        // Feedback at once, while the question is still in mind.
        println!("{}", feedback(n, item, picked, lang));
        answers.push(picked);
    }
    Ok(answers)
}
