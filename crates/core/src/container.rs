//! The framing SamuraiRoto's binary result files share (the track cache, the farm's pass
//! files), and their atomic write. All integers little-endian:
//! ```text
//! magic  16 bytes                 version u32
//! header length u64, header (YAML text)
//! data   (the format's own)
//! check  BLAKE3 of everything before it (32 bytes)
//! ```
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Bytes of the trailing checksum.
const CHECK_BYTES: usize = 32;
/// Bytes of the magic, the version and the header length.
const PREAMBLE_BYTES: usize = 16 + 4 + 8;

/// One file format's identity: its magic and the version this build writes and reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    pub magic: &'static [u8; 16],
    pub version: u32,
    /// What a file of this format is called in messages ("track cache").
    pub what: &'static str,
}

impl Format {
    /// A whole file: the preamble, `header`, the data `write_data` appends (about
    /// `data_len` bytes, a capacity hint), and the checksum.
    pub fn encode(&self, header: &str, data_len: usize, write_data: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREAMBLE_BYTES + header.len() + data_len + CHECK_BYTES);
        out.extend_from_slice(self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        write_data(&mut out);
        let check = blake3::hash(&out);
        out.extend_from_slice(check.as_bytes());
        out
    }

    /// Splits a file into its header and its data after checking the magic, the version,
    /// the checksum and the header's length; the reason says what is wrong.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> std::result::Result<(&'a [u8], &'a [u8]), String> {
        if bytes.len() < PREAMBLE_BYTES + CHECK_BYTES || &bytes[..self.magic.len()] != self.magic {
            return Err(format!("not a SamuraiRoto {}", self.what));
        }
        let (body, check) = bytes.split_at(bytes.len() - CHECK_BYTES);
        let version = u32::from_le_bytes([body[16], body[17], body[18], body[19]]);
        if version != self.version {
            return Err(format!("format version {version}, this build reads {}", self.version));
        }
        if blake3::hash(body).as_bytes() != check {
            return Err("checksum mismatch: the file is truncated or corrupt".into());
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&body[20..PREAMBLE_BYTES]);
        let header_len = usize::try_from(u64::from_le_bytes(len)).ok();
        let rest = &body[PREAMBLE_BYTES..];
        match header_len {
            Some(n) if n <= rest.len() => Ok(rest.split_at(n)),
            _ => Err("header runs past the end".into()),
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (`.samuraiRoto-*.tmp`),
/// flushed to disk, then renamed over `path`. Readers see the old file or the new one,
/// never a mix; a writer killed part-way leaves at most the temporary file. The file is
/// readable by everyone the umask allows (0644 at most), as farm workers may run under
/// another account than the one that wrote the job.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// The name prefix of [`write_atomic`]'s temporary files.
pub(crate) const TEMP_PREFIX: &str = ".samuraiRoto-";
/// The name suffix of [`write_atomic`]'s temporary files.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Whether a file name is one of [`write_atomic`]'s temporary files.
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}
