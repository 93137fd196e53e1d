//! `labctl image build`: a Dockerfile and a context become an image in the store.
//!
//! Instructions that change files (ADD, COPY, RUN) make layers; the others change the
//! config. Every step has a cache key: the previous key + the instruction as expanded + the
//! content it reads (the source files for ADD/COPY). A step whose key is known reuses its
//! layer, so an unchanged rebuild writes nothing. Layers are reproducible: sorted entries,
//! one mtime (SOURCE_DATE_EPOCH, else 0), root ownership (or --chown).

use crate::context::{Context, Found};
use crate::digest;
use crate::dockerfile::{self, CommandForm, Inst, Instruction, Located};
use crate::layer::{self, Content, Kind, LayerBuilder, StoredLayer};
use crate::store::Store;
use anyhow::Context as _;
use oci_spec::image::{Arch, Config, Descriptor, Digest, History, HistoryBuilder, ImageConfiguration, MediaType, Os};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// NAME[:TAG] to tag the result with.
    pub tag: String,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    pub dockerfile: Option<PathBuf>,
    pub context: PathBuf,
    /// `--build-arg NAME=VALUE`.
    pub build_args: Vec<(String, String)>,
    /// Ignore the layer cache (still writes it).
    pub no_cache: bool,
    /// `--target NAME`: build up to that stage and tag it.
    pub target: Option<String>,
    /// Gets RUN output line by line as it is printed (the report still has all of it).
    pub live_output: crate::sandbox::LiveOutput,
}

/// Progress of a build, for the terminal.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Step { index: usize, total: usize, text: &'a str },
    Done(&'a StepReport),
}

/// What one instruction did.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub index: usize,
    pub line: usize,
    /// The instruction as written (one logical line).
    pub text: String,
    pub keyword: String,
    /// The layer it made or reused.
    pub layer: Option<Descriptor>,
    pub cached: bool,
    pub duration: Duration,
    /// What a RUN command printed (stdout then stderr).
    pub output: String,
}

#[derive(Debug, Clone)]
pub struct BuildReport {
    pub name: String,
    pub manifest: Descriptor,
    pub config: ImageConfiguration,
    pub layers: Vec<Descriptor>,
    pub steps: Vec<StepReport>,
    /// False when the tag already pointed at this very manifest.
    pub tag_changed: bool,
}

/// The cache entry of a layer-making step.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    digest: String,
    size: u64,
    media_type: String,
    diff_id: String,
}

/// Where the layer cache lives: beside the store (`.../images` → `.../images-build-cache`).
pub fn cache_dir(store: &Store) -> PathBuf {
    let root = store.root();
    root.parent()
        .unwrap_or(root)
        .join(format!("{}-build-cache", root.file_name().unwrap_or_default().to_string_lossy()))
}

/// The state instructions work on (one per stage).
#[derive(Clone)]
struct State {
    config: ImageConfiguration,
    exec: Config,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    history: Vec<History>,
    args: BTreeMap<String, String>,
    /// The cache key chain so far.
    key: Digest,
    /// CMD came from the base image (ENTRYPOINT then resets it, as Docker does).
    cmd_inherited: bool,
}

impl State {
    /// A variable for expansion: ENV wins over ARG.
    fn var(&self, name: &str) -> Option<String> {
        for e in self.exec.env().iter().flatten().rev() {
            if let Some((k, v)) = e.split_once('=') {
                if k == name {
                    return Some(v.to_string());
                }
            }
        }
        self.args.get(name).cloned()
    }

    fn chain(&mut self, parts: &[&[u8]]) {
        let mut h = Sha256::new();
        h.update(self.key.to_string().as_bytes());
        for p in parts {
            h.update(b"\n");
            h.update(p);
        }
        self.key = digest::from_hasher(h);
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.exec.env().clone().unwrap_or_default();
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| e.split_once('=').map(|(k, _)| k) == Some(key)) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
        self.exec.set_env(Some(env));
    }

    fn history(&mut self, created_by: &str, empty_layer: bool) {
        let mut h = HistoryBuilder::default()
            .created(layer::created_timestamp())
            .created_by(created_by.to_string())
            .comment("labctl image build".to_string());
        if empty_layer {
            h = h.empty_layer(true);
        }
        self.history.push(h.build().expect("history"));
    }

    fn workdir(&self) -> String {
        self.exec.working_dir().clone().unwrap_or_else(|| "/".into())
    }
}

