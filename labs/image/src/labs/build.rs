//! `image-build`: the course's Dockerfile built into an OCI image layout, then read back
//! file by file: index.json → manifest → config → layers; the layer cache; a RUN layer as
//! the OverlayFS upper diff.

use crate::build::{self, BuildOptions, BuildReport};
use crate::digest;
use crate::layer;
use crate::store::{self, Store};
use anyhow::Context;
use labkit::{tr, Ctx, Fact, Observation, Undo, Walkthrough};
use oci_spec::image::{Descriptor, ImageManifest};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub static LAB: Walkthrough<State> = Walkthrough {
    id: "image-build",
    source: file!(),
    steps: &[
        ("base-image", base_image),
        ("context", context),
        ("build", build_step),
        ("index", index),
        ("manifest", manifest),
        ("config", config),
        ("layers", layers),
        ("rebuild", rebuild),
        ("run-layer", run_layer),
    ],
    check,
};

/// The course's Dockerfile, on a local base instead of `ubuntu` (no internet needed).
pub const DOCKERFILE: &str = "FROM busybox
ENV MY_SERVICE_PORT=80
LABEL multi.label1=\"value1\" multi.label2=\"value2\" other=\"value3\"
ADD bin/amd64/httpserver /httpserver
EXPOSE 80
ENTRYPOINT /httpserver
";

/// The lab's httpserver: busybox httpd in the foreground, serving /www on $MY_SERVICE_PORT.
pub const HTTPSERVER: &str = "#!/bin/sh
# httpserver for the image-build lab: busybox httpd in the foreground on $MY_SERVICE_PORT.
mkdir -p /www
[ -f /www/index.html ] || echo 'hello from httpserver' > /www/index.html
exec /bin/busybox httpd -f -p \"${MY_SERVICE_PORT:-80}\" -h /www
";

/// A second Dockerfile whose RUN changes and deletes files.
pub const RUN_DOCKERFILE: &str = "FROM httpserver
RUN rm /bin/vi && mkdir -p /www && echo '<h1>hello</h1>' > /www/index.html
";

#[derive(Default)]
pub struct State {
    dir: Option<PathBuf>,
    store: Option<Store>,
    context: Option<PathBuf>,
    report: Option<BuildReport>,
    manifest: Option<ImageManifest>,
    /// Digests that do not depend on the host's busybox (the ADD layer's): every other digest
    /// of these images is a property of this machine and is typed so.
    stable: Vec<String>,
}

/// A digest as shown: stable ones as text, the ones derived from the host's busybox as host facts.
fn digest_fact(digest: impl std::fmt::Display, stable: &[String]) -> Fact {
    let digest = digest.to_string();
    if stable.contains(&digest) {
        Fact::Text(digest)
    } else {
        Fact::Host(digest)
    }
}

/// A file's text with every `sha256:<64 hex>` typed by [`digest_fact`].
fn typed_excerpt(path: impl Into<Fact>, text: &str, stable: &[String]) -> Observation {
    let lines = text
        .lines()
        .map(|line| {
            let mut out = Vec::new();
            let mut rest = line;
            while let Some(at) = rest.find("sha256:") {
                let hex = &rest[at + 7..];
                let len = hex.chars().take_while(|c| c.is_ascii_hexdigit()).count();
                if len != 64 {
                    out.push(Fact::text(&rest[..at + 7]));
                    rest = &rest[at + 7..];
                    continue;
                }
                if at > 0 {
                    out.push(Fact::text(&rest[..at]));
                }
                out.push(digest_fact(&rest[at..at + 7 + 64], stable));
                rest = &rest[at + 7 + 64..];
            }
            if !rest.is_empty() || out.is_empty() {
                out.push(Fact::text(rest));
            }
            out
        })
        .collect();
    Observation::Excerpt { path: path.into(), lines }
}

impl State {
    fn store(&self) -> anyhow::Result<&Store> {
        self.store.as_ref().context("step base-image did not run")
    }
    fn report(&self) -> anyhow::Result<&BuildReport> {
        self.report.as_ref().context("step build did not run")
    }
}

