//! The real [`MatteEngine`]: a tracker [`Session`] (SAM 2.1 + SAMURAI) behind the narrow
//! engine interface of the OFX layer. Frames are pulled from the host through the `fetch`
//! callback of each request (the session is built with the clip's geometry only).
//!
//! Locking: `state` (network, session, objects) is held for a whole propagation;
//! `mattes` (finished frames) is only ever held briefly, so a render of a cached frame never
//! waits behind a running propagation.
use super::engine::{EngineSettings, FrameImage, MatteEngine, Mattes, ObjectKeys};
use crate::config::{ModelSize, Preset, SamuraiConfig};
use crate::image::Rgb8Image;
use crate::model::{DeviceChoice, LoadOptions, Precision, Sam2Model, SharedModel};
use crate::tracker::{BlendMode, FrameSource, Session, TrackerOptions};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Mutex;

/// What decides which network is loaded.
type ModelKey = (std::path::PathBuf, i64, String, String);

#[derive(Default)]
struct State {
    model: Option<(ModelKey, SharedModel, ModelSize)>,
    session: Option<Session>,
    /// First frame of the host's range (session frame 0).
    first: i64,
    configured: Option<(EngineSettings, (i64, i64), (u32, u32))>,
    objects: Vec<ObjectKeys>,
}

/// The tracker behind the OFX layer.
#[derive(Default)]
pub struct TrackerEngine {
    state: Mutex<State>,
    mattes: Mutex<HashMap<i64, Mattes>>,
}

/// Host frames seen as a [`FrameSource`] for one request.
struct FetchSource<'a> {
    fetch: &'a dyn Fn(i64) -> Result<FrameImage, String>,
    first: i64,
    len: usize,
    size: (u32, u32),
}

impl FrameSource for FetchSource<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn frame_size(&self) -> (u32, u32) {
        self.size
    }
    fn load(&self, index: usize) -> crate::Result<Rgb8Image> {
        let frame = self.first + index as i64;
        let img = (self.fetch)(frame).map_err(|reason| crate::Error::invalid("frame", format!("the host could not provide frame {frame}: {reason}")))?;
        Ok(Rgb8Image { width: img.width, height: img.height, data: img.rgb8 })
    }
    fn identity(&self) -> String {
        format!("host frames {}..{}", self.first, self.first + self.len as i64)
    }
}

/// SAMURAI tuning from the preset of `size`, overridden by the host's values (upstream
/// key names); unknown keys are rejected by name.
fn tuning_for(size: ModelSize, s: &EngineSettings) -> Result<SamuraiConfig, String> {
    let mut t = Preset::builtin(size).samurai;
    for (key, &v) in &s.tuning {
        match key.as_str() {
            "stable_frames_threshold" => t.stable_frames_threshold = v.max(0.0) as u32,
            "stable_ious_threshold" => t.stable_ious_threshold = v,
            "min_obj_score_logits" => t.min_obj_score_logits = v,
            "kf_score_weight" => t.kf_score_weight = v,
            "memory_bank_iou_threshold" => t.memory_bank_iou_threshold = v,
            "memory_bank_obj_score_threshold" => t.memory_bank_obj_score_threshold = v,
            "memory_bank_kf_score_threshold" => t.memory_bank_kf_score_threshold = v,
            "fill_hole_area" | "samurai_mode" => {}
            other => return Err(format!("unknown SAMURAI tuning parameter '{other}'")),
        }
    }
    t.fill_hole_area = s.fill_hole_area;
    t.validate()?;
    Ok(t)
}

fn load_model(s: &EngineSettings) -> Result<(ModelKey, SharedModel, ModelSize), String> {
    let key = (s.checkpoint.clone(), s.image_size, s.device.clone(), s.precision.clone());
    let device = DeviceChoice::parse(&s.device).and_then(DeviceChoice::resolve).map_err(|e| e.to_string())?;
    let precision = match s.precision.as_str() {
        "auto" if device.is_cuda() => Precision::Bf16,
        "auto" => Precision::F32,
        other => Precision::parse(other).map_err(|e| e.to_string())?,
    };
    let model = Sam2Model::load_detect(&s.checkpoint, s.image_size, &LoadOptions { device, precision }).map_err(|e| e.to_string())?;
    if let Some(want) = &s.model_size {
        let want = ModelSize::parse(want).map_err(|e| e.to_string())?;
        if want != model.size {
            return Err(format!("the checkpoint holds a {} model but the model size parameter says {want}", model.size));
        }
    }
    let size = model.size;
    Ok((key, model.shared(), size))
}

impl State {
    /// Rebuilds the session (and the network when its inputs changed).
    fn rebuild(&mut self, s: &EngineSettings, range: (i64, i64), frame_size: (u32, u32)) -> Result<(), String> {
        self.session = None;
        let key = (s.checkpoint.clone(), s.image_size, s.device.clone(), s.precision.clone());
        if self.model.as_ref().is_none_or(|(k, _, _)| *k != key) {
            self.model = None;
            self.model = Some(load_model(s)?);
        }
        let (_, model, size) = self.model.as_ref().expect("loaded");
        let options = TrackerOptions { mode: BlendMode::parse(&s.mode).map_err(|e| e.to_string())?, non_overlap: s.non_overlap, ..TrackerOptions::default() };
        let frames = (range.1 - range.0 + 1).max(0) as usize;
        let session = Session::with_geometry(model.clone(), tuning_for(*size, s)?, frames, frame_size, options).map_err(|e| e.to_string())?;
        self.session = Some(session);
        self.first = range.0;
        let objects = std::mem::take(&mut self.objects);
        self.apply_objects(&objects)
    }

