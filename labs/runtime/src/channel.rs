//! The sync channel between `lcrun` and the processes it forks: one JSON message per line over
//! a socketpair. Either side exiting closes it, so a killed `lcrun create` ends its children
//! (their next read sees end-of-file) instead of leaving them waiting.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Parent → child: go on (the cgroup is joined, the maps are written, the hooks have run).
    Go,
    /// Child → parent: a new user namespace exists; write its uid/gid maps.
    WriteMaps,
    /// Intermediate → parent: the container's init, as the host sees it.
    InitPid(i32),
    /// Init → parent: namespaces and mounts are ready; run prestart and createRuntime hooks.
    RunHooks,
    /// Parent → init: the OCI state for the hooks the init runs itself.
    State(String),
    /// Init → parent: everything is in place; the init now waits for `start`.
    Ready,
    /// Child → parent: setup failed.
    Failed(String),
}

pub struct Channel {
    stream: UnixStream,
    /// Bytes read past the end of the last message (two may arrive in one read).
    pending: Vec<u8>,
}

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair().map_err(|e| Error::io("creating the sync socketpair", e))?;
        Ok((Channel { stream: a, pending: Vec::new() }, Channel { stream: b, pending: Vec::new() }))
    }

    pub fn send(&mut self, msg: &Msg) -> Result<()> {
        let mut line = serde_json::to_vec(msg).expect("a sync message serialises");
        line.push(b'\n');
        self.stream.write_all(&line).map_err(|e| Error::io("the other side of the sync channel is gone", e))
    }

    /// The next message; end-of-file (the other side exited) is an error saying so.
    pub fn recv(&mut self) -> Result<Msg> {
        let mut chunk = [0u8; 512];
        let line = loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                break line;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(Error::io(
                        "the sync channel closed",
                        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the other side exited"),
                    ))
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading the sync channel", e)),
            }
        };
        serde_json::from_slice(&line[..line.len() - 1])
            .map_err(|e| Error::io("a garbled sync message", std::io::Error::other(e)))
    }

    /// The next message, which must be `expected`; a `Failed` is returned as the child's error.
    pub fn expect(&mut self, expected: &Msg) -> Result<()> {
        match self.recv()? {
            m if &m == expected => Ok(()),
            Msg::Failed(why) => Err(Error::Init(why)),
            other => Err(Error::Init(format!("expected {expected:?} on the sync channel, got {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_messages_in_one_read_both_arrive_in_order() {
        let (mut a, mut b) = Channel::pair().unwrap();
        a.send(&Msg::InitPid(42)).unwrap();
        a.send(&Msg::Ready).unwrap();
        assert_eq!(b.recv().unwrap(), Msg::InitPid(42));
        assert_eq!(b.recv().unwrap(), Msg::Ready);
        drop(a);
        assert!(b.recv().unwrap_err().to_string().contains("closed"));
    }
}
