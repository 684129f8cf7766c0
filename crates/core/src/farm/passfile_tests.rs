use super::tests::{plan, three_objects};
use super::*;

/// The three-object plan at image size 256 (side 64) and its digest.
fn small_plan() -> (Plan, String) {
    let mut p = plan(Split::Keyframes, three_objects()).unwrap();
    p.settings.image_size = 256;
    p.validate().unwrap();
    let digest = Plan::digest_of(p.to_yaml().unwrap().as_bytes());
    (p, digest)
}

/// Results for `group` of `plan` with awkward values (NaN payloads, signed zeros, subnormals,
/// infinities), different per pass and frame.
fn results(plan: &Plan, digest: &str, group: usize) -> PassResults {
    let header = PassFileHeader::for_group(plan, digest, group, "cpu", "fp32").unwrap();
    let cells = (header.side * header.side) as usize;
    let special = [f32::from_bits(0x7fc0_1234), -0.0, f32::MIN_POSITIVE / 8.0, f32::INFINITY, f32::NEG_INFINITY, -1024.0];
    let logits = header
        .passes
        .iter()
        .enumerate()
        .map(|(p, pass)| {
            (pass.frames.0..=pass.frames.1)
                .map(|f| {
                    (0..cells)
                        .map(|i| if i < special.len() { special[i] } else { (i as f32 * 0.37 - f as f32).sin() * (p + 1) as f32 })
                        .collect()
                })
                .collect()
        })
        .collect();
    PassResults { header, logits }
}

fn bits(r: &PassResults) -> Vec<u32> {
    r.logits.iter().flatten().flatten().map(|x| x.to_bits()).collect()
}

#[test]
fn pass_files_round_trip_bit_for_bit() {
    let (p, digest) = small_plan();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(pass_file_path(dir.path(), 3), dir.path().join("passes/0003.srfp"));
    assert_eq!(pass_file_path(dir.path(), 12345), dir.path().join("passes/12345.srfp"));
    for group in 0..p.groups.len() {
        let r = results(&p, &digest, group);
        let bytes = r.to_bytes().unwrap();
        assert_eq!(&bytes[..16], b"SAMURAIROTO-PAS\n");
        let back = PassResults::from_bytes(&bytes).unwrap();
        assert_eq!(back.header, r.header);
        assert_eq!(bits(&back), bits(&r));
        assert_eq!(back.to_bytes().unwrap(), bytes);
        r.write_atomic(&pass_file_path(dir.path(), group)).unwrap();
        assert_eq!(std::fs::read(pass_file_path(dir.path(), group)).unwrap(), bytes);
        let read = read_for_group(dir.path(), &p, &digest, group).unwrap();
        assert_eq!(bits(&read), bits(&r));
        let pass = &read.header.passes[0];
        assert_eq!(read.frame(0, pass.frames.0).map(|v| v[2].to_bits()), Some((f32::MIN_POSITIVE / 8.0).to_bits()));
        assert!(read.frame(0, pass.frames.1 + 1).is_none());
    }
    // Only the final names are left in the folder: no temporary file.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path().join(PASSES_DIR)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["0000.srfp", "0001.srfp", "0002.srfp", "0003.srfp", "0004.srfp"]);

    // Inconsistent results are refused on writing.
    let mut r = results(&p, &digest, 0);
    r.logits[1].pop();
    assert!(r.to_bytes().unwrap_err().to_string().contains("19 frames of logits"));
    let mut r = results(&p, &digest, 0);
    r.logits[0][3].push(1.0);
    assert!(r.to_bytes().unwrap_err().to_string().contains("4097 values"));
}

