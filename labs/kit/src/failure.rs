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
    fn the_description_names_the_errno_read() {
        assert_eq!(describe(&io(Errno::EBUSY)), "EBUSY: rmdir /x: Device or resource busy (os error 16)");
    }
}
