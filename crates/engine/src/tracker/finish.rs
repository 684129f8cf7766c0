//! Finishing a frame for the engine's callers: the tracker's low-resolution logits turned
//! into mattes (tensors) at the clip's resolution.
use samurai_core::lowres::LowResFrame;
use tch::Tensor;

/// One object's matte on one frame.
#[derive(Debug)]
pub struct ObjectMatte {
    pub name: String,
    /// `[H, W]` float32 logits at the clip's resolution (mask = logits > 0).
    pub logits: Tensor,
}

/// Mattes at the clip's resolution (`frame_size` = width, height) from a frame's
/// low-resolution logits: bilinear upsampling, then optional non-overlap. The one
/// finishing there is, `samurai_core::finish::finish_frame` (pure Rust, what the plugin and
/// `track` run; bit for bit libtorch's `upsample_bilinear2d` and the reference's
/// non-overlap constraint, `crates/engine/tests/parity/finish_parity.rs`), as tensors.
pub fn finish_frame(low: &LowResFrame, frame_size: (u32, u32), non_overlap: bool) -> Vec<ObjectMatte> {
    let (w, h) = (frame_size.0 as i64, frame_size.1 as i64);
    samurai_core::finish::finish_frame(low, frame_size, non_overlap)
        .into_iter()
        .map(|(name, values)| ObjectMatte { name, logits: Tensor::from_slice(&values).view([h, w]) })
        .collect()
}
