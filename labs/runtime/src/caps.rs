//! `process.capabilities` → the five capability sets of the container's init, through the
//! `caps` crate.
//!
//! The init follows runc's and youki's order:
//!
//! ```text
//! caps.apply_bounding()?;            // still root: dropping from the bounding set needs CAP_SETPCAP
//! caps::keep_caps_across_setuid()?;  // PR_SET_KEEPCAPS: permitted survives the uid change
//! setgroups / setresgid / setresuid  // (labkit::sys::set_ids_raw)
//! caps.apply_after_setuid()?;        // effective, inheritable, permitted, then ambient
//! ```
//!
//! Without keep-caps, a change from uid 0 to another uid clears the permitted set and the
//! spec's sets could no longer be reached. Every set is validated in [`CapSets::from_spec`],
//! before anything is created; the `apply_*` functions allocate nothing unless they fail, so
//! they are safe in a `labkit::sys::clone_child` body.
//!
//! Unknown names: oci-spec's serde already refuses them while config.json is parsed, with an
//! error that names neither the set nor a fix ("no variant for CAP_TEST (converted to TEST)").
//! The loader calls [`check_names`] on the raw JSON first, so the error says which set and what
//! to do.

use crate::{Error, Result};
pub use caps::CapSet;
use caps::{Capability, CapsHashSet};
use oci_spec::runtime::{Capability as SpecCapability, LinuxCapabilities, LinuxCapabilitiesBuilder};
use std::str::FromStr;

/// The five sets, in the order /proc/PID/status lists them, with their config.json names.
const SETS: [(CapSet, &str); 5] = [
    (CapSet::Inheritable, "inheritable"),
    (CapSet::Permitted, "permitted"),
    (CapSet::Effective, "effective"),
    (CapSet::Bounding, "bounding"),
    (CapSet::Ambient, "ambient"),
];

/// The capability sets a container's init ends with, validated against this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapSets {
    /// `process.capabilities` absent: like runc, leave the init's capabilities as they are.
    unchanged: bool,
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
    /// Capabilities this kernel has that the bounding set leaves out, computed ahead so
    /// `apply_bounding` allocates nothing.
    bounding_drops: Vec<Capability>,
}

impl CapSets {
    /// Converts and validates the spec's sets: every name known to this kernel, and the
    /// kernel's own rules (effective ⊆ permitted,
    /// inheritable ⊆ bounding) checked here so they fail with a message instead of EPERM.
    pub fn from_spec(spec: Option<&LinuxCapabilities>) -> Result<CapSets> {
        let Some(spec) = spec else {
            return Ok(CapSets { unchanged: true, ..CapSets::empty() });
        };
        let kernel = caps::runtime::thread_all_supported();
        let set = |name: &str, caps: &Option<oci_spec::runtime::Capabilities>| {
            to_caps_set(name, caps.iter().flatten(), &kernel)
        };
        let sets = CapSets {
            unchanged: false,
            bounding: set("bounding", spec.bounding())?,
            effective: set("effective", spec.effective())?,
            inheritable: set("inheritable", spec.inheritable())?,
            permitted: set("permitted", spec.permitted())?,
            ambient: set("ambient", spec.ambient())?,
            bounding_drops: Vec::new(),
        };
        sets.check_kernel_rules()?;
        // A runtime can hand on only what it may hold: capabilities missing from its own
        // bounding set (a host or an outer container that withholds them) are left out rather
        // than failing capset(2), as crun does.
        let offered = caps::read(None, CapSet::Bounding).map_err(|e| Error::caps("reading the bounding set", e))?;
        let within = |set: &CapsHashSet| -> CapsHashSet { set.intersection(&offered).copied().collect() };
        let sets = CapSets {
            effective: within(&sets.effective),
            inheritable: within(&sets.inheritable),
            permitted: within(&sets.permitted),
            // The kernel raises an ambient capability only if it is permitted and inheritable;
            // runc and crun pass the rest over silently (runc's own default spec lists ambient
            // capabilities that are not inheritable), so lcrun does too.
            ambient: within(&sets.ambient)
                .into_iter()
                .filter(|c| sets.permitted.contains(c) && sets.inheritable.contains(c))
                .collect(),
            ..sets
        };
        let mut bounding_drops: Vec<Capability> = kernel.difference(&sets.bounding).copied().collect();
        bounding_drops.sort_by_key(|c| c.index());
        Ok(CapSets { bounding_drops, ..sets })
    }

