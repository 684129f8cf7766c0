//! SAM heads: prompt encoder, mask decoder and their transformer
//! (reference: `sam2/modeling/sam/`).
pub mod mask_decoder;
pub mod prompt_encoder;
pub mod transformer;
