//! Real tools as judges: skopeo and umoci read our layouts, skopeo's docker-archives load
//! with our `load`, and RUN really runs in a sandbox (root).

mod common;

use common::{ok, stdout, Env};
use std::process::Command;

fn tool(name: &str) -> bool {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{name} is needed in CI (apt-get install {name})");
        }
        eprintln!("skipping: {name} is not installed");
    }
    found
}

fn seed_image(env: &Env) -> String {
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", labimage::labs::build::DOCKERFILE.replace("FROM busybox", "FROM scratch").as_str()),
            ("bin/amd64/httpserver", labimage::labs::build::HTTPSERVER),
        ],
    );
    let out = ok(env.run(&["build", "-q", "-t", "httpserver:1", ctx.to_str().unwrap()]));
    stdout(&out).split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn skopeo_inspects_our_layout_by_tag() {
    if !tool("skopeo") {
        return;
    }
    let env = Env::new();
    let digest = seed_image(&env);
    let layout = env.state().join("images");
    let out =
        Command::new("skopeo").args(["inspect", &format!("oci:{}:httpserver:1", layout.display())]).output().unwrap();
    let text = stdout(&ok(out));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["Digest"], digest);
    assert_eq!(json["Labels"]["other"], "value3");
    assert!(json["Env"].as_array().unwrap().iter().any(|e| e == "MY_SERVICE_PORT=80"));
}

#[test]
fn umoci_unpacks_our_layout() {
    if !tool("umoci") {
        return;
    }
    let env = Env::new();
    seed_image(&env);
    let bundle = env.dir.path().join("bundle");
    let layout = env.state().join("images");
    ok(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:httpserver:1", layout.display()), bundle.to_str().unwrap()])
        .output()
        .unwrap());
    let script = std::fs::read_to_string(bundle.join("rootfs/httpserver")).unwrap();
    assert_eq!(script, labimage::labs::build::HTTPSERVER);
    let config = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    assert!(config.contains("/httpserver") && config.contains("MY_SERVICE_PORT=80"), "{config}");
}

#[test]
fn a_skopeo_docker_archive_loads_with_the_same_config() {
    if !tool("skopeo") {
        return;
    }
    let env = Env::new();
    seed_image(&env);
    let ours = env.store().resolve("httpserver:1").unwrap();
    let archive = env.dir.path().join("docker.tar");
    let layout = env.state().join("images");
    ok(Command::new("skopeo")
        .args([
            "copy",
            &format!("oci:{}:httpserver:1", layout.display()),
            &format!("docker-archive:{}:course/httpserver:v2", archive.display()),
        ])
        .output()
        .unwrap());
    let other = Env::new();
    let out = stdout(&ok(other.run(&["load", "-i", archive.to_str().unwrap()])));
    assert!(out.starts_with("loaded course/httpserver:v2 sha256:"), "{out}");
    let loaded = other.store().resolve("course/httpserver:v2").unwrap();
    assert_eq!(loaded.config.rootfs().diff_ids(), ours.config.rootfs().diff_ids());
    assert_eq!(loaded.config.config(), ours.config.config());
    // And it can be saved again as an oci-archive that skopeo reads.
    let oci = env.dir.path().join("again.tar");
    ok(other.run(&["save", "course/httpserver:v2", "-o", oci.to_str().unwrap()]));
    ok(Command::new("skopeo").args(["inspect", &format!("oci-archive:{}", oci.display())]).output().unwrap());
}

#[test]
fn run_executes_in_a_sandbox_and_its_layer_is_the_upper_diff() {
    if !labkit::testing::require_root("run_executes_in_a_sandbox_and_its_layer_is_the_upper_diff") {
        return;
    }
    if labimage::import::find_static_busybox().is_err() {
        panic!("RUN test needs busybox-static (apt-get install busybox-static)");
    }
    let _guard = labkit::testing::kernel_lock();
    let env = Env::new();
    ok(env.run(&["import", "--busybox"]));
    let ctx = env.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nWORKDIR /work\nRUN rm /bin/vi && rm -rf /root && echo $$ > pid && hostname > host && ip -o link | wc -l > links && touch /tmp/x\n",
        )],
    );
    let out = env.run(&["build", "-t", "ran", ctx.to_str().unwrap()]);
    ok(out);
    let store = env.store();
    let image = store.resolve("ran").unwrap();
    let layer = image.manifest.layers().last().unwrap();
    let reader = labimage::sandbox::layer_reader(&store, layer).unwrap();
    let paths: Vec<String> = labimage::layer::list_tar(reader).unwrap().into_iter().map(|e| e.path).collect();
    for p in ["bin/.wh.vi", ".wh.root", "work/pid", "work/host", "work/links", "tmp/x"] {
        assert!(paths.iter().any(|x| x == p), "{p} missing from {paths:?}");
    }
    assert!(!paths.iter().any(|p| p == "bin/busybox"), "untouched files stay out: {paths:?}");
    // Unpack and look: pid 1 in its own pid namespace, its own hostname, only lo.
    let bundle = env.dir.path().join("rootfs");
    std::fs::create_dir(&bundle).unwrap();
    for l in image.manifest.layers() {
        let r = labimage::sandbox::layer_reader(&store, l).unwrap();
        laboverlay::apply_layer(r, &bundle, &laboverlay::ApplyOptions::default()).unwrap();
    }
    assert_eq!(std::fs::read_to_string(bundle.join("work/pid")).unwrap().trim(), "1");
    assert_eq!(std::fs::read_to_string(bundle.join("work/host")).unwrap().trim(), "labctl-build");
    assert_eq!(std::fs::read_to_string(bundle.join("work/links")).unwrap().trim(), "1");
    assert!(!bundle.join("bin/vi").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(".run-"), "a sandbox mount leaked:\n{mounts}");
}

#[test]
fn a_failing_run_stops_the_build_with_its_exit_code() {
    if !labkit::testing::require_root("a_failing_run_stops_the_build_with_its_exit_code") {
        return;
    }
    let _guard = labkit::testing::kernel_lock();
    let env = Env::new();
    ok(env.run(&["import", "--busybox"]));
    let ctx = env.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo before; exit 3\n")]);
    common::fails_with(
        env.run(&["build", "-t", "f", ctx.to_str().unwrap()]),
        &["Dockerfile:2", "exited with code 3", "before"],
    );
}
