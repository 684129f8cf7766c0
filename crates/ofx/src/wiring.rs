//! The composition root: the one place that names the concrete engines and decides which
//! one a new effect instance gets. Everything else talks to a [`MatteEngine`].
use std::sync::Arc;

use crate::engine::{EngineResult, MatteEngine};
use crate::helper_engine::HelperEngine;
#[cfg(feature = "test-engine")]
use crate::test_engine::BoxMatteEngine;

/// Environment switch of test builds (the `test-engine` feature, which the crate's own
/// tests turn on and a release build lacks): `SAMURAI_ROTO_FAKE_ENGINE=1` selects the
/// box-matte engine ([`BoxMatteEngine`]).
#[cfg(feature = "test-engine")]
pub const FAKE_ENGINE_ENV: &str = "SAMURAI_ROTO_FAKE_ENGINE";

/// The engine a new instance uses: the helper-process engine; in a test build (feature
/// `test-engine`), the box-matte test engine when `SAMURAI_ROTO_FAKE_ENGINE=1` (tests of
/// the host plumbing only).
pub fn create_engine() -> EngineResult<Arc<dyn MatteEngine>> {
    #[cfg(feature = "test-engine")]
    if std::env::var(FAKE_ENGINE_ENV).is_ok_and(|v| v == "1") {
        tracing::warn!("{FAKE_ENGINE_ENV}=1: using the box-matte test engine, not the tracker");
        return Ok(Arc::new(BoxMatteEngine::default()));
    }
    Ok(Arc::new(HelperEngine::new()))
}
