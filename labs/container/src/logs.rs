//! docker's json-file log: one JSON object a line, `{"log":"text\n","stream":"stdout",
//! "time":"RFC 3339 nanos"}`. The supervisor splits each stream at newlines (a line longer than
//! 16 KiB is cut, as docker cuts it); `logs` reads the file back.

use serde::{Deserialize, Serialize};
use std::io::Write;

const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Buffers one stream until a newline, then writes the line to the log.
pub struct StreamLog {
    name: &'static str,
    pending: Vec<u8>,
}

impl StreamLog {
    pub fn new(name: &'static str) -> StreamLog {
        StreamLog { name, pending: Vec::new() }
    }

    pub fn feed(&mut self, bytes: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self
            .pending
            .iter()
            .position(|b| *b == b'\n')
            .map(|i| i + 1)
            .or_else(|| (self.pending.len() >= MAX_LINE).then_some(MAX_LINE))
        {
            let line: Vec<u8> = self.pending.drain(..end).collect();
            write_line(out, self.name, &line)?;
        }
        Ok(())
    }

    /// At the end of the stream, the last line without its newline.
    pub fn flush(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            write_line(out, self.name, &line)?;
        }
        Ok(())
    }
}

fn write_line(out: &mut impl Write, stream: &str, bytes: &[u8]) -> std::io::Result<()> {
    let line = Line {
        log: String::from_utf8_lossy(bytes).into_owned(),
        stream: stream.to_string(),
        time: crate::record::now(),
    };
    let mut text = serde_json::to_vec(&line).expect("a log line serialises");
    text.push(b'\n');
    out.write_all(&text)
}

/// The complete lines of a log file's text (a line being written is left for the next read).
pub fn parse(text: &str) -> Vec<Line> {
    text.split_inclusive('\n').filter(|l| l.ends_with('\n')).filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_at_newlines_and_the_rest_flushed_at_the_end() {
        let mut out = Vec::new();
        let mut log = StreamLog::new("stdout");
        log.feed(b"hel", &mut out).unwrap();
        log.feed(b"lo\nwor", &mut out).unwrap();
        log.feed(b"ld\nlast", &mut out).unwrap();
        log.flush(&mut out).unwrap();
        let lines = parse(std::str::from_utf8(&out).unwrap());
        let texts: Vec<&str> = lines.iter().map(|l| l.log.as_str()).collect();
        assert_eq!(texts, ["hello\n", "world\n", "last"]);
        assert!(lines.iter().all(|l| l.stream == "stdout" && l.time.ends_with('Z')));
    }

    #[test]
    fn a_long_line_is_cut_at_16_kib() {
        let mut out = Vec::new();
        let mut log = StreamLog::new("stderr");
        log.feed(&vec![b'x'; MAX_LINE + 10], &mut out).unwrap();
        log.flush(&mut out).unwrap();
        let lines = parse(std::str::from_utf8(&out).unwrap());
        assert_eq!(lines.iter().map(|l| l.log.len()).collect::<Vec<_>>(), [MAX_LINE, 10]);
    }
}
