//! Why a user namespace cannot be created here, and how to allow it. Three switches exist:
//! `user.max_user_namespaces` (every kernel; 0 disables them for everyone, even root),
//! Debian's `kernel.unprivileged_userns_clone` (older Debian kernels; 0 limits them to root), and
//! Ubuntu's `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+; 1 lets unconfined
//! programs create one, but without capabilities inside, unless an AppArmor profile says `userns,`).

use nix::errno::Errno;
use std::path::{Path, PathBuf};

/// The user-namespace switches as read from a `/proc/sys` tree (absent ones are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernsPolicy {
    pub max_user_namespaces: Option<u64>,
    pub unprivileged_userns_clone: Option<u64>,
    pub apparmor_restrict_unprivileged_userns: Option<u64>,
}

impl UsernsPolicy {
    /// Reads the switches under `proc_sys` (normally `/proc/sys`).
    pub fn read(proc_sys: &Path) -> UsernsPolicy {
        let num = |rel: &str| -> Option<u64> {
            std::fs::read_to_string(PathBuf::from(proc_sys).join(rel)).ok().and_then(|s| s.trim().parse().ok())
        };
        UsernsPolicy {
            max_user_namespaces: num("user/max_user_namespaces"),
            unprivileged_userns_clone: num("kernel/unprivileged_userns_clone"),
            apparmor_restrict_unprivileged_userns: num("kernel/apparmor_restrict_unprivileged_userns"),
        }
    }

    pub fn current() -> UsernsPolicy {
        UsernsPolicy::read(Path::new("/proc/sys"))
    }

    /// What blocks an unprivileged user from using user namespaces, if anything does.
    pub fn unprivileged_blocker(&self) -> Option<String> {
        self.blocker(Errno::UnknownErrno, false)
    }

    /// Explains a failure `errno` of clone/unshare with CLONE_NEWUSER (or of writing uid_map)
    /// by the switch that causes it, with the command that allows it. `privileged` is whether
    /// the caller was root in the initial user namespace.
    pub fn blocker(&self, errno: Errno, privileged: bool) -> Option<String> {
        if self.max_user_namespaces == Some(0) {
            return Some(
                "user.max_user_namespaces is 0 (/proc/sys/user/max_user_namespaces), which disables user \
                 namespaces for everyone, root included. Allow them with: sudo sysctl -w \
                 user.max_user_namespaces=15000 (to keep it, put that line in /etc/sysctl.d/50-userns.conf)"
                    .into(),
            );
        }
        if errno == Errno::ENOSPC {
            let limit = self.max_user_namespaces.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
            return Some(format!(
                "the limit user.max_user_namespaces ({limit}) is reached for this user, or the nesting is 32 \
                 deep. Raise it with: sudo sysctl -w user.max_user_namespaces=15000"
            ));
        }
        if privileged {
            return None;
        }
        if self.unprivileged_userns_clone == Some(0) {
            return Some(
                "kernel.unprivileged_userns_clone is 0 (Debian's switch), so only root may create user \
                 namespaces. Allow ordinary users with: sudo sysctl -w kernel.unprivileged_userns_clone=1"
                    .into(),
            );
        }
        if self.apparmor_restrict_unprivileged_userns == Some(1) {
            return Some(
                "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10 and later): AppArmor gives \
                 an unconfined program's new user namespace no capabilities. Allow it with: sudo sysctl -w \
                 kernel.apparmor_restrict_unprivileged_userns=0, or load an AppArmor profile for this \
                 program that contains the rule `userns,`"
                    .into(),
            );
        }
        if errno == Errno::EPERM {
            return Some(
                "the kernel refused (EPERM) although no sysctl forbids it: a seccomp filter (Docker's default \
                 profile blocks CLONE_NEWUSER), a chroot, or a security module is in the way; run it on the \
                 host or allow unshare/clone in that filter"
                    .into(),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, value) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("{value}\n")).unwrap();
        }
        dir
    }

    #[test]
    fn max_user_namespaces_zero_blocks_even_root_and_names_the_sysctl() {
        let dir = fake(&[("user/max_user_namespaces", "0")]);
        let policy = UsernsPolicy::read(dir.path());
        let why = policy.blocker(Errno::ENOSPC, true).unwrap();
        assert!(why.contains("user.max_user_namespaces is 0"), "{why}");
        assert!(why.contains("sysctl -w user.max_user_namespaces=15000"), "{why}");
    }

    #[test]
    fn debian_switch_blocks_only_the_unprivileged() {
        let dir = fake(&[("user/max_user_namespaces", "63000"), ("kernel/unprivileged_userns_clone", "0")]);
        let policy = UsernsPolicy::read(dir.path());
        assert!(policy.blocker(Errno::EPERM, true).is_none());
        let why = policy.unprivileged_blocker().unwrap();
        assert!(why.contains("kernel.unprivileged_userns_clone=1"), "{why}");
    }

    #[test]
    fn ubuntu_apparmor_restriction_is_explained_with_both_ways_out() {
        let dir = fake(&[
            ("user/max_user_namespaces", "63000"),
            ("kernel/unprivileged_userns_clone", "1"),
            ("kernel/apparmor_restrict_unprivileged_userns", "1"),
        ]);
        let why = UsernsPolicy::read(dir.path()).blocker(Errno::EPERM, false).unwrap();
        assert!(why.contains("apparmor_restrict_unprivileged_userns=0"), "{why}");
        assert!(why.contains("userns,"), "{why}");
    }

    #[test]
    fn nothing_blocks_on_an_open_system() {
        let dir = fake(&[("user/max_user_namespaces", "63000")]);
        let policy = UsernsPolicy::read(dir.path());
        assert!(policy.unprivileged_blocker().is_none());
        assert!(policy.blocker(Errno::EPERM, false).unwrap().contains("seccomp"));
        assert!(policy.blocker(Errno::EINVAL, false).is_none());
        assert!(policy.blocker(Errno::EPERM, true).is_none());
    }
}