/// A finished stage of a multi-stage build: what `FROM NAME` and `COPY --from=NAME` start from.
struct Stage {
    /// The `AS` name, lower case (names are case-insensitive).
    name: Option<String>,
    state: State,
}

/// The stages built so far and the ARGs declared before the first FROM (in scope for FROM
/// lines, and for an `ARG NAME` without default inside a stage).
#[derive(Default)]
struct Stages {
    done: Vec<Stage>,
    global_args: BTreeMap<String, String>,
}

impl Stages {
    /// A previous stage by its `AS` name (what FROM accepts).
    fn named(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_lowercase();
        self.done.iter().find(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// A previous stage by name or by index (what COPY --from accepts).
    fn find(&self, name: &str) -> Option<&Stage> {
        self.named(name).or_else(|| name.parse::<usize>().ok().and_then(|i| self.done.get(i)))
    }
}

fn fresh_state() -> State {
    State {
        config: ImageConfiguration::default(),
        exec: Config::default(),
        layers: Vec::new(),
        diff_ids: Vec::new(),
        history: Vec::new(),
        args: BTreeMap::new(),
        key: digest::sha256(b"labctl build cache v1"),
        cmd_inherited: false,
    }
}

/// Builds an image; `progress` sees every step. A multi-stage Dockerfile builds its stages in
/// order (up to `--target`) and tags the last one built.
pub fn build(store: &Store, opts: &BuildOptions, progress: &mut dyn FnMut(Event)) -> anyhow::Result<BuildReport> {
    let name = crate::reference::normalize(&opts.tag)?;
    let dockerfile_path = opts.dockerfile.clone().unwrap_or_else(|| opts.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&dockerfile_path)
        .with_context(|| format!("read the Dockerfile {}", dockerfile_path.display()))?;
    let file = dockerfile_path.display().to_string();
    let parsed = dockerfile::parse(&file, &text)?;
    let ctx = Context::open(&opts.context).map_err(anyhow::Error::msg)?;
    let cache = cache_dir(store);
    let build_args: HashMap<&str, &str> = opts.build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let aliases: Vec<String> = parsed
        .instructions
        .iter()
        .filter_map(|i| match &i.inst {
            Inst::From { alias, .. } => alias.as_ref().map(|a| a.to_lowercase()),
            _ => None,
        })
        .collect();
    let target = opts.target.as_ref().map(|t| t.to_lowercase());
    if let Some(t) = &target {
        anyhow::ensure!(
            aliases.contains(t),
            "--target {t}: no stage of {file} is named {t:?} (stages named: {})",
            if aliases.is_empty() { "none".to_string() } else { aliases.join(", ") }
        );
    }

    let mut stages = Stages::default();
    let mut state = fresh_state();
    let mut current: Option<Option<String>> = None;
    let builder = Builder {
        store,
        cache: &cache,
        ctx: &ctx,
        file: &file,
        build_args: &build_args,
        no_cache: opts.no_cache,
        live: &opts.live_output,
    };
    let total = parsed.instructions.len();
    let mut steps = Vec::new();
    for (i, ins) in parsed.instructions.iter().enumerate() {
        if let Inst::From { alias, .. } = &ins.inst {
            if let Some(done) = current.take() {
                let reached = done.is_some() && done == target;
                stages.done.push(Stage { name: done, state: std::mem::replace(&mut state, fresh_state()) });
                if reached {
                    break;
                }
            }
            current = Some(alias.as_ref().map(|a| a.to_lowercase()));
        }
        progress(Event::Step { index: i + 1, total, text: &ins.text });
        let started = Instant::now();
        let mut output = String::new();
        let outcome = step(builder, ins, &mut state, &mut stages, current.is_some(), &mut output)?;
        let report = StepReport {
            index: i + 1,
            line: ins.line,
            text: ins.text.clone(),
            keyword: ins.keyword(),
            layer: outcome.0,
            cached: outcome.1,
            duration: started.elapsed(),
            output,
        };
        progress(Event::Done(&report));
        steps.push(report);
    }
    // The last stage built is the image (with --target, the target: it was set aside above).
    if current.is_none() {
        if let Some(last) = stages.done.pop() {
            state = last.state;
        }
    }

    let mut config = state.config.clone();
    config.set_created(Some(layer::created_timestamp()));
    config.set_config(Some(state.exec.clone()));
    config.rootfs_mut().set_diff_ids(state.diff_ids.clone());
    config.set_history(state.history.clone());
    let (manifest, tag_changed) = store.commit_image(&name, &config, state.layers.clone())?;
    Ok(BuildReport { name, manifest, config, layers: state.layers, steps, tag_changed })
}

/// What every instruction of one build works with.
#[derive(Clone, Copy)]
struct Builder<'a> {
    store: &'a Store,
    /// The layer cache (see [`cache_dir`]).
    cache: &'a Path,
    /// The build context (COPY and ADD sources).
    ctx: &'a Context,
    /// The Dockerfile's path, for errors.
    file: &'a str,
    /// `--build-arg NAME=VALUE`
    build_args: &'a HashMap<&'a str, &'a str>,
    no_cache: bool,
    live: &'a crate::sandbox::LiveOutput,
}

/// Runs one instruction; returns the layer it made (if any) and whether it came from cache.
fn step(
    builder: Builder,
    ins: &Instruction,
    state: &mut State,
    stages: &mut Stages,
    in_stage: bool,
    output: &mut String,
) -> anyhow::Result<(Option<Descriptor>, bool)> {
    let Builder { store, cache, ctx, file, build_args, no_cache, live } = builder;
    let expand_words = |state: &State, text: &str| -> Result<Vec<String>, Located> {
        let vars = |n: &str| state.var(n);
        dockerfile::lex(text, Some(&vars))
            .map(|w| w.into_iter().map(|w| w.value).collect())
            .map_err(|e| ins.error_at(file, ins.args_column + e.offset, 1, e.message))
    };
    let expand_one = |state: &State, text: &str| -> Result<String, Located> {
        let vars = |n: &str| state.var(n);
        let words = dockerfile::lex(text, Some(&vars))
            .map_err(|e| ins.error_at(file, ins.args_column + e.offset, 1, e.message))?;
        Ok(words.into_iter().map(|w| w.value).collect::<Vec<_>>().join(" "))
    };
    match &ins.inst {
        Inst::Arg { name, default } => {
            let value = build_args
                .get(name.as_str())
                .map(|v| v.to_string())
                .or_else(|| default.clone())
                .or_else(|| stages.global_args.get(name).cloned())
                .unwrap_or_default();
            if in_stage {
                state.args.insert(name.clone(), value.clone());
            } else {
                stages.global_args.insert(name.clone(), value.clone());
            }
            state.chain(&[b"ARG", name.as_bytes(), value.as_bytes()]);
            Ok((None, false))
        }
        Inst::From { image, .. } => {
            let image = {
                let vars = |n: &str| stages.global_args.get(n).cloned();
                dockerfile::lex(image, Some(&vars))
                    .ok()
                    .and_then(|w| w.into_iter().next())
                    .map(|w| w.value)
                    .unwrap_or_else(|| image.clone())
            };
            if let Some(stage) = stages.named(&image) {
                // FROM an earlier stage: its filesystem, config and history go on.
                let key = stage.state.key.clone();
                *state = State { args: BTreeMap::new(), ..stage.state.clone() };
                state.key = digest::sha256(b"labctl build cache v1");
                state.chain(&[b"FROM stage", key.to_string().as_bytes()]);
                state.cmd_inherited = state.exec.cmd().is_some();
            } else if image == "scratch" {
                state.config.set_architecture(Arch::Amd64);
                state.config.set_os(Os::Linux);
                state.chain(&[b"FROM scratch"]);
            } else {
                let base = store.resolve(&image).map_err(|e| {
                    ins.error(
                        file,
                        format!("FROM {image}: {e}; import one first, e.g. `labctl image import --busybox`"),
                    )
                })?;
                state.config = base.config.clone();
                state.exec = base.config.config().clone().unwrap_or_default();
                state.cmd_inherited = state.exec.cmd().is_some();
                state.layers = base.manifest.layers().clone();
                state.diff_ids = base.config.rootfs().diff_ids().clone();
                state.history = base.config.history().clone();
                state.chain(&[b"FROM", base.digest().to_string().as_bytes()]);
            }
            Ok((None, false))
        }
        Inst::Env(raw) => {
            let pairs = pairs(&expand_words(state, raw)?, raw, state)?;
            let mut shown = Vec::new();
            for (k, v) in pairs {
                state.set_env(&k, &v);
                shown.push(format!("{k}={v}"));
            }
            config_step(state, &format!("ENV {}", shown.join(" ")));
            Ok((None, false))
        }
        Inst::Label(raw) => {
            let words = expand_words(state, raw)?;
            let mut labels = state.exec.labels().clone().unwrap_or_default();
            let mut shown = Vec::new();
            for w in words {
                let (k, v) = w.split_once('=').unwrap_or((&w, ""));
                labels.insert(k.to_string(), v.to_string());
                shown.push(format!("{k}={v}"));
            }
            state.exec.set_labels(Some(labels));
            config_step(state, &format!("LABEL {}", shown.join(" ")));
            Ok((None, false))
        }
        Inst::Expose(raw) => {
            let mut ports = state.exec.exposed_ports().clone().unwrap_or_default();
            for w in expand_words(state, raw)? {
                let port = normalize_port(&w).map_err(|m| ins.error(file, m))?;
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            ports.sort();
            let shown = ports.join(" ");
            state.exec.set_exposed_ports(Some(ports));
            config_step(state, &format!("EXPOSE {shown}"));
            Ok((None, false))
        }
        Inst::Entrypoint(form) => {
            state.exec.set_entrypoint(Some(form.argv()));
            if state.cmd_inherited {
                state.exec.set_cmd(None);
                state.cmd_inherited = false;
            }
            config_step(state, &format!("ENTRYPOINT {:?}", form.argv()));
            Ok((None, false))
        }
        Inst::Cmd(form) => {
            state.exec.set_cmd(Some(form.argv()));
            state.cmd_inherited = false;
            config_step(state, &format!("CMD {:?}", form.argv()));
            Ok((None, false))
        }
        Inst::Workdir(raw) => {
            let dir = expand_one(state, raw)?;
            let joined = if dir.starts_with('/') { dir } else { format!("{}/{dir}", state.workdir()) };
            let dir = format!("/{}", layer::resolve_in_root(&joined));
            state.exec.set_working_dir(Some(dir.clone()));
            config_step(state, &format!("WORKDIR {dir}"));
            Ok((None, false))
        }
        Inst::User(raw) => {
            let user = expand_one(state, raw)?;
            state.exec.set_user(Some(user.clone()));
            config_step(state, &format!("USER {user}"));
            Ok((None, false))
        }
        Inst::StopSignal(raw) => {
            let sig = expand_one(state, raw)?;
            state.exec.set_stop_signal(Some(sig.clone()));
            config_step(state, &format!("STOPSIGNAL {sig}"));
            Ok((None, false))
        }
        Inst::Volume(vols) => {
            let mut v = state.exec.volumes().clone().unwrap_or_default();
            v.extend(vols.iter().cloned());
            v.sort();
            v.dedup();
            state.exec.set_volumes(Some(v));
            config_step(state, &format!("VOLUME {vols:?}"));
            Ok((None, false))
        }
        Inst::Add(copy) | Inst::Copy(copy) => {
            let is_add = matches!(ins.inst, Inst::Add(_));
            let kw = if is_add { "ADD" } else { "COPY" };
            let mut paths = Vec::new();
            for (p, col) in copy.paths.iter().zip(&copy.columns) {
                let value = if copy.json {
                    expand_one(state, &format!("\"{}\"", p.replace('"', "\\\"")))?
                } else {
                    expand_one(state, p)?
                };
                paths.push((value, *col, p.chars().count()));
            }
            let (dest, _, _) = paths.pop().expect("at least two paths");
            let owner = match &copy.chown {
                Some(spec) => parse_chown(spec).map_err(|m| ins.error(file, m))?,
                None => (0, 0),
            };
            let chmod = match &copy.chmod {
                Some(m) => Some(
                    u32::from_str_radix(m, 8)
                        .map_err(|_| ins.error(file, format!("{kw} --chmod={m}: not an octal mode")))?,
                ),
                None => None,
            };
            // COPY --from: the sources are in a stage's (or an image's) unpacked rootfs.
            let from_ctx = match &copy.from {
                None => None,
                Some(from) => {
                    let from = expand_one(state, from)?;
                    let (layers, diff_ids) = match stages.find(&from) {
                        Some(stage) => (stage.state.layers.clone(), stage.state.diff_ids.clone()),
                        None => {
                            let image = store.resolve(&from).map_err(|e| {
                                ins.error(
                                    file,
                                    format!("COPY --from={from}: no earlier stage is named {from:?}, and {e}"),
                                )
                            })?;
                            (image.manifest.layers().clone(), image.config.rootfs().diff_ids().clone())
                        }
                    };
                    let root = crate::sandbox::unpack_rootfs(store, &layers, &diff_ids)
                        .with_context(|| format!("COPY --from={from}: unpack its rootfs"))?;
                    let root =
                        root.canonicalize().with_context(|| format!("COPY --from={from}: {}", root.display()))?;
                    Some(Context { root, ignore: crate::context::Ignore::parse("").map_err(anyhow::Error::msg)? })
                }
            };
            let ctx = from_ctx.as_ref().unwrap_or(ctx);
            let mut sources = Vec::new();
            for (src, col, width) in &paths {
                if src.contains("://") {
                    return Err(ins
                        .error_at(file, *col, *width, format!("{kw} from a URL needs the network; labctl builds offline: download the file into the context"))
                        .into());
                }
                let found = ctx.resolve(src).map_err(|e| ins.error_at(file, *col, *width, format!("{kw}: {e}")))?;
                let glob = src.contains(['*', '?', '[']);
                sources.push((found, glob));
            }
            let many = sources.len() > 1 || sources.iter().any(|(f, g)| *g || f.len() > 1);
            let dest_abs = if dest.starts_with('/') { dest.clone() } else { format!("{}/{dest}", state.workdir()) };
            let dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || many;
            let dest_root = layer::resolve_in_root(&dest_abs);

            // The cache key: instruction + every source's content and metadata.
            let mut h = Sha256::new();
            h.update(
                format!("{kw} {:?} {dest_root} {dest_is_dir} {owner:?} {chmod:?} from {:?}", copy.paths, copy.from)
                    .as_bytes(),
            );
            let mut builder = LayerBuilder::new();
            builder.set_owner(owner.0, owner.1);
            for (found, _) in &sources {
                for f in found {
                    add_source(ctx, f, &dest_root, dest_is_dir, is_add, chmod, &mut builder, &mut h)
                        .map_err(|e| ins.error(file, format!("{kw} {}: {e:#}", f.rel)))?;
                }
            }
            let content = digest::from_hasher(h).to_string();
            state.chain(&[kw.as_bytes(), content.as_bytes()]);
            let from = copy.from.as_ref().map(|f| format!("--from={f} ")).unwrap_or_default();
            let created_by =
                format!("{kw} {from}{} {}", paths.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join(" "), dest);
            let (layer, cached) = cached_layer(store, cache, &state.key, no_cache, || {
                let tar = builder.to_tar().context("write the layer tar")?;
                Ok(layer::store_tar(store, &tar)?)
            })?;
            state.layers.push(layer.descriptor.clone());
            state.diff_ids.push(layer.diff_id.to_string());
            state.history(&created_by, false);
            Ok((Some(layer.descriptor), cached))
        }
        Inst::Run(form) => {
            let argv = form.argv();
            let env = state.exec.env().clone().unwrap_or_default();
            let args: Vec<String> = state.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            state.chain(&[b"RUN", format!("{argv:?} {args:?}").as_bytes()]);
            let created_by = match form {
                CommandForm::Shell(s) => format!("RUN /bin/sh -c {s}"),
                CommandForm::Exec(v) => format!("RUN {v:?}"),
            };
            let spec = crate::sandbox::RunSpec {
                argv,
                env: env.into_iter().chain(args).collect(),
                workdir: state.workdir(),
                user: state.exec.user().clone(),
                live: live.clone(),
            };
            let parents = state.layers.clone();
            let diff_ids = state.diff_ids.clone();
            let (layer, cached) = cached_layer(store, cache, &state.key, no_cache, || {
                let (layer, out) = crate::sandbox::run_to_layer(store, &parents, &diff_ids, &spec)
                    .map_err(|e| anyhow::anyhow!(ins.error(file, format!("{e:#}"))))?;
                *output = out;
                Ok(layer)
            })?;
            state.layers.push(layer.descriptor.clone());
            state.diff_ids.push(layer.diff_id.to_string());
            state.history(&created_by, false);
            Ok((Some(layer.descriptor), cached))
        }
    }
}

fn config_step(state: &mut State, created_by: &str) {
    state.chain(&[created_by.as_bytes()]);
    state.history(created_by, true);
}

/// Looks a layer up in the cache by key, or makes it and records it.
fn cached_layer(
    store: &Store,
    cache: &Path,
    key: &Digest,
    no_cache: bool,
    make: impl FnOnce() -> anyhow::Result<StoredLayer>,
) -> anyhow::Result<(StoredLayer, bool)> {
    let entry_path = cache.join(key.digest());
    if !no_cache {
        if let Ok(bytes) = std::fs::read(&entry_path) {
            if let Ok(e) = serde_json::from_slice::<CacheEntry>(&bytes) {
                if let (Ok(d), Ok(diff_id)) = (digest::parse(&e.digest), digest::parse(&e.diff_id)) {
                    if store.has_blob(&d) {
                        return Ok((
                            StoredLayer {
                                descriptor: Descriptor::new(MediaType::from(e.media_type.as_str()), e.size, d),
                                diff_id,
                            },
                            true,
                        ));
                    }
                }
            }
        }
    }
    let layer = make()?;
    let entry = CacheEntry {
        digest: layer.descriptor.digest().to_string(),
        size: layer.descriptor.size(),
        media_type: layer.descriptor.media_type().to_string(),
        diff_id: layer.diff_id.to_string(),
    };
    std::fs::create_dir_all(cache).with_context(|| format!("create {}", cache.display()))?;
    let tmp = entry_path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&entry)?)?;
    std::fs::rename(&tmp, &entry_path)?;
    Ok((layer, false))
}

