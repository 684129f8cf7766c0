//! Reading SAM 2.1 checkpoints as distributed (no paper block: checkpoint I/O; reference:
//! `sam2/build_sam.py::_load_checkpoint`, which does `torch.load(path)["model"]` on the
//! release files `sam2.1_hiera_{tiny,small,base_plus,large}.pt`).
//!
//! Two formats, chosen by the file's content, not its extension:
//! * PyTorch zip archives (`torch.save`): `<archive>/data.pkl` is run on the restricted
//!   pickle machine of [`pickle`] (nothing is ever executed) and each tensor is cut out of
//!   its storage record `<archive>/data/<key>` with its size, stride and offset.
//! * `.safetensors` files, read by tch.
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use tch::{Kind, Tensor};

mod objects;
pub mod pickle;

pub use objects::{StorageRef, TensorSpec, Unpickled};

/// The largest `data.pkl` accepted (a SAM 2.1 large state dict pickles to ~100 KB).
const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// Where the official files come from, for the missing-file message.
/// Where official checkpoints come from (for error messages).
pub const OFFICIAL_CHECKPOINTS: &str = "official SAM 2.1 checkpoints come from the SAM 2.1 release \
    (https://dl.fbaipublicfiles.com/segment_anything_2/092824/), files \
    sam2.1_hiera_{tiny,small,base_plus,large}.pt";

/// The container format of a checkpoint file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// A `torch.save` zip archive (the official `.pt` files).
    TorchZip,
    /// A `.safetensors` file.
    SafeTensors,
}

/// Reads every state-dict entry of a checkpoint: names and CPU tensors in their original
/// dtypes. Torch archives accept `{"model": state_dict}` (the official layout) or a bare state
/// dict and keep the file's order; safetensors entries are sorted by name (the format does
/// not keep the state dict's order).
pub fn read_checkpoint(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let tensors = match detect_format(path)? {
        CheckpointFormat::TorchZip => read_torch_zip(path)?,
        CheckpointFormat::SafeTensors => read_safetensors(path)?,
    };
    tracing::debug!(path = %path.display(), count = tensors.len(), "checkpoint read");
    Ok(tensors)
}

/// Identifies the format from the first bytes of the file.
pub fn detect_format(path: &Path) -> Result<CheckpointFormat> {
    let fail = |reason: String| Error::checkpoint(path, reason);
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail(format!("file not found; {OFFICIAL_CHECKPOINTS}")),
        _ => fail(format!("cannot read the file: {e}")),
    })?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let len = meta.len();
    if len == 0 {
        return Err(fail(format!("the file is empty (0 bytes); {OFFICIAL_CHECKPOINTS}")));
    }
    let mut head = Vec::with_capacity(16);
    File::open(path).and_then(|f| f.take(16).read_to_end(&mut head)).map_err(|e| fail(format!("cannot read the file: {e}")))?;
    classify(&head, len).map_err(fail)
}

/// Decides the format from the file's first (up to 16) bytes and its length.
fn classify(head: &[u8], len: u64) -> Result<CheckpointFormat, String> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(CheckpointFormat::TorchZip);
    }
    if head.len() >= 9 && head[8] == b'{' {
        let header = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        if header >= 2 && header <= len - 8 {
            return Ok(CheckpointFormat::SafeTensors);
        }
        if header > len - 8 {
            return Err(format!("safetensors header announces {header} bytes but the file has {len}: it is truncated"));
        }
    }
    if head.first() == Some(&0x80) {
        return Err("legacy (pre-1.6, non-zip) torch.save format: load it in Python and save it again \
             with a current torch, or convert it to .safetensors"
            .into());
    }
    let shown: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Err(format!("not a checkpoint: neither a PyTorch zip archive nor a .safetensors file (first bytes {})", shown.join(" ")))
}

fn read_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut tensors = Tensor::read_safetensors(path).map_err(|e| Error::checkpoint(path, format!("invalid .safetensors file: {e}")))?;
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(tensors)
}

type Archive<R> = zip::ZipArchive<R>;

fn read_torch_zip(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = File::open(path).map_err(|e| Error::checkpoint(path, format!("cannot open the file: {e}")))?;
    read_torch_zip_from(BufReader::new(file), path)
}

/// Reads a `torch.save` archive held in memory (`origin` names it in errors). The same
/// checks as for a file: nothing in the bytes is trusted.
pub fn read_checkpoint_bytes(bytes: &[u8], origin: &Path) -> Result<Vec<(String, Tensor)>> {
    read_torch_zip_from(std::io::Cursor::new(bytes), origin)
}

