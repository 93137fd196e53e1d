//! The failure an expected-failure check claims, and how an error is compared with it.

use nix::errno::Errno;
use std::fmt;
use std::io::ErrorKind;

/// What an operation that must fail has to fail with.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// This errno, read from an `io::Error` or a `nix` errno in the error's chain.
    Errno(Errno),
    /// One of these I/O error kinds (a dropped SYN times out, an ICMP error is "unreachable").
    Kinds(&'static [ErrorKind]),
    /// An error labctl itself raises, recognised by `is`; `what` names it for the learner.
    Labctl { what: &'static str, is: fn(&anyhow::Error) -> bool },
}

/// What came back, as far as a [`Failure`] can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub errno: Option<Errno>,
    pub kind: Option<ErrorKind>,
}

impl Cause {
    /// The first errno (or I/O error kind) in `error`'s chain: the kernel's answer under labctl's context.
    pub fn of(error: &anyhow::Error) -> Cause {
        for cause in error.chain() {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                return Cause { errno: io.raw_os_error().map(Errno::from_raw), kind: Some(io.kind()) };
            }
            if let Some(errno) = cause.downcast_ref::<Errno>() {
                let kind = std::io::Error::from_raw_os_error(*errno as i32).kind();
                return Cause { errno: Some(*errno), kind: Some(kind) };
            }
        }
        Cause { errno: None, kind: None }
    }
}

impl Failure {
    pub fn matches(&self, error: &anyhow::Error) -> bool {
        let cause = Cause::of(error);
        match self {
            Failure::Errno(want) => cause.errno == Some(*want),
            Failure::Kinds(kinds) => cause.kind.is_some_and(|k| kinds.contains(&k)),
            Failure::Labctl { is, .. } => is(error),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Errno(errno) => write!(f, "{errno:?}"),
            Failure::Kinds(kinds) => {
                let names: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
                write!(f, "{}", names.join(" / "))
            }
            Failure::Labctl { what, .. } => write!(f, "{what}"),
        }
    }
}

/// The error as shown: its errno's name first when it has one (EBUSY: rmdir …: Device or resource busy).
pub fn describe(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    match Cause::of(error).errno {
        Some(errno) if !text.contains(&format!("{errno:?}")) => format!("{errno:?}: {text}"),
        _ => text,
    }
}

/// [`describe`] in the learner's language: in Chinese the kernel's message (strerror) is
/// translated and the chain is joined with full-width colons; the errno's name stays, as the
/// man pages and every search result spell it (EBUSY：rmdir /x：设备或资源忙).
pub fn describe_in(error: &anyhow::Error, lang: crate::text::Lang) -> String {
    let Some(errno) = Cause::of(error).errno.filter(|_| lang == crate::text::Lang::Zh) else {
        return describe(error);
    };
    let Some(zh) = strerror_zh(errno) else { return describe(error) };
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let own = cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error().is_some())
            || cause.downcast_ref::<Errno>().is_some();
        if own {
            parts.push(zh.to_string());
            break;
        }
        parts.push(cause.to_string());
    }
    let text = parts.join("：");
    if text.contains(&format!("{errno:?}")) {
        text
    } else {
        format!("{errno:?}：{text}")
    }
}