/// `ENV a=1 b="x y"` or legacy `ENV a 1 2`.
fn pairs(words: &[String], raw: &str, state: &State) -> Result<Vec<(String, String)>, Located> {
    let _ = state;
    if words.first().is_some_and(|w| w.contains('=')) {
        Ok(words
            .iter()
            .map(|w| {
                let (k, v) = w.split_once('=').unwrap_or((w, ""));
                (k.to_string(), v.to_string())
            })
            .collect())
    } else {
        let key = words.first().cloned().unwrap_or_default();
        let _ = raw;
        Ok(vec![(key, words[1..].join(" "))])
    }
}

/// `80` → `80/tcp`; `53/udp` stays; anything else is an error.
pub fn normalize_port(w: &str) -> Result<String, String> {
    let (port, proto) = w.split_once('/').unwrap_or((w, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("EXPOSE {w}: protocol must be tcp, udp or sctp"));
    }
    let ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let valid = match port.split_once('-') {
        Some((a, b)) => ok(a) && ok(b),
        None => ok(port),
    };
    if !valid {
        return Err(format!("EXPOSE {w}: {port:?} is not a port number (1-65535)"));
    }
    Ok(format!("{port}/{proto}"))
}

fn parse_chown(spec: &str) -> Result<(u64, u64), String> {
    let (u, g) = spec.split_once(':').unwrap_or((spec, spec));
    let id = |s: &str| -> Result<u64, String> {
        match s {
            "root" => Ok(0),
            s => s.parse().map_err(|_| {
                format!(
                    "--chown={spec}: use numeric ids (names need the image's /etc/passwd, which labctl does not read)"
                )
            }),
        }
    };
    Ok((id(u)?, id(g)?))
}