fn short(d: &str) -> String {
    crate::cli::short(d)
}

fn base_image(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("labctl-image-")
        .tempdir()
        .context("create a temp dir for the lab's image store")?
        .keep();
    ctx.register(Undo::RemoveDir { path: dir.clone() });
    let store = Store::open(dir.join("images"))?;
    let busybox = crate::import::find_static_busybox()?;
    let descriptor = crate::import::import_busybox(&store, "busybox")?;
    let image = store.resolve("busybox")?;
    let layer = &image.manifest.layers()[0];
    let entries = layer::list_tar(crate::sandbox::layer_reader(&store, layer)?)?;
    let symlinks = entries.iter().filter(|e| e.mode.starts_with('l')).count();
    ctx.observe(Observation::Values {
        title: tr!("The base image, imported from the host:", "从主机导入的基础镜像："),
        values: vec![
            (ctx.t(&tr!("store", "store（镜像存储）")), Fact::TempPath(store.root().display().to_string())),
            // The host's busybox, and so everything made from it, differs between machines.
            (ctx.t(&tr!("busybox", "busybox 程序")), Fact::Host(busybox.display().to_string())),
            (ctx.t(&tr!("image", "镜像")), Fact::text(image.name.clone())),
            ("manifest".into(), Fact::Host(descriptor.digest().to_string())),
            (ctx.t(&tr!("layers", "层数")), Fact::Number(image.manifest.layers().len() as i64)),
            (ctx.t(&tr!("layer entries", "层里的条目数")), Fact::Host(entries.len().to_string())),
            (ctx.t(&tr!("applet symlinks", "applet 符号链接数")), Fact::Host(symlinks.to_string())),
            (ctx.t(&tr!("layer size (gzip)", "层大小（gzip）")), Fact::Bytes(layer.size())),
        ],
    });
    ctx.set("applets", Fact::Host(symlinks.to_string()));
    ctx.set("entries", Fact::Host(entries.len().to_string()));
    ctx.expect_eq(
        tr!("the base image has one layer", "基础镜像只有一层"),
        Fact::Number(1),
        Fact::Number(image.manifest.layers().len() as i64),
        tr!("import --busybox writes a single layer", "import --busybox 只写一层"),
    );
    let has_sh = entries.iter().any(|e| e.path == "bin/sh");
    ctx.expect(
        tr!("/bin/sh is in it (a busybox applet)", "里面有 /bin/sh（busybox 的一个 applet）"),
        "bin/sh",
        if has_sh { "bin/sh".to_string() } else { ctx.word("missing") },
        has_sh,
        tr!("busybox --list-full should name bin/sh", "busybox --list-full 应当列出 bin/sh"),
    );
    state.dir = Some(dir);
    state.store = Some(store);
    Ok(())
}

fn context(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let dir = state.dir.clone().context("step base-image did not run")?;
    let context = dir.join("context");
    let bin = context.join("bin/amd64");
    std::fs::create_dir_all(&bin)?;
    std::fs::write(context.join("Dockerfile"), DOCKERFILE)?;
    std::fs::write(bin.join("httpserver"), HTTPSERVER)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("httpserver"), std::fs::Permissions::from_mode(0o755))?;
    let read = std::fs::read_to_string(context.join("Dockerfile"))?;
    ctx.observe(Observation::excerpt("context/Dockerfile", &read));
    let server = std::fs::read_to_string(bin.join("httpserver"))?;
    ctx.observe(Observation::excerpt("context/bin/amd64/httpserver", &server));
    let mode = std::fs::metadata(bin.join("httpserver"))?.permissions().mode() & 0o777;
    ctx.set("mode", Fact::text(format!("{mode:o}")));
    ctx.expect_eq(
        tr!("httpserver is executable", "httpserver 是可执行的"),
        "755",
        format!("{mode:o}"),
        tr!("ADD keeps the file mode, so it must be set in the context", "ADD 会保留文件权限，所以要在上下文里设好"),
    );
    state.context = Some(context);
    Ok(())
}

