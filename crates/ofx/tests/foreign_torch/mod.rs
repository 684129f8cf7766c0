//! A *foreign* libtorch in the test process: the simulation of Nuke's process.
//!
//! Nuke 15.1 ships its own libtorch (PyPI torch 2.1.2) and loads it into its
//! process before any plugin. This fixture gets the same libraries
//! (`scripts/foreign-torch.sh`: libc10.so, libtorch_cpu.so and their
//! dependencies, plus a shim compiled from `crates/ofx/tests/foreign_torch/foreign_torch.cpp`)
//! and loads them with `RTLD_NOW | RTLD_GLOBAL`, so their static initialisers
//! register into their registries and their symbols sit in the global scope
//! before anything of ours is loaded.
//!
//! Include it from an integration test that does not link libtorch:
//!
//! ```ignore
//! #[path = "foreign_torch/mod.rs"]
//! mod foreign_torch;
//! ```
//!
//! Only `std` and `libloading` are used. Nuke also puts its own library folder
//! on `LD_LIBRARY_PATH`, which changes how every library loaded later resolves
//! its dependencies; glibc reads that variable once, at process start, so the
//! simulation runs in a child process started with [`child_env`].
//! [`child_command`] re-runs one test of the current test binary that way, and
//! [`is_child`] tells that test which side it is on:
//!
//! ```ignore
//! #[test]
//! fn plugin_in_nuke_like_process() {
//!     if foreign_torch::is_child() {
//!         let dir = foreign_torch::fixture_dir().unwrap();
//!         let torch = foreign_torch::ForeignTorch::load(&dir).unwrap();
//!         println!("{}", torch.check().unwrap());
//!         // ... load our plugin here ...
//!         return;
//!     }
//!     let dir = foreign_torch::ensure_fixture();
//!     let out = foreign_torch::child_command(&dir, "plugin_in_nuke_like_process")
//!         .output()
//!         .unwrap();
//!     assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
//! }
//! ```
//!
//! Note that a library loaded afterwards whose `NEEDED` names `libc10.so` or
//! `libtorch_cpu.so` gets these foreign ones (glibc matches a loaded soname
//! before any search path or RPATH), whatever its own RPATH says.

#![allow(dead_code)]

use std::ffi::{c_char, c_int};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::process::Command;

use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

/// Environment variable naming the fixture directory (overrides the default
/// `<repo>/tests/fixtures/foreign-torch`).
pub const DIR_ENV: &str = "SAMURAI_ROTO_FOREIGN_TORCH";

/// Set (to `1`) in the environment of a child started by [`child_command`].
pub const CHILD_ENV: &str = "SAMURAI_ROTO_FOREIGN_TORCH_CHILD";

/// The foreign libraries, in load order: each one's dependencies come first.
/// libgomp, libcudart and libcupti are loaded as dependencies of libtorch_cpu.
const LIBS: [&str; 3] = ["libc10.so", "libtorch_cpu.so", "libforeign_torch_shim.so"];

/// The repository root: the first ancestor of this crate's manifest folder that
/// holds `scripts/foreign-torch.sh`.
fn repo_root() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().find(|p| p.join("scripts/foreign-torch.sh").is_file()).map(Path::to_path_buf)
}

/// Where the fixture lives or is to be built: `$SAMURAI_ROTO_FOREIGN_TORCH`
/// when set, else `<repo>/tests/fixtures/foreign-torch`. `None` only when the
/// variable is unset and the repository root cannot be found. The folder may
/// not exist (yet): see [`is_ready`] and [`ensure_fixture`].
pub fn fixture_dir() -> Option<PathBuf> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => repo_root().map(|root| root.join("tests/fixtures/foreign-torch")),
    }
}

/// Whether `dir` holds a built fixture (the libraries and the shim).
pub fn is_ready(dir: &Path) -> bool {
    LIBS.iter().all(|name| lib_path(dir, name).is_file())
}

fn lib_path(dir: &Path, name: &str) -> PathBuf {
    if name == "libforeign_torch_shim.so" {
        dir.join(name)
    } else {
        dir.join("lib").join(name)
    }
}