    fn empty() -> CapSets {
        CapSets {
            unchanged: false,
            bounding: CapsHashSet::new(),
            effective: CapsHashSet::new(),
            inheritable: CapsHashSet::new(),
            permitted: CapsHashSet::new(),
            ambient: CapsHashSet::new(),
            bounding_drops: Vec::new(),
        }
    }

    /// The set `which` as the spec gives it.
    pub fn get(&self, which: CapSet) -> &CapsHashSet {
        match which {
            CapSet::Bounding => &self.bounding,
            CapSet::Effective => &self.effective,
            CapSet::Inheritable => &self.inheritable,
            CapSet::Permitted => &self.permitted,
            CapSet::Ambient => &self.ambient,
        }
    }

    /// The set `which` as the bit mask /proc/PID/status shows (CapBnd, CapEff, …).
    pub fn mask(&self, which: CapSet) -> u64 {
        self.get(which).iter().fold(0, |mask, cap| mask | cap.bitmask())
    }

    /// False when config.json has no `process.capabilities` and nothing will be changed.
    pub fn changes_anything(&self) -> bool {
        !self.unchanged
    }

    /// Drops every capability outside the bounding set (PR_CAPBSET_DROP). Call while still
    /// root with CAP_SETPCAP effective, before changing uid.
    pub fn apply_bounding(&self) -> Result<()> {
        for &cap in &self.bounding_drops {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                Error::caps(format!("dropping {cap} from the bounding set (needs CAP_SETPCAP: drop before setuid)"), e)
            })?;
        }
        Ok(())
    }

    /// Sets effective, inheritable, permitted and ambient as the spec says; call after
    /// [`keep_caps_across_setuid`] and setresuid (or as root without a uid change). Effective
    /// goes first (it must stay within the still-full permitted set), inheritable while
    /// permitted is still full, permitted shrinks last, and ambient needs the final
    /// permitted and inheritable sets.
    pub fn apply_after_setuid(&self) -> Result<()> {
        if self.unchanged {
            return Ok(());
        }
        caps::securebits::set_keepcaps(false).map_err(|e| Error::caps("clearing PR_SET_KEEPCAPS", e))?;
        for (which, name, set) in [
            (CapSet::Effective, "effective", &self.effective),
            (CapSet::Inheritable, "inheritable", &self.inheritable),
            (CapSet::Permitted, "permitted", &self.permitted),
        ] {
            caps::set(None, which, set).map_err(|e| Error::caps(format!("setting the {name} set"), e))?;
        }
        caps::clear(None, CapSet::Ambient).map_err(|e| Error::caps("clearing the ambient set", e))?;
        for &cap in &self.ambient {
            caps::raise(None, CapSet::Ambient, cap)
                .map_err(|e| Error::caps(format!("raising {cap} in the ambient set"), e))?;
        }
        Ok(())
    }

    fn check_kernel_rules(&self) -> Result<()> {
        let must_be_within = |inner: &CapsHashSet, inner_name: &str, outer: &CapsHashSet, outer_name: &str| {
            let mut outside: Vec<String> = inner.difference(outer).map(|c| c.to_string()).collect();
            if outside.is_empty() {
                return Ok(());
            }
            outside.sort();
            let names = outside.join(", ");
            Err(Error::config(
                format!("process.capabilities.{inner_name}"),
                format!(
                    "{names} not in {outer_name}: the kernel only allows {inner_name} capabilities that are also \
                     {outer_name}; add {names} to {outer_name} or remove it from {inner_name}"
                ),
            ))
        };
        must_be_within(&self.effective, "effective", &self.permitted, "permitted")?;
        must_be_within(&self.inheritable, "inheritable", &self.bounding, "bounding")
    }
}

