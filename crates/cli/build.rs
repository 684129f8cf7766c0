//! Build script: gives the binary (and its tests) the engine's link arguments (libtorch's
//! rpath, libtorch_cuda in CUDA builds; `DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS`), so a development build runs
//! without `LD_LIBRARY_PATH` (the release script replaces it with the bundle's); and bakes
//! `git describe --always --dirty` of the checkout into the binary as
//! `SAMURAI_ROTO_GIT` (for `--version` and `doctor`; the release script names archives with
//! the same description). "unknown" outside a git checkout or without git.
//!
//! It reruns when HEAD moves (a commit, a checkout), when the index changes (staging) and
//! when a file under `crates/` or the workspace manifests change (what makes the build
//! "-dirty"), not on every build.
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()).filter(|s| !s.is_empty())
}

fn main() {
    // The engine's link arguments (libtorch's rpath; libtorch_cuda with SAMURAI_ROTO_CUDA=1).
    for arg in std::env::var("DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS").unwrap_or_default().split('\x1f').filter(|a| !a.is_empty()) {
        println!("cargo:rustc-link-arg={arg}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for watched in ["crates", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let describe = git(&["describe", "--always", "--dirty"]);
    if describe.is_some() {
        // The files git itself changes when HEAD, the branch it names or the index move
        // (`--git-path` resolves them in linked worktrees too).
        let mut paths = vec!["HEAD".to_owned(), "index".to_owned(), "packed-refs".to_owned()];
        paths.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        for p in paths {
            // Only files that exist: Cargo reruns every time for a missing one.
            if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", &p]).filter(|f| Path::new(f).exists()) {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
    println!("cargo:rustc-env=SAMURAI_ROTO_GIT={}", describe.as_deref().unwrap_or("unknown"));
}
