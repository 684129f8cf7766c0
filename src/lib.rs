//! SamuraiRoto: SAM 2.1 with the SAMURAI tracking additions, native Rust on libtorch.
//!
//! Layers (dependencies point downward only), see `../shared/docs/ARCHITECTURE.md`:
//! `tracker/` (sessions, passes, SAMURAI state) over `model/` (the stateless SAM 2.1
//! network) over `ffi/` (the cxx shim); `config/`,
//! `error`, `image` are leaves every layer may use. The CLI lives in `src/bin/`.

pub mod config;
pub mod error;
pub mod ffi;
pub mod image;
pub mod model;
pub mod ofx;
pub mod tracker;

pub use error::{Error, Result};
