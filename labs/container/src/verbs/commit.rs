//! `commit [-m MSG] [-a AUTHOR] CONTAINER REPO[:TAG]`: the container's changes (its overlay's
//! upper dir) become one new layer on top of its image's — overlay's whiteout devices and
//! opaque dirs written as OCI `.wh.` entries by laboverlay — and the container's config (Cmd,
//! Entrypoint, Env, WorkingDir, User, …) the new image's. A running container is paused for the
//! copy, as docker does, so the layer is one moment of its filesystem.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::Record;
use oci_spec::image::{Digest, HistoryBuilder, ImageConfiguration, ImageManifest};
use std::str::FromStr;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The commit message (the new layer's history comment)
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// The author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// The container whose changes become the new layer, by name or id (a unique prefix)
    pub container: String,
    /// The new image's name, REPO[:TAG] (TAG defaults to latest)
    pub repository: String,
}

fn image_error(name: &str, why: impl std::fmt::Display) -> Error {
    Error::Image { name: name.to_string(), why: why.to_string() }
}

pub fn exec(engine: &Engine, args: Args) -> Result<i32> {
    let record = engine.find(&args.container)?;
    let target = args.repository.as_str();
    labimage::reference::normalize(target).map_err(|e| {
        Error::Usage(format!("commit: {target:?} is not an image name ({e}): give REPO[:TAG], e.g. myimage:v1"))
    })?;
    let store = labimage::Store::open_default().map_err(|e| image_error(target, e))?;
    let (manifest, mut config) = base_image(&store, &record)?;
    let tar = layer_of(engine, &record)?;
    let layer = labimage::layer::store_tar(&store, &tar).map_err(|e| image_error(target, e))?;

    let mut layers = manifest.layers().clone();
    layers.push(layer.descriptor.clone());
    let mut diff_ids = config.rootfs().diff_ids().clone();
    diff_ids.push(layer.diff_id.to_string());
    config.rootfs_mut().set_diff_ids(diff_ids);
    let created = crate::record::now();
    let mut history = config.history().clone();
    let mut entry = HistoryBuilder::default()
        .created(created.clone())
        .created_by(format!("labctl container commit {}", record.bare_name()));
    if let Some(m) = &args.message {
        entry = entry.comment(m.clone());
    }
    if let Some(a) = &args.author {
        entry = entry.author(a.clone());
        config.set_author(Some(a.clone()));
    }
    history.push(entry.build().expect("a history entry"));
    config.set_history(history);
    config.set_created(Some(created));
    config.set_config(Some(container_config(&record, config.config().clone().unwrap_or_default())));
    let (_, _) = store.commit_image(target, &config, layers).map_err(|e| image_error(target, e))?;
    let id = labimage::digest::sha256(&labimage::store::canonical_json(&config));
    println!("{id}");
    Ok(0)
}

/// The image the container was made from, by its manifest digest (the tag may have moved).
fn base_image(store: &labimage::Store, record: &Record) -> Result<(ImageManifest, ImageConfiguration)> {
    let shown = &record.config.image;
    let gone = |e: &dyn std::fmt::Display| {
        image_error(
            shown,
            format!(
                "the container's image {} is no longer in the store ({e}): pull or import it again to commit",
                record.image
            ),
        )
    };
    let digest = Digest::from_str(&record.image).map_err(|e| gone(&e))?;
    let manifest: ImageManifest = store.read_json(&digest, "manifest").map_err(|e| gone(&e))?;
    let config: ImageConfiguration =
        store.read_json(manifest.config().digest(), "image config").map_err(|e| gone(&e))?;
    Ok((manifest, config))
}

/// The upper dir as an OCI layer tar; a running container frozen meanwhile.
fn layer_of(engine: &Engine, record: &Record) -> Result<Vec<u8>> {
    let upper = engine.upper(&record.id);
    if !upper.is_dir() {
        return Err(Error::state(record.bare_name(), "has no filesystem of its own (its upper dir is gone)"));
    }
    let root = engine.runtime();
    let freeze = engine.live(record) == Live::Running;
    if freeze {
        labruntime::container::pause(&root, &record.id, true)?;
    }
    let opts = laboverlay::LayerOptions { source_date_epoch: None, owner: None };
    let mut tar = Vec::new();
    let written = laboverlay::write_layer(&upper, &mut tar, &opts);
    if freeze {
        labruntime::container::pause(&root, &record.id, false)?;
    }
    written?;
    Ok(tar)
}

/// docker commit's rule: the new image runs as the container was configured to.
fn container_config(record: &Record, mut c: oci_spec::image::Config) -> oci_spec::image::Config {
    let k = &record.config;
    c.set_cmd(k.cmd.clone());
    c.set_entrypoint(k.entrypoint.clone());
    c.set_env(Some(k.env.clone()));
    c.set_working_dir((!k.working_dir.is_empty()).then(|| k.working_dir.clone()));
    c.set_user((!k.user.is_empty()).then(|| k.user.clone()));
    c.set_labels((!k.labels.is_empty()).then(|| k.labels.clone().into_iter().collect()));
    c.set_exposed_ports((!k.exposed_ports.is_empty()).then(|| k.exposed_ports.keys().cloned().collect()));
    c.set_stop_signal(k.stop_signal.clone());
    c
}
