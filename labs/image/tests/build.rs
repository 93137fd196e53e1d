//! The builder's behaviour: layers vs config, cache, reproducibility, ADD/COPY semantics.

mod common;

use common::{ok, stdout, Env};
use labimage::build::{build, BuildOptions};
use labimage::layer;

fn scratch_build(env: &Env, tag: &str, ctx: &std::path::Path) -> labimage::build::BuildReport {
    build(
        &env.store(),
        &BuildOptions { tag: tag.into(), context: ctx.to_path_buf(), ..Default::default() },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("{e:#}"))
}

fn layer_paths(env: &Env, d: &oci_spec::image::Descriptor) -> Vec<String> {
    let r = labimage::sandbox::layer_reader(&env.store(), d).unwrap();
    layer::list_tar(r).unwrap().into_iter().map(|e| e.path).collect()
}

#[test]
fn config_instructions_make_no_layers_and_files_do() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM scratch\nARG V=1.0\nENV A=$V B=\"two words\"\nLABEL version=${V} \"quoted key\"=x\nCOPY a.txt /app/\nWORKDIR /app\nWORKDIR sub\nUSER 1000:1000\nEXPOSE 80 53/udp\nCMD [\"/bin/app\", \"--port\", \"80\"]\n",
        ), ("a.txt", "a")],
    );
    let r = scratch_build(&env, "cfg:1", &ctx);
    assert_eq!(r.layers.len(), 1);
    let c = r.config.config().clone().unwrap();
    assert_eq!(c.env().clone().unwrap(), ["A=1.0", "B=two words"]);
    let labels = c.labels().clone().unwrap();
    assert_eq!(labels["version"], "1.0");
    assert_eq!(labels["quoted key"], "x");
    assert_eq!(c.working_dir().as_deref(), Some("/app/sub"));
    assert_eq!(c.user().as_deref(), Some("1000:1000"));
    assert_eq!(c.exposed_ports().clone().unwrap(), ["53/udp", "80/tcp"]);
    assert_eq!(c.cmd().clone().unwrap(), ["/bin/app", "--port", "80"]);
    assert_eq!(layer_paths(&env, &r.layers[0]), ["app/", "app/a.txt"]);
}

#[test]
fn the_same_context_gives_byte_identical_digests_in_another_store() {
    let (a, b) = (Env::new(), Env::new());
    let files = [("Dockerfile", "FROM scratch\nCOPY . /src/\n"), ("x/y.txt", "y"), ("z", "z")];
    let ra = scratch_build(&a, "r", &a.context("ctx", &files));
    // Different mtimes on the second context's files must not matter.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let rb = scratch_build(&b, "r", &b.context("other-name", &files));
    assert_eq!(ra.manifest.digest(), rb.manifest.digest());
    assert_eq!(ra.layers[0].digest(), rb.layers[0].digest());
}

#[test]
fn an_unchanged_rebuild_is_all_cached_and_writes_nothing() {
    let env = Env::new();
    let ctx =
        env.context("ctx", &[("Dockerfile", "FROM scratch\nCOPY f /f\nENV X=1\nCOPY g /g\n"), ("f", "f"), ("g", "g")]);
    let first = scratch_build(&env, "c", &ctx);
    let before: Vec<_> = walk(&env.state());
    let again = scratch_build(&env, "c", &ctx);
    assert!(again.steps.iter().filter(|s| s.layer.is_some()).all(|s| s.cached));
    assert!(!again.tag_changed);
    assert_eq!(first.manifest.digest(), again.manifest.digest());
    assert_eq!(before, walk(&env.state()), "a cached rebuild must not touch the store");
    // A changed file invalidates its step and those after it, not those before.
    std::fs::write(ctx.join("g"), "G").unwrap();
    let changed = scratch_build(&env, "c", &ctx);
    let cached: Vec<bool> = changed.steps.iter().filter(|s| s.layer.is_some()).map(|s| s.cached).collect();
    assert_eq!(cached, [true, false]);
}

fn walk(dir: &std::path::Path) -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push((p, e.metadata().unwrap().modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn globs_dockerignore_and_directories() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", "FROM scratch\nCOPY *.txt /t/\nCOPY dir /d\n"),
            (".dockerignore", "b.txt\ndir/secret\n"),
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("c.md", "c"),
            ("dir/one", "1"),
            ("dir/secret", "s"),
            ("dir/sub/two", "2"),
        ],
    );
    let r = scratch_build(&env, "g", &ctx);
    assert_eq!(layer_paths(&env, &r.layers[0]), ["t/", "t/a.txt"]);
    assert_eq!(layer_paths(&env, &r.layers[1]), ["d/", "d/one", "d/sub/", "d/sub/two"]);
}

#[test]
fn add_extracts_a_local_tar_and_copy_does_not() {
    let env = Env::new();
    let mut b = layer::LayerBuilder::new();
    b.add_bytes("etc/hello", b"hi".to_vec(), 0o644);
    let tar = b.to_tar().unwrap();
    let ctx =
        env.context("ctx", &[("Dockerfile", "FROM scratch\nADD rootfs.tar /opt/\nCOPY rootfs.tar /copied.tar\n")]);
    std::fs::write(ctx.join("rootfs.tar"), &tar).unwrap();
    let r = scratch_build(&env, "t", &ctx);
    assert_eq!(layer_paths(&env, &r.layers[0]), ["opt/", "opt/etc/", "opt/etc/hello"]);
    assert_eq!(layer_paths(&env, &r.layers[1]), ["copied.tar"]);
}

