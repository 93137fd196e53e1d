//! The short words labs show as values and check results (a state, a yes or no), in both
//! languages, written once. A lab asks for one by its English form ([`crate::Ctx::word`]); an
//! unknown word is a bug caught by the first debug run (words that belong to one lab only are
//! written where they are used, with `tr!`).

use crate::text::Lang;

/// English → Chinese. Keep each section sorted; a section per lab family keeps merges apart.
const WORDS: &[(&str, &str)] = &[
    // States of processes and objects.
    ("absent", "不存在"),
    ("alive", "仍在运行"),
    ("all", "全部"),
    ("allowed", "允许"),
    ("blocked", "被阻止"),
    ("both", "两者都有"),
    ("both listed", "两者都列出"),
    ("changed", "已改变"),
    ("closed", "已关闭"),
    ("created", "已创建"),
    ("denied", "被拒绝"),
    ("different", "不同"),
    ("differ", "不同"),
    ("empty", "空"),
    ("equal", "相同"),
    ("exited", "已退出"),
    ("false", "否"),
    ("frozen", "已冻结"),
    ("gone", "已消失"),
    ("held", "被持有"),
    ("identical", "完全相同"),
    ("killed", "已被杀死"),
    ("listed", "已列出"),
    ("missing", "缺失"),
    ("mounted", "已挂载"),
    ("new", "新建"),
    ("no", "否"),
    ("none", "无"),
    ("not listed", "未列出"),
    ("not mounted", "未挂载"),
    ("nothing", "什么也没有"),
    ("ok", "正常"),
    ("open", "打开着"),
    ("present", "存在"),
    ("refused", "被拒绝"),
    ("removed", "已删除"),
    ("running", "运行中"),
    ("same", "相同"),
    ("shared", "共用"),
    ("started", "已启动"),
    ("still there", "仍然存在"),
    ("stopped", "已停止"),
    ("succeeded", "成功了"),
    ("true", "是"),
    ("undone", "已撤销"),
    ("unmounted", "已卸载"),
    ("unchanged", "未改变"),
    ("yes", "是"),
    // The namespace labs.
    ("a different inode", "另一个 inode"),
    ("found", "找到了"),
    ("none found", "一个也没找到"),
    ("nothing holds it", "没有东西持有它"),
    ("still held", "仍被持有"),
    // The cgroup, overlay, image and network labs.
    ("a reply", "收到回复"),
    ("no reply", "没有回复"),
    // The container and runtime labs.
    ("as configured", "与配置一致"),
    ("elsewhere", "别处"),
    ("member", "是成员"),
    ("not a member", "不是成员"),
    ("something is left", "还有东西残留"),
    ("the real file", "真实的文件"),
];

/// `en` in `lang`; `None` when the vocabulary does not have it.
pub fn lookup(lang: Lang, en: &str) -> Option<&'static str> {
    let (en, zh) = WORDS.iter().find(|(e, _)| *e == en)?;
    Some(match lang {
        Lang::En => en,
        Lang::Zh => zh,
    })
}

/// `en` in `lang`. An unknown word fails debug builds (and so every test run) at the call; a
/// release build shows it in English rather than lose the value.
pub fn word(lang: Lang, en: &str) -> String {
    match lookup(lang, en) {
        Some(w) => w.to_string(),
        None => {
            debug_assert!(false, "labkit::words has no {en:?}: add it, or write tr!(en, zh) where it is used");
            en.to_string()
        }
    }
}

/// `true`/`false` as the value of an observation or a check.
pub fn boolean(lang: Lang, b: bool) -> String {
    word(lang, if b { "true" } else { "false" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_one_entry_and_a_chinese_form() {
        let mut seen = std::collections::HashSet::new();
        for (en, zh) in WORDS {
            assert!(seen.insert(en), "{en:?} twice");
            assert!(!zh.is_empty() && !zh.is_ascii(), "{en:?} has no Chinese form");
        }
    }

    #[test]
    fn words_follow_the_language() {
        assert_eq!(word(Lang::En, "gone"), "gone");
        assert_eq!(word(Lang::Zh, "gone"), "已消失");
        assert_eq!(boolean(Lang::Zh, false), "否");
        assert_eq!(lookup(Lang::Zh, "no such word"), None);
    }
}
