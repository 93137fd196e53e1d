//! Real tools as judges: skopeo and umoci read our layouts, skopeo's docker-archives load
//! with our `load`, and RUN really runs in a sandbox (root).

mod common;

use common::{ok, stdout, Env};
use std::process::Command;

fn tool(name: &str) -> bool {
    labkit::testing::prerequisite(
        "this judge",
        &format!("{name} (apt-get install {name})"),
        labkit::testing::have_program(name),
    )
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

#[test]
fn run_over_a_rootfs_without_dev_proc_sys_tmp_gets_them_and_they_stay_out_of_the_layer() {
    if !labkit::testing::require_root("run_over_a_rootfs_without_dev_proc_sys_tmp") {
        return;
    }
    let busybox = labimage::import::find_static_busybox();
    assert!(busybox.is_ok(), "RUN test needs busybox-static (apt-get install busybox-static)");
    let _guard = labkit::testing::kernel_lock();
    let env = Env::new();
    // A plain rootfs tarball: only /bin, no /dev, /proc, /sys or /tmp.
    let mut b = labimage::layer::LayerBuilder::new();
    b.add_dir("bin", 0o755);
    b.add_file("bin/busybox", &busybox.unwrap(), 0o755);
    b.add_symlink("bin/sh", "busybox");
    let tar = env.dir.path().join("rootfs.tar");
    std::fs::write(&tar, b.to_tar().unwrap()).unwrap();
    ok(env.run(&["import", tar.to_str().unwrap(), "bare:1"]));
    let script = "mkdir /x && busybox test -c /dev/null && echo hi > /dev/null && busybox cat /proc/1/comm > /x/comm \
                  && busybox ls /proc/1 > /dev/null && busybox test -d /dev/shm && busybox touch /dev/shm/s /tmp/t \
                  && busybox grep -q ' /sys sysfs ro' /proc/mounts && ! busybox touch /sys/x 2>/dev/null";
    let ctx = env.context("ctx", &[("Dockerfile", &format!("FROM bare:1\nRUN {script}\n"))]);
    let out = env.run(&["build", "-t", "ran-bare", ctx.to_str().unwrap()]);
    ok(out);
    let store = env.store();
    let image = store.resolve("ran-bare").unwrap();
    let layer = image.manifest.layers().last().unwrap();
    let reader = labimage::sandbox::layer_reader(&store, layer).unwrap();
    let paths: Vec<String> = labimage::layer::list_tar(reader).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["x/", "x/comm"], "only the command's changes are in the layer");
    let bundle = env.dir.path().join("rootfs");
    std::fs::create_dir(&bundle).unwrap();
    for l in image.manifest.layers() {
        let r = labimage::sandbox::layer_reader(&store, l).unwrap();
        laboverlay::apply_layer(r, &bundle, &laboverlay::ApplyOptions::default()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(bundle.join("x/comm")).unwrap().trim(),
        "sh",
        "its own /proc: pid 1 is the shell"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(".run-"), "a sandbox mount leaked:\n{mounts}");
}

/// buildah with a private root (never the host's storage), vfs, chroot isolation.
fn buildah(env: &Env) -> impl Fn(&[&str]) -> std::process::Output + '_ {
    move |args: &[&str]| {
        Command::new("buildah")
            .arg("--root")
            .arg(env.dir.path().join("buildah-root"))
            .arg("--runroot")
            .arg(env.dir.path().join("buildah-runroot"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run buildah")
    }
}

/// An OCI layout's first image, unpacked: (config, tree of path → type, mode and content).
fn unpack_layout(layout: &std::path::Path, into: &std::path::Path) -> (serde_json::Value, Vec<String>) {
    let store = labimage::Store::open(layout).unwrap();
    let index = store.index().unwrap();
    let manifest: oci_spec::image::ImageManifest = store.read_json(index.manifests()[0].digest(), "manifest").unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&store.read_blob(manifest.config().digest()).unwrap()).unwrap();
    std::fs::create_dir_all(into).unwrap();
    for l in manifest.layers() {
        let r = labimage::sandbox::layer_reader(&store, l).unwrap();
        laboverlay::apply_layer(r, into, &laboverlay::ApplyOptions::default()).unwrap();
    }
    let mut tree = Vec::new();
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                out.push(format!("{rel} -> {}", std::fs::read_link(&p).unwrap().display()));
            } else if meta.is_dir() {
                out.push(format!("{rel}/ {mode:o}"));
                walk(root, &p, out);
            } else {
                let content = labimage::digest::sha256(&std::fs::read(&p).unwrap());
                out.push(format!("{rel} {mode:o} {content}"));
            }
        }
    }
    walk(into, into, &mut tree);
    (config, tree)
}

