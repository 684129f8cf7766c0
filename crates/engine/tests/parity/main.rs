//! Parity with the reference implementation: every block of the network, the prompt heads, the
//! image predictor, whole tracking runs, the memory and Kalman steps, and finishing against its
//! libtorch oracle. One test binary (one link against libtorch); each file is a module.
#[path = "../common/mod.rs"]
mod common;
mod finish_parity;
mod kalman_parity;
mod memory_parity;
mod parity_blocks;
mod parity_prompts;
mod parity_track;
mod sam_heads;
mod vision_parity_320;
