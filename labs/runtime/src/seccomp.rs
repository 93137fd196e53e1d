//! `linux.seccomp` → classic-BPF filters compiled with the `seccompiler` crate, installed on
//! the init's thread just before exec.
//!
//! seccompiler builds a filter with one default action and one action for every rule; the
//! spec gives each rule its own action. So [`compile`] makes one base filter (the default
//! action; ALLOW for every call some rule matches) and one filter per other action (that
//! action for the calls its rules match, ALLOW for the rest). The kernel runs every filter
//! and keeps the strongest answer (KILL > TRAP > ERRNO > TRACE > LOG > ALLOW), which gives a
//! matching rule's action, and the default action when no rule matches. If one call matches
//! rules of two actions, the stronger wins (of two ERRNO values, the later rule's). The base
//! filter is installed last: once it is in place, seccomp(2) itself is usually refused.
//!
//! Like runc, a syscall name that exists only on other architectures (`socketcall`,
//! `arm_fadvise64_64`) is skipped; a name no architecture knows is an error. Filters are
//! compiled for the native ABI only: a listed compat architecture (x86, x32, arm) passes
//! validation, but its system calls are killed.

use crate::{Error, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompBuilder, LinuxSeccompOperator as Op,
    LinuxSyscall, LinuxSyscallBuilder,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The compiled filters of one `linux.seccomp`, ready to install.
pub struct Filter {
    programs: Vec<Vec<libc::sock_filter>>,
    flags: libc::c_ulong,
    skipped: Vec<String>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lengths: Vec<usize> = self.programs.iter().map(Vec::len).collect();
        f.debug_struct("Filter")
            .field("instructions", &lengths)
            .field("flags", &self.flags)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Filter {
    /// Installs the filters on the calling thread (seccomp(2), SECCOMP_SET_MODE_FILTER, with
    /// the spec's flags). The kernel accepts a filter only after no_new_privs is set or while
    /// CAP_SYS_ADMIN is effective: with `process.noNewPrivileges` the init sets it and
    /// installs last, just before exec (fewest of the init's own calls must be allowed);
    /// without it, the init installs before `caps.apply_after_setuid()` drops CAP_SYS_ADMIN,
    /// as runc does. Allocates nothing: safe in a `labkit::sys::clone_child` body.
    pub fn install(&self) -> Result<()> {
        for program in &self.programs {
            labkit::sys::seccomp_set_mode_filter(program, self.flags).map_err(|e| {
                Error::io(
                    "installing the seccomp filter (needs no_new_privs or CAP_SYS_ADMIN; EINVAL: a flag this kernel lacks)",
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// The BPF programs in install order, and their lengths in instructions.
    pub fn program_lengths(&self) -> Vec<usize> {
        self.programs.iter().map(Vec::len).collect()
    }

    /// Syscall names of the spec that exist only on other architectures, hence skipped.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// A rule's argument conditions as seccompiler sees them.
#[derive(Debug, Clone, PartialEq)]
enum Match {
    Always,
    AnyOf(Vec<SeccompRule>),
}

impl Match {
    fn or(self, other: Match) -> Match {
        match (self, other) {
            (Match::AnyOf(mut a), Match::AnyOf(b)) => {
                a.extend(b);
                Match::AnyOf(a)
            }
            _ => Match::Always,
        }
    }

    fn into_rules(self) -> Vec<SeccompRule> {
        match self {
            Match::Always => Vec::new(),
            Match::AnyOf(rules) => rules,
        }
    }
}

type Calls = BTreeMap<i64, Match>;

/// Validates `spec` completely and compiles it; nothing is installed.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter> {
    if let Some(path) = spec.listener_path() {
        return Err(not_supported(
            "linux.seccomp.listenerPath",
            &format!("a seccomp agent ({})", path.display()),
            "remove listenerPath and every SCMP_ACT_NOTIFY rule",
        ));
    }
    let arch = native_arch()?;
    check_architectures(spec.architectures().as_deref().unwrap_or_default(), arch)?;
    let default = action(spec.default_action(), spec.default_errno_ret(), "linux.seccomp.defaultAction")?;
    let mut base = Calls::new();
    let mut by_action: Vec<(SeccompAction, Calls)> = Vec::new();
    let mut skipped = Vec::new();
    for (i, rule) in spec.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let rule_action = action(rule.action(), rule.errno_ret(), &field)?;
        let matches = conditions(rule.args().as_deref().unwrap_or_default(), &field)?;
        let numbers = resolve_names(rule.names(), &field, &mut skipped)?;
        if rule_action == default {
            continue;
        }
        let slot = match by_action.iter().position(|(a, _)| *a == rule_action) {
            Some(slot) => slot,
            None => {
                by_action.push((rule_action, Calls::new()));
                by_action.len() - 1
            }
        };
        for nr in numbers {
            add(&mut by_action[slot].1, nr, matches.clone());
            add(&mut base, nr, matches.clone());
        }
    }
    let mut programs = Vec::new();
    for (rule_action, calls) in in_install_order(by_action)? {
        programs.push(program(calls, SeccompAction::Allow, rule_action, arch)?);
    }
    if default != SeccompAction::Allow {
        programs.push(program(base, default, SeccompAction::Allow, arch)?);
    }
    Ok(Filter { programs, flags: flag_bits(spec.flags().as_deref().unwrap_or_default()), skipped })
}

/// Each filter must let the next one be installed: the base filter (which refuses whatever no
/// rule allows, seccomp(2) too, most often) goes last, after the ALLOW-by-default ones, and of
/// those, the one with a rule about seccomp(2) itself goes last among them.
fn in_install_order(by_action: Vec<(SeccompAction, Calls)>) -> Result<Vec<(SeccompAction, Calls)>> {
    let seccomp_nr = i64::from(syscalls::Sysno::seccomp.id());
    let (mut touching, mut order): (Vec<_>, Vec<_>) = by_action
        .into_iter()
        .filter(|(a, _)| *a != SeccompAction::Allow)
        .partition(|(_, calls)| calls.contains_key(&seccomp_nr));
    if touching.len() > 1 {
        return Err(Error::config(
            "linux.seccomp.syscalls",
            "rules of more than one action for seccomp itself cannot be installed by lcrun (one filter per \
             action, each installed with seccomp): give seccomp rules a single action",
        ));
    }
    order.append(&mut touching);
    Ok(order)
}

fn add(calls: &mut Calls, nr: i64, matches: Match) {
    let merged = match calls.remove(&nr) {
        Some(before) => before.or(matches),
        None => matches,
    };
    calls.insert(nr, merged);
}

fn program(
    calls: Calls,
    mismatch: SeccompAction,
    on_match: SeccompAction,
    arch: TargetArch,
) -> Result<Vec<libc::sock_filter>> {
    let rules = calls.into_iter().map(|(nr, m)| (nr, m.into_rules())).collect();
    let bpf: BpfProgram = SeccompFilter::new(rules, mismatch, on_match, arch)
        .and_then(BpfProgram::try_from)
        .map_err(|e| Error::config("linux.seccomp", format!("cannot compile the filter: {e}")))?;
    let mut out: Vec<libc::sock_filter> =
        bpf.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
    if arch == TargetArch::x86_64 {
        // seccompiler's program starts with 3 instructions that kill any other audit arch;
        // x32 calls share x86_64's arch and set bit 30 of the number: kill those too, as
        // libseccomp does, or they would slip past every rule.
        out.splice(3..3, x32_guard());
    }
    Ok(out)
}

fn x32_guard() -> [libc::sock_filter; 3] {
    use libc::{BPF_ABS, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let op = |code: u32| code as u16;
    [
        libc::sock_filter { code: op(BPF_LD | BPF_W | BPF_ABS), jt: 0, jf: 0, k: 0 }, // seccomp_data.nr
        libc::sock_filter { code: op(BPF_JMP | BPF_JGE | BPF_K), jt: 0, jf: 1, k: X32_SYSCALL_BIT },
        libc::sock_filter { code: op(BPF_RET | BPF_K), jt: 0, jf: 0, k: libc::SECCOMP_RET_KILL_PROCESS },
    ]
}

fn native_arch() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        not_supported(
            "linux.seccomp",
            &format!("seccomp on {}", std::env::consts::ARCH),
            "seccompiler compiles for x86_64, aarch64 and riscv64; remove linux.seccomp",
        )
    })
}

fn check_architectures(listed: &[Arch], native: TargetArch) -> Result<()> {
    let usable: &[Arch] = match native {
        TargetArch::x86_64 => &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        TargetArch::aarch64 => &[Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        TargetArch::riscv64 => &[Arch::ScmpArchRiscv64],
    };
    match listed.iter().find(|a| **a != Arch::ScmpArchNative && !usable.contains(a)) {
        Some(foreign) => Err(not_supported(
            "linux.seccomp.architectures",
            &format!("{foreign} on this {native:?} machine"),
            "filters are compiled for the native architecture; remove it",
        )),
        None => Ok(()),
    }
}

fn action(action: Action, errno_ret: Option<u32>, field: &str) -> Result<SeccompAction> {
    let takes_errno = matches!(action, Action::ScmpActErrno | Action::ScmpActTrace);
    match errno_ret {
        Some(_) if !takes_errno => {
            return Err(Error::config(
                field,
                format!("an errno return only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {action}: remove it"),
            ))
        }
        Some(errno) if errno > 4095 => {
            return Err(Error::config(field, format!("errno return {errno} is not an errno (1-4095)")));
        }
        _ => {}
    }
    let data = errno_ret.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        Action::ScmpActKill | Action::ScmpActKillThread => SeccompAction::KillThread,
        Action::ScmpActKillProcess => SeccompAction::KillProcess,
        Action::ScmpActTrap => SeccompAction::Trap,
        Action::ScmpActErrno => SeccompAction::Errno(data),
        Action::ScmpActTrace => SeccompAction::Trace(data),
        Action::ScmpActLog => SeccompAction::Log,
        Action::ScmpActAllow => SeccompAction::Allow,
        Action::ScmpActNotify => {
            return Err(not_supported(field, "SCMP_ACT_NOTIFY (a seccomp agent)", "use SCMP_ACT_ERRNO"))
        }
    })
}

/// The spec ANDs a rule's conditions; like runc, conditions that repeat an argument index
/// are ORed instead (libseccomp refuses two conditions on one argument in a rule).
fn conditions(args: &[LinuxSeccompArg], field: &str) -> Result<Match> {
    if args.is_empty() {
        return Ok(Match::Always);
    }
    let conditions: Vec<SeccompCondition> =
        args.iter().enumerate().map(|(i, arg)| condition(arg, &format!("{field}.args[{i}]"))).collect::<Result<_>>()?;
    let repeats_an_index = args.iter().any(|a| args.iter().filter(|b| b.index() == a.index()).count() > 1);
    let rule = |c: Vec<SeccompCondition>| SeccompRule::new(c).expect("a rule of at least one condition");
    Ok(Match::AnyOf(if repeats_an_index {
        conditions.into_iter().map(|c| rule(vec![c])).collect()
    } else {
        vec![rule(conditions)]
    }))
}

fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<SeccompCondition> {
    let index = u8::try_from(arg.index()).ok().filter(|i| *i <= 5).ok_or_else(|| {
        Error::config(field, format!("index {} is no argument: system calls have arguments 0 to 5", arg.index()))
    })?;
    let (op, value) = cmp(arg);
    if let SeccompCmpOp::MaskedEq(mask) = op {
        // libseccomp's (arg & value) == valueTwo never holds then; seccompiler would mask valueTwo too.
        if value & !mask != 0 {
            return Err(Error::config(
                field,
                format!("valueTwo {value:#x} has bits outside the mask {mask:#x}, so SCMP_CMP_MASKED_EQ can never match: clear them"),
            ));
        }
    }
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|e| Error::config(field, e.to_string()))
}

/// SCMP_CMP_MASKED_EQ compares `arg & value` with `valueTwo`; the others compare with `value`.
fn cmp(arg: &LinuxSeccompArg) -> (SeccompCmpOp, u64) {
    match arg.op() {
        Op::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        Op::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        Op::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        Op::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        Op::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        Op::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        Op::ScmpCmpMaskedEq => (SeccompCmpOp::MaskedEq(arg.value()), arg.value_two().unwrap_or(0)),
    }
}

fn resolve_names(names: &[String], field: &str, skipped: &mut Vec<String>) -> Result<Vec<i64>> {
    let mut numbers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match syscalls::Sysno::from_str(name) {
            Ok(sysno) => numbers.push(i64::from(sysno.id())),
            Err(()) if exists_on_another_arch(name) => skipped.push(name.clone()),
            Err(()) => return Err(unknown_syscall(name, &format!("{field}.names[{i}]"))),
        }
    }
    Ok(numbers)
}

fn exists_on_another_arch(name: &str) -> bool {
    use syscalls::{aarch64, arm, loongarch64, mips, mips64, powerpc, powerpc64, riscv64, s390x, sparc64, x86, x86_64};
    x86::Sysno::from_str(name).is_ok()
        || x86_64::Sysno::from_str(name).is_ok()
        || arm::Sysno::from_str(name).is_ok()
        || aarch64::Sysno::from_str(name).is_ok()
        || riscv64::Sysno::from_str(name).is_ok()
        || s390x::Sysno::from_str(name).is_ok()
        || powerpc::Sysno::from_str(name).is_ok()
        || powerpc64::Sysno::from_str(name).is_ok()
        || mips::Sysno::from_str(name).is_ok()
        || mips64::Sysno::from_str(name).is_ok()
        || sparc64::Sysno::from_str(name).is_ok()
        || loongarch64::Sysno::from_str(name).is_ok()
}

fn unknown_syscall(name: &str, field: &str) -> Error {
    let close = syscalls::Sysno::iter()
        .map(|s| (labkit::catalogue::edit_distance(name, s.name()), s.name()))
        .min()
        .filter(|(distance, _)| *distance <= 2 && *distance <= name.len() / 2)
        .map(|(_, known)| format!(" (did you mean {known}?)"))
        .unwrap_or_default();
    Error::config(field, format!("unknown system call {name:?}{close}: use a name from syscalls(2), or remove it"))
}

fn flag_bits(flags: &[oci_spec::runtime::LinuxSeccompFilterFlag]) -> libc::c_ulong {
    use oci_spec::runtime::LinuxSeccompFilterFlag as Flag;
    flags.iter().fold(0, |bits, flag| {
        bits | match flag {
            Flag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            Flag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            Flag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        }
    })
}

fn not_supported(field: &str, what: &str, hint: &str) -> Error {
    Error::config(field, format!("{what} is not supported by lcrun: {hint}"))
}

/// Docker's default profile in outline (moby's `profiles/seccomp/default.json`): everything
/// refused with EPERM but the usual system calls; `personality` only for its harmless
/// personas, `clone` only without new namespaces (the engine adds `clone`, `unshare`, `mount`
/// … when CAP_SYS_ADMIN is granted), `clone3` answered ENOSYS so libc falls back to `clone`.
pub fn docker_default() -> LinuxSeccomp {
    let allow = |names: &[&str]| rule(names, Action::ScmpActAllow, None, Vec::new());
    let personas = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];
    let mut syscalls = vec![allow(DOCKER_ALLOWED)];
    syscalls.extend(
        personas.map(|p| rule(&["personality"], Action::ScmpActAllow, None, vec![arg(0, Op::ScmpCmpEq, p, None)])),
    );
    syscalls.push(rule(
        &["clone"],
        Action::ScmpActAllow,
        None,
        vec![arg(0, Op::ScmpCmpMaskedEq, CLONE_NEW_ANY, Some(0))],
    ));
    syscalls.push(rule(&["clone3"], Action::ScmpActErrno, Some(libc::ENOSYS as u32), Vec::new()));
    LinuxSeccompBuilder::default()
        .default_action(Action::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(native_and_compat())
        .syscalls(syscalls)
        .build()
        .expect("every field is set")
}

/// CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (docker's mask).
const CLONE_NEW_ANY: u64 = 0x7e02_0000;

fn native_and_compat() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchNative],
    }
}

