//! Track cache files: the result of tracking a whole clip (every frame's blended
//! low-resolution logits per object, see [`LowResFrame`]) written once ("Analyse") and read
//! by renders in other processes, e.g. on a render farm, instead of tracking again.
//!
//! Layout (all integers little-endian):
//! ```text
//! magic  "SAMURAIROTO-TRK\n" (16 bytes)   version u32
//! header length u64, header (YAML: key, frame range, frame size, side, objects, frame hashes)
//! data   frames × objects × side² f32
//! check  BLAKE3 of everything before it (32 bytes)
//! ```
//! A file is written to a temporary name beside its destination and renamed over it, so a
//! reader never sees half a file. On reading, a wrong magic, version, length or checksum
//! makes the file *damaged*; a key or footage that differs from the caller's makes it
//! *stale*. Either way the caller tracks live instead.
use crate::container::{self, Format};
use crate::error::{Error, Result};
use crate::lowres::LowResFrame;
use crate::settings::{EngineSettings, ObjectKeys, Precision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"SAMURAIROTO-TRK\n";
const VERSION: u32 = 1;
const FORMAT: Format = Format { magic: MAGIC, version: VERSION, what: "track cache" };

/// What identifies a cache's contents besides the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackCacheHeader {
    /// Hash of everything that decides the result (checkpoint contents, settings,
    /// keyframes, clip geometry); see [`KeyBuilder`].
    pub key: String,
    /// Host frame number of the first frame.
    pub first_frame: i64,
    /// Frames held (consecutive from `first_frame`).
    pub frames: usize,
    /// Width and height of the frames the tracker saw.
    pub frame_size: (u32, u32),
    /// Low-resolution side (image size / 4).
    pub side: i64,
    /// Object names in data order.
    pub objects: Vec<String>,
    /// [`frame_hash`] of every frame the tracker saw, in frame order.
    pub frame_hashes: Vec<String>,
    /// The precision every frame was tracked at (one per cache: an analysis, or a farm
    /// plan, runs at one). Informative, not part of the key: a cache is the analysed
    /// result whichever precision made it. Absent in caches written before it was recorded.
    #[serde(default)]
    pub precision: Option<Precision>,
}

/// A whole clip's tracking result.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackCache {
    pub header: TrackCacheHeader,
    /// One entry per frame, `first_frame` first.
    pub frames: Vec<LowResFrame>,
}

/// Why a cache file cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheProblem {
    /// No file at the path.
    Missing,
    /// The file is truncated, corrupt or not a track cache (the reason says which).
    Damaged(String),
    /// The file is sound but was made from other settings, keyframes or footage.
    Stale(String),
}

impl std::fmt::Display for CacheProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheProblem::Missing => write!(f, "no such file"),
            CacheProblem::Damaged(why) => write!(f, "damaged ({why})"),
            CacheProblem::Stale(why) => write!(f, "stale ({why})"),
        }
    }
}

/// Hash of one frame as the tracker eats it (width, height, RGB8 rows).
pub fn frame_hash(width: u32, height: u32, rgb8: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&width.to_le_bytes());
    h.update(&height.to_le_bytes());
    h.update(rgb8);
    h.finalize().to_hex().to_string()
}

/// BLAKE3 of a file's contents, hex.
pub fn file_hash(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = blake3::Hasher::new();
    h.update_reader(&mut f).map_err(|e| Error::io(path, e))?;
    Ok(h.finalize().to_hex().to_string())
}

/// Builds a cache key from named fields; the order of calls is part of the key.
pub struct KeyBuilder(blake3::Hasher);

impl Default for KeyBuilder {
    fn default() -> Self {
        let mut h = blake3::Hasher::new();
        h.update(MAGIC);
        h.update(&VERSION.to_le_bytes());
        KeyBuilder(h)
    }
}

impl KeyBuilder {
    /// Adds `name = value` (length-prefixed, so fields cannot run into each other).
    pub fn field(mut self, name: &str, value: &str) -> Self {
        for part in [name, value] {
            self.0.update(&(part.len() as u64).to_le_bytes());
            self.0.update(part.as_bytes());
        }
        self
    }

