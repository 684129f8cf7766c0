//! Per-instance state of the effect and reading the parameters into engine terms
//! (settings, objects and their keyframe boxes, converted from canonical coordinates).
//!
//! Thread safety: the plugin declares render thread safety "fully safe" — the host may
//! render one instance from several threads at once. The engine handles its own locking; this
//! struct adds `track_lock` (one propagation at a time per instance) and short-lived
//! mutexes around the last applied configuration and the overlay's drag state.
use super::engine::{EngineError, EngineSettings, MatteEngine, ObjectKeys};
use super::params::{self as p, obj_id};
use super::suites::{Effect, OfxError, OfxResult, ParamSet};
use super::sys::names as n;
use crate::points::SavedPoint;
use parking_lot::Mutex;
use samurai_core::models::ModelSource;
use samurai_core::refine::RefineSettings;
use samurai_core::settings::{KeyframePrompt, MaskPrompt, PointPrompt, Tuning};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What the pen is dragging.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum DragState {
    #[default]
    Idle,
    /// Object index, which box edges move (left, bottom, right, top), pen start, box
    /// start, pen now. The parameters are written once, at pen up (one undo step); the
    /// overlay draws the box being dragged meanwhile.
    Editing { obj: usize, edges: [bool; 4], start: [f64; 2], bl: [f64; 2], tr: [f64; 2], now: [f64; 2] },
    /// Pressed inside a box or on empty space: a click (a point for the selected object)
    /// unless the pen moves, then `then` starts (moving the box, or a new box).
    Pending { obj: usize, start: [f64; 2], then: ([bool; 4], [f64; 2], [f64; 2], usize) },
    /// Dragging click `index` of object `obj` (its line in the Points parameter) to `now`
    /// (`None` until the pen moves); written at pen up.
    Point { obj: usize, index: usize, now: Option<[f64; 2]> },
}

/// Modifier keys held over the viewer (OpenFX pen events carry none: the key actions do).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Modifiers {
    pub ctrl: bool,
    pub shift: bool,
}

/// Everything the engine was last configured with (to configure again only on change).
pub type Applied = (EngineSettings, (i64, i64), (u32, u32), Vec<ObjectKeys>);

pub struct Instance {
    pub effect: Effect,
    /// The engine, or why there is none (reported at render).
    pub engine: Result<Arc<dyn MatteEngine>, EngineError>,
    /// Held while a propagation runs; renders of cached frames never take it.
    pub track_lock: Mutex<()>,
    pub applied: Mutex<Option<Applied>>,
    pub drag: Mutex<DragState>,
    pub modifiers: Mutex<Modifiers>,
    /// Geometry of the last rendered source, for the overlay's tracked boxes.
    pub last_geometry: Mutex<Option<Geometry>>,
}

impl Instance {
    pub fn new(effect: Effect, engine: Result<Arc<dyn MatteEngine>, EngineError>) -> Self {
        Instance {
            effect,
            engine,
            track_lock: Mutex::new(()),
            applied: Mutex::new(None),
            drag: Mutex::new(DragState::default()),
            modifiers: Mutex::new(Modifiers::default()),
            last_geometry: Mutex::new(None),
        }
    }
    pub fn params(&self) -> OfxResult<ParamSet> {
        self.effect.params()
    }
    /// The frames tracking may use, rounded to whole frames: the Source clip's frame range
    /// (the frames it has images for), else the effect's.
    ///
    /// Host quirk: Natron 2.5 gives the effect instance no `OfxImageEffectPropFrameRange`
    /// in the filter context (the property lookup fails), so the clip's is asked first.
    pub fn frame_range(&self) -> OfxResult<(i64, i64)> {
        let source = self
            .effect
            .clip(n::kOfxImageEffectSimpleSourceClipName)
            .and_then(|c| c.props())
            .and_then(|p| p.get_doubles::<2>(n::kOfxImageEffectPropFrameRange));
        let r = match source {
            Ok(r) => r,
            Err(_) => self
                .effect
                .props()?
                .get_doubles::<2>(n::kOfxImageEffectPropFrameRange)
                .map_err(|_| OfxError::failed("the host gives neither the Source clip's nor the effect's frame range"))?,
        };
        if !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1]) {
            return Err(OfxError::failed(format!("the host gives an invalid frame range {}–{}", r[0], r[1])));
        }
        Ok((r[0].floor() as i64, r[1].ceil() as i64))
    }
}

