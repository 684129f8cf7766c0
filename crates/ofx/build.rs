//! Link settings of the plugin library.
fn main() {
    // The plugin is never unmapped, even if a host dlcloses it: threads that ran our code
    // (host render threads) hold thread-local destructors pointing into it, which would
    // crash at thread exit once the code is gone.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