/// Builds (or brings up to date) the fixture with `scripts/foreign-torch.sh`
/// and returns its folder. The first run downloads ~685 MB of wheels; later
/// runs take milliseconds. Panics with the script's output when it fails.
pub fn ensure_fixture() -> PathBuf {
    let root = repo_root().expect("foreign torch: no scripts/foreign-torch.sh above CARGO_MANIFEST_DIR");
    let dir = fixture_dir().expect("foreign torch: no fixture folder");
    let out = Command::new("bash")
        .arg(root.join("scripts/foreign-torch.sh"))
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("foreign torch: cannot run scripts/foreign-torch.sh: {e}"));
    if !out.status.success() || !is_ready(&dir) {
        panic!(
            "foreign torch: scripts/foreign-torch.sh {} failed ({}):\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }
    dir
}

/// The environment a child process needs to load the fixture in `dir`:
/// `LD_LIBRARY_PATH` with `dir/lib` first (kept after it: the current value)
/// and [`DIR_ENV`] = `dir`.
pub fn child_env(dir: &Path) -> Vec<(String, String)> {
    let lib = dir.join("lib").to_string_lossy().into_owned();
    let ld_path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(old) if !old.is_empty() => format!("{lib}:{old}"),
        _ => lib,
    };
    vec![("LD_LIBRARY_PATH".to_string(), ld_path), (DIR_ENV.to_string(), dir.to_string_lossy().into_owned())]
}

/// Whether this process is a child started by [`child_command`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == "1")
}

/// A command re-running the single test `test` (its full path, e.g.
/// `"nuke_process::plugin_loads"`) of the current test binary, with
/// [`child_env`]`(dir)` and [`CHILD_ENV`]`=1` set and its output captured.
/// The parent checks the child's exit status and output.
pub fn child_command(dir: &Path, test: &str) -> Command {
    let exe = std::env::current_exe().expect("foreign torch: current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"]).envs(child_env(dir)).env(CHILD_ENV, "1");
    cmd
}

type CheckFn = unsafe extern "C" fn(*mut c_char, usize) -> c_int;

/// The foreign libtorch, loaded into this process for good.
pub struct ForeignTorch {
    /// Kept open: never dlclosed (libtorch does not support unloading, and
    /// neither does Nuke unload its own).
    _libs: ManuallyDrop<Vec<Library>>,
    check: CheckFn,
}

impl ForeignTorch {
    /// Loads the fixture in `dir` the way Nuke holds its libtorch: libc10.so,
    /// then libtorch_cpu.so, then the shim, each with `RTLD_NOW | RTLD_GLOBAL`.
    /// Meant for a process started with [`child_env`]`(dir)`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut libs = Vec::with_capacity(LIBS.len());
        for name in LIBS {
            let path = lib_path(dir, name);
            // SAFETY: loading runs the library's static initialisers; these
            // are libtorch 2.1.2's own and the shim's (which has none beyond
            // libstdc++'s), and they are what this fixture is meant to run.
            let lib =
                unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| format!("dlopen {}: {e}", path.display()))?;
            libs.push(lib);
        }
        // SAFETY: `foreign_torch_check` is declared in foreign_torch.cpp as
        // `extern "C" int foreign_torch_check(char*, size_t)`, which is
        // `CheckFn`. The pointer stays valid since the library is never closed.
        let check =
            unsafe { *libs[LIBS.len() - 1].get::<CheckFn>(b"foreign_torch_check\0").map_err(|e| format!("foreign_torch_check: {e}"))? };
        Ok(Self { _libs: ManuallyDrop::new(libs), check })
    }

    /// Runs a CPU tensor computation through the foreign libtorch. `Ok` holds
    /// its report (`torch 2.1.2 (2.1.2) matmul_sum=155 ... c10=<path>`);
    /// `Err` a wrong value or the C++ exception's message.
    pub fn check(&self) -> Result<String, String> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: the shim writes at most `buf.len()` bytes, NUL included,
        // into `buf`, and catches every C++ exception.
        let rc = unsafe { (self.check)(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
        if rc == 0 {
            Ok(text)
        } else {
            Err(format!("foreign_torch_check returned {rc}: {text}"))
        }
    }
}