/// Maps canonical coordinates to engine pixels (x right, y down, origin top-left of the
/// source image at the current render scale) and back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub render_scale: [f64; 2],
    pub pixel_aspect: f64,
    /// Source image bounds in pixel coordinates (x1, y1, x2, y2).
    pub bounds: [i32; 4],
}

impl Geometry {
    pub fn size(&self) -> (u32, u32) {
        ((self.bounds[2] - self.bounds[0]).max(0) as u32, (self.bounds[3] - self.bounds[1]).max(0) as u32)
    }
    /// Canonical point → engine pixel.
    pub fn to_engine(&self, c: [f64; 2]) -> [f64; 2] {
        let px = c[0] * self.render_scale[0] / self.pixel_aspect - self.bounds[0] as f64;
        let py_up = c[1] * self.render_scale[1] - self.bounds[1] as f64;
        [px, self.size().1 as f64 - py_up]
    }
    /// Engine pixel → canonical point.
    pub fn to_canonical(&self, e: [f64; 2]) -> [f64; 2] {
        let py_up = self.size().1 as f64 - e[1];
        [(e[0] + self.bounds[0] as f64) * self.pixel_aspect / self.render_scale[0], (py_up + self.bounds[1] as f64) / self.render_scale[1]]
    }
    /// Canonical corners → engine box [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2.
    pub fn box_to_engine(&self, bl: [f64; 2], tr: [f64; 2]) -> [f64; 4] {
        let (a, b) = (self.to_engine(bl), self.to_engine(tr));
        [a[0].min(b[0]), a[1].min(b[1]), a[0].max(b[0]), a[1].max(b[1])]
    }
}

/// One object's non-geometric parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectParams {
    pub index: usize,
    pub name: String,
    pub colour: [f64; 3],
    pub output: bool,
}

/// The parameters a render needs, read at one time.
#[derive(Clone, Debug)]
pub struct Settings {
    pub engine: EngineSettings,
    pub input_linear: bool,
    pub output_mode: usize,
    pub threshold: f64,
    pub softness: f64,
    /// Enabled objects only.
    pub objects: Vec<ObjectParams>,
    pub selected: usize,
    /// Track cache file (none when the parameter is empty).
    pub track_cache: Option<PathBuf>,
    /// The Edge group: refinement mode, band width (plate pixels at render scale 1) and
    /// decontamination; everything else is the library's defaults.
    pub edge: RefineSettings,
}

/// The typed value of a choice parameter.
fn choice<T: Copy>(ps: ParamSet, d: p::Def, options: &[(&str, T)], t: f64) -> OfxResult<T> {
    let i = ps.param(d.id)?.get_int(t)?;
    options.get(i.max(0) as usize).map(|(_, v)| *v).ok_or_else(|| OfxError::failed(format!("{}: bad choice {i}", d.label)))
}

/// The artist's SAMURAI tuning, or `None` (the loaded model's preset) unless "Custom
/// tuning" is on.
fn read_tuning(ps: ParamSet, t: f64) -> OfxResult<Option<Tuning>> {
    if ps.param(p::CUSTOM_TUNING.id)?.get_int(t)? == 0 {
        return Ok(None);
    }
    // By name: each value from the parameter its upstream key names.
    Tuning::from_values(|field| {
        let prm = ps.param(field.key)?;
        if field.integer {
            Ok(prm.get_int(t)? as f64)
        } else {
            prm.get_f64(t)
        }
    })
    .map(Some)
}

/// Switches off asking the helper for frames ahead, for measuring (`0`, `off`, `false`,
/// `no`); on otherwise. Results are the same either way.
pub const FRAME_PREFETCH_ENV: &str = "SAMURAI_ROTO_FRAME_PREFETCH";

/// Whether frames are asked for ahead ([`FRAME_PREFETCH_ENV`]).
pub fn frame_prefetch_enabled() -> bool {
    let off = ["0", "off", "false", "no"];
    std::env::var(FRAME_PREFETCH_ENV).map_or(true, |v| !off.contains(&v.trim().to_ascii_lowercase().as_str()))
}

/// The Model parameter (and Checkpoint when Model is "checkpoint file", which must then
/// name a file: an artist-readable message otherwise).
fn read_model(ps: ParamSet, t: f64) -> OfxResult<ModelSource> {
    if let Some(size) = choice(ps, p::MODEL, &p::MODELS, t)? {
        return Ok(ModelSource::Preset(size));
    }
    let checkpoint = ps.param(p::CHECKPOINT.id)?.get_string()?;
    if checkpoint.trim().is_empty() {
        return Err(OfxError::failed(
            "Model is \"checkpoint file\" but Checkpoint is empty: choose a SAM 2.1 checkpoint file (.pt), or pick a model size (tiny, small, base_plus, large) to have it downloaded",
        ));
    }
    let checkpoint = PathBuf::from(checkpoint.trim());
    if !checkpoint.is_file() {
        return Err(OfxError::failed(format!("Checkpoint not found: {} (Model is \"checkpoint file\")", checkpoint.display())));
    }
    Ok(ModelSource::File(checkpoint))
}