    /// Brings the session's objects and keyframes in line with `objects`: keyframe edits
    /// go through the session (so only the passes they touch are recomputed); a changed
    /// object list rebuilds the object set.
    fn apply_objects(&mut self, objects: &[ObjectKeys]) -> Result<(), String> {
        let first = self.first;
        let session = self.session.as_mut().ok_or("engine used before configure")?;
        let frames = session.num_frames() as i64;
        let names: Vec<String> = session.objects().iter().map(|o| o.name.clone()).collect();
        for o in objects {
            if !names.contains(&o.name) {
                session.add_object(&o.name).map_err(|e| e.to_string())?;
            }
        }
        for o in objects {
            let current: BTreeMap<usize, [f64; 4]> = session.objects().iter().find(|x| x.name == o.name).map(|x| x.keyframes.clone()).unwrap_or_default();
            // Keys outside the clip's frame range (the host allows them) are ignored.
            let target: BTreeMap<usize, [f64; 4]> = o.keyframes.iter().filter(|(f, _)| **f >= first && **f < first + frames).map(|(f, b)| ((*f - first) as usize, *b)).collect();
            for frame in current.keys().filter(|f| !target.contains_key(f)) {
                session.remove_keyframe(&o.name, *frame).map_err(|e| e.to_string())?;
            }
            for (frame, b) in &target {
                if current.get(frame) != Some(b) {
                    session.set_keyframe(&o.name, *frame, *b).map_err(|e| e.to_string())?;
                }
            }
        }
        self.objects = objects.to_vec();
        Ok(())
    }
}

impl TrackerEngine {
    fn forget_mattes(&self) {
        if let Ok(mut m) = self.mattes.lock() {
            m.clear();
        }
    }
}

impl MatteEngine for TrackerEngine {
    fn configure(&self, settings: &EngineSettings, frame_range: (i64, i64), frame_size: (u32, u32)) -> Result<(), String> {
        if !settings.checkpoint.is_file() {
            return Err(format!("checkpoint {} not found. {}", settings.checkpoint.display(), crate::model::checkpoint::OFFICIAL_CHECKPOINTS));
        }
        let mut st = self.state.lock().map_err(|_| "engine state poisoned")?;
        let wanted = Some((settings.clone(), frame_range, frame_size));
        if st.configured != wanted || st.session.is_none() {
            st.configured = None;
            self.forget_mattes();
            st.rebuild(settings, frame_range, frame_size)?;
            st.configured = wanted;
        }
        Ok(())
    }

    fn set_objects(&self, objects: &[ObjectKeys]) -> Result<(), String> {
        let mut st = self.state.lock().map_err(|_| "engine state poisoned")?;
        if st.objects != objects {
            self.forget_mattes();
            if st.session.as_ref().is_some_and(|s| s.objects().len() > objects.len() || s.objects().iter().zip(objects).any(|(a, b)| a.name != b.name)) {
                let (s, r, z) = st.configured.clone().ok_or("engine used before configure")?;
                st.objects = objects.to_vec();
                return st.rebuild(&s, r, z);
            }
            st.apply_objects(objects)?;
        }
        Ok(())
    }

    fn mattes(&self, frame: i64, fetch: &dyn Fn(i64) -> Result<FrameImage, String>, abort: &dyn Fn() -> bool) -> Result<Mattes, String> {
        if let Some(m) = self.cached_mattes(frame) {
            return Ok(m);
        }
        let mut st = self.state.lock().map_err(|_| "engine state poisoned")?;
        let first = st.first;
        let session = st.session.as_mut().ok_or("engine used before configure")?;
        if frame < first || frame >= first + session.num_frames() as i64 {
            return Err(format!("frame {frame} is outside the clip's range"));
        }
        let source = FetchSource { fetch, first, len: session.num_frames(), size: session.frame_size() };
        let mut progress = |_p: crate::tracker::Progress| if abort() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
        let out = session.mask_at_from((frame - first) as usize, &source, &mut progress).map_err(|e| e.to_string())?;
        let mattes: Mattes = out.into_iter().map(|m| (m.name, Vec::<f32>::try_from(m.logits.flatten(0, -1)).unwrap_or_default())).collect();
        self.mattes.lock().map_err(|_| "matte cache poisoned")?.insert(frame, mattes.clone());
        Ok(mattes)
    }

    fn cached_mattes(&self, frame: i64) -> Option<Mattes> {
        self.mattes.lock().ok()?.get(&frame).cloned()
    }

    fn clear_cache(&self) {
        self.forget_mattes();
        if let Ok(mut st) = self.state.lock() {
            if let Some((s, r, z)) = st.configured.clone() {
                let _ = st.rebuild(&s, r, z);
            }
        }
    }
}