fn read_torch_zip_from<R: Read + Seek>(reader: R, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let fail = |reason: String| Error::checkpoint(path, reason);
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
        fail(format!(
            "starts like a zip archive but cannot be opened ({e}): the file is probably truncated \
             or cut off during download"
        ))
    })?;
    let prefix = archive_prefix(&zip).map_err(fail)?;
    check_byteorder(&mut zip, &prefix).map_err(fail)?;
    let pkl = read_record(&mut zip, &format!("{prefix}data.pkl"), MAX_PICKLE_BYTES).map_err(fail)?;
    let unpickled = pickle::unpickle(&pkl).map_err(|e| fail(format!("data.pkl: {e}")))?;
    let specs = unpickled.state_dict().map_err(|e| fail(format!("data.pkl: {e}")))?;
    materialize(&mut zip, &prefix, specs).map_err(fail)
}

/// The folder that holds `data.pkl` (`"<name>/"`; torch names it after the file). Exactly one
/// top-level `data.pkl` must exist.
fn archive_prefix<R: Read + Seek>(zip: &Archive<R>) -> Result<String, String> {
    let found: Vec<&str> = zip
        .file_names()
        .filter(|n| n.strip_suffix("data.pkl").is_some_and(|p| p.is_empty() || p.matches('/').count() == 1 && p.ends_with('/')))
        .collect();
    match found[..] {
        [one] => Ok(one.trim_end_matches("data.pkl").to_owned()),
        [] => Err(format!("zip archive without a data.pkl record ({} record(s)): not a PyTorch checkpoint", zip.len())),
        _ => Err(format!("zip archive with several data.pkl records ({found:?}): not a single checkpoint")),
    }
}

/// Refuses big-endian archives (the storage bytes would need swapping).
fn check_byteorder<R: Read + Seek>(zip: &mut Archive<R>, prefix: &str) -> Result<(), String> {
    let name = format!("{prefix}byteorder");
    if zip.index_for_name(&name).is_none() {
        return Ok(()); // older torch versions wrote no record; they were little-endian
    }
    match read_record(zip, &name, 16)?.as_slice() {
        b"little" => Ok(()),
        b"big" => Err("big-endian checkpoint: not supported (re-save it on a little-endian machine)".into()),
        other => Err(format!("unknown byteorder record {:?}", String::from_utf8_lossy(other))),
    }
}

/// Reads one archive record, refusing anything larger than `max` bytes, and checks it
/// against the CRC-32 the archive keeps for it: a record damaged on disk, in a copy or in
/// a half-synced share is refused, never turned into weights.
fn read_record<R: Read + Seek>(zip: &mut Archive<R>, name: &str, max: u64) -> Result<Vec<u8>, String> {
    let index = zip.index_for_name(name).ok_or_else(|| format!("record '{name}' is missing"))?;
    let (size, stored, encrypted, crc) = match zip.by_index_raw(index) {
        Ok(entry) => (entry.size(), entry.compression() == zip::CompressionMethod::Stored, entry.encrypted(), entry.crc32()),
        Err(e) => return Err(format!("record '{name}' cannot be read: {e}")),
    };
    if size > max {
        return Err(format!("record '{name}' holds {size} bytes, more than the {max} expected"));
    }
    if encrypted {
        return Err(format!("record '{name}' is encrypted, which torch.save never does: not a genuine checkpoint"));
    }
    // torch.save stores records uncompressed; refusing big compressed ones rules out zip bombs.
    if !stored && size > 1 << 20 {
        return Err(format!("record '{name}' is compressed, which torch.save never does: not a genuine checkpoint"));
    }
    // A stored record is read raw (its bytes as they are in the file, without the zip
    // reader's own buffering and checksum, which `take` would skip anyway), and checked below.
    let entry = if stored { zip.by_index_raw(index) } else { zip.by_index(index) };
    let mut entry = entry.map_err(|e| format!("record '{name}' cannot be read: {e}"))?;
    // The declared size is only a hint (a damaged or forged archive can declare anything):
    // reserve at most 1 MiB up front and let the vector grow with what is really there.
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
    entry.by_ref().take(max).read_to_end(&mut bytes).map_err(|e| format!("record '{name}' is corrupt or truncated: {e}"))?;
    if bytes.len() as u64 != size {
        return Err(format!("record '{name}' is truncated: {} of its {size} bytes are there", bytes.len()));
    }
    let found = crc32fast::hash(&bytes);
    if found != crc {
        return Err(format!(
            "record '{name}' is damaged: its bytes have CRC-32 {found:08x}, the archive recorded {crc:08x} (the file was \
             corrupted on disk, in a copy or in a download; fetch the checkpoint again)"
        ));
    }
    Ok(bytes)
}