/// Reads all parameters at time `t`. Fails with an artist-readable message when Model is
/// "checkpoint file" and Checkpoint is not set or missing.
pub fn read_settings(ps: ParamSet, t: f64) -> OfxResult<Settings> {
    let engine = EngineSettings {
        model: read_model(ps, t)?,
        device: choice(ps, p::DEVICE, &p::DEVICES, t)?,
        precision: choice(ps, p::PRECISION, &p::PRECISIONS, t)?,
        image_size: choice(ps, p::IMAGE_SIZE, &p::IMAGE_SIZES, t)?,
        tuning: read_tuning(ps, t)?,
        fill_holes: ps.param(p::FILL_HOLES.id)?.get_int(t)? != 0,
        mode: choice(ps, p::PROPAGATION, &p::PROPAGATIONS, t)?,
        non_overlap: ps.param(p::NON_OVERLAP.id)?.get_int(t)? != 0,
        gpu_memory_limit_mb: ps.param(p::GPU_MEMORY_LIMIT.id)?.get_int(t)?.max(0) as u64,
        frame_prefetch: frame_prefetch_enabled(),
    };
    let mut objects = Vec::new();
    for i in 0..p::MAX_OBJECTS {
        if ps.param(&obj_id(i, p::OBJ_ENABLE))?.get_int(t)? == 0 {
            continue;
        }
        objects.push(ObjectParams {
            index: i,
            name: ps.param(&obj_id(i, p::OBJ_NAME))?.get_string()?,
            colour: ps.param(&obj_id(i, p::OBJ_COLOUR))?.get_rgb(t)?,
            output: ps.param(&obj_id(i, p::OBJ_OUTPUT))?.get_int(t)? != 0,
        });
    }
    Ok(Settings {
        engine,
        input_linear: ps.param(p::INPUT_COLOUR.id)?.get_int(t)? == 1,
        output_mode: ps.param(p::OUTPUT_MODE.id)?.get_int(t)?.clamp(0, p::OUTPUT_MODES.len() as i32 - 1) as usize,
        threshold: p::threshold_logit(ps.param(p::MATTE_THRESHOLD.id)?.get_f64(t)?, ps.param(p::THRESHOLD.id)?.get_f64(t)?),
        softness: ps.param(p::SOFTNESS.id)?.get_f64(t)?.max(0.0),
        objects,
        selected: ps.param(p::SELECTED.id)?.get_int(t)?.clamp(0, p::MAX_OBJECTS as i32 - 1) as usize,
        track_cache: Some(ps.param(p::TRACK_CACHE.id)?.get_string()?)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
        edge: RefineSettings {
            mode: choice(ps, p::REFINE, &p::REFINE_MODES, t)?,
            band_px: ps.param(p::BAND.id)?.get_f64(t)?.max(0.0) as f32,
            decontaminate: ps.param(p::DECONTAMINATE.id)?.get_int(t)? != 0,
            ..RefineSettings::default()
        },
    })
}

/// Key times of object `i`'s box: the union of both corners' keys. An un-animated box
/// that is not empty counts as one keyframe at `first_frame`.
pub fn box_key_times(ps: ParamSet, i: usize, first_frame: i64) -> OfxResult<Vec<f64>> {
    let (bl, tr) = (ps.param(&obj_id(i, p::OBJ_BOX_BL))?, ps.param(&obj_id(i, p::OBJ_BOX_TR))?);
    let mut times: Vec<f64> = bl.key_times()?.into_iter().chain(tr.key_times()?).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    if times.is_empty() {
        let (a, b) = (bl.get_f64x2(first_frame as f64)?, tr.get_f64x2(first_frame as f64)?);
        if a[0] != b[0] && a[1] != b[1] {
            times.push(first_frame as f64);
        }
    }
    Ok(times)
}

/// Object `i`'s saved clicks (the Points parameter), a clear error when it does not parse.
pub fn saved_points(ps: ParamSet, i: usize) -> OfxResult<Vec<SavedPoint>> {
    let text = ps.param(&obj_id(i, p::OBJ_POINTS))?.get_string()?;
    crate::points::parse(&text, &format!("Object {} Points", i + 1)).map_err(OfxError::failed)
}

