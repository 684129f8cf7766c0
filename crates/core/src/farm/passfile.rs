//! Pass files: what one farm Pass task writes, `JOBDIR/passes/NNNN.srfp` (`NNNN` = the
//! group's index), and the merge reads (`docs/farm.md`, "A pass task").
//!
//! Layout (all integers little-endian; the framing is the track cache's):
//! ```text
//! magic  "SAMURAIROTO-PAS\n" (16 bytes)   version u32
//! header length u64, header (YAML, PassFileHeader: plan digest, group, side, passes, ...)
//! data   for each pass in header order, for each frame lo..=hi of its span: side² f32
//! check  BLAKE3 of everything before it (32 bytes)
//! ```
//! Files are written to a temporary name in `passes/` and renamed over the final name, so
//! a task killed at any point leaves at most a `.samuraiRoto-*.tmp` file, and two copies of
//! one task leave one whole file.
use super::{Direction, Plan};
use crate::container::{self, Format};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of a job's pass files, inside the job folder.
pub const PASSES_DIR: &str = "passes";
/// The pass-file format version this build writes and reads.
pub const PASS_FILE_VERSION: u32 = 1;
/// The pass files' name extension.
pub const PASS_FILE_EXTENSION: &str = "srfp";

const FORMAT: Format = Format { magic: b"SAMURAIROTO-PAS\n", version: PASS_FILE_VERSION, what: "pass file" };

/// Where pass group `group`'s results go: `job_dir/passes/NNNN.srfp`, the index zero-padded
/// to four digits.
pub fn pass_file_path(job_dir: &Path, group: usize) -> PathBuf {
    job_dir.join(PASSES_DIR).join(format!("{group:04}.{PASS_FILE_EXTENSION}"))
}

/// One pass as a pass file records it: the plan's pass and its keyframe's prompt digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassFilePass {
    /// The object's name in its shot.
    pub object: String,
    /// The frame (clip index) the pass starts on.
    pub keyframe: usize,
    /// Which way the pass walks from its keyframe.
    pub direction: Direction,
    /// The keyframe's prompt digest, hex (the plan's `PlanKeyframe::digest`).
    pub digest: String,
    /// The frames whose logits the file holds, inclusive (the planned pass's span).
    pub frames: (usize, usize),
}

impl std::fmt::Display for PassFilePass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let direction = match self.direction {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        };
        write!(
            f,
            "object '{}' {direction} from keyframe {} (prompt digest {}) frames {}-{}",
            self.object, self.keyframe, self.digest, self.frames.0, self.frames.1
        )
    }
}

impl PassFilePass {
    /// Frames in the span (0 for a reversed span).
    fn frame_count(&self) -> usize {
        if self.frames.0 > self.frames.1 {
            0
        } else {
            self.frames.1 - self.frames.0 + 1
        }
    }

    /// The passes of `plan`'s group `group`, in order, as a pass file of it must list them.
    pub fn for_group(plan: &Plan, group: usize) -> Result<Vec<Self>> {
        let g = plan
            .groups
            .get(group)
            .ok_or_else(|| Error::invalid(format!("pass group {group}"), format!("the plan has {} pass groups", plan.groups.len())))?;
        let shot = plan.shots.get(g.shot).ok_or_else(|| Error::invalid(format!("pass group {group}"), format!("no shot {}", g.shot)))?;
        g.passes
            .iter()
            .map(|p| {
                let digest = shot
                    .objects
                    .iter()
                    .find(|o| o.name == p.object)
                    .and_then(|o| o.keyframes.iter().find(|k| k.frame == p.keyframe))
                    .map(|k| k.digest.clone())
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("pass group {group}"),
                            format!("shot '{}' has no object '{}' keyed on frame {}", shot.name, p.object, p.keyframe),
                        )
                    })?;
                Ok(PassFilePass { object: p.object.clone(), keyframe: p.keyframe, direction: p.direction, digest, frames: p.frames })
            })
            .collect()
    }
}

/// A pass file's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassFileHeader {
    /// The digest of the plan the task ran ([`Plan::digest_of`] of `plan.yaml`).
    pub plan: String,
    /// The group's index in the plan.
    pub group: usize,
    /// Low-resolution side (the plan's image size / 4).
    pub side: i64,
    /// The group's passes, in the plan's order (the data's order).
    pub passes: Vec<PassFilePass>,
    /// The device the task ran on (informative, not checked).
    pub device: String,
    /// The precision the task ran at (informative, not checked). No timing is stored: a
    /// re-run task writes the same bytes (the task prints its time instead).
    pub precision: String,
}

impl PassFileHeader {
    /// The header of a pass file for `plan`'s group `group` (its passes and side from the
    /// plan), with the informative fields given.
    pub fn for_group(plan: &Plan, plan_digest: &str, group: usize, device: &str, precision: &str) -> Result<Self> {
        Ok(Self {
            plan: plan_digest.to_owned(),
            group,
            side: plan.settings.image_size / 4,
            passes: PassFilePass::for_group(plan, group)?,
            device: device.to_owned(),
            precision: precision.to_owned(),
        })
    }
}

/// One Pass task's results: per pass (header order), per frame of its span in frame
/// order, the side² low-resolution logits, unblended.
#[derive(Debug, Clone, PartialEq)]
pub struct PassResults {
    /// What the results are of (plan, group, side, passes) and how they were made.
    pub header: PassFileHeader,
    /// Per pass of the header, per frame of its span, side² logits (row-major).
    pub logits: Vec<Vec<Vec<f32>>>,
}

