//! The *Export analysis job* button (Farm group): the node's analysis as a farm job
//! (`docs/farm.md`). It writes the job folder `samurai-roto farm plan` would, from the
//! node's own objects, keyframes, settings, model and frame range: `plan.yaml` (one shot:
//! the *Source frames* files, one per host frame, each with the hash of the host's frame)
//! and `template.json` (OpenJD), whose merge writes a track cache in the node's format
//! under the key the node computes; *Track cache file* is set to it, so once the job has
//! run, renders read it as after Analyse.
//!
//! OpenFX does not tell a plugin its input's file names, hence *Source frames* (in Nuke,
//! the expression `[value Read1.file]`). The farm decodes those files, the node is served
//! the host's frames: the first file, decoded as the farm does (by the helper, which holds
//! the decoders; the plugin links none), must have the host frame's size and hash, or the
//! export is refused with both named. No network runs and nothing is downloaded here.
use super::analyse::{self, fetch_frame};
use super::bar::Bar;
use super::client;
use super::helper_engine::{host_frame_hash, node_cache_key};
use super::instance::Instance;
use super::params as p;
use super::suites::{OfxError, OfxResult};
use super::sys::names as n;
use samurai_core::config::ModelSize;
use samurai_core::farm::{openjd_template, ClipFrame, Group, ModelRef, Plan, PlanKeyframe, PlanObject, PlanSettings, Shot, TEMPLATE_FILE};
use samurai_core::models::{file_name, find_present, where_to_put, ModelSource};
use samurai_core::settings::{DeviceChoice, Precision};
use samurai_core::track_cache::checkpoint_hash;
use std::path::{Path, PathBuf};

/// The track cache the merge writes when *Track cache file* is empty: `JOBDIR/track.srtc`.
pub const CACHE_FILE: &str = "track.srtc";

/// A frame-file pattern: a folder and a file name with one frame-number field, `####`
/// (one `#` per digit) or `%0Nd` (`%d`: unpadded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramePattern {
    pub dir: PathBuf,
    before: String,
    /// Digits the number is padded to with zeros (0: not padded).
    width: usize,
    after: String,
}

impl FramePattern {
    /// Parses `text`, an absolute path whose file name holds exactly one frame field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(format!("'{text}' is not an absolute path (the farm's tasks read it from elsewhere)"));
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|f| f.to_str())) else {
            return Err(format!("'{text}' names no file"));
        };
        let mut fields: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, width)
        let bytes = name.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'#' {
                let start = i;
                while i < bytes.len() && bytes[i] == b'#' {
                    i += 1;
                }
                fields.push((start, i, i - start));
                continue;
            }
            if bytes[i] == b'%' {
                let start = i;
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'd' {
                    let digits = &name[i + 1..j];
                    let width = if digits.is_empty() {
                        0
                    } else {
                        digits.parse::<usize>().map_err(|_| format!("'{name}': bad field {}", &name[start..=j]))?
                    };
                    if width > 0 && !digits.starts_with('0') {
                        return Err(format!("'{name}': {} pads with spaces; use %0{width}d", &name[start..=j]));
                    }
                    fields.push((start, j + 1, width));
                    i = j + 1;
                    continue;
                }
            }
            i += 1;
        }
        match fields.as_slice() {
            [(start, end, width)] => {
                Ok(FramePattern { dir: dir.to_owned(), before: name[..*start].to_owned(), width: *width, after: name[*end..].to_owned() })
            }
            [] => Err(format!("'{name}' has no frame number field (#### or %04d)")),
            _ => Err(format!("'{name}' has {} frame number fields; it takes one (#### or %04d)", fields.len())),
        }
    }

    /// The file name of host frame `frame`.
    pub fn file(&self, frame: i64) -> String {
        format!("{}{:0width$}{}", self.before, frame, self.after, width = self.width)
    }

    /// The shot's name: the file name around its frame field, without separators at its ends.
    fn shot_name(&self) -> String {
        let stem = self.before.trim_end_matches(['.', '_', '-', ' ']);
        if stem.is_empty() {
            self.dir.file_name().map(|d| d.to_string_lossy().into_owned()).unwrap_or_else(|| "shot".into())
        } else {
            stem.to_owned()
        }
    }
}

fn refuse(what: impl std::fmt::Display) -> OfxError {
    OfxError::failed(format!("SamuraiRoto: Export analysis job: {what}"))
}