/// Adds one resolved source to the layer and feeds its content into the cache hash.
#[allow(clippy::too_many_arguments)]
fn add_source(
    ctx: &Context,
    f: &Found,
    dest: &str,
    dest_is_dir: bool,
    is_add: bool,
    chmod: Option<u32>,
    b: &mut LayerBuilder,
    h: &mut Sha256,
) -> anyhow::Result<()> {
    let meta = std::fs::metadata(&f.path).with_context(|| format!("stat {}", f.path.display()))?;
    if meta.is_dir() {
        // The directory's content goes to dest (not the directory itself).
        b.add_dir(dest, chmod.unwrap_or(meta.permissions().mode()));
        let mut err = None;
        ctx.walk(&f.path, &f.rel, &mut |child| {
            if err.is_some() {
                return;
            }
            let sub = child.rel.strip_prefix(&format!("{}/", f.rel)).unwrap_or(&child.rel);
            let sub = if f.rel.is_empty() { child.rel.as_str() } else { sub };
            let target = format!("{dest}/{sub}");
            if let Err(e) = add_entry(&child.path, &target, chmod, b, h) {
                err = Some(e);
            }
        });
        return err.map_or(Ok(()), Err);
    }
    let name = f.path.file_name().unwrap_or_default().to_string_lossy().to_string();
    if is_add && meta.is_file() {
        if let Some(tar) = read_local_tar(&f.path)? {
            h.update(b"tar\n");
            h.update(digest::sha256(&tar).to_string().as_bytes());
            return extract_tar_into(&tar, dest, b, &f.rel);
        }
    }
    let target = if dest_is_dir { format!("{dest}/{name}") } else { dest.to_string() };
    add_entry(&f.path, &target, chmod, b, h)
}

