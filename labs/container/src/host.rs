//! What a container holds on the host while it runs, taken and given back: the overlay mount
//! (the image's unpacked layers under a per-container upper dir) and the runtime's state and
//! cgroup. Every step is idempotent, so a supervisor that was SIGKILLed midway is cleaned up by
//! the next `rm -f`, `stop` or `start`.

use crate::engine::{Engine, Live};
use crate::error::{Error, Result};
use crate::record::{now, Record};
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether something is mounted at `path` (in our mount namespace).
pub fn is_mounted(path: &Path) -> bool {
    let want = path.to_string_lossy();
    labkit::mountinfo::of_self().iter().any(|m| m.mount_point == want)
}

pub fn mount_rootfs(engine: &Engine, record: &Record) -> Result<()> {
    let id = &record.id;
    let (upper, work, merged) = (engine.upper(id), engine.work(id), engine.merged(id));
    for dir in [&upper, &work, &merged] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    if !record.lower_dir.is_dir() {
        return Err(Error::Image {
            name: record.config.image.clone(),
            why: format!(
                "its unpacked layers {} are gone (the image was removed?): pull or import it again",
                record.lower_dir.display()
            ),
        });
    }
    let overlay = laboverlay::Overlay::new([&record.lower_dir]).with_upper(&upper, &work);
    if record.host_config.auto_remove {
        // A `--rm` upper is deleted at exit: never synced. Unmounting a synced overlay writes
        // back the whole filesystem holding it (every other program's dirty pages too), the
        // largest part of a short container's cleanup. The kernel refuses to reuse a volatile
        // workdir (its `work/incompat/volatile` marker): a second start gets a fresh one.
        if work.join("work/incompat").exists() {
            std::fs::remove_dir_all(&work)
                .and_then(|()| std::fs::create_dir(&work))
                .map_err(|e| Error::io(format!("renewing {}", work.display()), e))?;
        }
        overlay.volatile().mount(&merged)?;
    } else {
        overlay.mount(&merged)?;
    }
    // docker makes a missing working directory (`-w`, WORKDIR) inside the container's root.
    let cwd = &record.config.working_dir;
    if cwd.starts_with('/') {
        let dir = labruntime::rootfs::resolve_in_root(&merged, Path::new(cwd))?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating the working directory {cwd}"), e))?;
    }
    Ok(())
}

/// Gives back what the container held on the host: the runtime's container (its processes are
/// killed, its cgroup removed) and the overlay mount. Fine to call when nothing is held.
pub fn release(engine: &Engine, record: &Record) -> Result<()> {
    let root = engine.runtime();
    let id = &record.id;
    crate::network::disconnect(engine, id)?;
    if root.container_dir(id).exists() {
        labruntime::delete(&root, id, true)?;
    } else if let Ok(cgroup) = labruntime::cgroups::ContainerCgroup::open(&crate::spec::cgroup_path(id)) {
        // The runtime's state is gone (a reboot, a removed /run) but the group may not be.
        let _ = cgroup.remove();
    }
    remove_empty_parent_groups();
    let merged = engine.merged(id);
    for _ in 0..8 {
        if !is_mounted(&merged) {
            break;
        }
        laboverlay::unmount(&merged)?;
    }
    Ok(())
}

/// The runtime removes the container's group and empty `labctl*` parents; ours is
/// `/labctl/containers`, which goes (with `/labctl`) once no container is left in it. rmdir
/// refuses a group with children or processes, so a running container's parent stays.
fn remove_empty_parent_groups() {
    let bases: Vec<std::path::PathBuf> = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        vec!["/sys/fs/cgroup".into()]
    } else {
        std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten().map(|e| e.path()).collect()
    };
    for base in bases {
        if std::fs::remove_dir(base.join("labctl/containers")).is_ok() {
            let _ = std::fs::remove_dir(base.join("labctl"));
        }
    }
}

