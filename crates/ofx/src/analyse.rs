//! The Analyse button: the whole frame range tracked with the host's progress bar, and the
//! track cache file written.
use super::bar::Bar;
use super::engine::{AnalyseReport, EngineResult, FrameImage};
use super::instance::{apply_config, object_keys, read_settings, Geometry, Instance};
use super::keyframe_matte;
use super::pixels::{host_frame_error, to_frame};
use super::suites::{OfxError, OfxResult};
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
    let params = inst.params()?;
    let settings = read_settings(params, time)?;
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    let src_clip = effect.clip(n::kOfxImageEffectSimpleSourceClipName)?;
    let range = inst.frame_range()?;
    let geo = {
        let src = src_clip.image(range.0 as f64)?;
        Geometry {
            render_scale: src.render_scale,
            pixel_aspect: src.pixel_aspect,
            bounds: [src.bounds.x1, src.bounds.y1, src.bounds.x2, src.bounds.y2],
        }
    };
    let objects = object_keys(params, &settings, &geo, range.0, &|f, c| keyframe_matte::read(inst, &geo, f, c))?;
    apply_config(inst, &settings, range, geo.size(), objects)?;
    let _guard = inst.track_lock.lock();
    let fetch = |f: i64| -> EngineResult<FrameImage> {
        let img = src_clip.image(f as f64).map_err(|e| host_frame_error(f, e))?;
        Ok(to_frame(&img, settings.input_linear))
    };
    let bar = Bar::new(effect);
    let progress = |p: f64| bar.update("SamuraiRoto: analysing", p);
    Ok(engine.analyse(&fetch, &progress, &|file, done, total| bar.download(file, done, total))?)
}
