//! Helpers shared by the integration tests: locating the project venv's Python (which has
//! the reference package), the sample clips, generated fixtures, and tolerance checks.
#![allow(dead_code)]
pub mod track_parity;
pub mod tracking;

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Tensor;

/// The repository root (the workspace's Cargo.toml; `tests/` there holds the reference
/// scripts and the generated fixtures). Every crate using this module sits in `crates/NAME`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project venv's Python. `scripts/setup.sh --reference` creates it; tests fail with
/// that instruction when it is missing (they never skip silently).
pub fn python() -> PathBuf {
    let p = std::env::var_os("SAMURAI_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/setup.sh --reference (or scripts/test.sh)", p.display());
    p
}

/// Runs a Python script from the project with arguments; panics with its output on failure.
pub fn run_python(script: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .env("OMP_NUM_THREADS", "2")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{} {:?} failed:\n{}\n{}", script.display(), args, stdout, String::from_utf8_lossy(&out.stderr));
    stdout
}

/// `../shared/data/clips`, required by the tests that use real footage.
pub fn clips() -> PathBuf {
    let p = root().join("../shared/data/clips");
    assert!(p.is_dir(), "sample clips not found at {} (the tests need ../shared/data/clips)", p.display());
    p
}

/// Where generated fixtures live (git-ignored).
pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// Reads every array of an `.npz` file into a name → tensor map. Each array's payload must
/// hold exactly the bytes its header's shape and dtype need: tch's `Tensor::read_npz` does
/// not check that and copies `numel × element size` bytes from its buffer whatever its
/// length, so a short array would be filled with the heap memory past the buffer.
pub fn read_npz(path: &Path) -> std::collections::HashMap<String, Tensor> {
    use std::io::Read;
    assert!(path.exists(), "fixture {} missing: run scripts/test.sh (it generates fixtures)", path.display());
    let fail = |e: String| -> ! { panic!("cannot read {}: {e}", path.display()) };
    let file = std::fs::File::open(path).unwrap_or_else(|e| fail(e.to_string()));
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).unwrap_or_else(|e| fail(e.to_string()));
    let mut arrays = std::collections::HashMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap_or_else(|e| fail(e.to_string()));
        let name = entry.name().strip_suffix(".npy").unwrap_or(entry.name()).to_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap_or_else(|e| fail(format!("array {name:?}: {e}")));
        let tensor = npy_tensor(&bytes).unwrap_or_else(|e| fail(format!("array {name:?}: {e}")));
        arrays.insert(name, tensor);
    }
    arrays
}

/// Reads one `.npy` file, with the same check as [`read_npz`] (use it, not tch's
/// `Tensor::read_npy`, which has the same unchecked copy).
#[allow(dead_code)]
pub fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    npy_tensor(&bytes).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One `.npy` record (C order, little-endian or byte-sized dtype) as a tensor, refused unless
/// its payload is exactly the size of its shape.
fn npy_tensor(bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or("not an npy record")?;
    let (len, start) = match rest {
        [1, _, a, b, ..] => (u16::from_le_bytes([*a, *b]) as usize, 10),
        [2 | 3, _, a, b, c, d, ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12),
        _ => return Err("unsupported npy version".into()),
    };
    let header = bytes.get(start..start + len).and_then(|h| std::str::from_utf8(h).ok()).ok_or("truncated npy header")?;
    let field = |key: &str| header.split_once(&format!("'{key}':")).map(|(_, v)| v.trim_start()).ok_or(format!("no {key} in {header}"));
    let descr = field("descr")?.trim_start_matches('\'').split('\'').next().unwrap_or_default();
    if !field("fortran_order")?.starts_with("False") {
        return Err(format!("Fortran-order array: {header}"));
    }
    let dims = field("shape")?.trim_start_matches('(').split(')').next().unwrap_or_default();
    let shape = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<i64>().map_err(|e| format!("shape {dims}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let kind = match descr {
        "<f2" => tch::Kind::Half,
        "<f4" => tch::Kind::Float,
        "<f8" => tch::Kind::Double,
        "|i1" => tch::Kind::Int8,
        "|u1" => tch::Kind::Uint8,
        "<i2" => tch::Kind::Int16,
        "<i4" => tch::Kind::Int,
        "<i8" => tch::Kind::Int64,
        "|b1" => tch::Kind::Bool,
        other => return Err(format!("unsupported dtype {other:?}")),
    };
    let payload = &bytes[start + len..];
    let need = shape.iter().product::<i64>() as usize * kind.elt_size_in_bytes();
    if payload.len() != need {
        return Err(format!("payload holds {} bytes but shape {shape:?} of {descr} needs {need}", payload.len()));
    }
    Tensor::f_from_data_size(payload, &shape, kind).map_err(|e| e.to_string())
}

/// Max |a - b| as f64.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double)).abs().max().double_value(&[])
}

/// Asserts the parity tolerance of the project: max |ours − ref| ≤ rel · max(1, max|ref|).
/// Returns the measured error and the allowed bound.
pub fn assert_close(name: &str, ours: &Tensor, reference: &Tensor, rel: f64) -> (f64, f64) {
    assert_eq!(ours.size(), reference.size(), "{name}: shape ours {:?} vs ref {:?}", ours.size(), reference.size());
    if reference.numel() == 0 {
        return (0.0, rel);
    }
    let scale = reference.to_kind(tch::Kind::Double).abs().max().double_value(&[]).max(1.0);
    let err = max_abs_diff(ours, reference);
    let bound = rel * scale;
    assert!(err <= bound, "{name}: max |ours - ref| = {err:.3e} > {bound:.3e} (rel {rel:e}, max|ref| {scale:.3e})");
    eprintln!("parity {name}: max abs err {err:.3e} (bound {bound:.3e})");
    (err, bound)
}

/// The random-init tiny checkpoint the reference writes for the block parity fixtures at
/// image size `n` (official format), generated on first use.
pub fn tiny_checkpoint(n: i64) -> PathBuf {
    let dir = fixtures().join(format!("parity/tiny_{n}"));
    let clip = clips().join("bedroom");
    run_python(
        &root().join("tests/parity/make_block_fixtures.py"),
        &["--size", "tiny", "--image-size", &n.to_string(), "--out", dir.to_str().unwrap(), "--frames", clip.to_str().unwrap()],
    );
    dir.join("checkpoint.pt")
}

/// Benchmarks run the helper built beside them (`target/release/samurai-roto-helper`):
/// points the plugin's engine at it.
pub fn use_helper_beside_bench() {
    let exe = std::env::current_exe().unwrap();
    let helper = exe.parent().and_then(|d| d.parent()).unwrap().join("samurai-roto-helper");
    assert!(helper.is_file(), "{} not built: cargo build --release --bin samurai-roto-helper", helper.display());
    std::env::set_var("SAMURAI_ROTO_HELPER", &helper);
}

/// The bedroom clip's first `n` frames as a host hands them to the plugin.
pub fn bedroom_host_frames(n: i64) -> Vec<samurai_core::settings::FrameImage> {
    (0..n)
        .map(|i| {
            let img = samurai_engine::image::load_rgb8(&clips().join(format!("bedroom/{i:05}.jpg"))).unwrap();
            samurai_core::settings::FrameImage { width: img.width, height: img.height, rgb8: img.data }
        })
        .collect()
}
