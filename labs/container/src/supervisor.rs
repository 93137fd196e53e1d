//! The supervisor: one small process per running container (conmon and containerd-shim are the
//! models), forked by `run`/`start` into a session of its own so it outlives the terminal. It
//! owns the container's stdout and stderr (pipes), writes them to the json-file log (and, for a
//! `run` in the foreground, to the caller's terminal), reaps the init as its subreaper, records
//! the exit code and FinishedAt, and removes what the container used on the host (the runtime's
//! state and cgroup, the overlay mount); `--rm` removes the rest.
//!
//! It tells its caller how things went on a pipe, one line each: `started PID`,
//! `failed CODE MESSAGE`, `exited CODE`.

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::StreamLog;
use crate::record::{now, ZERO_TIME};
use labkit::sys;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

/// What the caller shares with the container.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// The container reads the caller's stdin (`run -i` in the foreground).
    pub stdin: bool,
    /// The container's output also goes to the caller's stdout and stderr.
    pub output: bool,
    /// `run -it` in the foreground: the caller attaches to the pty before the start, so it
    /// sees everything the container prints.
    pub tty_client: bool,
}

/// The caller's end of the supervisor's report pipe.
pub struct Reports {
    pub supervisor: i32,
    lines: BufReader<File>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Started(i32),
    Failed {
        code: i32,
        why: String,
    },
    Exited(i32),
    /// The attach socket is ready for the caller (`-t` in the foreground).
    Listening,
    /// The pipe closed without a word: the supervisor died.
    Gone,
}

impl Reports {
    pub fn read(&mut self) -> Report {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) | Err(_) => Report::Gone,
            Ok(_) => parse_report(line.trim_end()),
        }
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.lines.get_ref().as_fd()
    }
}

fn parse_report(line: &str) -> Report {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next().and_then(|n| n.parse().ok()), parts.next()) {
        (Some("started"), Some(pid), _) => Report::Started(pid),
        (Some("listening"), _, _) => Report::Listening,
        (Some("exited"), Some(code), _) => Report::Exited(code),
        (Some("failed"), Some(code), why) => Report::Failed { code, why: why.unwrap_or("").to_string() },
        _ => Report::Gone,
    }
}

/// Forks the supervisor of container `id` (its record and bundle written already).
pub fn launch(engine: &Engine, id: &str, attach: Attach) -> Result<Reports> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("pipe", e))?;
    match sys::fork_single_threaded().map_err(|e| Error::io("forking the container's supervisor", e))? {
        sys::Forked::Child => {
            drop(read);
            let mut report = File::from(write);
            let code = match supervise(engine, id, attach, &mut report) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = writeln!(report, "failed {} {}", e.exit_code(), one_line(&e.to_string()));
                    1
                }
            };
            sys::exit_now(code)
        }
        sys::Forked::Parent(pid) => Ok(Reports { supervisor: pid, lines: BufReader::new(File::from(read)) }),
    }
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

fn devnull() -> Result<File> {
    File::options().read(true).write(true).open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))
}

fn dup2(from: RawFd, to: RawFd) -> Result<()> {
    nix::unistd::dup2(from, to).map(|_| ()).map_err(|e| Error::io(format!("dup2 onto fd {to}"), e))
}

fn dup_cloexec(fd: RawFd) -> Result<OwnedFd> {
    let new = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(|e| Error::io("dup", e))?;
    Ok(sys::owned_fd(new))
}

/// The runtime's create or start refused: 127 when the command is not in the container, 126
/// when it cannot be executed, 125 for everything else.
pub fn command_error(name: &str, e: labruntime::Error) -> Error {
    let text = e.to_string();
    let code = match &e {
        labruntime::Error::NotExecutable { why, .. } if why.contains("permission") => 126,
        labruntime::Error::NotExecutable { .. } => 127,
        labruntime::Error::Init(why) if why.contains("not found in the container") => 127,
        labruntime::Error::Init(why) if why.contains("permission denied") || why.contains("EACCES") => 126,
        _ => 125,
    };
    if code == 125 {
        Error::state(name, text)
    } else {
        Error::Command { name: name.to_string(), why: text, code }
    }
}

