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

/// The workspace's build of `samurai-roto` (beside this test binary's `deps/` folder).
pub fn samurai_roto() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe.parent().and_then(|d| d.parent()).expect("target folder").join("samurai-roto");
    assert!(bin.is_file(), "{} not built: run `cargo build --workspace` (scripts/test.sh does)", bin.display());
    bin
}

/// A random-initialised tiny checkpoint at image size `n` in the official format, written
/// by the reference (generated on first use, git-ignored; the same fixture the engine's
/// parity tests use).
pub fn tiny_checkpoint(n: i64) -> PathBuf {
    let dir = root().join(format!("tests/fixtures/parity/tiny_{n}"));
    let clip = root().join("../shared/data/clips/bedroom");
    let out = Command::new(python())
        .arg(root().join("tests/parity/make_block_fixtures.py"))
        .args(["--size", "tiny", "--image-size", &n.to_string(), "--out"])
        .arg(&dir)
        .arg("--frames")
        .arg(&clip)
        .env("OMP_NUM_THREADS", "2")
        .output()
        .expect("run the fixture script");
    assert!(out.status.success(), "make_block_fixtures.py failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    dir.join("checkpoint.pt")
}

/// Process ids of this process's children running `samurai-roto serve`.
pub fn helper_pids() -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let serve = cmdline.split(|b| *b == 0).any(|a| a == b"serve");
        if ppid == Some(me) && serve && !stat.contains(") Z ") {
            pids.push(pid);
        }
    }
    pids
}
