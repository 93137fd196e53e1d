//! The layer translation: upper dir -> OCI layer tar -> applied tree, and what a hostile
//! layer cannot do.

use laboverlay::{apply_layer, diff, write_layer, ApplyOptions, ChangeKind, Error, LayerOptions, WhiteoutMode};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tree as comparable data: path -> (kind, mode, content or link target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (String, u32, Vec<u8>, i64)> {
    let mut out = BTreeMap::new();
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (String, u32, Vec<u8>, i64)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let (kind, data) = if ft.is_dir() {
                ("dir", Vec::new())
            } else if ft.is_symlink() {
                ("symlink", std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes())
            } else if ft.is_char_device() {
                ("char", m.rdev().to_le_bytes().to_vec())
            } else if ft.is_fifo() {
                ("fifo", Vec::new())
            } else {
                ("file", std::fs::read(&p).unwrap())
            };
            let mtime = if ft.is_dir() { 0 } else { m.mtime() };
            out.insert(rel, (kind.to_string(), m.mode() & 0o7777, data, mtime));
            if ft.is_dir() {
                go(root, &p, out);
            }
        }
    }
    go(root, root, &mut out);
    out
}

fn layer_of(upper: &Path, opts: &LayerOptions) -> Vec<u8> {
    let mut buf = Vec::new();
    write_layer(upper, &mut buf, opts).unwrap();
    buf
}

fn sample_upper(root: &Path) {
    std::fs::create_dir_all(root.join("etc/app")).unwrap();
    std::fs::write(root.join("etc/app/config"), "key=value\n").unwrap();
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    std::fs::set_permissions(root.join("hello.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("etc/app/config", root.join("link")).unwrap();
    std::fs::hard_link(root.join("hello.txt"), root.join("hello-again.txt")).unwrap();
    nix::unistd::mkfifo(&root.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[test]
fn a_plain_tree_survives_layer_and_apply_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (upper, out) = (dir.path().join("upper"), dir.path().join("out"));
    std::fs::create_dir_all(&out).unwrap();
    sample_upper(&upper);
    let tar = layer_of(&upper, &LayerOptions::default());
    let stats = apply_layer(&tar[..], &out, &ApplyOptions::default()).unwrap();
    assert_eq!(snapshot(&upper), snapshot(&out));
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(
        std::fs::metadata(out.join("hello.txt")).unwrap().ino(),
        std::fs::metadata(out.join("hello-again.txt")).unwrap().ino()
    );
}

#[test]
fn layers_are_reproducible_with_a_source_date_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    sample_upper(&upper);
    let opts = LayerOptions { source_date_epoch: Some(1_700_000_000), owner: Some((0, 0)) };
    let first = layer_of(&upper, &opts);
    // Touch everything: a later mtime must not change the layer.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(upper.join("hello.txt"), "hello\n").unwrap();
    assert_eq!(first, layer_of(&upper, &opts));
    let mut archive = tar::Archive::new(&first[..]);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        assert!(e.header().mtime().unwrap() <= 1_700_000_000);
        assert_eq!(e.header().uid().unwrap(), 0);
    }
}

#[test]
fn entries_are_sorted_parents_first() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    sample_upper(&upper);
    let tar = layer_of(&upper, &LayerOptions::default());
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["etc/", "etc/app/", "etc/app/config", "hello-again.txt", "hello.txt", "link", "pipe"]);
}