fn steps_table(ctx: &Ctx, report: &BuildReport) -> Observation {
    let rows = report
        .steps
        .iter()
        .map(|s| {
            vec![
                Fact::Number(s.index as i64),
                Fact::text(s.text.clone()),
                Fact::text(match &s.layer {
                    Some(l) => {
                        let d = short(l.digest().as_ref());
                        ctx.t(&tr!(format!("layer {d}"), format!("层 {d}")))
                    }
                    None => ctx.t(&tr!("config", "配置")),
                }),
                Fact::text(match (&s.layer, s.cached) {
                    (None, _) => "-".to_string(),
                    (Some(_), true) => ctx.t(&tr!("cached", "命中缓存")),
                    (Some(_), false) => ctx.word("new"),
                }),
            ]
        })
        .collect();
    Observation::Table {
        title: tr!("Build steps:", "构建步骤："),
        columns: ["STEP", "INSTRUCTION", "RESULT", "CACHE"].iter().map(|s| s.to_string()).collect(),
        rows,
    }
}

fn build_step(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?.clone();
    let context = state.context.clone().context("step context did not run")?;
    let opts = BuildOptions { tag: "httpserver".into(), context, ..Default::default() };
    let started = Instant::now();
    let report = build::build(&store, &opts, &mut |_| {})?;
    let took = started.elapsed();
    ctx.observe(steps_table(ctx, &report));
    let config_steps = report.steps.iter().filter(|s| s.layer.is_none()).count();
    let layer_steps = report.steps.len() - config_steps;
    ctx.observe(Observation::Values {
        title: tr!("Result:", "结果："),
        values: vec![
            (ctx.t(&tr!("image", "镜像")), Fact::text(report.name.clone())),
            ("manifest".into(), Fact::Host(report.manifest.digest().to_string())),
            (ctx.t(&tr!("layers", "层数")), Fact::Number(report.layers.len() as i64)),
            (ctx.t(&tr!("build time", "构建用时")), Fact::Duration(took)),
        ],
    });
    ctx.set("config_steps", Fact::Number(config_steps as i64));
    ctx.set("layer_steps", Fact::Number(layer_steps as i64));
    ctx.set("layers", Fact::Number(report.layers.len() as i64));
    ctx.expect_eq(
        tr!("only ADD made a layer", "只有 ADD 产生了新层"),
        "ADD",
        report.steps.iter().filter(|s| s.layer.is_some()).map(|s| s.keyword.clone()).collect::<Vec<_>>().join(","),
        tr!("ENV, LABEL, EXPOSE and ENTRYPOINT only change the config", "ENV、LABEL、EXPOSE、ENTRYPOINT 只修改配置"),
    );
    ctx.expect_eq(
        tr!("the image has the base layer plus one", "镜像有基础层加一层"),
        Fact::Number(2),
        Fact::Number(report.layers.len() as i64),
        tr!("FROM busybox brings one layer, ADD one more", "FROM busybox 带来一层，ADD 再加一层"),
    );
    // The ADD layer holds only the lab's own httpserver script: the same on every machine.
    if let (Some(added), Some(diff_id)) = (report.layers.last(), report.config.rootfs().diff_ids().last()) {
        state.stable = vec![added.digest().to_string(), diff_id.clone()];
    }
    // The OCI layout both images now live in: index.json, oci-layout, blobs/sha256.
    ctx.explore_dir(store.root());
    state.report = Some(report);
    Ok(())
}