fn supervise(engine: &Engine, id: &str, attach: Attach, report: &mut File) -> Result<()> {
    let _ = nix::unistd::setsid();
    sys::set_child_subreaper().map_err(|e| Error::io("prctl(PR_SET_CHILD_SUBREAPER)", e))?;
    let record = crate::record::Record::load(&engine.record_path(id))?;
    let name = record.bare_name().to_string();
    let forward = if attach.output { Some((File::from(dup_cloexec(1)?), File::from(dup_cloexec(2)?))) } else { None };
    let (out_read, out_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("pipe", e))?;
    let (err_read, err_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("pipe", e))?;
    let null = devnull()?;
    if !attach.stdin {
        dup2(null.as_raw_fd(), 0)?;
    }
    // The init inherits fds 0-2: these are its stdio.
    dup2(out_write.as_raw_fd(), 1)?;
    dup2(err_write.as_raw_fd(), 2)?;
    drop((out_write, err_write));

    let root = engine.runtime();
    let tty = record.config.tty;
    let mut master: Option<File> = None;
    let mut listener: Option<UnixListener> = None;
    let mut clients: Vec<UnixStream> = Vec::new();
    let started = (|| -> Result<i32> {
        crate::host::release(engine, &record)?;
        crate::host::mount_rootfs(engine, &record)?;
        crate::network::join_target(engine, &record)?;
        let mut options = labruntime::CreateOptions::default();
        let console = if tty {
            let path = crate::tty::console_socket(engine, id);
            let _ = std::fs::remove_file(&path);
            std::fs::create_dir_all(&engine.run)
                .map_err(|e| Error::io(format!("creating {}", engine.run.display()), e))?;
            let console = UnixListener::bind(&path).map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
            options.console_socket = Some(path);
            Some(console)
        } else {
            None
        };
        let created = labruntime::create(&root, id, &engine.bundle(id), &options);
        if let Some(path) = &options.console_socket {
            let _ = std::fs::remove_file(path);
        }
        let created = created.map_err(|e| command_error(&name, e))?;
        if let Some(console) = console {
            // The init sent the master during create: it waits in the socket's queue.
            let (conn, _) = console.accept().map_err(|e| Error::io("accepting the console socket", e))?;
            master = Some(crate::tty::recv_fd(&conn)?);
            let path = crate::tty::attach_socket(engine, id);
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path).map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
            if attach.tty_client {
                let _ = writeln!(report, "listening");
                let (client, _) = l.accept().map_err(|e| Error::io("accepting the caller", e))?;
                crate::tty::send_fd(&client, master.as_ref().expect("received").as_raw_fd())?;
                clients.push(client);
            }
            listener = Some(l);
        }
        let me = std::process::id() as i32;
        let network = match record.host_config.network_mode.as_str() {
            "bridge" => crate::network::connect(engine, &record, created.pid)?,
            m if m.starts_with("cni:") => crate::network::connect_cni(engine, &record, created.pid)?,
            _ => Default::default(),
        };
        engine.update(id, |r| {
            r.network = network;
            r.state.status = "running".into();
            r.state.pid = created.pid;
            r.state.pid_start_time = created.start_time;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.started_at = now();
            r.state.finished_at = ZERO_TIME.into();
            r.state.supervisor_pid = me;
            r.state.supervisor_start_time = sys::process_start_time(me).unwrap_or(0);
        })?;
        labruntime::start(&root, id).map_err(|e| command_error(&name, e))?;
        Ok(created.pid)
    })();
    let pid = match started {
        Ok(pid) => pid,
        Err(e) => {
            let _ = crate::host::release(engine, &record);
            let _ = engine.update(id, |r| {
                r.state.status = "created".into();
                r.state.pid = 0;
                r.state.exit_code = e.exit_code();
                r.state.error = e.to_string();
            });
            if record.host_config.auto_remove {
                let _ = crate::host::remove_files(engine, id);
                let _ = crate::volume::remove_anonymous(engine, &record);
            }
            return Err(e);
        }
    };
    let _ = writeln!(report, "started {pid}");
    // From here the pipes' write ends are the container's alone: EOF means it is gone.
    dup2(null.as_raw_fd(), 0)?;
    dup2(null.as_raw_fd(), 1)?;
    dup2(null.as_raw_fd(), 2)?;

    let tty = Tty { master, listener, clients };
    let code = pump(engine, id, pid, File::from(out_read), File::from(err_read), forward, tty)?;
    let _ = std::fs::remove_file(crate::tty::attach_socket(engine, id));
    let oom = labruntime::cgroups::ContainerCgroup::open(&crate::spec::cgroup_path(id))
        .and_then(|c| c.stats())
        .ok()
        .and_then(|s| s.memory)
        .and_then(|m| m.oom_kill)
        .is_some_and(|n| n > 0);
    let released = crate::host::release(engine, &record);
    engine.update(id, |r| {
        r.state.status = "exited".into();
        r.state.exit_code = code;
        r.state.pid = 0;
        r.state.oom_killed = oom;
        r.state.finished_at = now();
        if let Err(e) = &released {
            r.state.error = e.to_string();
        }
    })?;
    // --rm: a release that failed (a teardown racing the kernel's) gets one more try; if it
    // still fails the record stays, showing the error, so `rm` can finish what is held.
    if record.host_config.auto_remove && (released.is_ok() || crate::host::release(engine, &record).is_ok()) {
        crate::host::remove_files(engine, id)?;
        crate::volume::remove_anonymous(engine, &record)?;
    }
    let _ = writeln!(report, "exited {code}");
    Ok(())
}

