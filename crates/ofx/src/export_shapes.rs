//! The *Export shapes* button: the node's mattes over its frame range as animated Bezier
//! shapes (`samurai_core::shapes`, what `samurai-roto shapes` writes), to the file in
//! *Shapes file*, in the format its extension names (.nk, .py, .svg, .json). The whole range
//! is tracked first as Analyse does (progress, cancel; a valid track cache is read instead),
//! then each frame's mattes are taken from what the node keeps, outlined at the node's
//! Threshold on that frame (so the shapes follow the matte the node renders). Shapes are in the Source's
//! pixels (origin at its region's corner; pixel aspect as the pixels are).
use super::analyse;
use super::instance::Instance;
use super::params;
use super::suites::{OfxError, OfxResult};
use super::sys::names as n;
use samurai_core::shapes::{animate, output, track::Tracker, Note, ObjectShapes, ShapeSet, ShapeSettings};
use std::path::PathBuf;

/// Exports the shapes; returns the sentence the node logs.
pub fn export_shapes(inst: &Instance, time: f64) -> OfxResult<String> {
    let file = inst.params()?.param(params::SHAPES_FILE.id)?.get_string()?.trim().to_owned();
    if file.is_empty() {
        return Err(OfxError::failed("SamuraiRoto: set Shapes file (a .nk, .py, .svg or .json path) before pressing Export shapes."));
    }
    analyse::analyse(inst, time)?;
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    let (first, last) = inst.frame_range()?;
    let bounds = inst.effect.clip(n::kOfxImageEffectSimpleSourceClipName)?.image(first as f64)?.bounds;
    let size = ((bounds.x2 - bounds.x1).max(0) as u32, (bounds.y2 - bounds.y1).max(0) as u32);
    let settings = ShapeSettings::default();
    let mut notes: Vec<Note> = Vec::new();
    let mut objects: Vec<(String, Tracker)> = Vec::new();
    let ps = inst.params()?;
    for frame in first..=last {
        let t = frame as f64;
        let level =
            params::threshold_logit(ps.param(params::MATTE_THRESHOLD.id)?.get_f64(t)?, ps.param(params::THRESHOLD.id)?.get_f64(t)?) as f32;
        let mattes = engine
            .cached_mattes(frame, None)
            .ok_or_else(|| OfxError::failed(format!("SamuraiRoto: Export shapes: frame {frame} has no matte after Analyse.")))?;
        for (name, mut plane) in mattes.planes() {
            if level != 0.0 {
                plane.iter_mut().for_each(|v| *v -= level);
            }
            let k = match objects.iter().position(|(o, _)| *o == name) {
                Some(k) => k,
                None => {
                    objects.push((name.clone(), Tracker::new(&name, size, settings)));
                    objects.len() - 1
                }
            };
            objects[k].1.push(frame, &plane, &mut notes).map_err(|e| OfxError::failed(format!("SamuraiRoto: Export shapes: {e}")))?;
        }
    }
    let objects: Vec<ObjectShapes> = objects
        .into_iter()
        .map(|(name, t)| ObjectShapes { shapes: animate::animate_tracks(&name, &t.finish(), &settings, &mut notes), name })
        .collect();
    for note in &notes {
        tracing::warn!("SamuraiRoto: Export shapes: {note}");
    }
    let shapes: usize = objects.iter().map(|o| o.shapes.len()).sum();
    let count = objects.len();
    let set = ShapeSet { size, first_frame: first, last_frame: last, settings, objects, notes };
    let path = PathBuf::from(&file);
    let written = output::write(&set, &path, &|_| None).map_err(|e| OfxError::failed(format!("SamuraiRoto: Export shapes: {e}")))?;
    Ok(format!(
        "SamuraiRoto: exported {shapes} shape(s) of {count} object(s), frames {first}-{last}, to {} ({} file(s), {} note(s)).",
        path.display(),
        written.len(),
        set.notes.len()
    ))
}
