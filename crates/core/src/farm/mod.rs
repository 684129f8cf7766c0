//! Analysis on a render farm: the tracker's decomposition into passes made explicit
//! (`docs/farm.md`). A *plan* (`JOBDIR/plan.yaml`) names, per shot, the objects with their
//! keyframes and the passes (object, keyframe, direction, frames) that make the range,
//! grouped into tasks; pass tasks write each pass's per-frame low-resolution logits, and
//! the merge blends them exactly as the tracker's session does.
//!
//! The pass rules here are the tracker's (`Session::contributions` in the engine's
//! `tracker/session.rs`): before an object's first keyframe a backward pass from it, after
//! its last a forward pass from it, between two keyframes both, combined by the blend mode.
//! [`blend`] is the session's fold (`low_res_at`) in plain `f32` arithmetic, the same
//! operations in the same order.
use crate::config::SamuraiConfig;
use crate::error::{Error, Result};
use crate::prompt::KeyframePrompt;
use crate::settings::{BlendMode, Precision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub mod passfile;
pub mod templates;

pub use passfile::{pass_file_path, read_for_group, remove_stale_temporaries, PassFileHeader, PassFilePass, PassResults, PASSES_DIR};
pub use templates::{openjd_template, shell_quote, slurm_scripts};

/// The plan file's `format` value.
pub const PLAN_FORMAT: &str = "samurai-roto-farm-plan";
/// The plan format version this build writes and reads.
pub const PLAN_VERSION: u32 = 1;
/// The plan's file name inside a job folder.
pub const PLAN_FILE: &str = "plan.yaml";
/// The OpenJD job template's file name inside a job folder.
pub const TEMPLATE_FILE: &str = "template.json";
/// The logit of an object with no keyframe (the network's `NO_OBJ_SCORE`).
pub const NO_OBJ_SCORE: f32 = -1024.0;

/// Direction of a pass through the clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Backward,
}

/// One pass step behind a frame: the pass's keyframe and direction, and its blend weight.
pub type Contribution = (usize, Direction, f32);

/// Which passes make `frame` of an object keyed on `keyframes`' frames, with their blend
/// weights, in the order they are summed (the tracker's rule: see the module header).
pub fn contributions<V>(keyframes: &BTreeMap<usize, V>, frame: usize, mode: BlendMode) -> Vec<Contribution> {
    let before = keyframes.range(..=frame).next_back().map(|(k, _)| *k);
    let after = keyframes.range(frame..).next().map(|(k, _)| *k);
    match (before, after) {
        (None, None) => Vec::new(),
        (Some(b), _) if b == frame => vec![(b, Direction::Forward, 1.0)],
        (None, Some(a)) => vec![(a, Direction::Backward, 1.0)],
        (Some(b), None) => vec![(b, Direction::Forward, 1.0)],
        (Some(b), Some(a)) => {
            let w_fwd = (a - frame) as f32 / (a - b) as f32;
            match mode {
                BlendMode::Blend => vec![(b, Direction::Forward, w_fwd), (a, Direction::Backward, 1.0 - w_fwd)],
                BlendMode::Nearest if frame - b <= a - frame => vec![(b, Direction::Forward, 1.0)],
                BlendMode::Nearest => vec![(a, Direction::Backward, 1.0)],
                BlendMode::Forward => vec![(b, Direction::Forward, 1.0)],
            }
        }
    }
}

/// The passes an object keyed on `keyframes`' frames needs for the frames `range`
/// (inclusive): `(keyframe, direction, [first, last] frames it contributes to)`, forward
/// passes first, each direction by keyframe. Passes that contribute nothing are left out.
pub fn plan_passes<V>(keyframes: &BTreeMap<usize, V>, range: (usize, usize), mode: BlendMode) -> Vec<(usize, Direction, (usize, usize))> {
    let mut spans: BTreeMap<(Direction, usize), (usize, usize)> = BTreeMap::new();
    for frame in range.0..=range.1 {
        for (k, d, _) in contributions(keyframes, frame, mode) {
            let span = spans.entry((d, k)).or_insert((frame, frame));
            span.1 = frame;
        }
    }
    spans.into_iter().map(|((d, k), span)| (k, d, span)).collect()
}

