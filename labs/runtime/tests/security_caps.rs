//! Capability sets really applied, each in a forked child that then waits while the test reads
//! its /proc/PID/status (CapInh, CapPrm, CapEff, CapBnd, CapAmb) and compares them with the
//! masks the spec gives. Root: the child starts with every capability.

use labkit::testing::require_root;
use labruntime::caps::{self, CapSet, CapSets};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxCapabilities;
use serde_json::json;
use std::collections::BTreeMap;
use std::os::fd::AsRawFd;

/// What the child does between fork and the status read.
#[derive(Clone, Copy)]
enum Steps {
    /// apply_bounding + apply_after_setuid, staying uid 0.
    AsRoot,
    /// apply_bounding, keep caps, setresuid(uid), apply_after_setuid: the init's order.
    ChangingUid { uid: u32, keep_caps: bool },
}

struct Child {
    /// 0 if every step succeeded, else the number of the step that failed.
    failed_step: u8,
    status: BTreeMap<String, String>,
}

fn apply(sets: &CapSets, steps: Steps) -> u8 {
    if sets.apply_bounding().is_err() {
        return 1;
    }
    if let Steps::ChangingUid { uid, keep_caps } = steps {
        if keep_caps && caps::keep_caps_across_setuid().is_err() {
            return 2;
        }
        if labkit::sys::set_ids_raw(uid, uid).is_err() {
            return 3;
        }
    }
    if sets.apply_after_setuid().is_err() {
        return 4;
    }
    0
}

/// Forks a child that applies `sets`, reports over a pipe and waits until its status is read.
fn child_after(sets: &CapSets, steps: Steps) -> Child {
    let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
    let (go_r, go_w) = nix::unistd::pipe().unwrap();
    let pid = labkit::sys::fork_child(|| {
        let failed_step = apply(sets, steps);
        let _ = nix::unistd::write(&ready_w, &[failed_step]);
        let _ = nix::unistd::read(go_r.as_raw_fd(), &mut [0u8]);
        0
    })
    .expect("fork");
    let mut byte = [0u8];
    assert_eq!(nix::unistd::read(ready_r.as_raw_fd(), &mut byte).unwrap(), 1, "the child reports");
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    nix::unistd::write(&go_w, b"g").unwrap();
    waitpid(Pid::from_raw(pid), None).unwrap();
    let status =
        text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect();
    Child { failed_step: byte[0], status }
}

impl Child {
    fn mask(&self, field: &str) -> u64 {
        u64::from_str_radix(&self.status[field], 16).unwrap()
    }

    /// CapInh, CapPrm, CapEff, CapBnd, CapAmb as read.
    fn masks(&self) -> [u64; 5] {
        ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map(|f| self.mask(f))
    }
}

fn expected(sets: &CapSets) -> [u64; 5] {
    [CapSet::Inheritable, CapSet::Permitted, CapSet::Effective, CapSet::Bounding, CapSet::Ambient].map(|s| sets.mask(s))
}

fn sets(value: serde_json::Value) -> CapSets {
    let spec: LinuxCapabilities = serde_json::from_value(value).unwrap();
    CapSets::from_spec(Some(&spec)).unwrap()
}

fn five_different_sets() -> CapSets {
    sets(json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }))
}

#[test]
fn as_root_the_child_ends_with_exactly_the_five_sets() {
    if !require_root("capabilities: applying the five sets") {
        return;
    }
    let sets = five_different_sets();
    let child = child_after(&sets, Steps::AsRoot);
    assert_eq!(child.failed_step, 0);
    assert_eq!(child.masks(), expected(&sets));
    // The literal masks, so the test does not only agree with itself: bits 0 CHOWN, 5 KILL,
    // 10 NET_BIND_SERVICE, 25 SYS_TIME.
    assert_eq!(child.masks(), [0x2000400, 0x421, 0x420, 0x2000421, 0x400]);
}

#[test]
fn keep_caps_carries_the_permitted_set_across_setresuid() {
    if !require_root("capabilities: across a uid change") {
        return;
    }
    let sets = five_different_sets();
    let child = child_after(&sets, Steps::ChangingUid { uid: 65534, keep_caps: true });
    assert_eq!(child.failed_step, 0);
    assert!(child.status["Uid"].starts_with("65534\t65534\t65534"), "{}", child.status["Uid"]);
    assert_eq!(child.masks(), expected(&sets));
}

#[test]
fn without_keep_caps_setresuid_empties_permitted_and_the_sets_cannot_be_reached() {
    if !require_root("capabilities: setresuid without keep-caps") {
        return;
    }
    let sets = five_different_sets();
    let child = child_after(&sets, Steps::ChangingUid { uid: 65534, keep_caps: false });
    assert_eq!(child.failed_step, 4, "apply_after_setuid must fail: effective is no longer within permitted");
    assert_eq!(child.mask("CapPrm"), 0);
}

#[test]
fn docker_defaults_give_dockers_well_known_bounding_mask() {
    if !require_root("capabilities: docker's defaults") {
        return;
    }
    let sets = CapSets::from_spec(Some(&caps::docker_defaults())).unwrap();
    let child = child_after(&sets, Steps::AsRoot);
    assert_eq!(child.failed_step, 0);
    assert_eq!(child.masks(), [0, 0xa80425fb, 0xa80425fb, 0xa80425fb, 0]);
}

#[test]
fn no_capabilities_object_leaves_the_child_as_it_was() {
    if !require_root("capabilities: absent process.capabilities") {
        return;
    }
    let before = child_after(&sets(json!({"bounding": [], "permitted": [], "effective": []})), Steps::AsRoot);
    assert_eq!(before.masks(), [0; 5], "control: an empty spec empties every set");
    let unchanged = child_after(&CapSets::from_spec(None).unwrap(), Steps::AsRoot);
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let our_bounding = ours.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim();
    assert_eq!(unchanged.status["CapBnd"], our_bounding);
    assert_ne!(unchanged.mask("CapEff"), 0);
}