fn add_entry(
    path: &Path,
    target: &str,
    chmod: Option<u32>,
    b: &mut LayerBuilder,
    h: &mut Sha256,
) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    h.update(target.as_bytes());
    if ft.is_symlink() {
        let t = std::fs::read_link(path)?.to_string_lossy().to_string();
        h.update(format!(" -> {t}\n").as_bytes());
        b.add_symlink(target, &t);
    } else if ft.is_dir() {
        let mode = chmod.unwrap_or(meta.mode() & 0o7777);
        h.update(format!(" dir {mode:o}\n").as_bytes());
        b.add_dir(target, mode);
    } else if ft.is_file() {
        let mode = chmod.unwrap_or(meta.mode() & 0o7777);
        let (d, n) = digest::sha256_reader(std::io::BufReader::new(std::fs::File::open(path)?))?;
        h.update(format!(" file {mode:o} {n} {d}\n").as_bytes());
        b.add(target, Kind::File(Content::File(path.to_path_buf())), mode);
    }
    // Sockets, fifos and devices in a context are skipped, as docker does for sockets.
    Ok(())
}

/// The uncompressed bytes of a local tar archive (plain or gzip), or None if `path` is not one.
fn read_local_tar(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 512];
    let mut f = std::fs::File::open(path)?;
    let n = f.read(&mut head)?;
    let raw_tar = |h: &[u8]| h.len() >= 262 && &h[257..262] == b"ustar";
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path)?)
            .read_to_end(&mut out)
            .with_context(|| format!("decompress {}", path.display()))?;
        return Ok(raw_tar(&out).then_some(out));
    }
    if raw_tar(&head[..n]) {
        return Ok(Some(std::fs::read(path)?));
    }
    Ok(None)
}

