//! The box-matte test engine, for tests of the host plumbing: compiled only into test
//! builds (the crate's unit tests, and the `test-engine` feature that its integration tests
//! turn on through a dev-dependency on the crate itself); the shipped plugin lacks it.
//! `SAMURAI_ROTO_FAKE_ENGINE=1` selects it ([`crate::wiring::create_engine`]).
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::engine::{
    AnalyseReport, DownloadFn, EngineError, EngineResult, EngineSettings, ErrorKind, FetchFn, FrameImage, FrameRange, MatteEngine, Mattes,
    ObjectKeys,
};

#[derive(Default)]
struct BoxState {
    /// Settings, host frame range, frame size.
    configured: Option<(EngineSettings, FrameRange, (u32, u32))>,
    objects: Vec<ObjectKeys>,
}

/// Test engine: an object's matte is its box, linearly interpolated between keyframes and
/// held outside them (logit +8 inside, −8 outside). It still pulls the nearest keyframe's
/// frame through `fetch`, polls `abort`, and keeps a result cache behind its own lock, so
/// it exercises the same host paths as the tracker.
#[derive(Default)]
pub struct BoxMatteEngine {
    state: Mutex<BoxState>,
    cache: Mutex<HashMap<i64, Mattes>>,
    /// Held for a whole (fake) propagation, like the tracker's session lock.
    propagation: Mutex<()>,
}

impl BoxMatteEngine {
    fn box_at(keys: &BTreeMap<i64, [f64; 4]>, frame: i64) -> Option<[f64; 4]> {
        let before = keys.range(..=frame).next_back();
        let after = keys.range(frame..).next();
        match (before, after) {
            (Some((&a, ba)), Some((&b, bb))) if b > a => {
                let w = (frame - a) as f64 / (b - a) as f64;
                Some(std::array::from_fn(|i| ba[i] + (bb[i] - ba[i]) * w))
            }
            (Some((_, v)), _) | (None, Some((_, v))) => Some(*v),
            (None, None) => None,
        }
    }

    fn render_box(bx: Option<[f64; 4]>, (w, h): (u32, u32)) -> Vec<f32> {
        let mut out = vec![-8.0f32; (w * h) as usize];
        if let Some([x1, y1, x2, y2]) = bx {
            for y in 0..h {
                let yc = y as f64 + 0.5;
                if yc < y1 || yc >= y2 {
                    continue;
                }
                for x in 0..w {
                    let xc = x as f64 + 0.5;
                    if xc >= x1 && xc < x2 {
                        out[(y * w + x) as usize] = 8.0;
                    }
                }
            }
        }
        out
    }
}

impl MatteEngine for BoxMatteEngine {
    fn configure(&self, settings: &EngineSettings, frame_range: (i64, i64), frame_size: (u32, u32)) -> EngineResult<()> {
        if let samurai_core::models::ModelSource::File(path) = &settings.model {
            if !path.is_file() {
                return Err(EngineError::new(ErrorKind::Model, format!("checkpoint {} not found", path.display())));
            }
        }
        let mut st = self.state.lock();
        let new = Some((settings.clone(), frame_range, frame_size));
        if st.configured != new {
            st.configured = new;
            self.clear_cache();
        }
        Ok(())
    }

    fn set_objects(&self, objects: &[ObjectKeys]) -> EngineResult<()> {
        let mut st = self.state.lock();
        if st.objects != objects {
            st.objects = objects.to_vec();
            self.clear_cache();
        }
        Ok(())
    }

    fn mattes(&self, frame: i64, fetch: FetchFn<'_>, abort: &dyn Fn() -> bool, _download: DownloadFn<'_>) -> EngineResult<Mattes> {
        let _running = self.propagation.lock();
        if let Some(m) = self.cached_mattes(frame, None) {
            return Ok(m);
        }
        let (size, objects) = {
            let st = self.state.lock();
            let (_, _, size) =
                st.configured.clone().ok_or_else(|| EngineError::new(ErrorKind::Internal, "engine used before configure"))?;
            (size, st.objects.clone())
        };
        let mut out = Vec::new();
        for obj in &objects {
            if abort() {
                return Err(EngineError::cancelled("aborted"));
            }
            // Like a tracker, look at the keyframe this frame propagates from.
            if let Some((&k, _)) = obj.keyframes.range(..=frame).next_back().or(obj.keyframes.iter().next()) {
                let img = fetch(k)?;
                if (img.width, img.height) != size || img.rgb8.len() != (size.0 * size.1 * 3) as usize {
                    let what = format!("frame {k} is {}x{}, expected {}x{}", img.width, img.height, size.0, size.1);
                    return Err(EngineError::new(ErrorKind::Footage, what));
                }
            }
            // The test engine draws box keyframes only (points and masks need the network).
            let boxes: BTreeMap<i64, [f64; 4]> = obj.keyframes.iter().filter_map(|(f, p)| p.bbox.map(|b| (*f, b))).collect();
            out.push((obj.name.clone(), Self::render_box(Self::box_at(&boxes, frame), size)));
        }
        let out = Mattes::Planes(out);
        self.cache.lock().insert(frame, out.clone());
        Ok(out)
    }

    fn cached_mattes(&self, frame: i64, _current: Option<&FrameImage>) -> Option<Mattes> {
        self.cache.lock().get(&frame).cloned()
    }

    fn set_track_cache(&self, _path: Option<&Path>) -> EngineResult<()> {
        Ok(())
    }

    fn notice(&self) -> Option<String> {
        None
    }

    /// Renders every frame of the range (pulling each keyframe's frame as `mattes`
    /// does); writes no file.
    fn analyse(&self, fetch: FetchFn<'_>, progress: &dyn Fn(f64) -> bool, _download: DownloadFn<'_>) -> EngineResult<AnalyseReport> {
        let (_, (a, b), _) =
            self.state.lock().configured.clone().ok_or_else(|| EngineError::new(ErrorKind::Internal, "engine used before configure"))?;
        for f in a..=b {
            if !progress((f - a) as f64 / (b - a + 1) as f64) {
                return Err(EngineError::cancelled("Analyse cancelled"));
            }
            self.mattes(f, fetch, &|| false, &|_, _, _| true)?;
        }
        Ok(AnalyseReport { frames: (b - a + 1) as usize, written: None })
    }

    fn clear_cache(&self) {
        self.cache.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_interpolates_between_keys_and_holds_outside() {
        let keys = BTreeMap::from([(0, [0.0, 0.0, 2.0, 2.0]), (10, [10.0, 0.0, 12.0, 2.0])]);
        assert_eq!(BoxMatteEngine::box_at(&keys, 5), Some([5.0, 0.0, 7.0, 2.0]));
        assert_eq!(BoxMatteEngine::box_at(&keys, -3), Some([0.0, 0.0, 2.0, 2.0]));
        assert_eq!(BoxMatteEngine::box_at(&keys, 20), Some([10.0, 0.0, 12.0, 2.0]));
        let m = BoxMatteEngine::render_box(Some([1.0, 0.0, 2.0, 1.0]), (3, 2));
        assert_eq!(m, vec![-8.0, 8.0, -8.0, -8.0, -8.0, -8.0]);
    }
}