/// Builds a tar by hand (through the tar crate) with the given entries.
fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                h.set_size(0);
                h.set_link_name_literal(data).unwrap();
                h.set_path_literal(path).unwrap();
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
            _ => {
                h.set_size(data.len() as u64);
                h.set_path_literal(path).unwrap();
                h.set_cksum();
                b.append(&h, data.as_bytes()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// `set_path` refuses `..`; hostile layers are the point here. (`set_link_name_literal` is
/// the tar crate's own.)
trait Literal {
    fn set_path_literal(&mut self, p: &str) -> std::io::Result<()>;
}

#[test]
fn hostile_names_reach_the_archive_unchanged() {
    let tar = tar_with(&[("../x", tar::EntryType::Symlink, "/etc")]);
    let mut a = tar::Archive::new(&tar[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.path().unwrap(), Path::new("../x"));
    assert_eq!(e.link_name().unwrap().unwrap(), Path::new("/etc"));
}

impl Literal for tar::Header {
    /// Writes the name bytes as they are (the tar crate's set_path refuses `..` itself).
    fn set_path_literal(&mut self, p: &str) -> std::io::Result<()> {
        let name = &mut self.as_old_mut().name;
        name.fill(0);
        name[..p.len()].copy_from_slice(p.as_bytes());
        Ok(())
    }
}

fn apply_err(entries: &[(&str, tar::EntryType, &str)]) -> (Error, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("target")).unwrap();
    let err = apply_layer(&tar_with(entries)[..], &dir.path().join("target"), &ApplyOptions::default()).unwrap_err();
    (err, dir)
}

#[test]
fn a_dotdot_entry_is_refused() {
    let (err, dir) = apply_err(&[("../escaped", tar::EntryType::Regular, "x")]);
    assert!(matches!(err, Error::ParentTraversal { .. }), "{err}");
    assert!(!dir.path().join("escaped").exists());
}

#[test]
fn an_absolute_entry_is_refused() {
    let (err, _dir) = apply_err(&[("/tmp/labctl-escaped", tar::EntryType::Regular, "x")]);
    assert!(matches!(err, Error::AbsolutePath { .. }), "{err}");
    assert!(!Path::new("/tmp/labctl-escaped").exists());
}

#[test]
fn a_symlink_leading_a_later_entry_outside_is_refused() {
    let (err, dir) =
        apply_err(&[("evil", tar::EntryType::Symlink, ".."), ("evil/escaped", tar::EntryType::Regular, "x")]);
    assert!(matches!(err, Error::SymlinkEscape { .. }), "{err}");
    assert!(err.to_string().contains("evil -> .."), "{err}");
    assert!(!dir.path().join("escaped").exists());
}

#[test]
fn an_absolute_symlink_is_not_followed_by_later_entries() {
    let (err, _dir) =
        apply_err(&[("etc", tar::EntryType::Symlink, "/tmp"), ("etc/labctl-escaped", tar::EntryType::Regular, "x")]);
    assert!(matches!(err, Error::SymlinkEscape { .. }), "{err}");
    assert!(!Path::new("/tmp/labctl-escaped").exists());
}

#[test]
fn a_symlink_chain_that_climbs_out_is_refused() {
    let (err, _dir) = apply_err(&[
        ("a/", tar::EntryType::Directory, ""),
        ("a/up", tar::EntryType::Symlink, ".."),
        ("b", tar::EntryType::Symlink, "a/up/a/up/.."),
        ("b/escaped", tar::EntryType::Regular, "x"),
    ]);
    assert!(matches!(err, Error::SymlinkEscape { .. }), "{err}");
}

#[test]
fn a_symlink_inside_the_target_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    std::fs::create_dir(&target).unwrap();
    let tar = tar_with(&[
        ("usr/", tar::EntryType::Directory, ""),
        ("usr/lib/", tar::EntryType::Directory, ""),
        ("lib", tar::EntryType::Symlink, "usr/lib"),
        ("lib/libc.so", tar::EntryType::Regular, "elf"),
    ]);
    apply_layer(&tar[..], &target, &ApplyOptions::default()).unwrap();
    assert_eq!(std::fs::read_to_string(target.join("usr/lib/libc.so")).unwrap(), "elf");
    assert!(std::fs::symlink_metadata(target.join("lib")).unwrap().file_type().is_symlink());
}

#[test]
fn a_hard_link_to_outside_is_refused() {
    let (err, _dir) = apply_err(&[("passwd", tar::EntryType::Link, "../../etc/passwd")]);
    assert!(matches!(err, Error::ParentTraversal { .. }), "{err}");
}

#[test]
fn a_device_node_needs_root() {
    if nix::unistd::geteuid().is_root() {
        // The refusal is what a non-root user sees: assert it in this test run again as nobody.
        labkit::testing::rerun_as_nobody("a_device_node_needs_root");
        return;
    }
    let (err, _dir) = apply_err(&[("dev/null", tar::EntryType::Char, "")]);
    assert!(matches!(err, Error::DeviceNeedsRoot { .. }), "{err}");
}

#[test]
fn whiteouts_delete_lower_paths_and_opaque_markers_empty_directories() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("rootfs");
    let base = tar_with(&[
        ("etc/", tar::EntryType::Directory, ""),
        ("etc/keep", tar::EntryType::Regular, "k"),
        ("etc/gone", tar::EntryType::Regular, "g"),
        ("var/", tar::EntryType::Directory, ""),
        ("var/old1", tar::EntryType::Regular, "1"),
        ("var/old2", tar::EntryType::Regular, "2"),
    ]);
    let top = tar_with(&[
        ("etc/", tar::EntryType::Directory, ""),
        ("etc/.wh.gone", tar::EntryType::Regular, ""),
        ("var/", tar::EntryType::Directory, ""),
        ("var/new", tar::EntryType::Regular, "n"),
        ("var/.wh..wh..opq", tar::EntryType::Regular, ""),
    ]);
    std::fs::create_dir(&target).unwrap();
    apply_layer(&base[..], &target, &ApplyOptions::default()).unwrap();
    let stats = apply_layer(&top[..], &target, &ApplyOptions::default()).unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1));
    let names = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(target.join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("etc"), ["keep"]);
    assert_eq!(names("var"), ["new"], "the same layer's entries survive its own opaque marker");
}

