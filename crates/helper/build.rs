//! Build script: gives `samurai-roto-helper` the engine's link arguments (libtorch's rpath,
//! libtorch_cuda in CUDA builds; `DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS`). The plugin starts the helper with a
//! clean environment (no `LD_LIBRARY_PATH`), so a development build must find libtorch by
//! itself; the installer and the release script replace the rpath with the bundle's.
fn main() {
    // The engine's link arguments (libtorch's rpath; libtorch_cuda with SAMURAI_ROTO_CUDA=1).
    for arg in std::env::var("DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS").unwrap_or_default().split('\x1f').filter(|a| !a.is_empty()) {
        println!("cargo:rustc-link-arg={arg}");
    }
}