/// Copies the container's output into the log (and to the caller) until the init has exited
/// and both pipes are closed; returns the exit code (128 + signal for a signal).
/// A `-t` container's pty master, the attach socket and its clients.
struct Tty {
    master: Option<File>,
    listener: Option<UnixListener>,
    clients: Vec<UnixStream>,
}

fn pump(
    engine: &Engine,
    id: &str,
    pid: i32,
    out: File,
    err: File,
    mut forward: Option<(File, File)>,
    mut tty: Tty,
) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None)
        .map_err(|e| Error::io("blocking SIGCHLD", e))?;
    let sfd = SignalFd::with_flags(&chld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| Error::io("signalfd", e))?;
    let path = engine.log_path(id);
    let mut log = File::options()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(format!("opening the log {}", path.display()), e))?;
    let mut streams =
        [Some((out, StreamLog::new("stdout"))), Some((err, StreamLog::new("stderr"))), None::<(File, StreamLog)>];
    if let Some(master) = tty.master.take() {
        streams[2] = Some((master, StreamLog::new("stdout")));
    }
    let mut code = labruntime::container::reap_until(pid)?;
    let mut buf = vec![0u8; 64 * 1024];
    while code.is_none() || streams.iter().any(Option::is_some) {
        let mut which = Vec::new();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(l) = &tty.listener {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        let first_stream = fds.len();
        for (i, s) in streams.iter().enumerate() {
            if let Some((file, _)) = s {
                fds.push(PollFd::new(file.as_fd(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::io("poll", e)),
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(_)) = sfd.read_signal() {}
            if code.is_none() {
                code = labruntime::container::reap_until(pid)?;
            }
        }
        if first_stream == 2 && ready[1] {
            if let (Some(l), Some((master, _))) = (&tty.listener, &streams[2]) {
                if let Ok((client, _)) = l.accept() {
                    if crate::tty::send_fd(&client, master.as_raw_fd()).is_ok() {
                        tty.clients.push(client);
                    }
                }
            }
        }
        for (slot, i) in which.iter().enumerate() {
            if !ready[slot + first_stream] {
                continue;
            }
            let (file, stream) = streams[*i].as_mut().expect("polled streams are open");
            match file.read(&mut buf) {
                Ok(0) | Err(_) => {
                    let _ = stream.flush(&mut log);
                    streams[*i] = None;
                }
                Ok(n) => {
                    let _ = stream.feed(&buf[..n], &mut log);
                    if *i == 2 {
                        // A client that went away (detached, its terminal closed) is dropped.
                        tty.clients.retain_mut(|c| c.write_all(&buf[..n]).is_ok());
                    }
                    if let Some((fwd_out, fwd_err)) = &mut forward {
                        let target = if *i == 0 { fwd_out } else { fwd_err };
                        if target.write_all(&buf[..n]).is_err() {
                            // The caller's terminal went away: the log keeps everything.
                            forward = None;
                        }
                    }
                }
            }
        }
    }
    Ok(code.unwrap_or(0))
}
