//! Build script: gives `samurai-bench` and the helper benchmarks an rpath to the libtorch
//! folder the engine linked (`DEP_SAMURAI_ROTO_ENGINE_LIBTORCH_LIB`): a library's link
//! arguments reach only its own targets, so each program over the engine adds it.
fn main() {
    if let Ok(dir) = std::env::var("DEP_SAMURAI_ROTO_ENGINE_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