    pub fn finish(self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}

/// A checkpoint file's identity for the hash memo: path, length, modification time.
type FileId = (PathBuf, u64, Option<std::time::SystemTime>);

/// Content hashes of checkpoint files, per (path, length, modification time), so a
/// process hashes each checkpoint once.
static CHECKPOINT_HASHES: parking_lot::Mutex<BTreeMap<FileId, String>> = parking_lot::Mutex::new(BTreeMap::new());

/// BLAKE3 of a checkpoint's contents, memoised per path, length and modification time.
pub fn checkpoint_hash(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let id = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(h) = CHECKPOINT_HASHES.lock().get(&id) {
        return Ok(h.clone());
    }
    let h = file_hash(path)?;
    CHECKPOINT_HASHES.lock().insert(id, h.clone());
    Ok(h)
}

/// The track-cache key: everything that decides the stored logits. `checkpoint` is the
/// file `s.model` stands for on this machine; its *contents* are hashed, so a published
/// size found or downloaded into a model folder and the same file chosen by path give one
/// key. Not in it: how the model was chosen, device and precision (a cache is the analysed
/// result whichever device made it) and non-overlap (applied at render).
pub fn cache_key(checkpoint: &Path, s: &EngineSettings, range: (i64, i64), size: (u32, u32), objects: &[ObjectKeys]) -> Result<String> {
    let mut k = KeyBuilder::default()
        .field("checkpoint", &checkpoint_hash(checkpoint)?)
        .field("image_size", &s.image_size.to_string())
        .field("mode", s.mode.name())
        .field("fill_holes", &s.fill_holes.to_string())
        .field("range", &format!("{}..={}", range.0, range.1))
        .field("frame_size", &format!("{}x{}", size.0, size.1));
    match &s.tuning {
        None => k = k.field("tuning", "preset"),
        Some(t) => {
            for (name, v) in t.fields() {
                k = k.field(name, &format!("{:016x}", v.to_bits()));
            }
        }
    }
    for o in objects {
        let keys: Vec<String> = o.keyframes.iter().map(|(f, p)| format!("{f}:{}", blake3::Hash::from(p.digest()).to_hex())).collect();
        k = k.field(&format!("object {}", o.name), &keys.join(";"));
    }
    Ok(k.finish())
}

impl TrackCache {
    /// Checks that the header and the frames agree with each other.
    fn validate(&self) -> std::result::Result<(), String> {
        let h = &self.header;
        if self.frames.len() != h.frames || h.frame_hashes.len() != h.frames {
            return Err(format!("{} frames of data and {} frame hashes for {} frames", self.frames.len(), h.frame_hashes.len(), h.frames));
        }
        let cells = usize::try_from(h.side)
            .ok()
            .and_then(|s| s.checked_mul(s))
            .filter(|_| h.side > 0)
            .ok_or_else(|| format!("bad side {}", h.side))?;
        for (i, f) in self.frames.iter().enumerate() {
            let names: Vec<&String> = f.objects.iter().map(|(n, _)| n).collect();
            if f.side != h.side || names != h.objects.iter().collect::<Vec<_>>() || f.objects.iter().any(|(_, v)| v.len() != cells) {
                return Err(format!("frame {} does not have the header's objects at side {}", h.first_frame + i as i64, h.side));
            }
        }
        Ok(())
    }

    /// The cached result of host frame `frame`, if it lies in the cache.
    pub fn frame(&self, frame: i64) -> Option<&LowResFrame> {
        let i = usize::try_from(frame - self.header.first_frame).ok()?;
        self.frames.get(i)
    }

    /// The stored hash of host frame `frame`.
    pub fn frame_hash(&self, frame: i64) -> Option<&str> {
        let i = usize::try_from(frame - self.header.first_frame).ok()?;
        self.header.frame_hashes.get(i).map(String::as_str)
    }

