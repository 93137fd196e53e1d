//! Every bad input from the issue gets a specific error and a non-zero exit.

mod common;

use common::{fails_with, ok, Env};

fn build(env: &Env, dockerfile: &str, extra: &[(&str, &str)]) -> std::process::Output {
    let mut files = vec![("Dockerfile", dockerfile)];
    files.extend_from_slice(extra);
    let ctx = env.context("ctx", &files);
    env.run(&["build", "-t", "bad", ctx.to_str().unwrap()])
}

#[test]
fn an_unknown_instruction_is_reported_with_file_line_and_caret() {
    let env = Env::new();
    let err = fails_with(
        build(&env, "FROM scratch\n# c\nCOPPY a /a\n", &[]),
        &["Dockerfile:3:1: unknown instruction \"COPPY\" (did you mean COPY?)"],
    );
    assert!(err.contains(" 3 | COPPY a /a\n   | ^^^^^"), "{err}");
}

#[test]
fn a_dockerfile_without_from_is_refused() {
    let env = Env::new();
    fails_with(build(&env, "COPY a /a\n", &[("a", "a")]), &["Dockerfile:1:1", "COPY before FROM"]);
}

#[test]
fn an_add_source_outside_the_context_is_refused() {
    let env = Env::new();
    let err = fails_with(
        build(&env, "FROM scratch\nADD ../secret /s\n", &[]),
        &["Dockerfile:2:5", "outside the build context"],
    );
    assert!(err.contains("^^^^^^^^^"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let env = Env::new();
    fails_with(
        build(&env, "FROM scratch\nCOPY nothere /x\n", &[]),
        &["Dockerfile:2:6", "\"nothere\" not found in the build context"],
    );
}

#[test]
fn bad_label_quoting_points_at_the_quote() {
    let env = Env::new();
    let err = fails_with(
        build(&env, "FROM scratch\nLABEL a=\"open b=2\n", &[]),
        &["Dockerfile:2:9", "unterminated double quote"],
    );
    assert!(err.contains("        ^"), "{err}");
}

#[test]
fn an_unknown_image_is_not_found() {
    let env = Env::new();
    fails_with(env.run(&["inspect", "nope:1"]), &["image \"nope:1\" not found"]);
    fails_with(build(&env, "FROM nope\n", &[]), &["Dockerfile:1:6", "FROM nope", "not found", "import --busybox"]);
}

#[test]
fn bad_tag_syntax_is_refused_before_building() {
    let env = Env::new();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM scratch\n")]);
    fails_with(
        env.run(&["build", "-t", "Bad/Name", ctx.to_str().unwrap()]),
        &["bad image reference \"Bad/Name\"", "lowercase"],
    );
    fails_with(env.run(&["build", "-t", "x:-tag", ctx.to_str().unwrap()]), &["tag \"-tag\""]);
}

#[test]
fn a_corrupted_blob_is_detected_and_never_used() {
    let env = Env::new();
    let ctx = env.context("ctx", &[("Dockerfile", "FROM scratch\nCOPY f /f\n"), ("f", "content")]);
    ok(env.run(&["build", "-t", "c", ctx.to_str().unwrap()]));
    let store = env.store();
    let image = store.resolve("c").unwrap();
    let layer = image.manifest.layers()[0].digest().clone();
    std::fs::write(store.blob_path(&layer), b"garbage").unwrap();
    let out = env.dir.path().join("c.tar");
    let err = fails_with(env.run(&["save", "c", "-o", out.to_str().unwrap()]), &["is corrupted", layer.as_ref()]);
    assert!(!out.exists(), "no archive from a corrupted blob: {err}");
}

#[test]
fn an_archive_with_path_traversal_is_refused_whole() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../../escaped");
    h.set_cksum();
    b.append(&h, &b"hi"[..]).unwrap();
    let path = env.dir.path().join("evil.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    fails_with(env.run(&["load", "-i", path.to_str().unwrap()]), &["path traversal", "../../escaped"]);
    fails_with(env.run(&["import", path.to_str().unwrap(), "evil"]), &["path traversal"]);
    assert!(!env.dir.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn an_archive_with_a_symlink_out_is_refused() {
    let env = Env::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "manifest.json", "../../../etc/passwd").unwrap();
    let path = env.dir.path().join("evil-link.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    fails_with(
        env.run(&["load", "-i", path.to_str().unwrap()]),
        &["path traversal", "manifest.json -> ../../../etc/passwd"],
    );
}

#[test]
fn a_file_that_is_no_archive_says_what_it_expected() {
    let env = Env::new();
    let path = env.dir.path().join("empty.tar");
    std::fs::write(&path, tar::Builder::new(Vec::new()).into_inner().unwrap()).unwrap();
    fails_with(env.run(&["load", "-i", path.to_str().unwrap()]), &["neither an oci-archive", "docker-archive"]);
}

#[test]
fn multi_stage_mistakes_name_the_stage() {
    let env = Env::new();
    fails_with(
        build(&env, "FROM scratch AS a\nFROM scratch AS A\n", &[]),
        &["Dockerfile:2", "a stage named \"a\" already exists"],
    );
    fails_with(
        build(&env, "FROM scratch\nADD --from=x a /a\n", &[]),
        &["Dockerfile:2", "ADD has no --from (only COPY does)"],
    );
    fails_with(
        build(&env, "FROM scratch\nCOPY --from=nowhere /a /a\n", &[]),
        &["Dockerfile:2", "COPY --from=nowhere: no earlier stage is named \"nowhere\""],
    );
    let ctx = env.context("two", &[("Dockerfile", "FROM scratch AS one\nFROM scratch AS two\n")]);
    fails_with(
        env.run(&["build", "-t", "bad", "--target", "three", ctx.to_str().unwrap()]),
        &["--target three: no stage", "(stages named: one, two)"],
    );
}

#[test]
fn target_stops_at_its_stage_and_a_later_stage_copies_from_an_earlier_one() {
    let env = Env::new();
    let ctx = env.context(
        "ctx",
        &[
            ("Dockerfile", "FROM scratch AS first\nCOPY a /a\nFROM scratch\nCOPY --from=first /a /b\nCMD [\"/b\"]\n"),
            ("a", "payload"),
        ],
    );
    ok(env.run(&["build", "-q", "-t", "first", "--target", "first", ctx.to_str().unwrap()]));
    ok(env.run(&["build", "-q", "-t", "last", ctx.to_str().unwrap()]));
    let store = env.store();
    let first = store.resolve("first").unwrap();
    assert_eq!(first.manifest.layers().len(), 1);
    assert!(first.config.config().as_ref().and_then(|c| c.cmd().clone()).is_none(), "the target stage has no CMD");
    let last = store.resolve("last").unwrap();
    let reader = labimage::sandbox::layer_reader(&store, &last.manifest.layers()[0]).unwrap();
    let paths: Vec<String> = labimage::layer::list_tar(reader).unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["b"], "only the final stage's layer, holding the copied file");
}

#[test]
fn an_unreachable_registry_is_told_in_our_words_with_the_url_once_and_the_offline_ways() {
    let env = Env::new();
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let err = fails_with(
        env.run(&["pull", "127.0.0.1:1/library/busybox:latest"]),
        &["cannot reach registry 127.0.0.1:1", "Connection refused", "labctl image import", "labctl image load"],
    );
    assert_eq!(err.matches("http://127.0.0.1:1/v2/library/busybox/manifests/latest").count(), 1, "{err}");
}
