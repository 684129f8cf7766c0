//! The SAM 2.1 network: stateless after loading, every call takes `&self`. Knows nothing
//! about videos, objects or Kalman filters. The file map mirrors the reference's
//! `sam2/modeling/` folder so the Python and the Rust read side by side.
pub mod backbones;
pub mod checkpoint;
pub mod device;
pub mod flops;
pub mod layers;
pub mod memory_attention;
pub mod memory_encoder;
pub mod position_encoding;
pub mod sam;
pub mod sam2_base;
pub mod sam2_utils;
pub mod weights;

pub use device::{precision_kind, DeviceChoice, LoadOptions, Precision, ResolveDevice};
pub use sam2_base::{BackboneFeatures, MemoryFrame, MemoryTokens, Sam2Model, SamHeadsOut, SharedModel};
pub mod image_predictor;
