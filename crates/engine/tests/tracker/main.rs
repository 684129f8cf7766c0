//! The tracker's own semantics beyond the reference: object batches, prompts of every kind and
//! live edits, request-order independence, bf16 against fp32, and the helper engine's
//! requests. One test binary; each file is a module.
#[path = "../common/mod.rs"]
mod common;
mod engine_requests;
mod tracker_batching;
mod tracker_precision;
mod tracker_prompts;
mod tracker_semantics;