#[test]
fn multi_stage_builds_match_buildah() {
    if !labkit::testing::require_root("multi_stage_builds_match_buildah") || !tool("buildah") {
        return;
    }
    let _guard = labkit::testing::kernel_lock();
    let env = Env::new();
    ok(env.run(&["import", "--busybox", "localhost/busybox:latest"]));
    let dockerfile = "ARG BASE=localhost/busybox:latest\n\
        FROM ${BASE} AS builder\n\
        WORKDIR /src\n\
        RUN echo built > out.txt && mkdir -p /opt/app && echo tool > /opt/app/tool && chmod 750 /opt/app/tool\n\
        FROM scratch AS unused\n\
        COPY --from=builder /src/out.txt /unused\n\
        FROM ${BASE}\n\
        ENV STAGE=final\n\
        COPY --from=builder /src/out.txt /app/out.txt\n\
        COPY --from=0 /opt/app /app/opt\n\
        COPY --from=unused /unused /app/\n\
        COPY --from=localhost/busybox:latest /etc/passwd /app/passwd\n\
        WORKDIR /app\n\
        CMD [\"cat\", \"/app/out.txt\"]\n";
    let ctx = env.context("ctx", &[("Dockerfile", dockerfile)]);
    let ctx_s = ctx.to_str().unwrap();
    ok(env.run(&["build", "-q", "-t", "localhost/multi:1", ctx_s]));
    ok(env.run(&["build", "-q", "-t", "localhost/multi:builder", "--target", "builder", ctx_s]));
    let ba = buildah(&env);
    // buildah names an image pulled from an archive after its path, which must be lower case.
    let base = std::env::temp_dir().join(format!("labctl-judge-busybox-{}.tar", std::process::id()));
    ok(env.run(&["save", "localhost/busybox:latest", "-o", base.to_str().unwrap()]));
    let pulled = ba(&["pull", "-q", &format!("oci-archive:{}", base.display())]);
    let _ = std::fs::remove_file(&base);
    assert!(pulled.status.success(), "{}", String::from_utf8_lossy(&pulled.stderr));
    let id = String::from_utf8_lossy(&pulled.stdout).trim().to_string();
    ok(ba(&["tag", &id, "localhost/busybox:latest"]));
    let mut judged = Vec::new();
    for (tag, target) in [("multi", None), ("builder", Some("builder"))] {
        let mut args = vec!["bud", "--pull=never", "--isolation", "chroot", "-q", "-t", tag];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        args.push(ctx_s);
        let built = ba(&args);
        assert!(built.status.success(), "buildah bud: {}", String::from_utf8_lossy(&built.stderr));
        let layout = env.dir.path().join(format!("buildah-{tag}"));
        ok(ba(&["push", tag, &format!("oci:{}:{tag}", layout.display())]));
        judged.push(unpack_layout(&layout, &env.dir.path().join(format!("tree-buildah-{tag}"))));
    }
    for ((theirs_config, theirs_tree), (ours_name, tag)) in
        judged.iter().zip([("localhost/multi:1", "multi"), ("localhost/multi:builder", "builder")])
    {
        let layout = env.dir.path().join(format!("ours-{tag}"));
        ok(env.run(&["save", ours_name, "-o", layout.with_extension("tar").to_str().unwrap()]));
        std::fs::create_dir_all(&layout).unwrap();
        ok(Command::new("tar").arg("-xf").arg(layout.with_extension("tar")).arg("-C").arg(&layout).output().unwrap());
        let (ours_config, ours_tree) = unpack_layout(&layout, &env.dir.path().join(format!("tree-ours-{tag}")));
        for key in ["Env", "Cmd", "Entrypoint", "WorkingDir", "ExposedPorts"] {
            assert_eq!(ours_config["config"][key], theirs_config["config"][key], "{tag}: config.{key}");
        }
        // buildah leaves the mount points of its RUN (empty /etc/hostname, /etc/hosts,
        // /etc/resolv.conf and /run) in the layer; Docker does not, nor do we.
        let empty = labimage::digest::sha256(b"").to_string();
        let theirs_tree: Vec<&String> = theirs_tree
            .iter()
            .filter(|e| {
                let run_mount_point = ["etc/hostname ", "etc/hosts ", "etc/resolv.conf "]
                    .iter()
                    .any(|p| e.starts_with(p) && e.ends_with(&empty))
                    || e.starts_with("run/ ");
                !run_mount_point || ours_tree.contains(e)
            })
            .collect();
        let only_ours: Vec<&String> = ours_tree.iter().filter(|e| !theirs_tree.contains(e)).collect();
        let only_theirs: Vec<&&String> = theirs_tree.iter().filter(|e| !ours_tree.contains(e)).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{tag}: only ours {only_ours:?}, only buildah's {only_theirs:?}"
        );
    }
    ok(ba(&["rm", "--all"]));
}
