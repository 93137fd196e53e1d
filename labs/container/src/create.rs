//! A new container from an image and the flags: its record, its files (/etc/hostname, hosts,
//! resolv.conf) and its OCI bundle, all under `<lib>/containers/<id>/`. Nothing runs yet; the
//! supervisor mounts the rootfs and starts it.

use crate::engine::{new_id, random_name, Engine};
use crate::error::{Error, Result};
use crate::record::{now, write_atomic, Config, HostConfig, Record, State, ZERO_TIME};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What `run` (and later `create`) was asked for, flags already parsed and checked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub image: String,
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    pub name: Option<String>,
    /// `-e` and `--env-file`, in order.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub network: String,
    /// `-v`, as given (parsed in `create`).
    pub volumes: Vec<String>,
    /// `--tmpfs`, as given.
    pub tmpfs: Vec<String>,
    /// `-p`, parsed.
    pub publish: Vec<labnet::ports::PortMap>,
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub auto_remove: bool,
    pub tty: bool,
    pub open_stdin: bool,
    pub shm_size: i64,
    pub init: bool,
    pub cpu_shares: i64,
    pub cpuset_cpus: String,
    pub blkio_weight: u16,
}

fn image_error(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Image { name: name.to_string(), why: e.to_string() }
}

/// The image, or the way to get it: `image pull` online, `image import`/`image load` offline.
fn resolve_image(name: &str) -> Result<(labimage::Store, labimage::Image)> {
    let store = labimage::Store::open_default().map_err(|e| image_error(name, e))?;
    match store.resolve(name) {
        Ok(image) => Ok((store, image)),
        Err(labimage::ImageError::NotFound { name: full, store: root }) => Err(Error::Image {
            name: name.to_string(),
            why: format!(
                "not in the image store {} (as {full}): get it with `labctl image pull {name}`, or offline with \
                 `labctl image import --busybox` (a busybox image from busybox-static) or `labctl image load FILE.tar`",
                root.display()
            ),
        }),
        Err(e) => Err(image_error(name, e)),
    }
}

pub fn check_security_opts(opts: &[String]) -> Result<()> {
    for o in opts {
        let known = ["no-new-privileges", "no-new-privileges:true", "seccomp=unconfined", "seccomp:unconfined"];
        if !known.contains(&o.as_str()) {
            return Err(Error::Usage(format!(
                "--security-opt {o:?}: not supported; use no-new-privileges or seccomp=unconfined"
            )));
        }
    }
    Ok(())
}