impl PassResults {
    /// Values per frame, side², when the side is positive.
    fn cells(side: i64) -> std::result::Result<usize, String> {
        usize::try_from(side).ok().filter(|s| *s > 0).and_then(|s| s.checked_mul(s)).ok_or_else(|| format!("bad side {side}"))
    }

    /// Checks that the logits have the header's shape.
    fn validate(&self) -> std::result::Result<(), String> {
        let cells = Self::cells(self.header.side)?;
        if self.logits.len() != self.header.passes.len() {
            return Err(format!("{} passes of logits for {} passes", self.logits.len(), self.header.passes.len()));
        }
        for (pass, frames) in self.header.passes.iter().zip(&self.logits) {
            if pass.frames.0 > pass.frames.1 || frames.len() != pass.frame_count() {
                return Err(format!("{} frames of logits for {pass}", frames.len()));
            }
            if let Some(i) = frames.iter().position(|v| v.len() != cells) {
                return Err(format!("frame {} of {pass} has {} values, expected {cells}", pass.frames.0 + i, frames[i].len()));
            }
        }
        Ok(())
    }

    /// The file's contents.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate().map_err(|why| Error::invalid("pass results", why))?;
        let header = serde_norway::to_string(&self.header).map_err(|e| Error::invalid("pass results", e.to_string()))?;
        let values: usize = self.logits.iter().flatten().map(Vec::len).sum();
        Ok(FORMAT.encode(&header, values * 4, |out| {
            for x in self.logits.iter().flatten().flatten() {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }))
    }

    /// Parses a file's contents. The error says what is wrong ("truncated or damaged: ...").
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        Self::parse(bytes).map_err(|why| format!("truncated or damaged: {why}"))
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (header, data) = FORMAT.decode(bytes)?;
        let header = std::str::from_utf8(header).map_err(|_| "the header is not UTF-8 text".to_string())?;
        let header: PassFileHeader = serde_norway::from_str(header).map_err(|e| format!("unreadable header: {e}"))?;
        let cells = Self::cells(header.side)?;
        // The data's length is checked against the header before anything is built from it.
        let mut values = 0usize;
        for pass in &header.passes {
            if pass.frames.0 > pass.frames.1 {
                return Err(format!("reversed span in {pass}"));
            }
            values = pass.frame_count().checked_mul(cells).and_then(|n| values.checked_add(n)).ok_or("the header's counts overflow")?;
        }
        if values.checked_mul(4) != Some(data.len()) {
            return Err(format!("{} bytes of data, the header's passes need {values} values of 4 bytes", data.len()));
        }
        let mut chunks = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let logits =
            header.passes.iter().map(|pass| (0..pass.frame_count()).map(|_| chunks.by_ref().take(cells).collect()).collect()).collect();
        Ok(Self { header, logits })
    }

    /// Writes the file atomically: a temporary file in `path`'s folder (created if needed),
    /// flushed to disk, then renamed over `path`.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        container::write_atomic(path, &self.to_bytes()?)
    }

    /// The logits of `frame` by the header's pass `pass`, if its span holds the frame.
    pub fn frame(&self, pass: usize, frame: usize) -> Option<&[f32]> {
        let p = self.header.passes.get(pass)?;
        let i = frame.checked_sub(p.frames.0)?;
        self.logits.get(pass)?.get(i).map(Vec::as_slice)
    }
}

/// Reads group `group`'s pass file of the job in `job_dir` and checks it belongs to `plan`
/// (whose `plan.yaml` has digest `plan_digest`): refuses, naming the file, a missing file, a
/// damaged or truncated one, one of another plan or group, one whose passes (object,
/// keyframe, direction, prompt digest, span) differ from the plan's group, and one whose
/// side is not the plan's image size / 4.
pub fn read_for_group(job_dir: &Path, plan: &Plan, plan_digest: &str, group: usize) -> Result<PassResults> {
    let path = pass_file_path(job_dir, group);
    let what = || format!("pass file {}", path.display());
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::io(&path, std::io::Error::new(e.kind(), format!("pass group {group} has not run: the file is missing"))));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let results = PassResults::from_bytes(&bytes).map_err(|why| Error::invalid(what(), why))?;
    let h = &results.header;
    if h.plan != plan_digest {
        return Err(Error::invalid(what(), format!("made for another plan (digest {}, this plan's is {plan_digest})", h.plan)));
    }
    if h.group != group {
        return Err(Error::invalid(what(), format!("holds pass group {}, not {group}", h.group)));
    }
    let side = plan.settings.image_size / 4;
    if h.side != side {
        return Err(Error::invalid(what(), format!("side {}, the plan's is {side} (image size {})", h.side, plan.settings.image_size)));
    }
    let expected = PassFilePass::for_group(plan, group).map_err(|e| Error::invalid(what(), e.to_string()))?;
    if h.passes != expected {
        let reason = match h.passes.iter().zip(&expected).enumerate().find(|(_, (g, w))| g != w) {
            Some((i, (got, want))) => format!("pass {i} is {got}, the plan's group {group} has {want}"),
            None => format!("{} passes, the plan's group {group} has {}", h.passes.len(), expected.len()),
        };
        return Err(Error::invalid(what(), reason));
    }
    Ok(results)
}

/// Deletes the temporary files ([`PassResults::write_atomic`]'s `.samuraiRoto-*.tmp`) that
/// killed tasks left in `job_dir/passes/`; returns how many. Call it only when no Pass task
/// of the job is running (the merge): a running task's temporary file would go too.
pub fn remove_stale_temporaries(job_dir: &Path) -> Result<usize> {
    let dir = job_dir.join(PASSES_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        if !entry.file_name().to_str().is_some_and(container::is_temporary) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            // Another merge removed it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
    Ok(removed)
}
