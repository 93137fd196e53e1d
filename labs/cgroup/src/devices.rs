//! cgroup v2 has no devices.allow/devices.deny: the kernel asks an eBPF program
//! (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the group at every mknod and open of a device node,
//! and the access is refused (EPERM) unless every program on the group and its parents returns 1.
//! [`program`] compiles the same rule list v1 writes into its files to such a program, so a rule
//! means the same in both worlds; [`attach`] loads it and puts it on the group (BPF_F_ALLOW_MULTI,
//! as runc and crun do), replacing the one an earlier apply attached.
//!
//! v1's semantics: rules apply in order and a later rule overrides an earlier one for the devices
//! it names; `a *:* rwm` resets the default (deny or allow everything). So the program tests the
//! rules from the last back to the most recent `a *:* rwm`, and the first that matches decides;
//! then that default (allow, as for a new v1 group, when there is none). An allow rule matches
//! when it grants every access asked for; a deny rule when it takes any of them.
//!
//! The program's input (struct bpf_cgroup_dev_ctx): `access_type` = access << 16 | type (type:
//! 1 block, 2 char; access: 1 mknod, 2 read, 4 write), `major`, `minor`, each a u32.

use crate::resources::DeviceRule;
use crate::{Error, Result};
use std::path::Path;

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads, as one little-endian u64.
    pub fn encode(&self) -> u64 {
        u64::from(self.code)
            | u64::from(self.dst & 0xf | (self.src & 0xf) << 4) << 8
            | u64::from(self.off as u16) << 16
            | u64::from(self.imm as u32) << 32
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55; // if dst != imm: pc += off
const JMP_JEQ_K: u8 = 0x15;
const JMP_JSET_K: u8 = 0x45; // if dst & imm: pc += off
const JMP_EXIT: u8 = 0x95;

// Registers: r1 holds the context; r2..r5 what the prologue loads from it; r0 the answer.
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_SCRATCH: u8 = 6;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, dst, src, off, imm }
}

/// The access bits of `rwm` letters (empty = all).
fn access_bits(access: &str) -> i32 {
    if access.is_empty() {
        return 7;
    }
    let mut bits = 0;
    for c in access.chars() {
        bits |= match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        };
    }
    bits
}

/// The program for `rules`, or None when it would allow everything (no program is needed).
pub fn program(rules: &[DeviceRule]) -> Option<Vec<Insn>> {
    // Only the rules after the last `a *:* rwm` matter; that one sets the default.
    let (default_allow, tail) = match rules.iter().rposition(DeviceRule::is_everything) {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (true, rules),
    };
    if default_allow && tail.iter().all(|r| r.allow) {
        return None;
    }
    let mut out = vec![
        insn(LDX_MEM_W, R_TYPE, 1, 0, 0),
        insn(ALU64_AND_K, R_TYPE, 0, 0, 0xffff),
        insn(LDX_MEM_W, R_ACCESS, 1, 0, 0),
        insn(ALU64_RSH_K, R_ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, R_MAJOR, 1, 4, 0),
        insn(LDX_MEM_W, R_MINOR, 1, 8, 0),
    ];
    for rule in tail.iter().rev() {
        out.extend(rule_block(rule));
    }
    out.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(default_allow)));
    out.push(insn(JMP_EXIT, 0, 0, 0, 0));
    Some(out)
}

/// One rule: tests that jump past the block when the rule does not match, then the answer.
fn rule_block(rule: &DeviceRule) -> Vec<Insn> {
    // Each test is (instructions, index of the jump among them); offsets are filled at the end.
    let mut tests: Vec<Vec<Insn>> = Vec::new();
    match rule.kind {
        'b' => tests.push(vec![insn(JMP_JNE_K, R_TYPE, 0, 0, 1)]),
        'c' => tests.push(vec![insn(JMP_JNE_K, R_TYPE, 0, 0, 2)]),
        _ => {}
    }
    if let Some(major) = rule.major {
        tests.push(vec![insn(JMP_JNE_K, R_MAJOR, 0, 0, major as i32)]);
    }
    if let Some(minor) = rule.minor {
        tests.push(vec![insn(JMP_JNE_K, R_MINOR, 0, 0, minor as i32)]);
    }
    let bits = access_bits(&rule.access);
    if rule.allow {
        // Asked for anything the rule does not grant: not this rule.
        if bits != 7 {
            tests.push(vec![insn(JMP_JSET_K, R_ACCESS, 0, 0, !bits & 7)]);
        }
    } else if bits != 7 {
        // Asked for nothing the rule takes: not this rule.
        tests.push(vec![
            insn(ALU64_MOV_X, R_SCRATCH, R_ACCESS, 0, 0),
            insn(ALU64_AND_K, R_SCRATCH, 0, 0, bits),
            insn(JMP_JEQ_K, R_SCRATCH, 0, 0, 0),
        ]);
    }
    let mut block: Vec<Insn> = tests.into_iter().flatten().collect();
    block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
    block.push(insn(JMP_EXIT, 0, 0, 0, 0));
    let len = block.len();
    for (i, ins) in block.iter_mut().enumerate() {
        if matches!(ins.code, JMP_JNE_K | JMP_JEQ_K | JMP_JSET_K) {
            // Relative to the next instruction: to the first one after the block.
            ins.off = (len - i - 1) as i16;
        }
    }
    block
}

