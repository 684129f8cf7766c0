//! What the engine reads: the checkpoint format (also under fuzzing) and image decoding and
//! pre-processing. One test binary; each file is a module.
mod checkpoint_format;
#[path = "../common/mod.rs"]
mod common;
mod fuzz_checkpoint;
mod image_preprocess;