/// ADD of a local tar: its entries land under `dest` (normalised, never outside it).
fn extract_tar_into(tar: &[u8], dest: &str, b: &mut LayerBuilder, name: &str) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(tar);
    for e in archive.entries()? {
        let mut e = e?;
        let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
        let rel = layer::clean_path(&raw)
            .ok_or_else(|| crate::ImageError::PathTraversal { archive: name.to_string(), entry: raw.clone() })?;
        if rel.is_empty() {
            continue;
        }
        let target = format!("{dest}/{rel}");
        let mode = e.header().mode().unwrap_or(0o644);
        match e.header().entry_type() {
            tar::EntryType::Directory => b.add_dir(&target, mode),
            tar::EntryType::Symlink => {
                let t = e.link_name()?.map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
                b.add_symlink(&target, &t);
            }
            tar::EntryType::Link => {
                let t = e.link_name()?.map(|p| p.to_string_lossy().to_string()).unwrap_or_default();
                let t = layer::clean_path(&t).ok_or_else(|| crate::ImageError::PathTraversal {
                    archive: name.to_string(),
                    entry: format!("{raw} (hard link to {t})"),
                })?;
                b.add(&target, Kind::Hardlink(layer::resolve_in_root(&format!("{dest}/{t}"))), mode);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut data = Vec::new();
                e.read_to_end(&mut data)?;
                b.add_bytes(&target, data, mode);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_get_a_protocol() {
        assert_eq!(normalize_port("80").unwrap(), "80/tcp");
        assert_eq!(normalize_port("53/UDP").unwrap(), "53/udp");
        assert!(normalize_port("http").is_err());
        assert!(normalize_port("70000").is_err());
    }
}