/// Removes the container's directory (record, log, bundle, upper dir).
pub fn remove_files(engine: &Engine, id: &str) -> Result<()> {
    let dir = engine.dir(id);
    let prefix = format!("{}/", dir.display());
    let mounted_inside = || -> Vec<String> {
        labkit::mountinfo::of_self().into_iter().map(|m| m.mount_point).filter(|p| p.starts_with(&prefix)).collect()
    };
    let mut attempt = 0;
    loop {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // EBUSY: a mount inside (the merged dir whose unmount raced, a mount propagated in):
            // detach what is there and try again for a moment.
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32) && attempt < 20 => {
                for point in mounted_inside() {
                    let _ = laboverlay::unmount(Path::new(&point));
                }
                attempt += 1;
                std::thread::sleep(Duration::from_millis(5 * attempt as u64));
            }
            Err(e) => {
                let mounted = mounted_inside();
                let what = if mounted.is_empty() {
                    String::new()
                } else {
                    format!(" (still mounted: {})", mounted.join(", "))
                };
                return Err(Error::io(format!("removing {}{what}", dir.display()), e));
            }
        }
    }
}

/// How long a verb waits for a supervisor's exit work (unmount, network and cgroup release):
/// fast on a host, but twenty containers removed at once in the emulated course VM took longer
/// than 10 s.
pub const SUPERVISOR_EXIT_LIMIT: Duration = Duration::from_secs(60);

/// Waits until the supervisor has finished its work (recorded the exit, cleaned up).
pub fn wait_supervisor(engine: &Engine, record: &Record, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while engine.supervisor_alive(record) {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// A container whose supervisor died without finishing (SIGKILL): its init is killed, what it
/// held released, and the record marked exited, as the supervisor would have done.
pub fn reclaim(engine: &Engine, record: &Record) -> Result<Record> {
    if engine.supervisor_alive(record) {
        return Ok(record.clone());
    }
    release(engine, record)?;
    if record.state.status == "running" {
        return engine.update(&record.id, |r| {
            r.state.status = "exited".into();
            r.state.pid = 0;
            if r.state.exit_code == 0 {
                r.state.exit_code = 137;
            }
            r.state.error = "the container's supervisor was gone".into();
            r.state.finished_at = now();
        });
    }
    Ok(record.clone())
}

/// `stop`: the stop signal (SIGTERM unless the image says otherwise), SIGKILL to every process
/// after `timeout`, then the supervisor's exit work awaited (or done here if it died).
pub fn stop(
    engine: &Engine,
    record: &Record,
    timeout: Duration,
    signal: Option<nix::sys::signal::Signal>,
) -> Result<()> {
    let root = engine.runtime();
    let live = engine.live(record);
    if matches!(live, Live::Running | Live::Paused) && engine.init_alive(record) {
        let signal = match signal {
            Some(s) => s,
            None => match &record.config.stop_signal {
                Some(s) => labruntime::container::parse_signal(s)?,
                None => nix::sys::signal::Signal::SIGTERM,
            },
        };
        let _ = labruntime::kill(&root, &record.id, signal, false);
        if live == Live::Paused {
            let _ = labruntime::container::pause(&root, &record.id, false);
        }
        let until = Instant::now() + timeout;
        while engine.init_alive(record) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if engine.init_alive(record) {
            let _ = labruntime::kill(&root, &record.id, nix::sys::signal::Signal::SIGKILL, true);
        }
    }
    if !wait_supervisor(engine, record, SUPERVISOR_EXIT_LIMIT) {
        return Err(Error::state(
            record.bare_name(),
            format!(
                "its supervisor (pid {}) did not finish within {} s",
                record.state.supervisor_pid,
                SUPERVISOR_EXIT_LIMIT.as_secs()
            ),
        ));
    }
    if engine.record_path(&record.id).exists() {
        let now = Record::load(&engine.record_path(&record.id))?;
        reclaim(engine, &now)?;
    }
    Ok(())
}