#[test]
fn damaged_or_foreign_pass_files_are_refused_naming_the_file() {
    let (p, digest) = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let path = pass_file_path(dir.path(), 2);
    let name = path.display().to_string();
    let refused = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let e = read_for_group(dir.path(), &p, &digest, 2).unwrap_err().to_string();
        assert!(e.contains(&name), "{e}");
        e
    };

    // Missing.
    let e = read_for_group(dir.path(), &p, &digest, 2).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Io);
    let e = e.to_string();
    assert_eq!(e, format!("{name}: pass group 2 has not run: the file is missing"));

    let good = results(&p, &digest, 2).to_bytes().unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    for (what, bytes, why) in [
        ("flipped data byte", flip(&good, good.len() / 2), "checksum"),
        ("flipped header byte", flip(&good, 40), "checksum"),
        ("flipped checksum byte", flip(&good, good.len() - 1), "checksum"),
        ("truncated", good[..good.len() - 5].to_vec(), "checksum"),
        ("cut in the header", good[..70].to_vec(), "checksum"),
        ("empty", Vec::new(), "not a SamuraiRoto pass file"),
        ("a track cache", b"SAMURAIROTO-TRK\n".repeat(4), "not a SamuraiRoto pass file"),
        ("other version", resealed(&good, |b| b[16] = 2), "format version 2"),
        ("header past the end", resealed(&good, |b| b[20..28].copy_from_slice(&u64::MAX.to_le_bytes())), "header runs past"),
        ("data too short", resealed(&good, |b| b.truncate(b.len() - 4)), "bytes of data"),
    ] {
        let e = refused(&bytes);
        assert!(e.contains("truncated or damaged") && e.contains(why), "{what}: {e}");
    }

    // Sound files that are not this plan's group 2.
    let write = |r: &PassResults| r.to_bytes().unwrap();
    let e = refused(&write(&results(&p, &"0".repeat(64), 2)));
    assert!(e.contains("another plan") && e.contains(&digest), "{e}");
    let e = refused(&write(&results(&p, &digest, 3)));
    assert!(e.contains("holds pass group 3, not 2"), "{e}");
    let mut r = results(&p, &digest, 2);
    r.header.passes[1].digest = "ff".repeat(32);
    let e = refused(&write(&r));
    assert!(e.contains("pass 1 is object 'b'") && e.contains("prompt digest ffff"), "{e}");
    let mut r = results(&p, &digest, 2);
    r.header.passes[0].frames.1 -= 1;
    r.logits[0].pop();
    let e = refused(&write(&r));
    assert!(e.contains("pass 0 is object 'a' forward from keyframe 20") && e.contains("frames 20-28"), "{e}");
    let mut r = results(&p, &digest, 2);
    r.header.passes[0].direction = Direction::Backward;
    assert!(refused(&write(&r)).contains("pass 0 is object 'a' backward"));
    let mut r = results(&p, &digest, 2);
    r.header.passes.pop();
    r.logits.pop();
    assert!(refused(&write(&r)).contains("1 passes, the plan's group 2 has 2"));
    let mut r = results(&p, &digest, 2);
    r.header.side = 32;
    r.logits.iter_mut().flatten().for_each(|v| v.truncate(32 * 32));
    let e = refused(&write(&r));
    assert!(e.contains("side 32, the plan's is 64"), "{e}");
    // A header with a key this build does not know.
    let text = serde_norway::to_string(&results(&p, &digest, 2).header).unwrap().replace("device:", "extra: 1\ndevice:");
    let e = refused(&FORMAT_FOR_TESTS.encode(&text, 0, |out| out.extend(good_data(&good))));
    assert!(e.contains("unreadable header") && e.contains("extra"), "{e}");

    // The sound file reads again.
    std::fs::write(&path, &good).unwrap();
    read_for_group(dir.path(), &p, &digest, 2).unwrap();
}

const FORMAT_FOR_TESTS: crate::container::Format =
    crate::container::Format { magic: b"SAMURAIROTO-PAS\n", version: passfile::PASS_FILE_VERSION, what: "pass file" };

/// A file's data section (between the header and the checksum).
fn good_data(file: &[u8]) -> Vec<u8> {
    let header_len = u64::from_le_bytes(file[20..28].try_into().unwrap()) as usize;
    file[28 + header_len..file.len() - 32].to_vec()
}

fn flip(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[i] ^= 0x10;
    b
}

/// `bytes` without its checksum, edited, then sealed with a new checksum (a damage the
/// checksum cannot see).
fn resealed(bytes: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = bytes[..bytes.len() - 32].to_vec();
    edit(&mut b);
    let check = blake3::hash(&b);
    b.extend_from_slice(check.as_bytes());
    b
}

#[test]
fn concurrent_writers_leave_one_whole_file_and_temporaries_are_cleared() {
    let (p, digest) = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let path = pass_file_path(dir.path(), 4);
    let r = results(&p, &digest, 4);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..10 {
                    r.write_atomic(&path).unwrap();
                    // Whatever a reader finds meanwhile is whole.
                    assert_eq!(bits(&read_for_group(dir.path(), &p, &digest, 4).unwrap()), bits(&r));
                }
            });
        }
    });
    assert_eq!(std::fs::read(&path).unwrap(), r.to_bytes().unwrap());
    assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

    // A killed task's temporary file is removed; nothing else is.
    let passes = dir.path().join(PASSES_DIR);
    std::fs::write(passes.join(".samuraiRoto-abc123.tmp"), b"half").unwrap();
    std::fs::write(passes.join("notes.txt"), b"kept").unwrap();
    assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
    let mut names: Vec<String> = std::fs::read_dir(&passes).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["0004.srfp", "notes.txt"]);
    assert_eq!(remove_stale_temporaries(&dir.path().join("no-such-job")).unwrap(), 0);
}