/// The `samurai-roto` the farm's tasks run: the one installed beside the plugin's helper,
/// else whatever `samurai-roto` is on the farm's PATH.
fn farm_exe() -> PathBuf {
    client::helper_path()
        .ok()
        .and_then(|h| h.parent().map(|d| d.join("samurai-roto")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("samurai-roto"))
}

/// Exports the job; returns the sentence the node shows.
pub fn export_job(inst: &Instance, time: f64) -> OfxResult<String> {
    let ps = inst.params()?;
    let pattern_text = ps.param(p::SOURCE_FRAMES.id)?.get_string()?.trim().to_owned();
    if pattern_text.is_empty() {
        return Err(refuse(format!(
            "set {} to the Source's files (e.g. /shots/sh010/plate.####.exr; in Nuke the expression [value Read1.file]).",
            p::SOURCE_FRAMES.label
        )));
    }
    let pattern = FramePattern::parse(&pattern_text).map_err(|e| refuse(format!("{}: {e}", p::SOURCE_FRAMES.label)))?;
    let job_text = ps.param(p::FARM_JOB.id)?.get_string()?.trim().to_owned();
    if job_text.is_empty() {
        return Err(refuse(format!("set {} to the folder the job is written to (one the farm's tasks can read).", p::FARM_JOB.label)));
    }
    let job = std::path::absolute(&job_text).map_err(|e| refuse(format!("{}: {e}", p::FARM_JOB.label)))?;
    let split = p::FARM_SPLITS.get(ps.param(p::FARM_SPLIT.id)?.get_int(time)?.max(0) as usize).map_or(Default::default(), |(_, s)| *s);

    let inputs = analyse::configure(inst, time)?;
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    let (first, last) = inputs.range;
    let s = &inputs.settings.engine;

    // The model: the file the node uses (a published size is never downloaded here).
    let (checkpoint, size_name, known_size): (PathBuf, Option<String>, Option<ModelSize>) = match &s.model {
        ModelSource::Preset(size) => {
            let file = find_present(*size).ok_or_else(|| {
                refuse(format!(
                    "the {size} model ({}) is not on this machine, and the export never downloads it. {}; or press Analyse once to download it.",
                    file_name(*size),
                    where_to_put(*size)
                ))
            })?;
            (file, Some(size.name().to_owned()), Some(*size))
        }
        ModelSource::File(path) => (std::path::absolute(path).unwrap_or_else(|_| path.clone()), None, None),
    };

    // Every file of the pattern over the node's frame range.
    let files: Vec<(i64, String)> = (first..=last).map(|f| (f, pattern.file(f))).collect();
    let missing: Vec<&(i64, String)> = files.iter().filter(|(_, name)| !pattern.dir.join(name).is_file()).collect();
    if let Some((f, name)) = missing.first() {
        return Err(refuse(format!(
            "{} of the {} frames of {} ({first}–{last}) are not there, the first {} (frame {f}).",
            missing.len(),
            files.len(),
            pattern_text,
            pattern.dir.join(name).display()
        )));
    }

    // The first file, decoded as the farm decodes it, against the host's first frame.
    let first_path = pattern.dir.join(&files[0].1);
    let (decoded, detected) = engine
        .hash_frame_files(std::slice::from_ref(&first_path), known_size.is_none().then_some(checkpoint.as_path()))
        .map_err(|e| refuse(e.message))?;
    let size = known_size.or(detected).ok_or_else(|| refuse("the helper did not say the checkpoint's model size"))?;
    let src_clip = inst.effect.clip(n::kOfxImageEffectSimpleSourceClipName)?;
    let linear = inputs.settings.input_linear;
    let host_first = fetch_frame(&src_clip, first, linear)?;
    let (file_first, host_hash) = (&decoded[0], host_frame_hash(&host_first));
    if (file_first.width, file_first.height) != (host_first.width, host_first.height) {
        return Err(refuse(format!(
            "{} is {}x{}, but the host's frame {first} of Source is {}x{}: {} must name the frames Source shows, at full resolution.",
            first_path.display(),
            file_first.width,
            file_first.height,
            host_first.width,
            host_first.height,
            p::SOURCE_FRAMES.label
        )));
    }
    if file_first.hash != host_hash {
        return Err(refuse(format!(
            "{} is not the host's frame {first} of Source: decoded, the file hashes {}, the host's frame {}. {} must name the frames \
             Source shows, unaltered (no grade, reformat or other node between the Read and this one; Input colour as the files are).",
            first_path.display(),
            file_first.hash,
            host_hash,
            p::SOURCE_FRAMES.label
        )));
    }

    // Every host frame's hash (what the merge's cache keeps and renders check).
    // With the host's progress bar: its cancel stops the export, writing nothing.
    let bar = Bar::new(inst.effect);
    let mut clip = Vec::with_capacity(files.len());
    for (i, (f, name)) in files.iter().enumerate() {
        if !bar.update("SamuraiRoto: reading Source for the farm job", i as f64 / files.len() as f64) {
            return Err(OfxError::stopped("Export analysis job cancelled; nothing was written"));
        }
        let hash = if *f == first { host_hash.clone() } else { host_frame_hash(&fetch_frame(&src_clip, *f, linear)?) };
        clip.push(ClipFrame { file: name.clone(), hash });
    }
    let frame_size = (host_first.width, host_first.height);
    let cache_key = node_cache_key(s, inputs.range, frame_size, &inputs.objects)?
        .ok_or_else(|| refuse("no track-cache key: the model file is not on this machine"))?;
    let n_frames = files.len();
    let objects: Vec<PlanObject> = inputs
        .objects
        .iter()
        .map(|o| PlanObject {
            name: o.name.clone(),
            keyframes: o
                .keyframes
                .iter()
                .filter(|(f, _)| (first..=last).contains(*f))
                .map(|(f, prompt)| PlanKeyframe::new((f - first) as usize, prompt.clone()))
                .collect(),
        })
        .collect();
    let shot = Shot {
        name: pattern.shot_name(),
        frames_dir: pattern.dir.clone(),
        frame_size,
        clip,
        range: (0, n_frames - 1),
        first_frame: first,
        cache_key: Some(cache_key),
        objects,
    };
    let tuning = s.samurai(size).map_err(|e| refuse(e.to_string()))?;
    // The plan holds one precision for every pass: Auto is resolved here as the helper
    // resolves it on this machine (its CPU; CUDA only when Device names it, since the
    // plugin does not load libtorch to ask), so set Precision for a farm of other CPUs.
    let precision = Precision::resolve(s.precision, matches!(s.device, DeviceChoice::Cuda(_))).precision;
    let settings = PlanSettings { image_size: s.image_size, precision, mode: s.mode, tuning, split };
    let model = ModelRef { hash: checkpoint_hash(&checkpoint).map_err(|e| refuse(e.to_string()))?, checkpoint, size: size_name };
    let mut plan = Plan::new(model, settings, vec![shot]).map_err(|e| refuse(e.to_string()))?;

    let cache = match &inputs.settings.track_cache {
        Some(c) => std::path::absolute(c).map_err(|e| refuse(format!("{}: {e}", p::TRACK_CACHE.label)))?,
        None => job.join(CACHE_FILE),
    };
    plan.merge_args = vec!["--cache".to_owned(), cache.display().to_string()];
    std::fs::create_dir_all(&job).map_err(|e| refuse(format!("{}: {e}", job.display())))?;
    plan.write(&job).map_err(|e| refuse(e.to_string()))?;
    let template = openjd_template(&plan, &job, &farm_exe(), &plan.merge_args);
    samurai_core::container::write_atomic(&job.join(TEMPLATE_FILE), template.as_bytes()).map_err(|e| refuse(e.to_string()))?;
    ps.param(p::TRACK_CACHE.id)?.set_string(&cache.display().to_string())?;
    let steps: usize = plan.groups.iter().map(Group::steps).sum();
    Ok(format!(
        "SamuraiRoto: wrote the farm analysis job {} ({} pass task(s), {steps} pass steps, frames {first}–{last}). Run it with \
         Deadline Cloud or `openjd run` ({TEMPLATE_FILE}), or on Slurm with `samurai-roto farm slurm --job {} --submit`. Its merge \
         writes {}, now the Track cache file: once the job has run, renders read it as after Analyse.",
        job.display(),
        plan.groups.len(),
        job.display(),
        cache.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_hashes_and_printf_fields() {
        let p = FramePattern::parse("/shots/sh010/plate.####.exr").unwrap();
        assert_eq!(
            (p.dir.as_path(), p.file(7), p.file(12345)),
            (Path::new("/shots/sh010"), "plate.0007.exr".into(), "plate.12345.exr".into())
        );
        assert_eq!(p.shot_name(), "plate");
        assert_eq!(FramePattern::parse("/a/b_%05d.jpg").unwrap().file(42), "b_00042.jpg");
        assert_eq!(FramePattern::parse("/a/%d.png").unwrap().file(42), "42.png");
        assert_eq!(FramePattern::parse("/a/%d.png").unwrap().shot_name(), "a");
        assert_eq!(FramePattern::parse("/a/x.#.png").unwrap().file(-3), "x.-3.png");
        for bad in ["plate.####.exr", "/a/plate.exr", "/a/p.##.%04d.exr", "/a/p.%4d.exr", "/a/"] {
            assert!(FramePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
