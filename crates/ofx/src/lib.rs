//! The OpenFX host boundary: the only layer that knows OpenFX exists.
//!
//! This crate links no libtorch: the network runs in the helper process
//! (`samurai-roto serve`), which `client` starts and talks to; `helper_engine` keeps
//! finished frames and track caches and finishes mattes here in pure Rust.
//!
//! `sys` (raw C ABI) → `suites` (safe wrappers over host suites), `entry` (the exported
//! C entry points, `catch_unwind`, status mapping) and `gl` (the overlay's OpenGL
//! fallback, resolved at run time) are the only files with `unsafe` (besides
//! `samurai_core::shm`'s mapping). Above them, in safe Rust: `action` (actions decoded
//! into an enum), `describe` (descriptor, clips), `params` (parameter IDs and
//! definitions), `instance` (per-instance state), `render` with `edge` (the Edge group:
//! refinement and decontamination) and `keyframe_matte` (the matte input placed on the
//! plate in canonical coordinates), `overlay` (viewer interact), `export_job` (the Farm
//! group's job export)
//! and `engine` (the narrow boundary to the tracking engine) with `helper_engine` and
//! `client` behind it; `test_engine` (the box-matte engine of the host tests) exists only
//! in test builds (feature `test-engine`).
pub mod action;
pub mod analyse;
mod bar;
pub mod client;
pub mod clip;
pub mod contour;
pub mod describe;
pub mod edge;
pub mod engine;
pub mod entry;
pub mod export_job;
pub mod export_shapes;
pub mod gl;
pub mod helper_engine;
pub mod instance;
pub mod keyframe_matte;
pub mod overlay;
pub mod params;
pub mod pixels;
pub mod points;
pub mod render;
pub mod stroke_font;
pub mod suites;
pub mod sys;
#[cfg(any(test, feature = "test-engine"))]
pub mod test_engine;
pub mod wiring;