fn index(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?;
    let report = state.report()?;
    let stable = &state.stable;
    let text = std::fs::read_to_string(store.index_path())?;
    ctx.observe(typed_excerpt("$STORE/index.json", &text, stable));
    let layout = std::fs::read_to_string(store.root().join("oci-layout"))?;
    ctx.observe(Observation::excerpt("$STORE/oci-layout", &layout));
    // Content addressing: the file's name is the sha256 of its bytes.
    let path = store.blob_path(report.manifest.digest());
    let bytes = std::fs::read(&path)?;
    let actual = digest::sha256(&bytes);
    let blobs = std::fs::read_dir(store.root().join("blobs/sha256"))?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count();
    ctx.observe(Observation::Values {
        title: tr!("Content addressing, checked:", "内容寻址，验证一下："),
        values: vec![
            (
                ctx.t(&tr!("file", "文件")),
                Fact::Host(format!(
                    "blobs/sha256/{}",
                    short(report.manifest.digest().as_ref()).trim_start_matches("sha256:")
                )),
            ),
            (ctx.t(&tr!("sha256sum of its bytes", "其内容的 sha256sum")), digest_fact(&actual, stable)),
            (ctx.t(&tr!("blobs in the store", "store 里的 blob 数")), Fact::Number(blobs as i64)),
        ],
    });
    ctx.set("manifest", digest_fact(report.manifest.digest(), stable));
    ctx.set("blobs", Fact::Number(blobs as i64));
    ctx.expect_eq(
        tr!("the manifest blob's name is the sha256 of its content", "manifest blob 的文件名就是其内容的 sha256"),
        digest_fact(report.manifest.digest(), stable),
        digest_fact(&actual, stable),
        tr!("a blob whose hash differs from its name is corrupted", "哈希与文件名不符的 blob 已损坏"),
    );
    let tagged = store.list()?.iter().any(|(n, d)| n == "httpserver:latest" && d.digest() == report.manifest.digest());
    ctx.expect(
        tr!("index.json names it httpserver:latest", "index.json 把它命名为 httpserver:latest"),
        "httpserver:latest",
        if tagged { "httpserver:latest".to_string() } else { ctx.word("missing") },
        tagged,
        tr!(
            "the tag is the org.opencontainers.image.ref.name annotation",
            "标签就是 org.opencontainers.image.ref.name 注解"
        ),
    );
    Ok(())
}

fn manifest(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?;
    let report = state.report()?;
    let manifest: ImageManifest = store.read_json(report.manifest.digest(), "manifest")?;
    ctx.observe(typed_excerpt(
        Fact::Host(format!("$STORE/blobs/sha256/{}…", &report.manifest.digest().digest()[..12])),
        &store::pretty_json(&manifest),
        &state.stable,
    ));
    ctx.set("config", digest_fact(manifest.config().digest(), &state.stable));
    ctx.set("config_type", Fact::text(manifest.config().media_type().to_string()));
    let gz = manifest.layers().iter().all(|l| l.media_type().to_string().ends_with("tar+gzip"));
    ctx.expect_eq(
        tr!("the config descriptor has the config media type", "config 描述符的媒体类型是镜像配置"),
        "application/vnd.oci.image.config.v1+json",
        manifest.config().media_type().to_string(),
        tr!("see the OCI image spec, manifest.md", "参见 OCI 镜像规范 manifest.md"),
    );
    ctx.expect(
        tr!("every layer is a gzipped tar", "每一层都是 gzip 压缩的 tar"),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        if gz { "tar+gzip".to_string() } else { ctx.t(&tr!("other", "其他")) },
        gz,
        tr!("labctl stores built layers gzipped", "labctl 以 gzip 保存构建出的层"),
    );
    state.manifest = Some(manifest);
    Ok(())
}

