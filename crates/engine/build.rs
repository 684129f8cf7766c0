//! Build script: compiles the small C++ shim in `cpp/` (through `cxx`) against the same
//! libtorch that `torch-sys` links, and records an rpath so binaries find libtorch at run time.
use std::path::PathBuf;

fn main() {
    // torch-sys declares `links = "tch"` and exports the libtorch library folder to us.
    let lib_dir = PathBuf::from(
        std::env::var("DEP_TCH_LIBTORCH_LIB")
            .expect("torch-sys did not export DEP_TCH_LIBTORCH_LIB; build with LIBTORCH_USE_PYTORCH=1 or LIBTORCH set"),
    );
    let include_dir = lib_dir.parent().map(|p| p.join("include")).expect("libtorch lib dir has a parent");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());

    cxx_build::bridge("src/ffi/mod.rs")
        .file("cpp/shim.cpp")
        .include(&include_dir)
        .include("cpp")
        .flag_if_supported("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("samurai_roto_shim");

    // CUDA: the linker drops libtorch_cuda (nothing references it by symbol), and without it
    // libtorch sees no GPU. SAMURAI_ROTO_CUDA=1 keeps it linked (and, through its own
    // runpath, the CUDA libraries of the torch wheel). Off by default: it adds ~3 GB of
    // libraries to what the plugin must ship and a slower start on CPU-only machines.
    println!("cargo:rerun-if-env-changed=SAMURAI_ROTO_CUDA");
    let mut link_args = Vec::new();
    if std::env::var("SAMURAI_ROTO_CUDA").is_ok_and(|v| v == "1") {
        if lib_dir.join("libtorch_cuda.so").exists() {
            link_args.push("-Wl,--no-as-needed,-ltorch_cuda,--as-needed".to_owned());
        } else {
            println!("cargo:warning=SAMURAI_ROTO_CUDA=1 but {} has no libtorch_cuda.so (a CPU-only libtorch)", lib_dir.display());
        }
    }
    // Binaries and tests find libtorch through this rpath; the installer copies libtorch
    // into the bundle beside the helper and points its rpath there (scripts/install-plugin.sh).
    link_args.push(format!("-Wl,-rpath,{}", lib_dir.display()));
    for arg in &link_args {
        println!("cargo:rustc-link-arg={arg}");
    }
    // A library's link arguments reach only its own targets: the program crates over this
    // one (cli, helper, bench) read them from `DEP_SAMURAI_ROTO_ENGINE_LINK_ARGS` (separated
    // by U+001F) in their build scripts, so they link libtorch_cuda and find libtorch too.
    println!("cargo:link_args={}", link_args.join("\x1f"));
    println!("cargo:rerun-if-changed=cpp/shim.cpp");
    println!("cargo:rerun-if-changed=cpp/shim.h");
    println!("cargo:rerun-if-changed=src/ffi/mod.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
}
