//! The Analyse button: the whole frame range tracked with the host's progress bar, and the
//! track cache file written.
use super::bar::Bar;
use super::engine::{AnalyseReport, EngineResult, FrameImage, ObjectKeys};
use super::instance::{apply_config, object_keys, read_settings, Geometry, Instance, Settings};
use super::keyframe_matte;
use super::pixels::{host_frame_error, to_frame};
use super::suites::{Clip, OfxError, OfxResult};
use super::sys::names as n;

/// The Analyse button: tracks the whole frame range with the host's progress bar (its
/// cancel button stops between frames, keeping what was tracked) and writes the track
/// cache file when one is set.
///
/// Host quirk: images are fetched here, in the instance-changed action, as trackers do
/// (openfx-misc's tracker, Natron's and Nuke's analysis buttons); hosts serve them at
/// render scale 1.
pub fn analyse(inst: &Instance, time: f64) -> OfxResult<AnalyseReport> {
    let effect = inst.effect;
    let inputs = configure(inst, time)?;
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    let src_clip = effect.clip(n::kOfxImageEffectSimpleSourceClipName)?;
    let _guard = inst.track_lock.lock();
    let fetch = |f: i64| fetch_frame(&src_clip, f, inputs.settings.input_linear);
    let bar = Bar::new(effect);
    let progress = |p: f64| bar.update("SamuraiRoto: analysing", p);
    Ok(engine.analyse(&fetch, &progress, &|file, done, total| bar.download(file, done, total))?)
}

/// What an analysis of the node runs on: its settings, the host frame range, the
/// Source's geometry and the objects with their keyframes.
pub struct NodeInputs {
    pub settings: Settings,
    pub range: (i64, i64),
    pub geometry: Geometry,
    pub objects: Vec<ObjectKeys>,
}

/// Reads the node's inputs as Analyse does and brings the engine in line with them.
pub fn configure(inst: &Instance, time: f64) -> OfxResult<NodeInputs> {
    let params = inst.params()?;
    let settings = read_settings(params, time)?;
    let src_clip = inst.effect.clip(n::kOfxImageEffectSimpleSourceClipName)?;
    let range = inst.frame_range()?;
    let geometry = {
        let src = src_clip.image(range.0 as f64)?;
        Geometry {
            render_scale: src.render_scale,
            pixel_aspect: src.pixel_aspect,
            bounds: [src.bounds.x1, src.bounds.y1, src.bounds.x2, src.bounds.y2],
        }
    };
    let objects = object_keys(params, &settings, &geometry, range.0, &|f, c| keyframe_matte::read(inst, &geometry, f, c))?;
    apply_config(inst, &settings, range, geometry.size(), objects.clone())?;
    Ok(NodeInputs { settings, range, geometry, objects })
}

/// The host's frame `f` of the Source as the engine is served it (Analyse, renders).
pub fn fetch_frame(src_clip: &Clip, f: i64, input_linear: bool) -> EngineResult<FrameImage> {
    let img = src_clip.image(f as f64).map_err(|e| host_frame_error(f, e))?;
    Ok(to_frame(&img, input_linear))
}