fn config(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?;
    let manifest = state.manifest.as_ref().context("step manifest did not run")?;
    let mut config: oci_spec::image::ImageConfiguration =
        store.read_json(manifest.config().digest(), "image config")?;
    store::sort_config_sets(&mut config);
    let exec = config.config().clone().unwrap_or_default();
    let json = |v: &Vec<String>| v.json();
    let entrypoint = exec.entrypoint().clone().unwrap_or_default();
    let mut labels: Vec<(String, String)> = exec.labels().clone().unwrap_or_default().into_iter().collect();
    labels.sort();
    ctx.observe(Observation::Values {
        title: tr!("The runtime part of the config (\"config\"):", "配置中给运行时用的部分（\"config\"）："),
        values: vec![
            ("Env".into(), Fact::text(json(&exec.env().clone().unwrap_or_default()))),
            ("Labels".into(), Fact::text(labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "))),
            ("ExposedPorts".into(), Fact::text(exec.exposed_ports().clone().unwrap_or_default().join(" "))),
            ("Entrypoint".into(), Fact::text(json(&entrypoint))),
            ("Cmd".into(), Fact::text(exec.cmd().as_ref().map(json).unwrap_or_else(|| ctx.t(&tr!("(none)", "无"))))),
        ],
    });
    ctx.observe(Observation::Values {
        title: tr!("And what the image is made of (\"rootfs\"):", "以及镜像由什么组成（\"rootfs\"）："),
        values: config
            .rootfs()
            .diff_ids()
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("diff_ids[{i}]"), digest_fact(d, &state.stable)))
            .collect(),
    });
    ctx.set("entrypoint", Fact::text(json(&entrypoint)));
    // Who is PID 1 under the shell form? Ask this image's own sh, in a new pid namespace:
    // `sh -c 'cat /proc/1/comm'` prints sh if sh stays PID 1, cat if it execs the lone command.
    let shell: Vec<String> = entrypoint.iter().take(2).cloned().collect();
    let probe = crate::sandbox::RunSpec {
        argv: shell.iter().cloned().chain(["cat /proc/1/comm".to_string()]).collect(),
        env: exec.env().clone().unwrap_or_default(),
        workdir: "/".into(),
        ..Default::default()
    };
    let (_, printed) = crate::sandbox::run_in_sandbox(store, manifest.layers(), config.rootfs().diff_ids(), &probe)
        .context("run the shell-form probe in the RUN sandbox")?;
    let pid1 = printed.trim().to_string();
    ctx.observe(Observation::Values {
        title: tr!(
            "PID 1 of the shell form in this image (a new pid namespace):",
            "这个镜像里 shell 形式的 1 号进程（在新的 pid namespace 中）："
        ),
        values: vec![(format!("{} '{}'", shell.join(" "), "cat /proc/1/comm"), Fact::text(pid1.clone()))],
    });
    ctx.set("pid1", Fact::text(pid1.clone()));
    ctx.expect_eq(
        tr!(
            "BusyBox's sh execs a lone command: PID 1 is the program, not sh",
            "BusyBox 的 sh 会 exec 单独的一条命令：1 号进程是程序本身，而不是 sh"
        ),
        "cat",
        pid1,
        tr!(
            "this image's sh forked instead: PID 1 would be sh, which does not pass SIGTERM on",
            "这个镜像的 sh 选择了 fork：1 号进程会是 sh，而它不会转发 SIGTERM"
        ),
    );
    ctx.expect_eq(
        tr!("the shell-form ENTRYPOINT became /bin/sh -c", "shell 形式的 ENTRYPOINT 变成了 /bin/sh -c"),
        r#"["/bin/sh","-c","/httpserver"]"#,
        json(&entrypoint),
        tr!(
            "ENTRYPOINT /httpserver (no JSON array) is the shell form",
            "ENTRYPOINT /httpserver（不是 JSON 数组）是 shell 形式"
        ),
    );
    let env_ok = exec.env().iter().flatten().any(|e| e == "MY_SERVICE_PORT=80");
    ctx.expect(
        tr!("ENV landed in Env", "ENV 写进了 Env"),
        "MY_SERVICE_PORT=80",
        if env_ok { "MY_SERVICE_PORT=80".to_string() } else { ctx.word("missing") },
        env_ok,
        tr!("ENV appends KEY=VALUE to the config's Env", "ENV 会把 KEY=VALUE 追加到配置的 Env"),
    );
    ctx.expect_eq(
        tr!("EXPOSE 80 became 80/tcp", "EXPOSE 80 变成了 80/tcp"),
        "80/tcp",
        exec.exposed_ports().clone().unwrap_or_default().join(" "),
        tr!("a port without protocol means tcp", "不写协议的端口就是 tcp"),
    );
    ctx.expect_eq(
        tr!("three labels", "三个标签"),
        Fact::Number(3),
        Fact::Number(labels.len() as i64),
        tr!("one LABEL instruction may set several", "一条 LABEL 指令可以设置多个标签"),
    );
    ctx.expect(
        tr!("the base image's Cmd was reset by ENTRYPOINT", "基础镜像的 Cmd 被 ENTRYPOINT 重置了"),
        ctx.t(&tr!("(none)", "无")),
        exec.cmd().as_ref().map(json).unwrap_or_else(|| ctx.t(&tr!("(none)", "无"))),
        exec.cmd().is_none(),
        tr!("otherwise the container would run /bin/sh -c /httpserver sh", "否则容器会执行 /bin/sh -c /httpserver sh"),
    );
    Ok(())
}