/// Root: an overlay-style upper (whiteout device, opaque xattr) round-trips through a layer,
/// in both whiteout modes, and `diff` reads it like `docker diff`.
#[test]
fn an_overlay_upper_round_trips_with_its_whiteouts() {
    if !labkit::testing::require_root("an_overlay_upper_round_trips_with_its_whiteouts") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (lower, upper) = (dir.path().join("lower"), dir.path().join("upper"));
    std::fs::create_dir_all(lower.join("dir")).unwrap();
    std::fs::write(lower.join("dir/old"), "old").unwrap();
    std::fs::write(lower.join("deleted.txt"), "bye").unwrap();
    std::fs::write(lower.join("changed.txt"), "v1").unwrap();
    std::fs::create_dir_all(upper.join("dir")).unwrap();
    std::fs::write(upper.join("dir/new"), "new").unwrap();
    xattr::set(upper.join("dir"), "trusted.overlay.opaque", b"y").unwrap();
    std::fs::write(upper.join("changed.txt"), "v2").unwrap();
    std::fs::write(upper.join("added.txt"), "hi").unwrap();
    nix::sys::stat::mknod(
        &upper.join("deleted.txt"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .unwrap();

    let changes: Vec<String> =
        diff(&upper, std::slice::from_ref(&lower)).unwrap().iter().map(|c| c.to_string()).collect();
    assert_eq!(changes, ["A /added.txt", "C /changed.txt", "D /deleted.txt", "O /dir", "A /dir/new"]);
    assert_eq!(diff::<PathBuf>(&upper, &[]).unwrap()[1].kind, ChangeKind::Added);

    let tar = layer_of(&upper, &LayerOptions::default());
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["added.txt", "changed.txt", ".wh.deleted.txt", "dir/", "dir/.wh..wh..opq", "dir/new"]);

    // Overlay mode rebuilds the upper exactly.
    let again = dir.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let opts = ApplyOptions { whiteouts: WhiteoutMode::Overlay, same_owner: true };
    apply_layer(&tar[..], &again, &opts).unwrap();
    assert_eq!(snapshot(&upper), snapshot(&again));
    assert!(laboverlay::is_opaque(&again.join("dir")));

    // Remove mode on a copy of lower gives the merged view.
    let flat = dir.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    let lower_tar = layer_of(&lower, &LayerOptions::default());
    apply_layer(&lower_tar[..], &flat, &ApplyOptions::default()).unwrap();
    apply_layer(&tar[..], &flat, &ApplyOptions::default()).unwrap();
    let listing: Vec<String> = snapshot(&flat).keys().map(|p| p.display().to_string()).collect();
    assert_eq!(listing, ["added.txt", "changed.txt", "dir", "dir/new"]);
    assert_eq!(std::fs::read_to_string(flat.join("changed.txt")).unwrap(), "v2");
}

#[test]
fn gnu_tar_lists_our_layer_as_expected() {
    if !labkit::testing::require_root("gnu_tar_lists_our_layer_as_expected") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::fs::write(upper.join("etc/hostname"), "box\n").unwrap();
    xattr::set(upper.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
    nix::sys::stat::mknod(
        &upper.join("gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .unwrap();
    let path = dir.path().join("layer.tar");
    let opts = LayerOptions { source_date_epoch: Some(0), owner: Some((0, 0)) };
    write_layer(&upper, std::fs::File::create(&path).unwrap(), &opts).unwrap();
    let out = Command::new("tar").args(["-tvf"]).arg(&path).env("TZ", "UTC").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
    let perms_and_names: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l[0], l[1], l[5])).collect();
    assert_eq!(
        perms_and_names,
        [
            ("drwxr-xr-x", "0/0", "etc/"),
            ("-rw-------", "0/0", "etc/.wh..wh..opq"),
            ("-rw-r--r--", "0/0", "etc/hostname"),
            ("-rw-------", "0/0", ".wh.gone"),
        ],
        "{listing}"
    );
    assert!(lines.iter().all(|l| l[3] == "1970-01-01" && l[4] == "00:00"), "{listing}");
}

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Node {
        File(Vec<u8>, u32),
        Dir(Vec<(String, Node)>),
        Link(String),
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            (proptest::collection::vec(any::<u8>(), 0..600), prop_oneof![Just(0o644u32), Just(0o755), Just(0o600)])
                .prop_map(|(d, m)| Node::File(d, m)),
            "[a-z]{1,8}(/[a-z]{1,8})?".prop_map(Node::Link),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            proptest::collection::btree_map("[a-z0-9._-]{1,12}", inner, 0..5).prop_map(|m| {
                Node::Dir(m.into_iter().filter(|(k, _)| !k.starts_with(".wh.") && k != "." && k != "..").collect())
            })
        })
    }

    fn build(path: &Path, node: &Node) {
        match node {
            Node::File(data, mode) => {
                std::fs::write(path, data).unwrap();
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode)).unwrap();
            }
            Node::Link(t) => std::os::unix::fs::symlink(t, path).unwrap(),
            Node::Dir(children) => {
                std::fs::create_dir(path).unwrap();
                for (name, child) in children {
                    build(&path.join(name), child);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn any_tree_round_trips(children in proptest::collection::btree_map("[a-z0-9]{1,10}", node(), 0..6)) {
            let dir = tempfile::tempdir().unwrap();
            let (upper, out) = (dir.path().join("upper"), dir.path().join("out"));
            build(&upper, &Node::Dir(children.into_iter().collect()));
            std::fs::create_dir(&out).unwrap();
            let tar = layer_of(&upper, &LayerOptions::default());
            apply_layer(&tar[..], &out, &ApplyOptions::default()).unwrap();
            prop_assert_eq!(snapshot(&upper), snapshot(&out));
        }
    }
}