#[test]
fn entrypoint_resets_an_inherited_cmd_and_the_cli_tags_the_result() {
    let env = Env::new();
    let base = env.context("base", &[("Dockerfile", "FROM scratch\nCMD [\"sh\"]\n")]);
    ok(env.run(&["build", "-q", "-t", "base", base.to_str().unwrap()]));
    let ctx = env.context("ctx", &[("Dockerfile", "FROM base\nENTRYPOINT /httpserver\n")]);
    let out = ok(env.run(&["build", "-t", "app:v1", ctx.to_str().unwrap()]));
    assert!(stdout(&out).starts_with("app:v1 sha256:"), "{}", stdout(&out));
    let image = env.store().resolve("app:v1").unwrap();
    let c = image.config.config().clone().unwrap();
    assert_eq!(c.entrypoint().clone().unwrap(), ["/bin/sh", "-c", "/httpserver"]);
    assert_eq!(c.cmd(), &None);
    let ls = stdout(&ok(env.run(&["ls"])));
    assert!(ls.contains("app:v1") && ls.contains("base:latest"), "{ls}");
    let history = stdout(&ok(env.run(&["history", "app:v1"])));
    assert!(history.contains("ENTRYPOINT"), "{history}");
    ok(env.run(&["rm", "app:v1"]));
    assert!(env.store().resolve("app:v1").is_err());
}

#[test]
fn import_busybox_makes_a_runnable_rootfs() {
    let busybox = labimage::import::find_static_busybox().is_ok();
    if !labkit::testing::prerequisite("import_busybox", "a static busybox (apt-get install busybox-static)", busybox) {
        return;
    }
    let env = Env::new();
    ok(env.run(&["import", "--busybox"]));
    let image = env.store().resolve("busybox").unwrap();
    let paths = layer_paths(&env, &image.manifest.layers()[0]);
    for p in ["bin/busybox", "bin/sh", "etc/passwd", "tmp/"] {
        assert!(paths.iter().any(|x| x == p), "{p} missing");
    }
}

#[test]
fn import_from_host_brings_the_libraries_and_loader() {
    let env = Env::new();
    ok(env.run(&["import", "--from-host", "--program", "ls", "tools"]));
    let image = env.store().resolve("tools").unwrap();
    let paths = layer_paths(&env, &image.manifest.layers()[0]);
    assert!(paths.iter().any(|p| p.ends_with("libc.so.6")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("ld-linux-x86-64.so.2")), "{paths:?}");
    assert!(paths.iter().any(|p| p == "bin/ls"), "{paths:?}");
}

#[test]
fn import_a_rootfs_tarball() {
    let env = Env::new();
    let mut b = layer::LayerBuilder::new();
    b.add_bytes("bin/tool", b"#!/bin/sh\n".to_vec(), 0o755);
    let tar = env.dir.path().join("rootfs.tar");
    std::fs::write(&tar, b.to_tar().unwrap()).unwrap();
    ok(env.run(&["import", tar.to_str().unwrap(), "mine:1"]));
    let image = env.store().resolve("mine:1").unwrap();
    assert_eq!(layer_paths(&env, &image.manifest.layers()[0]), ["bin/", "bin/tool"]);
}

#[test]
fn save_then_load_round_trips_the_digest() {
    let env = Env::new();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM scratch\nCOPY f /f\n"), ("f", "f")]);
    let r = scratch_build(&env, "rt:1", &ctx);
    let archive = env.dir.path().join("rt.tar");
    ok(env.run(&["save", "rt:1", "-o", archive.to_str().unwrap()]));
    let other = Env::new();
    let out = stdout(&ok(other.run(&["load", "-i", archive.to_str().unwrap()])));
    assert!(out.contains(&format!("loaded rt:1 {}", r.manifest.digest())), "{out}");
    // save is reproducible too.
    let again = env.dir.path().join("rt2.tar");
    ok(env.run(&["save", "rt:1", "-o", again.to_str().unwrap()]));
    assert_eq!(std::fs::read(&archive).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn rm_and_prune_drop_the_build_cache_and_rootfs_only_the_removed_image_used() {
    let env = Env::new();
    let keep = env.context("keep", &[("Dockerfile", "FROM scratch\nCOPY a /a\n"), ("a", "kept")]);
    let gone = env.context("gone", &[("Dockerfile", "FROM scratch\nCOPY b /b\n"), ("b", "removed")]);
    let kept = scratch_build(&env, "keep:1", &keep);
    scratch_build(&env, "gone:1", &gone);
    let store = env.store();
    let cache = labimage::build::cache_dir(&store);
    let count = |dir: &std::path::Path| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(&cache), 2, "one cache entry per COPY");
    // Unpacked rootfs as RUN leaves them: one for the kept image's layers, one stale.
    let rootfs = labimage::prune::rootfs_cache_dir(&store);
    let kept_config = store.resolve("keep:1").unwrap().config;
    let kept_chain = labimage::sandbox::chain_id(kept_config.rootfs().diff_ids());
    std::fs::create_dir_all(rootfs.join(kept_chain.strip_prefix("sha256:").unwrap())).unwrap();
    std::fs::create_dir_all(rootfs.join("0".repeat(64)).join("bin")).unwrap();
    let out = stdout(&ok(env.run(&["rm", "gone:1"])));
    assert!(out.contains("1 build cache entries, 1 unpacked rootfs freed"), "{out}");
    assert_eq!(count(&cache), 1, "the removed image's cache entry is gone");
    assert_eq!(count(&rootfs), 1, "only the kept image's rootfs stays");
    // Nothing more to prune, and the kept image still rebuilds from cache.
    assert_eq!(stdout(&ok(env.run(&["prune"]))).trim(), "pruned 0 blobs, 0 build cache entries, 0 unpacked rootfs");
    let again = scratch_build(&env, "keep:1", &keep);
    assert!(again.steps.iter().filter(|s| s.layer.is_some()).all(|s| s.cached));
    assert_eq!(again.manifest.digest(), kept.manifest.digest());
}