/// Object `i`'s box corners (canonical) at time `t`.
pub fn box_at(ps: ParamSet, i: usize, t: f64) -> OfxResult<([f64; 2], [f64; 2])> {
    Ok((ps.param(&obj_id(i, p::OBJ_BOX_BL))?.get_f64x2(t)?, ps.param(&obj_id(i, p::OBJ_BOX_TR))?.get_f64x2(t)?))
}

/// Reads an object's keyframe matte: (frame, channel) → the mask at the engine's frame size.
pub type MatteFetch<'a> = dyn Fn(i64, usize) -> OfxResult<MaskPrompt> + 'a;

/// The engine's view of the enabled objects: box keys, clicks and matte keyframes (the
/// Keyframe matte input fetched only on those frames); objects without any keyframe are
/// skipped.
pub fn object_keys(ps: ParamSet, settings: &Settings, geo: &Geometry, first_frame: i64, matte: &MatteFetch) -> OfxResult<Vec<ObjectKeys>> {
    let mut out = Vec::new();
    for obj in &settings.objects {
        let mut keyframes = BTreeMap::new();
        for t in box_key_times(ps, obj.index, first_frame)? {
            let (bl, tr) = box_at(ps, obj.index, t)?;
            keyframes.insert(t.round() as i64, KeyframePrompt::from_box(geo.box_to_engine(bl, tr)));
        }
        // Clicks join their frame's box keyframe (corners first, then the clicks in their
        // saved order) or make a keyframe of clicks alone.
        for pt in saved_points(ps, obj.index)? {
            let [x, y] = geo.to_engine(pt.pos);
            keyframes.entry(pt.frame).or_insert_with(KeyframePrompt::default).points.push(PointPrompt { x, y, positive: pt.positive });
        }
        let channel = ps.param(&obj_id(obj.index, p::OBJ_MATTE_CHANNEL))?.get_int(0.0)?;
        if let Some(Some(c)) = p::MATTE_CHANNELS.get(channel.max(0) as usize).map(|(_, c)| *c) {
            let key = ps.param(&obj_id(obj.index, p::OBJ_MATTE_KEY))?;
            for t in key.key_times()? {
                if key.get_int(t)? != 0 {
                    let mask = matte(t.round() as i64, c)
                        .map_err(|e| OfxError::failed(format!("Object {} matte keyframe at frame {t}: {}", obj.index + 1, e.message)))?;
                    keyframes.entry(t.round() as i64).or_insert_with(KeyframePrompt::default).mask = Some(mask);
                }
            }
        }
        if !keyframes.is_empty() {
            out.push(ObjectKeys { name: format!("{}#{}", obj.name, obj.index + 1), keyframes });
        }
    }
    Ok(out)
}

/// Brings the engine in line with the parameters (configuration, objects, track cache
/// file); waits for a running propagation only when something changed.
pub fn apply_config(inst: &Instance, s: &Settings, range: (i64, i64), size: (u32, u32), objects: Vec<ObjectKeys>) -> OfxResult<()> {
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    engine.set_track_cache(s.track_cache.as_deref())?;
    let wanted = (s.engine.clone(), range, size, objects);
    if inst.applied.lock().as_ref() == Some(&wanted) {
        return Ok(());
    }
    // A configuration change must not race a running propagation: wait for it (abortable).
    let _guard = lock_abortable(inst)?;
    engine.configure(&wanted.0, range, size)?;
    engine.set_objects(&wanted.3)?;
    *inst.applied.lock() = Some(wanted);
    Ok(())
}

/// The instance's propagation lock, waiting for a running propagation unless the host
/// aborts meanwhile.
pub(crate) fn lock_abortable(inst: &Instance) -> OfxResult<parking_lot::MutexGuard<'_, ()>> {
    loop {
        if let Some(g) = inst.track_lock.try_lock() {
            return Ok(g);
        }
        if inst.effect.aborted() {
            return Err(OfxError::stopped("render aborted by the host"));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_round_trips_and_flips_y() {
        let g = Geometry { render_scale: [0.5, 0.5], pixel_aspect: 2.0, bounds: [0, 0, 100, 50] };
        assert_eq!(g.to_engine([400.0, 100.0]), [100.0, 0.0]);
        assert_eq!(g.to_canonical([100.0, 0.0]), [400.0, 100.0]);
        assert_eq!(g.box_to_engine([0.0, 0.0], [40.0, 20.0]), [0.0, 40.0, 10.0, 50.0]);
    }
}
