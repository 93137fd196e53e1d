//! `-u USER[:GROUP]` resolved as docker does: names through the container's own /etc/passwd
//! and /etc/group (read inside its root, so a symlink there cannot point at the host's), numbers
//! as they are; the user's supplementary groups come from /etc/group.

use crate::error::{Error, Result};
use crate::spec::User;
use std::path::Path;

struct Entry {
    name: String,
    id: u32,
    gid: u32,
    members: Vec<String>,
}

fn read_table(rootfs: &Path, file: &str) -> Vec<Entry> {
    let Ok(path) = labruntime::rootfs::resolve_in_root(rootfs, Path::new(file)) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let id = f.get(2)?.parse().ok()?;
            let (gid, members) = if file.ends_with("passwd") {
                (f.get(3)?.parse().ok()?, Vec::new())
            } else {
                (
                    id,
                    f.get(3)
                        .map(|m| m.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
                        .unwrap_or_default(),
                )
            };
            Some(Entry { name: f[0].to_string(), id, gid, members })
        })
        .collect()
}

pub fn resolve(rootfs: &Path, spec: &str) -> Result<User> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_table(rootfs, "/etc/passwd");
    let groups = read_table(rootfs, "/etc/group");
    let user = if user.is_empty() { "0" } else { user };
    let (name, uid, mut gid) = match user.parse::<u32>() {
        Ok(uid) => match passwd.iter().find(|e| e.id == uid) {
            Some(e) => (Some(e.name.clone()), uid, e.gid),
            None => (None, uid, 0),
        },
        Err(_) => match passwd.iter().find(|e| e.name == user) {
            Some(e) => (Some(e.name.clone()), e.id, e.gid),
            None => {
                return Err(Error::Usage(format!(
                    "-u {spec:?}: unable to find user {user}: no matching entries in the image's /etc/passwd (give a \
                     numeric UID, or a user the image has)"
                )))
            }
        },
    };
    if let Some(group) = group.filter(|g| !g.is_empty()) {
        gid = match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups.iter().find(|g| g.name == group).map(|g| g.id).ok_or_else(|| {
                Error::Usage(format!(
                    "-u {spec:?}: unable to find group {group}: no matching entries in the image's /etc/group"
                ))
            })?,
        };
    }
    let mut extra: Vec<u32> = match &name {
        Some(n) => groups.iter().filter(|g| g.members.iter().any(|m| m == n)).map(|g| g.id).collect(),
        None => Vec::new(),
    };
    extra.retain(|g| *g != gid);
    extra.sort_unstable();
    extra.dedup();
    Ok(User { uid, gid, groups: extra })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nweb:x:33:34::/:/bin/false\n")
            .unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nwww:x:34:\nstaff:x:50:web,other\n").unwrap();
        dir
    }

    #[test]
    fn names_and_numbers_resolve_through_the_images_files() {
        let r = rootfs();
        assert_eq!(resolve(r.path(), "").unwrap(), User { uid: 0, gid: 0, groups: vec![] });
        assert_eq!(resolve(r.path(), "web").unwrap(), User { uid: 33, gid: 34, groups: vec![50] });
        assert_eq!(resolve(r.path(), "web:root").unwrap(), User { uid: 33, gid: 0, groups: vec![50] });
        assert_eq!(resolve(r.path(), "1000:1000").unwrap(), User { uid: 1000, gid: 1000, groups: vec![] });
        assert_eq!(resolve(r.path(), "1000").unwrap().gid, 0);
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_fix() {
        let r = rootfs();
        let err = resolve(r.path(), "nobody").unwrap_err().to_string();
        assert!(err.contains("unable to find user nobody") && err.contains("numeric UID"), "{err}");
        assert!(resolve(r.path(), "web:nogroup").unwrap_err().to_string().contains("unable to find group"));
    }
}
