//! The tracker: sessions of objects with keyframe boxes over a clip, propagation passes
//! with SAMURAI's motion model and memory selection, and a per-frame result cache. Knows
//! nothing about OpenFX; the CLI and the OFX layer both drive it through [`Session`].
pub mod agreement;
pub mod batching;
pub mod cache;
pub mod feature_store;
pub mod finish;
pub mod frame_source;
pub mod kalman;
pub mod memory_bank;
pub mod offload;
pub mod pass;
pub mod postprocess;
pub mod prefetch;
pub mod samurai;
pub mod session;
pub use samurai_core::track_cache;

pub use agreement::Agreement;
pub use batching::ObjectBatch;
pub use finish::{finish_frame, ObjectMatte};
pub use frame_source::{FolderSource, FrameSource};
pub use pass::Direction;
pub use prefetch::{PrefetchOptions, PrefetchSource, PrefetchStats};
pub use session::{
    BlendMode, KeyframePrompt, LowResFrame, MaskPrompt, PassRequest, PointPrompt, Progress, Session, SessionStats, TrackedObject,
    TrackerOptions,
};
pub use track_cache::{CacheProblem, TrackCache, TrackCacheHeader};