/// Folds one object's contributions on one frame as the tracker's session does: the first
/// term, plus each next; a term of weight exactly 1 is the pass's logits unchanged, any
/// other is each value times the weight in `f32`. No term: [`NO_OBJ_SCORE`] everywhere.
pub fn blend(terms: &[(&[f32], f32)], cells: usize) -> Result<Vec<f32>> {
    let mut acc: Option<Vec<f32>> = None;
    for (values, weight) in terms {
        if values.len() != cells {
            return Err(Error::invalid("pass results", format!("{} low-resolution values, expected {cells}", values.len())));
        }
        let term: Vec<f32> = if *weight == 1.0 { values.to_vec() } else { values.iter().map(|x| x * weight).collect() };
        acc = Some(match acc {
            None => term,
            Some(mut a) => {
                a.iter_mut().zip(&term).for_each(|(a, t)| *a += t);
                a
            }
        });
    }
    Ok(acc.unwrap_or_else(|| vec![NO_OBJ_SCORE; cells]))
}

/// How passes are grouped into tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Passes of one shot starting on the same frame in the same direction share a task:
    /// they walk the same frames, so the image encoder runs once per frame for all of them.
    #[default]
    Keyframes,
    /// One task per pass (more parallelism, the encoder runs once per pass).
    Passes,
    /// One task per shot and direction: every forward pass in one task, every backward one
    /// in another, as `track` runs them (the least encoder work, two tasks per shot).
    Directions,
}

impl Split {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "keyframes" => Ok(Self::Keyframes),
            "passes" => Ok(Self::Passes),
            "directions" => Ok(Self::Directions),
            other => Err(Error::invalid("split", format!("'{other}' is not one of keyframes, passes, directions"))),
        }
    }
}

/// The network every task must load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// Where the planner found the checkpoint.
    pub checkpoint: PathBuf,
    /// The published size's name, when known.
    pub size: Option<String>,
    /// BLAKE3 of the checkpoint's contents (`track_cache::file_hash`), hex.
    pub hash: String,
}

/// What decides the results besides the model and the prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    pub image_size: i64,
    pub precision: Precision,
    pub mode: BlendMode,
    /// The SAMURAI configuration the passes run with (hole filling included).
    pub tuning: SamuraiConfig,
    pub split: Split,
}

/// One frame of a shot's clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipFrame {
    /// File name inside the shot's frames folder.
    pub file: String,
    /// `track_cache::frame_hash` of the frame as the tracker eats it.
    pub hash: String,
}

/// One keyframe: its frame (clip index), its prompts and their digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanKeyframe {
    pub frame: usize,
    /// [`KeyframePrompt::digest`] of `prompt`, hex (checked on reading).
    pub digest: String,
    pub prompt: KeyframePrompt,
}

impl PlanKeyframe {
    pub fn new(frame: usize, prompt: KeyframePrompt) -> Self {
        Self { frame, digest: hex(&prompt.digest()), prompt }
    }
}

/// One object of a shot, keyframes by frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanObject {
    pub name: String,
    pub keyframes: Vec<PlanKeyframe>,
}

impl PlanObject {
    /// The object's keyframes by frame.
    pub fn keyframe_map(&self) -> BTreeMap<usize, &PlanKeyframe> {
        self.keyframes.iter().map(|k| (k.frame, k)).collect()
    }
}

/// One shot: a folder of frames (the tracker's clip), the frames written, the objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shot {
    pub name: String,
    pub frames_dir: PathBuf,
    /// `(width, height)` of every frame.
    pub frame_size: (u32, u32),
    /// Every frame of the session's clip, in clip order (its length is the session's).
    pub clip: Vec<ClipFrame>,
    /// Frames written, clip indices, inclusive.
    pub range: (usize, usize),
    /// Host frame number of clip index 0.
    pub first_frame: i64,
    /// The track-cache key the merge writes (`track_cache::cache_key`), when a cache is wanted.
    pub cache_key: Option<String>,
    /// In the session's order (the order of each merged frame's objects).
    pub objects: Vec<PlanObject>,
}

/// One pass: the frames it contributes to, `frames` (inclusive, inside the range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedPass {
    pub object: String,
    pub keyframe: usize,
    pub direction: Direction,
    pub frames: (usize, usize),
}