pub fn create(engine: &Engine, req: &Request) -> Result<Record> {
    let network_mode = crate::network::mode(engine, &req.network, &req.publish)?;
    // container:NAME shares that container's hostname and network files, as docker does.
    let joined = match network_mode.strip_prefix("container:") {
        Some(_) => Some(crate::network::joined(engine, &network_mode)?),
        None => None,
    };
    check_security_opts(&req.security_opt)?;
    let mut mounts: Vec<crate::volume::MountPoint> =
        req.volumes.iter().map(|v| crate::volume::parse(engine, v)).collect::<Result<_>>()?;
    // `-v /ctr` (no ':'): a volume of the container's own.
    let mut anonymous: Vec<String> =
        req.volumes.iter().zip(&mounts).filter(|(v, _)| !v.contains(':')).map(|(_, m)| m.name.clone()).collect();
    let mut tmpfs = BTreeMap::new();
    for t in &req.tmpfs {
        let (dest, opts) = crate::volume::parse_tmpfs(t)?;
        tmpfs.insert(dest, opts.join(","));
    }
    let mut seen: Vec<&str> = Vec::new();
    for dest in mounts.iter().map(|m| m.destination.as_str()).chain(tmpfs.keys().map(String::as_str)) {
        if seen.contains(&dest) {
            return Err(Error::Usage(format!(
                "{dest} is mounted twice (by -v or --tmpfs): give each container path once"
            )));
        }
        seen.push(dest);
    }
    crate::spec::capabilities(req.privileged, &req.cap_add, &req.cap_drop)?;
    if let Some(name) = &req.name {
        crate::flags::check_name(name)?;
    }
    let (store, image) = resolve_image(&req.image)?;
    let diff_ids: Vec<String> = image.config.rootfs().diff_ids().clone();
    let lower = labimage::sandbox::unpack_rootfs(&store, image.manifest.layers(), &diff_ids)
        .map_err(|e| image_error(&req.image, format!("{e:#}")))?;
    let image_config = image.config.config().clone().unwrap_or_default();
    // The image's VOLUMEs that no -v or --tmpfs covers become anonymous volumes, as in docker.
    for dest in image_config.volumes().clone().unwrap_or_default() {
        let dest = dest.trim_end_matches('/').to_string();
        if !dest.is_empty() && !mounts.iter().any(|m| m.destination == dest) && !tmpfs.contains_key(&dest) {
            let m = crate::volume::anonymous(engine, &dest)?;
            anonymous.push(m.name.clone());
            mounts.push(m);
        }
    }

    let (entrypoint, cmd) = match &req.entrypoint {
        Some(e) if e.is_empty() => (None, (!req.command.is_empty()).then(|| req.command.clone())),
        Some(e) => (Some(vec![e.clone()]), (!req.command.is_empty()).then(|| req.command.clone())),
        None => (
            image_config.entrypoint().clone().filter(|e| !e.is_empty()),
            if req.command.is_empty() { image_config.cmd().clone() } else { Some(req.command.clone()) },
        ),
    };
    let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
    argv.extend(cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(Error::Usage(format!(
            "image {:?} has no command (no Cmd or Entrypoint): give one after the image, e.g. `labctl container run {} sh`",
            req.image, req.image
        )));
    }
    let user_spec = req.user.clone().unwrap_or_else(|| image_config.user().clone().unwrap_or_default());
    let user = crate::user::resolve(&lower, &user_spec)?;
    let mut env = image_config.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, labimage::import::DEFAULT_PATH.to_string());
    }
    let env = crate::flags::merge_env(&env, &req.env);

    let id = new_id()?;
    let _names = engine.names_lock()?;
    let name = match &req.name {
        Some(name) => {
            if let Ok(other) = engine.find(name) {
                if other.bare_name() == name {
                    return Err(Error::Usage(format!(
                        "the container name \"/{name}\" is already in use by container {}: remove it (`labctl container rm \
                         -f {name}`) or pick another --name",
                        other.id
                    )));
                }
            }
            name.clone()
        }
        None => {
            let base = random_name(&id);
            let taken = engine.records().iter().any(|r| r.bare_name() == base);
            if taken {
                format!("{base}_{}", &id[..4])
            } else {
                base
            }
        }
    };
    let hostname = match (&req.hostname, network_mode.as_str()) {
        (Some(h), _) => h.clone(),
        (None, _) if joined.is_some() => joined.as_ref().map(|j| j.config.hostname.clone()).unwrap_or_default(),
        (None, "host") => nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, _) => id[..12].to_string(),
    };
    let record = Record {
        id: id.clone(),
        name: format!("/{name}"),
        created: now(),
        image: image.digest().to_string(),
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        config: Config {
            hostname: hostname.clone(),
            user: user_spec,
            env,
            cmd,
            image: req.image.clone(),
            working_dir: req.workdir.clone().unwrap_or_else(|| image_config.working_dir().clone().unwrap_or_default()),
            entrypoint,
            labels: image_config.labels().clone().unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>(),
            exposed_ports: image_config
                .exposed_ports()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p, serde_json::json!({})))
                .collect(),
            tty: req.tty,
            open_stdin: req.open_stdin,
            stop_signal: image_config.stop_signal().clone(),
        },
        host_config: HostConfig {
            network_mode: network_mode.clone(),
            memory: req.memory,
            memory_swap: req.memory_swap,
            nano_cpus: req.nano_cpus,
            pids_limit: req.pids_limit,
            readonly_rootfs: req.read_only,
            privileged: req.privileged,
            cap_add: req.cap_add.clone(),
            cap_drop: req.cap_drop.clone(),
            security_opt: req.security_opt.clone(),
            auto_remove: req.auto_remove,
            binds: req.volumes.clone(),
            tmpfs,
            init: req.init,
            cpu_shares: req.cpu_shares,
            cpuset_cpus: req.cpuset_cpus.clone(),
            blkio_weight: req.blkio_weight,
            port_bindings: crate::network::port_bindings(&req.publish),
            shm_size: if req.shm_size > 0 { req.shm_size } else { 64 << 20 },
        },
        state: State {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..State::default()
        },
        lower_dir: lower,
        restart_count: 0,
        network: Default::default(),
        mounts,
    };
    let dir = engine.dir(&id);
    crate::volume::prepare(&record.mounts, &record.lower_dir, &anonymous)?;
    let result = (|| -> Result<()> {
        std::fs::create_dir_all(engine.bundle(&id)).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        write_files(&dir, &record)?;
        let files = match &joined {
            Some(j) => engine.dir(&j.id),
            None => dir.clone(),
        };
        let spec = crate::spec::build(&crate::spec::Inputs {
            record: &record,
            rootfs: &engine.merged(&id),
            files: &files,
            user,
        })?;
        let text = serde_json::to_vec_pretty(&spec).expect("a spec serialises");
        write_atomic(&engine.bundle(&id).join("config.json"), &text)?;
        record.save(&engine.record_path(&id))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(record)
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf as docker writes them for the container.
fn write_files(dir: &std::path::Path, record: &Record) -> Result<()> {
    let host_network = record.host_config.network_mode == "host";
    let hostname = &record.config.hostname;
    let hosts = if host_network {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
            .to_string()
    };
    let resolv = crate::resolv::for_container(host_network);
    for (name, text) in [("hostname", format!("{hostname}\n")), ("hosts", hosts), ("resolv.conf", resolv)] {
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

/// Where the bundle of a container is (what `inspect` shows as BundlePath).
pub fn bundle_path(engine: &Engine, id: &str) -> PathBuf {
    engine.bundle(id)
}
