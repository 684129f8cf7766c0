//! Build script: gives `samurai-roto-helper` an rpath to the libtorch folder the engine
//! linked (`DEP_SAMURAI_ROTO_ENGINE_LIBTORCH_LIB`). The plugin starts the helper with a
//! clean environment (no `LD_LIBRARY_PATH`), so a development build must find libtorch by
//! itself; the installer and the release script replace the rpath with the bundle's.
fn main() {
    if let Ok(dir) = std::env::var("DEP_SAMURAI_ROTO_ENGINE_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