fn rule(names: &[&str], action: Action, errno_ret: Option<u32>, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    let mut builder =
        LinuxSyscallBuilder::default().names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).action(action);
    if let Some(errno) = errno_ret {
        builder = builder.errno_ret(errno);
    }
    if !args.is_empty() {
        builder = builder.args(args);
    }
    builder.build().expect("names and action are set")
}

fn arg(index: usize, op: Op, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let builder = oci_spec::runtime::LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
    match value_two {
        Some(two) => builder.value_two(two),
        None => builder,
    }
    .build()
    .expect("index, op and value are set")
}

/// The system calls docker allows every container (its profile's first, unconditional rule,
/// plus the per-architecture ones; names of other architectures are skipped when compiled).
const DOCKER_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "modify_ldt",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socket",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(value).expect("a valid linux.seccomp object")
    }

    fn compile_err(value: serde_json::Value) -> String {
        compile(&spec(value)).unwrap_err().to_string()
    }

    #[test]
    fn an_unknown_syscall_is_named_with_its_place_and_a_close_match() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG"}, {"names": ["getpid", "mkdri"], "action": "SCMP_ACT_ERRNO"}]}));
        assert_eq!(
            err,
            "config.json: linux.seccomp.syscalls[1].names[1]: unknown system call \"mkdri\" (did you mean mkdir?): \
             use a name from syscalls(2), or remove it"
        );
    }

    #[test]
    fn a_name_no_architecture_knows_gets_no_wild_guess() {
        let err = compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["frobnicate"], "action": "SCMP_ACT_ERRNO"}]}),
        );
        assert!(
            err.ends_with("unknown system call \"frobnicate\": use a name from syscalls(2), or remove it"),
            "{err}"
        );
    }

    #[test]
    fn names_of_other_architectures_are_skipped_like_runc() {
        let filter = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["socketcall", "mkdir", "arm_fadvise64_64"], "action": "SCMP_ACT_ERRNO"}]})))
        .unwrap();
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(filter.skipped(), ["socketcall", "arm_fadvise64_64"]);
        }
        assert_eq!(filter.program_lengths().len(), 1);
    }

    #[test]
    fn notify_and_a_listener_are_not_supported() {
        let err = compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
        );
        assert_eq!(
            err,
            "config.json: linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY (a seccomp agent) is not supported by lcrun: use SCMP_ACT_ERRNO"
        );
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}));
        assert!(
            err.starts_with(
                "config.json: linux.seccomp.listenerPath: a seccomp agent (/run/agent.sock) is not supported by lcrun"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_foreign_architecture_is_not_supported() {
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}));
        assert!(err.starts_with("config.json: linux.seccomp.architectures: SCMP_ARCH_S390X on this"), "{err}");
        assert!(
            err.ends_with("is not supported by lcrun: filters are compiled for the native architecture; remove it"),
            "{err}"
        );
    }

    #[test]
    fn native_and_compat_architectures_are_accepted() {
        compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": native_and_compat()}))).unwrap();
    }

    #[test]
    fn errno_ret_only_goes_with_errno_and_trace() {
        let err = compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}),
        );
        assert!(
            err.contains(
                "syscalls[0]: an errno return only goes with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_KILL"
            ),
            "{err}"
        );
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}));
        assert!(err.contains("defaultAction: errno return 70000 is not an errno"), "{err}");
    }

    #[test]
    fn an_argument_index_beyond_five_is_refused() {
        let err = compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
        );
        assert!(err.contains("syscalls[0].args[0]: index 6 is no argument"), "{err}");
    }

    #[test]
    fn every_operator_maps_to_its_comparison() {
        let cases = [
            ("SCMP_CMP_NE", SeccompCmpOp::Ne, 7),
            ("SCMP_CMP_LT", SeccompCmpOp::Lt, 7),
            ("SCMP_CMP_LE", SeccompCmpOp::Le, 7),
            ("SCMP_CMP_EQ", SeccompCmpOp::Eq, 7),
            ("SCMP_CMP_GE", SeccompCmpOp::Ge, 7),
            ("SCMP_CMP_GT", SeccompCmpOp::Gt, 7),
            // masked: (arg & value) == valueTwo
            ("SCMP_CMP_MASKED_EQ", SeccompCmpOp::MaskedEq(7), 3),
        ];
        for (name, op, value) in cases {
            let arg: LinuxSeccompArg =
                serde_json::from_value(json!({"index": 1, "value": 7, "valueTwo": 3, "op": name})).unwrap();
            assert_eq!(cmp(&arg), (op, value), "{name}");
        }
    }

    #[test]
    fn a_masked_value_with_bits_outside_the_mask_is_refused() {
        let err = compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["close"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0xff00, "valueTwo": 0x0301, "op": "SCMP_CMP_MASKED_EQ"}]}]}),
        );
        assert!(err.contains("args[0]: valueTwo 0x301 has bits outside the mask 0xff00"), "{err}");
    }

    #[test]
    fn conditions_on_one_argument_are_ored_and_on_several_anded() {
        let args = |v: serde_json::Value| -> Vec<LinuxSeccompArg> { serde_json::from_value(v).unwrap() };
        let same =
            args(json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]));
        let Match::AnyOf(rules) = conditions(&same, "f").unwrap() else { panic!("conditional") };
        assert_eq!(rules.len(), 2);
        let distinct =
            args(json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]));
        let Match::AnyOf(rules) = conditions(&distinct, "f").unwrap() else { panic!("conditional") };
        assert_eq!(rules.len(), 1);
        assert_eq!(conditions(&[], "f").unwrap(), Match::Always);
    }

    #[test]
    fn one_program_for_the_default_and_one_per_other_action() {
        let filter = compile(&spec(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
        ]})))
        .unwrap();
        // ENOSYS, then the base (EPERM unless matched); rmdir's EPERM is the default already.
        assert_eq!(filter.program_lengths().len(), 2);
        let allow_all = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW"}))).unwrap();
        assert!(allow_all.program_lengths().is_empty());
    }

    #[test]
    fn the_base_filter_is_installed_last_and_seccomp_rules_just_before_it() {
        let filter = compile(&spec(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
            {"names": ["seccomp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["mkdir"], "action": "SCMP_ACT_TRAP"},
        ]})))
        .unwrap();
        let last_return = |p: &Vec<libc::sock_filter>| p.last().unwrap().k;
        let returns: Vec<u32> = filter.programs.iter().map(last_return).collect();
        // Each program ends with its mismatch action: ALLOW, ALLOW, then the default.
        assert_eq!(returns, [libc::SECCOMP_RET_ALLOW, libc::SECCOMP_RET_ALLOW, libc::SECCOMP_RET_KILL_PROCESS]);
        assert!(
            filter.programs[1].iter().any(|i| i.k == libc::SECCOMP_RET_ERRNO | 38),
            "the seccomp rule's program is second"
        );
        let err = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["seccomp"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["seccomp"], "action": "SCMP_ACT_LOG"},
        ]}));
        assert!(err.contains("rules of more than one action for seccomp itself"), "{err}");
    }

    #[test]
    fn x86_64_programs_kill_x32_calls_after_the_arch_check() {
        if std::env::consts::ARCH != "x86_64" {
            return;
        }
        let filter = compile(&spec(json!({"defaultAction": "SCMP_ACT_KILL"}))).unwrap();
        let guard = &filter.programs[0][3..6];
        assert_eq!((guard[1].code, guard[1].k), (0x35, 0x4000_0000));
        assert_eq!(guard[2].k, libc::SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn flags_become_seccomp_filter_flags() {
        let flags = serde_json::from_value::<Vec<oci_spec::runtime::LinuxSeccompFilterFlag>>(json!([
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
        ]))
        .unwrap();
        assert_eq!(flag_bits(&flags), libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    }

    #[test]
    fn docker_default_compiles_within_the_bpf_limit() {
        let filter = compile(&docker_default()).unwrap();
        let lengths = filter.program_lengths();
        assert_eq!(lengths.len(), 2, "EPERM base + ENOSYS for clone3");
        assert!(lengths.iter().all(|&n| n < 4096), "{lengths:?}");
        if std::env::consts::ARCH == "x86_64" {
            assert!(filter.skipped().iter().any(|s| s == "socketcall"));
        }
    }
}