/// Builds every tensor from its storage; each storage record is read once and shared.
fn materialize<R: Read + Seek>(
    zip: &mut Archive<R>,
    prefix: &str,
    specs: Vec<(String, TensorSpec)>,
) -> Result<Vec<(String, Tensor)>, String> {
    let mut storages: HashMap<String, (StorageRef, Tensor)> = HashMap::new();
    let mut out = Vec::with_capacity(specs.len());
    for (name, spec) in specs {
        let in_tensor = |e: String| format!("tensor '{name}': {e}");
        spec.check_fits().map_err(in_tensor)?;
        let key = &spec.storage.key;
        if !storages.contains_key(key) {
            let storage = load_storage(zip, prefix, &spec.storage).map_err(in_tensor)?;
            storages.insert(key.clone(), (spec.storage.clone(), storage));
        }
        let (seen, storage) = &storages[key];
        if *seen != spec.storage {
            return Err(in_tensor(format!("storage '{key}' is declared twice with different dtype or size")));
        }
        let view = storage
            .f_as_strided(spec.size.as_slice(), spec.stride.as_slice(), spec.offset)
            .and_then(|v| v.f_contiguous())
            .map_err(|e| in_tensor(e.to_string()))?;
        out.push((name, view));
    }
    Ok(out)
}

