//! Build script: gives `samurai-bench` and the helper benchmarks the engine's link arguments
//! (`DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS`: libtorch's rpath, libtorch_cuda in CUDA builds): a library's link
//! arguments reach only its own targets, so each program over the engine adds it.
fn main() {
    // The engine's link arguments (libtorch's rpath; libtorch_cuda with SAMURAI_ROTO_CUDA=1).
    for arg in std::env::var("DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS").unwrap_or_default().split('\x1f').filter(|a| !a.is_empty()) {
        println!("cargo:rustc-link-arg={arg}");
    }
}
