//! In-repo OpenFX test host: enough of an OFX 1.4/1.5 image effect host (property,
//! parameter, image effect, memory, multithread, message, progress, interact and Draw
//! suites) to load the built plugin library and drive it like Nuke/Natron/Resolve would.
// Shared by two test binaries (`ofx_host.rs`, `ofx_host_tracker.rs`); each uses a part.
#![allow(dead_code)]
pub mod effect;
pub mod host;
pub mod params;
pub mod store;
pub mod suites;