/// The kernel's messages a lab's expected failures show, in Chinese (glibc's zh_CN wording
/// where it reads naturally).
fn strerror_zh(errno: Errno) -> Option<&'static str> {
    Some(match errno {
        Errno::EPERM => "不允许的操作",
        Errno::ENOENT => "没有那个文件或目录",
        Errno::ESRCH => "没有那个进程",
        Errno::EINTR => "被中断的系统调用",
        Errno::EIO => "输入/输出错误",
        Errno::E2BIG => "参数列表过长",
        Errno::ENOEXEC => "可执行文件格式错误",
        Errno::EBADF => "错误的文件描述符",
        Errno::ECHILD => "没有子进程",
        Errno::EAGAIN => "资源暂时不可用",
        Errno::ENOMEM => "无法分配内存",
        Errno::EACCES => "权限不够",
        Errno::EFAULT => "错误的地址",
        Errno::EBUSY => "设备或资源忙",
        Errno::EEXIST => "文件已存在",
        Errno::EXDEV => "无效的跨设备链接",
        Errno::ENODEV => "没有那个设备",
        Errno::ENOTDIR => "不是目录",
        Errno::EISDIR => "是一个目录",
        Errno::EINVAL => "无效的参数",
        Errno::EMFILE => "打开的文件过多",
        Errno::ENOSPC => "设备上没有空间",
        Errno::EROFS => "只读文件系统",
        Errno::EMLINK => "链接过多",
        Errno::EPIPE => "断开的管道",
        Errno::ENAMETOOLONG => "文件名过长",
        Errno::ENOSYS => "函数未实现",
        Errno::ENOTEMPTY => "目录非空",
        Errno::ELOOP => "符号连接的层数过多",
        Errno::EMSGSIZE => "消息过长",
        Errno::EOPNOTSUPP => "不支持的操作",
        Errno::EADDRINUSE => "地址已在使用",
        Errno::EADDRNOTAVAIL => "无法指定被请求的地址",
        Errno::ENETDOWN => "网络已关闭",
        Errno::ENETUNREACH => "网络不可达",
        Errno::ECONNRESET => "连接被对方重置",
        Errno::ETIMEDOUT => "连接超时",
        Errno::ECONNREFUSED => "拒绝连接",
        Errno::EHOSTUNREACH => "没有到主机的路由",
        Errno::EDQUOT => "超出磁盘限额",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn io(errno: Errno) -> anyhow::Error {
        Err::<(), _>(std::io::Error::from_raw_os_error(errno as i32)).context("rmdir /x").unwrap_err()
    }

    #[test]
    fn an_errno_matches_only_itself() {
        assert!(Failure::Errno(Errno::EBUSY).matches(&io(Errno::EBUSY)));
        assert!(!Failure::Errno(Errno::EBUSY).matches(&io(Errno::ENOENT)));
        assert!(!Failure::Errno(Errno::EBUSY).matches(&anyhow::anyhow!("no errno at all")));
    }

    #[test]
    fn a_nix_errno_in_the_chain_counts() {
        let e = Err::<(), _>(Errno::EINVAL).context("pivot_root").unwrap_err();
        assert!(Failure::Errno(Errno::EINVAL).matches(&e));
        assert_eq!(Cause::of(&e).kind, Some(ErrorKind::InvalidInput));
    }

    #[test]
    fn kinds_match_any_listed() {
        let f = Failure::Kinds(&[ErrorKind::TimedOut, ErrorKind::HostUnreachable]);
        assert!(f.matches(&io(Errno::EHOSTUNREACH)));
        assert!(!f.matches(&io(Errno::EADDRINUSE)));
        assert_eq!(f.to_string(), "timed out / host unreachable");
    }

    #[test]
    fn in_chinese_the_kernel_message_is_translated_and_the_context_kept() {
        use crate::text::Lang;
        assert_eq!(describe_in(&io(Errno::EBUSY), Lang::Zh), "EBUSY：rmdir /x：设备或资源忙");
        let nix = Err::<(), _>(Errno::EPERM).context("mount(2)").unwrap_err();
        assert_eq!(describe_in(&nix, Lang::Zh), "EPERM：mount(2)：不允许的操作");
        assert_eq!(describe_in(&io(Errno::EBUSY), Lang::En), describe(&io(Errno::EBUSY)));
        let plain = anyhow::anyhow!("no errno at all");
        assert_eq!(describe_in(&plain, Lang::Zh), "no errno at all");
    }

    #[test]
    fn the_description_names_the_errno_read() {
        assert_eq!(describe(&io(Errno::EBUSY)), "EBUSY: rmdir /x: Device or resource busy (os error 16)");
    }
}