    /// Serialised file contents.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate().map_err(|why| Error::invalid("track cache", why))?;
        let header = serde_norway::to_string(&self.header).map_err(|e| Error::invalid("track cache", e.to_string()))?;
        let cells = (self.header.side * self.header.side) as usize;
        let data_len = self.frames.len() * self.header.objects.len() * cells * 4;
        Ok(FORMAT.encode(&header, data_len, |out| {
            for f in &self.frames {
                for (_, v) in &f.objects {
                    for x in v {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }))
    }

    /// Parses file contents; any inconsistency is a [`CacheProblem::Damaged`].
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, CacheProblem> {
        let damaged = |why: &str| CacheProblem::Damaged(why.to_owned());
        let (header, data) = FORMAT.decode(bytes).map_err(CacheProblem::Damaged)?;
        let header: TrackCacheHeader =
            std::str::from_utf8(header).ok().and_then(|s| serde_norway::from_str(s).ok()).ok_or_else(|| damaged("unreadable header"))?;
        let cells = usize::try_from(header.side).ok().and_then(|s| s.checked_mul(s)).ok_or_else(|| damaged("bad side"))?;
        // Every count is bounded by the input before anything is built from it: one hash per
        // frame (stored in the header), at least one object, side² values each.
        if header.frame_hashes.len() != header.frames || header.objects.is_empty() || header.side <= 0 {
            return Err(damaged("header counts do not agree"));
        }
        let expected = header.frames.checked_mul(header.objects.len()).and_then(|n| n.checked_mul(cells)).and_then(|n| n.checked_mul(4));
        if expected != Some(data.len()) {
            return Err(damaged("data length does not match the header"));
        }
        let mut values = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let frames = (0..header.frames)
            .map(|_| LowResFrame {
                side: header.side,
                objects: header.objects.iter().map(|n| (n.clone(), values.by_ref().take(cells).collect())).collect(),
            })
            .collect();
        let cache = TrackCache { header, frames };
        cache.validate().map_err(CacheProblem::Damaged)?;
        Ok(cache)
    }

    /// Writes the cache atomically: a temporary file beside `path`, flushed to disk, then
    /// renamed over `path` (readers see the old file or the new one, never a mix).
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        container::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads the cache at `path` and checks it belongs to `key`.
    pub fn read(path: &Path, key: &str) -> std::result::Result<Self, CacheProblem> {
        let mut bytes = Vec::new();
        match std::fs::File::open(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CacheProblem::Missing),
            Err(e) => return Err(CacheProblem::Damaged(format!("cannot open: {e}"))),
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| CacheProblem::Damaged(format!("cannot read: {e}")))?,
        };
        let cache = Self::from_bytes(&bytes)?;
        if cache.header.key != key {
            return Err(CacheProblem::Stale("made with another checkpoint, settings or keyframes".into()));
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrackCache {
        let frame = |k: f32| LowResFrame { side: 2, objects: vec![("a".into(), vec![k, -1.0, 2.5, 0.0]), ("b".into(), vec![0.5; 4])] };
        TrackCache {
            header: TrackCacheHeader {
                key: "k1".into(),
                first_frame: 10,
                frames: 2,
                frame_size: (8, 6),
                side: 2,
                objects: vec!["a".into(), "b".into()],
                frame_hashes: vec!["h0".into(), "h1".into()],
                precision: Some(Precision::Bf16),
            },
            frames: vec![frame(1.0), frame(f32::MIN_POSITIVE)],
        }
    }

    #[test]
    fn round_trips_bit_for_bit_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/shot.srtc");
        let c = sample();
        c.write_atomic(&path).unwrap();
        assert_eq!(TrackCache::read(&path, "k1").unwrap(), c);
        assert_eq!(TrackCache::read(&path, "k1").unwrap().frame(11).unwrap().objects[0].1[0].to_bits(), f32::MIN_POSITIVE.to_bits());
        assert_eq!(TrackCache::read(&path, "k1").unwrap().frame(12), None);
        assert!(matches!(TrackCache::read(&path, "k2"), Err(CacheProblem::Stale(_))));
        assert_eq!(TrackCache::read(&dir.path().join("none"), "k1"), Err(CacheProblem::Missing));
        // No temporary files are left beside it.
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
        // The precision is recorded; a header written before it was reads as not recorded.
        let header = serde_norway::to_string(&c.header).unwrap();
        assert!(header.contains("precision: Bf16"), "{header}");
        let old: String = header.lines().filter(|l| !l.starts_with("precision:")).map(|l| format!("{l}\n")).collect();
        assert_eq!(serde_norway::from_str::<TrackCacheHeader>(&old).unwrap(), TrackCacheHeader { precision: None, ..c.header.clone() });

        let good = std::fs::read(&path).unwrap();
        for (what, bytes) in [
            ("flipped bit", {
                let mut b = good.clone();
                let i = b.len() / 2;
                b[i] ^= 1;
                b
            }),
            ("truncated", good[..good.len() - 5].to_vec()),
            ("empty", Vec::new()),
            ("other file", b"P6\n2 2\n255\n............".to_vec()),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            assert!(matches!(TrackCache::read(&path, "k1"), Err(CacheProblem::Damaged(_))), "{what}");
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let c = sample();
        let header = serde_norway::to_string(&c.header).unwrap();
        let mut expected = b"SAMURAIROTO-TRK\n".to_vec();
        expected.extend_from_slice(&1u32.to_le_bytes());
        expected.extend_from_slice(&(header.len() as u64).to_le_bytes());
        expected.extend_from_slice(header.as_bytes());
        for x in c.frames.iter().flat_map(|f| f.objects.iter().flat_map(|(_, v)| v)) {
            expected.extend_from_slice(&x.to_le_bytes());
        }
        let check = blake3::hash(&expected);
        expected.extend_from_slice(check.as_bytes());
        assert_eq!(c.to_bytes().unwrap(), expected);
    }

    #[test]
    fn inconsistent_caches_are_refused_on_write() {
        let mut c = sample();
        c.frames[1].objects[1].1.pop();
        assert!(c.to_bytes().is_err());
    }

    #[test]
    fn keys_depend_on_every_field_and_its_boundaries() {
        let k = |a: &str, b: &str| KeyBuilder::default().field("x", a).field("y", b).finish();
        assert_eq!(k("1", "2"), k("1", "2"));
        assert_ne!(k("1", "2"), k("1", "3"));
        assert_ne!(k("12", ""), k("1", "2"));
        assert_ne!(frame_hash(2, 1, &[0; 6]), frame_hash(1, 2, &[0; 6]));
    }
}
