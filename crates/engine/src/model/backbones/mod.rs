//! Image backbone: Hiera trunk and FPN neck (reference: `sam2/modeling/backbones/`).
pub mod hieradet;
pub mod image_encoder;
pub mod utils;