/// Loads the program for `rules` and attaches it to the v2 group directory `dir`, then detaches
/// the device programs attached there before (an earlier apply's). Allow-everything detaches only.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    let io = |op: &'static str| move |source: std::io::Error| Error::Io { op, path: dir.to_path_buf(), source };
    let group = std::fs::File::open(dir).map_err(io("open"))?;
    use std::os::fd::AsFd;
    let before = labkit::sys::bpf_device_programs(group.as_fd()).map_err(io("bpf(BPF_PROG_QUERY) on"))?;
    if let Some(prog) = program(rules) {
        let insns: Vec<u64> = prog.iter().map(Insn::encode).collect();
        let fd = labkit::sys::bpf_load_device_program(&insns, c"MIT")
            .map_err(io("bpf(BPF_PROG_LOAD) of the device program for"))?;
        labkit::sys::bpf_attach_device_program(group.as_fd(), fd.as_fd())
            .map_err(io("bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) to"))?;
    }
    for id in before {
        labkit::sys::bpf_detach_device_program(group.as_fd(), id).map_err(io("bpf(BPF_PROG_DETACH) from"))?;
    }
    Ok(())
}

/// The ids of the device programs attached to the v2 group `dir` (BPF_PROG_QUERY).
pub fn attached(dir: &Path) -> Result<Vec<u32>> {
    let group = std::fs::File::open(dir).map_err(|source| Error::Io { op: "open", path: dir.to_path_buf(), source })?;
    use std::os::fd::AsFd;
    labkit::sys::bpf_device_programs(group.as_fd()).map_err(|source| Error::Io {
        op: "bpf(BPF_PROG_QUERY) on",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `prog` as the kernel would on one device access (the opcodes above only).
    fn run(prog: &[Insn], kind: u32, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU64_AND_K => r[d] &= imm,
                ALU64_RSH_K => r[d] >>= imm,
                ALU64_MOV_K => r[d] = imm,
                ALU64_MOV_X => r[d] = r[s],
                JMP_JNE_K | JMP_JEQ_K | JMP_JSET_K => {
                    let taken = match i.code {
                        JMP_JNE_K => r[d] != imm,
                        JMP_JEQ_K => r[d] == imm,
                        _ => r[d] & imm != 0,
                    };
                    if taken {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> DeviceRule {
        DeviceRule { allow, kind, major, minor, access: access.into() }
    }

    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    #[test]
    fn deny_all_then_allow_some_is_a_whitelist() {
        let rules = [
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'b', None, None, "m"),
            rule(true, 'c', Some(136), None, "rw"),
        ];
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 2, 1, 3, R | W), 1, "/dev/null");
        assert_eq!(run(&p, 2, 1, 5, R), 0, "/dev/zero is not listed");
        assert_eq!(run(&p, 1, 8, 0, M), 1, "mknod of any block device");
        assert_eq!(run(&p, 1, 8, 0, R), 0, "but no read");
        assert_eq!(run(&p, 2, 136, 7, R | W), 1, "any pts");
        assert_eq!(run(&p, 2, 136, 7, M), 0, "not mknod of one");
        assert_eq!(run(&p, 1, 1, 3, R), 0, "the type counts: b 1:3 is not c 1:3");
    }

    #[test]
    fn a_later_rule_overrides_an_earlier_one_and_a_reset_forgets_what_came_before() {
        let rules = [
            rule(false, 'a', None, None, ""),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(false, 'c', Some(1), Some(3), "w"),
        ];
        let p = program(&rules).unwrap();
        assert_eq!(run(&p, 2, 1, 3, R), 1);
        assert_eq!(run(&p, 2, 1, 3, W), 0);
        assert_eq!(run(&p, 2, 1, 3, R | W), 0, "a deny takes any of the asked accesses");
        // Allow-all after a whitelist: nothing before it counts, no program needed.
        let mut reset = rules.to_vec();
        reset.push(rule(true, 'a', None, None, "rwm"));
        assert_eq!(program(&reset), None);
        // A deny after an allow-all: a blacklist.
        reset.push(rule(false, 'b', Some(8), None, "rw"));
        let p = program(&reset).unwrap();
        assert_eq!(run(&p, 1, 8, 1, R), 0);
        assert_eq!(run(&p, 1, 8, 1, M), 1);
        assert_eq!(run(&p, 2, 1, 3, W), 1);
    }

    #[test]
    fn no_reset_means_allow_by_default_as_a_new_v1_group() {
        assert_eq!(program(&[rule(true, 'c', Some(1), Some(3), "rwm")]), None);
        let p = program(&[rule(false, 'c', Some(1), Some(5), "rwm")]).unwrap();
        assert_eq!(run(&p, 2, 1, 5, R), 0);
        assert_eq!(run(&p, 2, 1, 3, R), 1);
    }

    #[test]
    fn instructions_encode_as_struct_bpf_insn() {
        // r2 = *(u32 *)(r1 + 4): code 0x61, dst 2 / src 1 -> 0x12, off 4, imm 0.
        assert_eq!(insn(LDX_MEM_W, 2, 1, 4, 0).encode(), 0x0000_0000_0004_1261);
        // if r4 != -1 goto +3
        assert_eq!(insn(JMP_JNE_K, 4, 0, 3, -1).encode(), 0xffff_ffff_0003_0455);
    }
}