/// Sets PR_SET_KEEPCAPS so the permitted set survives setresuid from uid 0 (the effective set
/// is still cleared; [`CapSets::apply_after_setuid`] sets it again and clears the flag).
pub fn keep_caps_across_setuid() -> Result<()> {
    caps::securebits::set_keepcaps(true).map_err(|e| Error::caps("setting PR_SET_KEEPCAPS", e))
}

/// Checks the capability names of a raw config.json (`process.capabilities.*`) before
/// oci-spec parses it, so an unknown name is reported with its set and a close match.
pub fn check_names(config: &serde_json::Value) -> Result<()> {
    let Some(capabilities) = config.pointer("/process/capabilities") else {
        return Ok(());
    };
    for (_, set) in SETS {
        let names = capabilities.get(set).and_then(|v| v.as_array()).into_iter().flatten();
        for name in names.filter_map(|v| v.as_str()) {
            if Capability::from_str(&caps::to_canonical(name)).is_err() {
                return Err(unknown_name(set, name));
            }
        }
    }
    Ok(())
}

fn unknown_name(set: &str, name: &str) -> Error {
    let wrong = caps::to_canonical(name);
    let wrong = wrong.trim_start_matches("CAP_");
    let close = caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .map(|known| (labkit::catalogue::edit_distance(wrong, &known[4..]), known))
        .min()
        .filter(|(distance, _)| *distance <= 2 && *distance <= wrong.len() / 2)
        .map(|(_, known)| format!(" (did you mean {known}?)"))
        .unwrap_or_default();
    Error::config(
        format!("process.capabilities.{set}"),
        format!("unknown capability {name:?}{close}: use a name from capabilities(7), such as CAP_NET_BIND_SERVICE, or remove it"),
    )
}

fn to_caps_set<'a>(
    set: &str,
    spec: impl Iterator<Item = &'a SpecCapability>,
    kernel: &CapsHashSet,
) -> Result<CapsHashSet> {
    spec.map(|cap| {
        // oci-spec prints AUDIT_WRITE, the caps crate parses CAP_AUDIT_WRITE.
        let name = format!("CAP_{cap}");
        let cap = Capability::from_str(&name).map_err(|_| unknown_name(set, &name))?;
        if !kernel.contains(&cap) {
            return Err(Error::config(
                format!("process.capabilities.{set}"),
                format!(
                    "{cap} is unknown to this kernel (its last capability is number {}, see \
                     /proc/sys/kernel/cap_last_cap): remove it from {set} or use a newer kernel",
                    kernel.iter().map(|c| c.index()).max().unwrap_or(0)
                ),
            ));
        }
        Ok(cap)
    })
    .collect()
}