/// JSON text of a string list (compact), for showing argv values.
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }
    impl Json for Vec<String> {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
use erased::Json as _;

/// `tar tzvf` rows; `host_made` marks a layer made from the host's busybox (its sizes vary by machine).
fn listing_rows(entries: &[layer::Listed], host_made: bool) -> Vec<Vec<Fact>> {
    entries
        .iter()
        .map(|e| {
            vec![
                Fact::text(e.mode.clone()),
                Fact::text(format!("{}/{}", e.uid, e.gid)),
                if host_made { Fact::Host(e.size.to_string()) } else { Fact::Number(e.size as i64) },
                Fact::text(layer::date(e.mtime)),
                Fact::text(match &e.link {
                    Some(l) if e.mode.starts_with('l') => format!("{} -> {l}", e.path),
                    Some(l) if e.mode.starts_with('h') => format!("{} link to {l}", e.path),
                    _ => e.path.clone(),
                }),
            ]
        })
        .collect()
}

fn columns(ctx: &Ctx) -> Vec<String> {
    [("MODE", "权限"), ("OWNER", "属主"), ("SIZE", "大小"), ("MTIME", "修改时间"), ("PATH", "路径")]
        .iter()
        .map(|(en, zh)| ctx.t(&tr!(*en, *zh)))
        .collect()
}

fn layers(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?;
    let manifest = state.manifest.as_ref().context("step manifest did not run")?;
    let base = &manifest.layers()[0];
    let added = manifest.layers().last().context("no layers")?;
    let base_entries = layer::list_tar(crate::sandbox::layer_reader(store, base)?)?;
    // Entries every busybox import has (the applet list itself depends on how busybox was built).
    let shown = ["bin/", "bin/busybox", "bin/sh", "etc/", "etc/passwd", "tmp/"];
    let first: Vec<layer::Listed> = base_entries.iter().filter(|e| shown.contains(&e.path.as_str())).cloned().collect();
    ctx.observe(Observation::Table {
        title: tr!(
            "Layer 1 (the busybox base), a few of its entries (tar tzvf):",
            "第 1 层（busybox 基础层）中的几项（tar tzvf）："
        ),
        columns: columns(ctx),
        rows: listing_rows(&first, true),
    });
    let entries = layer::list_tar(crate::sandbox::layer_reader(store, added)?)?;
    ctx.observe(Observation::Table {
        title: tr!("Layer 2 (ADD), all of it:", "第 2 层（ADD），全部内容："),
        columns: columns(ctx),
        rows: listing_rows(&entries, false),
    });
    ctx.set("base_entries", Fact::Host(base_entries.len().to_string()));
    ctx.expect_eq(
        tr!("the ADD layer holds exactly /httpserver", "ADD 层里恰好只有 /httpserver"),
        "httpserver",
        entries.iter().map(|e| e.path.clone()).collect::<Vec<_>>().join(","),
        tr!("ADD src /httpserver writes one file at the root", "ADD src /httpserver 只在根目录写一个文件"),
    );
    let normal = entries.iter().all(|e| e.uid == 0 && e.gid == 0 && e.mtime == layer::source_date_epoch());
    ctx.expect(
        tr!("owner 0/0 and a fixed mtime: the layer is reproducible", "属主 0/0、固定的 mtime：这一层可复现"),
        ctx.t(&tr!("0/0, 1970-01-01 00:00", "0/0，1970-01-01 00:00")),
        ctx.t(&if normal { tr!("0/0, fixed", "0/0，固定") } else { tr!("varies", "不固定") }),
        normal,
        tr!("ADD/COPY normalise ownership and clamp mtimes", "ADD/COPY 会统一属主并固定 mtime"),
    );
    Ok(())
}

/// Files under `dir` with their modification times (to show nothing was written).
fn snapshot_files(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                out.push((p, m));
            }
        }
    }
    out.sort();
    out
}