impl PlannedPass {
    /// The frames the pass walks, in walk order: from its keyframe to the far end of
    /// `frames` (the keyframe's step runs even where it contributes nothing).
    pub fn walk(&self) -> (usize, usize) {
        match self.direction {
            Direction::Forward => (self.keyframe, self.frames.1.max(self.keyframe)),
            Direction::Backward => (self.keyframe, self.frames.0.min(self.keyframe)),
        }
    }

    /// Pass steps the walk takes (image encoder runs when the pass runs alone).
    pub fn steps(&self) -> usize {
        let (a, b) = self.walk();
        a.abs_diff(b) + 1
    }
}

/// One task's passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Index into the plan's shots.
    pub shot: usize,
    pub direction: Direction,
    /// The frame its passes start on (with [`Split::Directions`], the first of them).
    pub keyframe: usize,
    pub passes: Vec<PlannedPass>,
}

impl Group {
    /// Frames the task walks (the union of its passes' walks), i.e. its encoder runs.
    pub fn steps(&self) -> usize {
        let mut walks: Vec<(usize, usize)> = self.passes.iter().map(|p| p.walk()).map(|(a, b)| (a.min(b), a.max(b))).collect();
        walks.sort();
        let mut frames = 0;
        let mut covered_to: Option<usize> = None;
        for (lo, hi) in walks {
            let start = covered_to.map_or(lo, |c| lo.max(c + 1));
            if hi >= start {
                frames += hi - start + 1;
            }
            covered_to = Some(covered_to.map_or(hi, |c| c.max(hi)));
        }
        frames
    }
}

/// A farm analysis job: what `farm plan` writes and every task reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub model: ModelRef,
    pub settings: PlanSettings,
    pub shots: Vec<Shot>,
    /// One Pass task each; a task is named by its index.
    pub groups: Vec<Group>,
    /// The merge's options as given to `farm plan` (`--cache`, `--out` and the matte
    /// options): what the job templates' Merge step runs.
    #[serde(default)]
    pub merge_args: Vec<String>,
}

/// The groups of the passes of `shots`, in task order: shot by shot, by direction (forward
/// first), then keyframe; within a group, passes in object order.
pub fn group_passes(shots: &[Shot], mode: BlendMode, split: Split) -> Vec<Group> {
    let mut groups = Vec::new();
    for (s, shot) in shots.iter().enumerate() {
        let mut by_start: BTreeMap<(Direction, usize), Vec<PlannedPass>> = BTreeMap::new();
        for object in &shot.objects {
            for (keyframe, direction, frames) in plan_passes(&object.keyframe_map(), shot.range, mode) {
                let pass = PlannedPass { object: object.name.clone(), keyframe, direction, frames };
                by_start.entry((direction, keyframe)).or_default().push(pass);
            }
        }
        for ((direction, keyframe), passes) in by_start {
            match split {
                Split::Keyframes => groups.push(Group { shot: s, direction, keyframe, passes }),
                Split::Passes => groups.extend(passes.into_iter().map(|p| Group { shot: s, direction, keyframe, passes: vec![p] })),
                Split::Directions => match groups.last_mut() {
                    Some(g) if g.shot == s && g.direction == direction => g.passes.extend(passes),
                    _ => groups.push(Group { shot: s, direction, keyframe, passes }),
                },
            }
        }
    }
    groups
}

impl Plan {
    /// A plan for `shots` (checked), its passes derived and grouped by `settings.split`.
    pub fn new(model: ModelRef, settings: PlanSettings, shots: Vec<Shot>) -> Result<Self> {
        let groups = group_passes(&shots, settings.mode, settings.split);
        let plan = Plan { format: PLAN_FORMAT.into(), version: PLAN_VERSION, model, settings, shots, groups, merge_args: Vec::new() };
        plan.validate()?;
        Ok(plan)
    }

    /// BLAKE3 of a plan file's bytes, hex: what pass files carry to name their plan.
    pub fn digest_of(bytes: &[u8]) -> String {
        blake3::hash(bytes).to_hex().to_string()
    }

    /// The plan as YAML.
    pub fn to_yaml(&self) -> Result<String> {
        serde_norway::to_string(self).map_err(|e| Error::invalid("plan", e.to_string()))
    }

