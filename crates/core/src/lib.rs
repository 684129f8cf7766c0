//! SamuraiRoto's libtorch-free layer, shared by the plugin (which must never load
//! libtorch: the host may carry its own) and the engine (the helper process and the CLI).
//!
//! - [`colour`]: linear light to 8-bit sRGB, shared by the CLI and the plugin;
//! - [`config`]: presets and tuning with the upstream YAML key names;
//! - [`cpu`]: what the machine's CPU offers (its flags, its bf16 matrix units);
//! - [`settings`]: what configures tracking, as types (never strings parsed back), and
//!   [`prompt`]: what the artist prompts an object with on a keyframe;
//! - [`lowres`]: the tracker's per-frame result, and [`finish`]: turning it into mattes
//!   at the frame's resolution, bit-identical to the libtorch path;
//! - [`refine`]: edge refinement at plate resolution (guided filter, closed-form matting)
//!   and colour decontamination, pure Rust;
//! - [`shapes`]: mattes to animated Bezier shapes (Nuke, Natron, SVG, JSON);
//! - [`models`]: where SAM 2.1 models come from (sizes, files, folders, address);
//! - [`track_cache`]: the farm-render cache file (format, key, reading and writing), and
//!   [`farm`]: analysis on a farm (the pass plan, its tasks' grouping, the merge's blend,
//!   the pass files, the OpenJD and Slurm job descriptions);
//! - [`protocol`] and [`shm`]: the plugin ↔ helper messages and the shared-memory pixels;
//!   [`launch`]: starting the helper and connecting to it (the plugin and `doctor`).
pub mod colour;
pub mod config;
pub mod container;
pub mod cpu;
pub mod error;
pub mod farm;
pub mod finish;
pub mod launch;
pub mod lowres;
pub mod models;
pub mod prompt;
pub mod protocol;
pub mod refine;
pub mod settings;
pub mod shapes;
pub mod shm;
pub mod track_cache;

pub use error::{EngineError, EngineResult, Error, ErrorKind, Result};