/// Docker's default capabilities (moby's `oci/caps/defaults.go`): bounding, effective and
/// permitted; inheritable and ambient empty, as docker leaves them since 20.10.14.
pub fn docker_defaults() -> LinuxCapabilities {
    use SpecCapability::*;
    let default: oci_spec::runtime::Capabilities = [
        Chown,
        DacOverride,
        Fsetid,
        Fowner,
        Mknod,
        NetRaw,
        Setgid,
        Setuid,
        Setfcap,
        Setpcap,
        NetBindService,
        SysChroot,
        Kill,
        AuditWrite,
    ]
    .into_iter()
    .collect();
    LinuxCapabilitiesBuilder::default()
        .bounding(default.clone())
        .effective(default.clone())
        .permitted(default)
        .inheritable(oci_spec::runtime::Capabilities::new())
        .ambient(oci_spec::runtime::Capabilities::new())
        .build()
        .expect("every field of LinuxCapabilities is set")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> LinuxCapabilities {
        serde_json::from_value(value).expect("a valid capabilities object")
    }

    #[test]
    fn masks_are_the_bits_of_the_capability_numbers() {
        let sets = CapSets::from_spec(Some(&spec(json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "effective": ["CAP_KILL"],
        }))))
        .unwrap();
        assert_eq!(sets.mask(CapSet::Bounding), 1 | 1 << 5 | 1 << 10);
        assert_eq!(sets.mask(CapSet::Permitted), 1 | 1 << 5);
        assert_eq!(sets.mask(CapSet::Effective), 1 << 5);
        assert_eq!(sets.mask(CapSet::Inheritable), 0);
        assert_eq!(sets.mask(CapSet::Ambient), 0);
    }

    #[test]
    fn bounding_drops_are_every_kernel_capability_outside_the_bounding_set() {
        let sets = CapSets::from_spec(Some(&spec(json!({"bounding": ["CAP_CHOWN"]})))).unwrap();
        let kernel = caps::runtime::thread_all_supported();
        assert_eq!(sets.bounding_drops.len(), kernel.len() - 1);
        assert!(!sets.bounding_drops.contains(&Capability::CAP_CHOWN));
    }

    #[test]
    fn no_capabilities_object_changes_nothing() {
        let sets = CapSets::from_spec(None).unwrap();
        assert!(!sets.changes_anything());
        assert!(sets.bounding_drops.is_empty());
    }

    #[test]
    fn effective_outside_permitted_is_refused_with_the_fix() {
        let err = CapSets::from_spec(Some(&spec(json!({
            "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": [],
        }))))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "config.json: process.capabilities.effective: CAP_KILL not in permitted: the kernel only allows \
             effective capabilities that are also permitted; add CAP_KILL to permitted or remove it from effective"
        );
    }

    #[test]
    fn ambient_capabilities_not_inheritable_are_passed_over_as_runc_does() {
        let caps = json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]});
        let sets = CapSets::from_spec(Some(&spec(caps))).unwrap();
        assert!(sets.get(CapSet::Ambient).is_empty());
    }

    #[test]
    fn inheritable_beyond_bounding_is_refused() {
        let caps = json!({"bounding": [], "inheritable": ["CAP_SYS_ADMIN"]});
        let err = CapSets::from_spec(Some(&spec(caps))).unwrap_err().to_string();
        assert!(err.contains("process.capabilities.inheritable: CAP_SYS_ADMIN not in bounding"), "{err}");
    }

    #[test]
    fn an_unknown_name_is_reported_with_its_set_and_a_close_match() {
        let config =
            json!({"process": {"capabilities": {"bounding": ["CAP_CHOWN"], "permitted": ["CAP_NET_BIND_SERIVCE"]}}});
        let err = check_names(&config).unwrap_err().to_string();
        assert_eq!(
            err,
            "config.json: process.capabilities.permitted: unknown capability \"CAP_NET_BIND_SERIVCE\" (did you mean \
             CAP_NET_BIND_SERVICE?): use a name from capabilities(7), such as CAP_NET_BIND_SERVICE, or remove it"
        );
    }

    #[test]
    fn the_runtime_tools_cap_test_name_is_refused_without_a_guess() {
        let config = json!({"process": {"capabilities": {"bounding": ["CAP_TEST"]}}});
        let err = check_names(&config).unwrap_err().to_string();
        assert!(err.contains("bounding: unknown capability \"CAP_TEST\": use a name"), "{err}");
    }

    #[test]
    fn names_oci_spec_accepts_pass_the_raw_check() {
        // oci-spec accepts lower case and a missing CAP_ prefix; so must check_names.
        let config = json!({"process": {"capabilities": {"effective": ["cap_chown", "KILL"]}}});
        check_names(&config).unwrap();
        let parsed: LinuxCapabilities = serde_json::from_value(json!({"effective": ["cap_chown", "KILL"]})).unwrap();
        assert_eq!(parsed.effective().as_ref().unwrap().len(), 2);
    }

    #[test]
    fn oci_spec_itself_refuses_an_unknown_name() {
        let parsed = serde_json::from_value::<LinuxCapabilities>(json!({"bounding": ["CAP_TEST"]}));
        assert!(parsed.unwrap_err().to_string().contains("CAP_TEST"));
    }

    #[test]
    fn docker_defaults_are_the_fourteen_capabilities() {
        let sets = CapSets::from_spec(Some(&docker_defaults())).unwrap();
        assert_eq!(sets.get(CapSet::Bounding).len(), 14);
        assert_eq!(sets.mask(CapSet::Bounding), 0x00000000a80425fb);
        assert_eq!(sets.mask(CapSet::Effective), sets.mask(CapSet::Bounding));
        assert_eq!(sets.mask(CapSet::Inheritable), 0);
    }
}