fn rebuild(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?.clone();
    let dir = state.dir.clone().context("step base-image did not run")?;
    let first = state.report()?.manifest.digest().clone();
    let before = snapshot_files(&dir);
    let opts = BuildOptions {
        tag: "httpserver".into(),
        context: state.context.clone().context("step context did not run")?,
        ..Default::default()
    };
    let started = Instant::now();
    let report = build::build(&store, &opts, &mut |_| {})?;
    let took = started.elapsed();
    let after = snapshot_files(&dir);
    ctx.observe(steps_table(ctx, &report));
    let written = after.iter().filter(|f| !before.contains(f)).count();
    ctx.observe(Observation::Values {
        title: tr!("Second build of the same context:", "同一上下文的第二次构建："),
        values: vec![
            ("manifest".into(), digest_fact(report.manifest.digest(), &state.stable)),
            (ctx.t(&tr!("files written", "写入的文件数")), Fact::Number(written as i64)),
            (ctx.t(&tr!("build time", "构建用时")), Fact::Duration(took)),
        ],
    });
    ctx.set("took", Fact::Duration(took));
    ctx.expect_eq(
        tr!("the same digest as the first build", "与第一次构建的摘要相同"),
        digest_fact(&first, &state.stable),
        digest_fact(report.manifest.digest(), &state.stable),
        tr!("the build must be reproducible", "构建必须是可复现的"),
    );
    ctx.expect(
        tr!("every layer step came from the cache", "每个产生层的步骤都命中了缓存"),
        ctx.t(&tr!("cached", "命中缓存")),
        ctx.t(&if report.steps.iter().filter(|s| s.layer.is_some()).all(|s| s.cached) {
            tr!("cached", "命中缓存")
        } else {
            tr!("rebuilt", "重新构建了")
        }),
        report.steps.iter().filter(|s| s.layer.is_some()).all(|s| s.cached),
        tr!("the cache key is parent + instruction + content", "缓存键 = 父层 + 指令 + 内容"),
    );
    ctx.expect_eq(
        tr!("nothing was written", "没有写任何文件"),
        Fact::Number(0),
        Fact::Number(written as i64),
        tr!("an unchanged rebuild must create nothing", "未改变的重建不应创建任何东西"),
    );
    Ok(())
}

