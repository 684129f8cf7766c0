//! Helpers shared by the plugin's integration tests (no libtorch here: these test
//! processes stand for the host): the repository root, generated fixtures, the
//! workspace's `samurai-roto` binary.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The project venv's Python (`scripts/setup.sh --reference` creates it).
pub fn python() -> PathBuf {
    let p = std::env::var_os("SAMURAI_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/setup.sh --reference (or scripts/test.sh)", p.display());
    p
}

/// The workspace's build of the program `name` (beside this test binary's `deps/` folder).
fn built_program(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe.parent().and_then(|d| d.parent()).expect("target folder").join(name);
    assert!(bin.is_file(), "{} not built: run `cargo build --workspace` (scripts/test.sh does)", bin.display());
    bin
}

/// The workspace's build of the command line, `samurai-roto`.
pub fn samurai_roto() -> PathBuf {
    built_program("samurai-roto")
}

/// The workspace's build of the plugin's helper program, `samurai-roto-helper`.
pub fn helper_program() -> PathBuf {
    built_program(HELPER_PROGRAM)
}

/// The helper program's file name (what the plugin starts from its bundle folder).
pub const HELPER_PROGRAM: &str = "samurai-roto-helper";

/// A random-initialised tiny checkpoint at image size `n` in the official format, written
/// by the reference (generated on first use, git-ignored; the same fixture the engine's
/// parity tests use).
pub fn tiny_checkpoint(n: i64) -> PathBuf {
    checkpoint("tiny", n)
}

/// A random-initialised checkpoint of model `size` (tiny, small, base_plus, large), the
/// parity tests' fixture of that size at image size `n`.
pub fn checkpoint(size: &str, n: i64) -> PathBuf {
    let dir = root().join(format!("tests/fixtures/parity/{size}_{n}"));
    let clip = root().join("../shared/data/clips/bedroom");
    let out = Command::new(python())
        .arg(root().join("tests/parity/make_block_fixtures.py"))
        .args(["--size", size, "--image-size", &n.to_string(), "--out"])
        .arg(&dir)
        .arg("--frames")
        .arg(&clip)
        .env("OMP_NUM_THREADS", "2")
        .output()
        .expect("run the fixture script");
    assert!(
        out.status.success(),
        "make_block_fixtures.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("checkpoint.pt")
}

/// Process ids of this process's children running the helper program.
pub fn helper_pids() -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let program = cmdline.split(|b| *b == 0).next().and_then(|a| std::str::from_utf8(a).ok()).unwrap_or("");
        let helper = Path::new(program).file_name().is_some_and(|n| n == HELPER_PROGRAM);
        if ppid == Some(me) && helper && !stat.contains(") Z ") {
            pids.push(pid);
        }
    }
    pids
}

/// A `.npy` file of little-endian float32 in C order: (shape, values).
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x93NUMPY"), "{}: not a .npy file", path.display());
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{}: {header}", path.display());
    let shape = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).unwrap();
    let shape: Vec<usize> = shape.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let values: Vec<f32> = bytes[start + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(values.len(), shape.iter().product::<usize>(), "{}: data length", path.display());
    (shape, values)
}

/// Points the plugin's client at the workspace's `samurai-roto-helper` (tests that use the
/// plugin's engine without the test host).
pub fn use_built_helper() {
    if std::env::var_os("SAMURAI_ROTO_HELPER").is_none() {
        std::env::set_var("SAMURAI_ROTO_HELPER", helper_program());
    }
}

/// This test process's helper log (its helpers append to it; set before any helper
/// starts, and per process: a child test process gets its own, not its parent's).
pub fn helper_log() -> PathBuf {
    static LOG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("samurai-roto-test-helper-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&p);
        std::env::set_var("SAMURAI_ROTO_HELPER_LOG", &p);
        p
    })
    .clone()
}