    /// Parses and checks a plan file's contents; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let plan: Plan = serde_norway::from_str(text).map_err(|e| Error::config(origin, e.to_string()))?;
        plan.validate().map_err(|e| Error::config(origin, e.to_string()))?;
        Ok(plan)
    }

    /// Writes `job_dir/plan.yaml` atomically (a temporary file beside it, renamed over
    /// it); returns its digest.
    pub fn write(&self, job_dir: &Path) -> Result<String> {
        let text = self.to_yaml()?;
        crate::container::write_atomic(&job_dir.join(PLAN_FILE), text.as_bytes())?;
        Ok(Self::digest_of(text.as_bytes()))
    }

    /// Reads and checks `job_dir/plan.yaml`; returns it with its digest.
    pub fn read(job_dir: &Path) -> Result<(Self, String)> {
        let path = job_dir.join(PLAN_FILE);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let origin = path.display().to_string();
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::config(&origin, "not UTF-8 text"))?;
        Ok((Self::from_yaml(text, &origin)?, Self::digest_of(&bytes)))
    }

    /// Checks the plan's consistency: format and version, every shot (clip, range, objects,
    /// keyframes and their digests), and that the groups are exactly those the shots and
    /// settings give.
    pub fn validate(&self) -> Result<()> {
        if self.format != PLAN_FORMAT || self.version != PLAN_VERSION {
            return Err(Error::invalid(
                "plan",
                format!("format '{}' version {}; this build reads '{PLAN_FORMAT}' version {PLAN_VERSION}", self.format, self.version),
            ));
        }
        if self.shots.is_empty() {
            return Err(Error::invalid("plan", "it has no shot"));
        }
        let size = self.settings.image_size;
        if !(256..=1024).contains(&size) || size % 64 != 0 {
            return Err(Error::invalid("plan", format!("image size {size} is not a multiple of 64 from 256 to 1024")));
        }
        self.settings.tuning.validate().map_err(|reason| Error::invalid("plan", format!("tuning: {reason}")))?;
        for (i, shot) in self.shots.iter().enumerate() {
            if self.shots[..i].iter().any(|s| s.name == shot.name) {
                return Err(Error::invalid("plan", format!("two shots are named '{}'", shot.name)));
            }
            shot.validate()?;
        }
        let expected = group_passes(&self.shots, self.settings.mode, self.settings.split);
        if self.groups.len() != expected.len() {
            return Err(Error::invalid(
                "plan",
                format!("{} pass groups, but its shots and settings give {}", self.groups.len(), expected.len()),
            ));
        }
        if let Some((i, (got, want))) = self.groups.iter().zip(&expected).enumerate().find(|(_, (g, e))| g != e) {
            return Err(Error::invalid("plan", format!("pass group {i} is {got:?}, but its shots and settings give {want:?}")));
        }
        Ok(())
    }
}

impl Shot {
    fn validate(&self) -> Result<()> {
        let what = format!("shot '{}'", self.name);
        let n = self.clip.len();
        let (w, h) = self.frame_size;
        if self.name.is_empty() || n == 0 || w == 0 || h == 0 {
            return Err(Error::invalid(what, format!("empty name, clip ({n} frames) or frame size ({w}x{h})")));
        }
        if self.range.0 > self.range.1 || self.range.1 >= n {
            return Err(Error::invalid(what, format!("range {}-{} is not inside the clip's {n} frames", self.range.0, self.range.1)));
        }
        for (i, o) in self.objects.iter().enumerate() {
            if o.name.is_empty() || self.objects[..i].iter().any(|p| p.name == o.name) {
                return Err(Error::invalid(what, format!("object name '{}' is empty or repeated", o.name)));
            }
            for (j, k) in o.keyframes.iter().enumerate() {
                let at = || format!("object '{}' keyframe on frame {}", o.name, k.frame);
                if k.frame >= n || (j > 0 && o.keyframes[j - 1].frame >= k.frame) {
                    return Err(Error::invalid(what, format!("{}: outside the clip or out of order", at())));
                }
                if hex(&k.prompt.digest()) != k.digest {
                    return Err(Error::invalid(what, format!("{}: its prompt does not match its digest (edited or damaged)", at())));
                }
                k.prompt.validate(w, h).map_err(|e| Error::invalid(what.clone(), format!("{}: {e}", at())))?;
            }
        }
        Ok(())
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    blake3::Hash::from(*bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod passfile_tests;

#[cfg(test)]
mod templates_tests;
