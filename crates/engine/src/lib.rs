//! SamuraiRoto's engine: SAM 2.1 with the SAMURAI tracking additions, native Rust on
//! libtorch. This crate is what runs the network: in the command line's own process
//! (`crates/cli`) and in the helper process the OpenFX plugin talks to (`crates/helper`);
//! the plugin itself (`crates/ofx`) never links it.
//!
//! Layers (dependencies point downward only), see `../shared/docs/ARCHITECTURE.md`:
//! `serve` (the helper's socket server) over `engine` (sessions driven by requests:
//! result store, track-cache writing) over `tracker/` (sessions, passes, SAMURAI state)
//! over `model/` (the stateless SAM 2.1 network) over `ffi/` (the cxx shim); `image` and
//! the libtorch-free `samurai_core` (settings, config, track-cache format, finishing,
//! protocol) are leaves every layer may use.

pub mod engine;
pub mod error;
pub mod ffi;
pub mod image;
pub mod model;
pub mod output;
pub mod serve;
pub mod tracker;

pub use error::{Error, Result};
pub use samurai_core::config;
