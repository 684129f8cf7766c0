//! Fuzzing the checkpoint reader (zip archive + restricted pickle machine + storages) with
//! 100,000 inputs mutated from a genuine `torch.save({"model": state_dict})` archive
//! written by the venv's PyTorch: bytes flipped anywhere, the file cut, `data.pkl` with
//! opcodes changed and integers (sizes, strides, offsets, lengths) made huge, storage
//! records cut or grown, records dropped. Checked for every input: no panic, no input over
//! a second, no single Rust allocation beyond `LIMIT` (16 bytes per input byte plus 2 MiB);
//! libtorch's own allocations copy storages already read, so the view check (no view with
//! more elements than its storage) bounds them too.
use crate::common;

#[path = "../../../core/tests/support/fuzz.rs"]
mod support;
use std::io::{Read, Write};
use std::path::Path;
use support::{fuzz, Counting, Rng};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A small genuine checkpoint, written by PyTorch (float, int64, bool and a transposed
/// view sharing a storage).
fn genuine() -> Vec<u8> {
    let path = common::fixtures().join("fuzz/small_checkpoint.pt");
    if !path.is_file() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let script = common::fixtures().join("fuzz/write_small_checkpoint.py");
        std::fs::write(
            &script,
            format!(
                "import collections, torch\nw = torch.arange(12, dtype=torch.float32).reshape(3, 4)\n\
             sd = collections.OrderedDict(w=w, w_t=w.t(), n=torch.tensor(7), mask=torch.tensor([True, False, True]), b=torch.zeros(5))\n\
             torch.save({{'model': sd}}, {:?})\n",
                path.to_str().unwrap()
            ),
        )
        .unwrap();
        common::run_python(&script, &[]);
    }
    std::fs::read(&path).unwrap()
}

fn records(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_owned(), bytes)
        })
        .collect()
}

fn archive(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in records {
        zip.start_file(name.as_str(), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// One mutated input.
fn mutate(rng: &mut Rng, valid: &[u8], recs: &[(String, Vec<u8>)]) -> Vec<u8> {
    match rng.below(6) {
        // Anywhere in the file: flipped bytes or a cut.
        0 => {
            let mut v = valid.to_vec();
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            v
        }
        1 => valid[..rng.below(valid.len())].to_vec(),
        // Inside data.pkl: opcodes changed, or integers made huge.
        2 | 3 => {
            let mut recs = recs.to_vec();
            let pkl = &mut recs.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap().1;
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(pkl.len());
                if rng.below(2) == 0 {
                    pkl[i] = rng.next() as u8; // any byte, often another opcode
                } else {
                    let huge = [0xff, 0xff, 0xff, 0x7f];
                    let n = (pkl.len() - i).min(4);
                    pkl[i..i + n].copy_from_slice(&huge[..n]);
                }
            }
            archive(&recs)
        }
        // Storage records cut, grown or dropped.
        4 => {
            let mut recs = recs.to_vec();
            let i = rng.below(recs.len());
            match rng.below(3) {
                0 => {
                    let keep = rng.below(recs[i].1.len() + 1);
                    recs[i].1.truncate(keep);
                }
                1 => recs[i].1.extend(std::iter::repeat_n(0x41, 1 + rng.below(64))),
                _ => {
                    recs.remove(i);
                }
            }
            archive(&recs)
        }
        _ => (0..rng.below(2048)).map(|_| rng.next() as u8).collect(),
    }
}

#[test]
fn checkpoint_reader_survives_mutated_archives() {
    let valid = genuine();
    let origin = Path::new("fuzz.pt");
    let read = samurai_engine::model::checkpoint::read_checkpoint_bytes(&valid, origin).unwrap();
    assert_eq!(read.len(), 5, "the genuine archive reads");
    let recs = records(&valid);
    fuzz(
        "checkpoint reader",
        7,
        |r| mutate(r, &valid, &recs),
        |b| samurai_engine::model::checkpoint::read_checkpoint_bytes(b, origin).is_ok(),
    );
}
