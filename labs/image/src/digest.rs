//! Content addressing: sha256 digests of bytes and streams.

use oci_spec::image::{Digest, Sha256Digest};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};
use std::str::FromStr;

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    from_hasher(Sha256::new_with_prefix(bytes))
}

/// The digest a finished hasher stands for.
pub fn from_hasher(hasher: Sha256) -> Digest {
    let hex = hex(&hasher.finalize());
    Sha256Digest::from_str(&hex).expect("64 lowercase hex characters").into()
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hashes everything read from `r`; returns the digest and the byte count.
pub fn sha256_reader(mut r: impl Read) -> io::Result<(Digest, u64)> {
    let mut hasher = HashingWriter::new(io::sink());
    let n = io::copy(&mut r, &mut hasher)?;
    Ok((hasher.finish().0, n))
}

/// Parses `sha256:<64 hex>`; anything else is refused.
pub fn parse(s: &str) -> Result<Digest, String> {
    let d = Digest::from_str(s).map_err(|e| format!("{s:?} is not a digest: {e}"))?;
    if d.algorithm().as_ref() != "sha256" {
        return Err(format!("{s:?}: only sha256 digests are supported"));
    }
    Ok(d)
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    pub fn finish(self) -> (Digest, u64, W) {
        (from_hasher(self.hasher), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_is_the_well_known_value() {
        assert_eq!(sha256(b"").to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn parse_refuses_non_digests() {
        assert!(parse("sha256:abc").is_err());
        assert!(parse(sha256(b"x").as_ref()).is_ok());
    }
}
