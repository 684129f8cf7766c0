//! The OpenFX host boundary: the only layer that knows OpenFX exists.
//!
//! `sys` (raw C ABI) → `suites` (safe wrappers over host suites), `entry` (the exported
//! C entry points, `catch_unwind`, status mapping) and `gl` (the overlay's OpenGL
//! fallback, resolved at run time) are the only files with `unsafe`.
//! Above them, in safe Rust: `action` (actions decoded into an enum), `describe`
//! (descriptor, clips), `params` (parameter IDs and definitions), `instance` (per-instance
//! state), `render`, `overlay` (viewer interact) and `engine` (the narrow boundary to the
//! tracking engine, so the tracker can later move into a helper process) with
//! `tracker_engine`, the tracker behind it.
pub mod sys;
pub mod suites;
pub mod action;
pub mod describe;
pub mod engine;
pub mod entry;
pub mod gl;
pub mod instance;
pub mod overlay;
pub mod params;
pub mod render;
pub mod tracker_engine;