fn run_layer(ctx: &mut Ctx, state: &mut State) -> anyhow::Result<()> {
    let store = state.store()?.clone();
    let dir = state.dir.clone().context("step base-image did not run")?;
    let context = dir.join("context-run");
    std::fs::create_dir_all(&context)?;
    std::fs::write(context.join("Dockerfile"), RUN_DOCKERFILE)?;
    // What the build reads: the file on disk, not the constant it was written from.
    let on_disk = std::fs::read_to_string(context.join("Dockerfile")).context("read context-run/Dockerfile")?;
    ctx.observe(Observation::excerpt("context-run/Dockerfile", &on_disk));
    let opts = BuildOptions { tag: "httpserver:run".into(), context, ..Default::default() };
    let report = build::build(&store, &opts, &mut |_| {})?;
    let layer: &Descriptor = report.layers.last().context("no layers")?;
    let entries = layer::list_tar(crate::sandbox::layer_reader(&store, layer)?)?;
    ctx.observe(Observation::Table {
        title: tr!(
            "The RUN layer (the overlay's upper directory as a tar):",
            "RUN 产生的层（overlay 的 upper 目录打成 tar）："
        ),
        columns: columns(ctx),
        rows: listing_rows(&entries, false),
    });
    let whiteout = entries.iter().any(|e| e.path == "bin/.wh.vi");
    ctx.expect(
        tr!("deleting /bin/vi left a whiteout bin/.wh.vi", "删除 /bin/vi 留下了 whiteout 文件 bin/.wh.vi"),
        "bin/.wh.vi",
        if whiteout { "bin/.wh.vi".to_string() } else { ctx.word("missing") },
        whiteout,
        tr!(
            "overlayfs marks the deletion with a 0/0 character device; the layer writes it as .wh.NAME",
            "overlayfs 用 0/0 字符设备标记删除；写入层时变成 .wh.NAME"
        ),
    );
    let new_file = entries.iter().any(|e| e.path == "www/index.html");
    ctx.expect(
        tr!("the new file is in the layer", "新文件在这一层里"),
        "www/index.html",
        if new_file { "www/index.html".to_string() } else { ctx.word("missing") },
        new_file,
        tr!("files the command wrote land in upper", "命令写的文件落在 upper 里"),
    );
    let untouched = !entries.iter().any(|e| e.path == "httpserver" || e.path == "bin/busybox");
    ctx.expect(
        tr!("files RUN did not touch are not in the layer", "RUN 没动过的文件不在这一层里"),
        ctx.t(&tr!("only changes", "只有改动")),
        ctx.t(&if untouched { tr!("only changes", "只有改动") } else { tr!("whole rootfs", "整个 rootfs") }),
        untouched,
        tr!("a layer is a diff, not a copy", "层是差异，不是拷贝"),
    );
    ctx.set("entries", Fact::Number(entries.len() as i64));
    Ok(())
}

/// The challenge: `httpserver:exec` in the default store, with an exec-form ENTRYPOINT.
fn check(ctx: &mut Ctx) -> anyhow::Result<()> {
    let store = Store::open_default()?;
    let image = match store.resolve("httpserver:exec") {
        Ok(i) => i,
        Err(e) => {
            ctx.expect(
                tr!("an image httpserver:exec exists", "存在镜像 httpserver:exec"),
                "httpserver:exec",
                Fact::text(e.to_string()),
                false,
                tr!(
                    "build it: sudo labctl image build -t httpserver:exec CONTEXT",
                    "构建它：sudo labctl image build -t httpserver:exec CONTEXT"
                ),
            );
            return Ok(());
        }
    };
    let exec = image.config.config().clone().unwrap_or_default();
    let entrypoint = exec.entrypoint().clone().unwrap_or_default();
    ctx.expect_eq(
        tr!("ENTRYPOINT is in exec form", "ENTRYPOINT 是 exec 形式"),
        r#"["/httpserver"]"#,
        entrypoint.json(),
        tr!("write it as a JSON array: ENTRYPOINT [\"/httpserver\"]", "写成 JSON 数组：ENTRYPOINT [\"/httpserver\"]"),
    );
    let env_ok = exec.env().iter().flatten().any(|e| e == "MY_SERVICE_PORT=80");
    ctx.expect(
        tr!("MY_SERVICE_PORT=80 is still set", "MY_SERVICE_PORT=80 仍然设置着"),
        "MY_SERVICE_PORT=80",
        if env_ok { "MY_SERVICE_PORT=80".to_string() } else { ctx.word("missing") },
        env_ok,
        tr!("keep the ENV line of the course's Dockerfile", "保留课程 Dockerfile 里的 ENV 行"),
    );
    let mut has_server = false;
    for l in image.manifest.layers() {
        let entries = layer::list_tar(crate::sandbox::layer_reader(&store, l)?)?;
        has_server |= entries.iter().any(|e| e.path == "httpserver");
    }
    ctx.expect(
        tr!("/httpserver is in a layer", "/httpserver 在某一层里"),
        "httpserver",
        if has_server { "httpserver".to_string() } else { ctx.word("missing") },
        has_server,
        tr!("ADD bin/amd64/httpserver /httpserver", "ADD bin/amd64/httpserver /httpserver"),
    );
    Ok(())
}