/// Reads `<prefix>data/<key>` into a 1-D tensor of the storage's dtype.
fn load_storage<R: Read + Seek>(zip: &mut Archive<R>, prefix: &str, storage: &StorageRef) -> Result<Tensor, String> {
    let record = format!("{prefix}data/{}", storage.key);
    let elem = storage.kind.elt_size_in_bytes() as u64;
    let expected = u64::try_from(storage.numel).ok().and_then(|n| n.checked_mul(elem));
    let expected = expected.ok_or_else(|| format!("storage '{}' size overflows", storage.key))?;
    let bytes = read_record(zip, &record, expected).map_err(|e| {
        if e.ends_with("is missing") {
            format!("storage {e}: the archive is incomplete")
        } else {
            format!("storage {e}")
        }
    })?;
    if bytes.len() as u64 != expected {
        return Err(format!(
            "storage record '{record}' holds {} bytes, but {} element(s) of {:?} need {expected}",
            bytes.len(),
            storage.numel,
            storage.kind
        ));
    }
    if storage.kind == Kind::Bool && bytes.iter().any(|&b| b > 1) {
        return Err(format!("storage record '{record}' holds bool values other than 0 and 1"));
    }
    Tensor::f_from_data_size(&bytes, &[storage.numel], storage.kind).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::objects::tests::{sample_entries, torch_like_pickle, Entry};
    use super::*;
    use std::io::Write;

    type Records = Vec<(String, Vec<u8>)>;

    fn sample_records(pkl: Vec<u8>) -> Records {
        let floats: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let bools: Vec<u8> = (0..300).map(|i| (i % 3 == 0) as u8).collect();
        [
            ("data.pkl", pkl),
            ("byteorder", b"little".to_vec()),
            ("data/0", floats),
            ("data/1", 42i64.to_le_bytes().to_vec()),
            ("data/2", bools),
        ]
        .into_iter()
        .map(|(n, b)| (format!("ckpt/{n}"), b))
        .collect()
    }

    fn write_zip(path: &Path, records: &Records) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in records {
            zip.start_file(name.as_str(), opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    /// Writes `records` as `ckpt.pt` in a fresh temp dir and reads it back.
    fn read_zip(records: &Records) -> (tempfile::TempDir, Result<Vec<(String, Tensor)>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.pt");
        write_zip(&path, records);
        let result = read_checkpoint(&path);
        (dir, result)
    }

    fn reason(result: Result<Vec<(String, Tensor)>>) -> String {
        match result {
            Err(Error::Checkpoint { reason, .. }) => reason,
            Err(other) => panic!("expected a checkpoint error, got {other}"),
            Ok(t) => panic!("expected an error, read {} tensors", t.len()),
        }
    }

    #[test]
    fn reads_views_that_share_a_storage() {
        let (_dir, result) = read_zip(&sample_records(torch_like_pickle(&sample_entries(), true)));
        let tensors = result.unwrap();
        let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["w", "w_t", "n", "big"]);
        let values = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        assert_eq!(values(&tensors[0].1), [0., 1., 2., 3., 4., 5.]);
        assert_eq!(tensors[1].1.size(), [2, 2]);
        assert_eq!(values(&tensors[1].1), [1., 4., 2., 5.]);
        assert!(tensors[1].1.is_contiguous());
        assert_eq!((tensors[2].1.kind(), tensors[2].1.dim(), tensors[2].1.int64_value(&[])), (Kind::Int64, 0, 42));
        assert_eq!((tensors[3].1.kind(), tensors[3].1.int64_value(&[3]), tensors[3].1.int64_value(&[4])), (Kind::Bool, 1, 0));
    }

    #[test]
    fn archive_problems_are_named() {
        let good = || sample_records(torch_like_pickle(&sample_entries(), true));
        let edit = |name: &str, bytes: Option<&[u8]>| {
            let mut r = good();
            r.retain(|(n, _)| n != &format!("ckpt/{name}"));
            r.extend(bytes.map(|b| (format!("ckpt/{name}"), b.to_vec())));
            r
        };
        let too_far = [Entry { name: "x", storage_type: "FloatStorage", key: "0", numel: 6, offset: 1, size: &[2, 3], stride: &[3, 1] }];
        let cases = [
            (edit("data/1", None), "record 'ckpt/data/1' is missing: the archive is incomplete"),
            (edit("data/0", Some(&[0; 20])), "holds 20 bytes"),
            (edit("data/2", Some(&[2; 300])), "bool values"),
            (edit("byteorder", Some(b"big")), "big-endian"),
            (edit("data.pkl", None), "without a data.pkl"),
            (edit("data.pkl", Some(b"\x80\x02cposix\nsystem\nX\x02\x00\x00\x00lsR.")), "unsupported global 'posix.system'"),
            (sample_records(torch_like_pickle(&too_far, true)), "tensor 'x': storage too small"),
        ];
        for (records, want) in cases {
            let got = reason(read_zip(&records).1);
            assert!(got.contains(want), "expected '{want}' in: {got}");
        }
    }

    /// One byte flipped inside a storage record (its zip CRC-32 no longer matches) is
    /// refused, naming the file, the record and the tensor it holds; the same archive
    /// unflipped reads.
    #[test]
    fn a_damaged_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flipped.pt");
        write_zip(&path, &sample_records(torch_like_pickle(&sample_entries(), true)));
        assert!(read_checkpoint(&path).is_ok());
        let start = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap().by_name("ckpt/data/0").unwrap().data_start();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[start as usize + 5] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let e = read_checkpoint(&path).expect_err("a damaged record must be refused").to_string();
        for want in ["flipped.pt", "tensor 'w'", "record 'ckpt/data/0' is damaged", "CRC-32"] {
            assert!(e.contains(want), "expected '{want}' in: {e}");
        }
    }

    #[test]
    fn big_compressed_storage_is_refused() {
        let entries =
            [Entry { name: "z", storage_type: "FloatStorage", key: "0", numel: 1 << 19, offset: 0, size: &[1 << 19], stride: &[1] }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.pt");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("ckpt/data.pkl", opts.compression_method(zip::CompressionMethod::Stored)).unwrap();
        zip.write_all(&torch_like_pickle(&entries, true)).unwrap();
        zip.start_file("ckpt/data/0", opts.compression_method(zip::CompressionMethod::Deflated)).unwrap();
        zip.write_all(&vec![0u8; 4 << 19]).unwrap();
        zip.finish().unwrap();
        let got = reason(read_checkpoint(&path));
        assert!(got.contains("'ckpt/data/0' is compressed"), "{got}");
    }

    #[test]
    fn file_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            reason(read_checkpoint(&path))
        };
        let missing = reason(read_checkpoint(&dir.path().join("sam2.1_hiera_tiny.pt")));
        assert!(missing.contains("not found") && missing.contains("sam2.1_hiera_{tiny,small,base_plus,large}.pt"), "{missing}");
        assert!(file("empty.pt", b"").contains("empty"));
        assert!(file("text.pt", b"hello, this is not a model").contains("not a checkpoint"));
        assert!(file("legacy.pt", b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").contains("legacy"));
        assert!(file("cut.safetensors", b"\x00\x01\x00\x00\x00\x00\x00\x00{\"a\":").contains("truncated"));
        assert!(reason(read_checkpoint(dir.path())).contains("not a regular file"));
        let path = dir.path().join("whole.pt");
        write_zip(&path, &sample_records(torch_like_pickle(&sample_entries(), true)));
        let bytes = std::fs::read(&path).unwrap();
        let half = file("half.pt", &bytes[..bytes.len() / 2]);
        assert!(half.contains("truncated"), "{half}");
    }

    #[test]
    fn safetensors_by_content_sorted_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.bin");
        let b = Tensor::from_slice(&[1.5f32, -2.0]);
        let a = Tensor::from_slice(&[7i64, 8, 9]).reshape([3, 1]);
        Tensor::write_safetensors(&[("b", &b), ("a", &a)], &path).unwrap();
        assert_eq!(detect_format(&path).unwrap(), CheckpointFormat::SafeTensors);
        let read = read_checkpoint(&path).unwrap();
        assert_eq!((read[0].0.as_str(), read[1].0.as_str()), ("a", "b"));
        assert!(read[0].1.equal(&a) && read[1].1.equal(&b));
        assert_eq!(read[0].1.kind(), Kind::Int64);
    }
}
