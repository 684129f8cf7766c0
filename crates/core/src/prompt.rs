//! What the artist prompts an object with on one frame (a keyframe): a box, positive and
//! negative points, both, or a matte. Reference: SAM 2's `SAM2VideoPredictor`
//! `add_new_points_or_box` (box corners first, labels 2 and 3, then the clicks, labels 1 and
//! 0) and `add_new_mask` (a binary mask that becomes the frame's output).
//!
//! A keyframe is a value: everything the tracker needs is in it (no handle to a file or to
//! an earlier result), so a matte depends only on what the host saves. Masks travel inline,
//! run-length encoded (a hand-drawn matte is a few runs per row: a few kilobytes at
//! 1920×1080), which keeps them inside the helper protocol's control messages and lets
//! their bits enter the pass and track-cache keys directly.
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// One click in pixels of the frame (x right, y down, origin top-left).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointPrompt {
    pub x: f64,
    pub y: f64,
    /// `true`: part of the object (label 1); `false`: not (label 0).
    pub positive: bool,
}

/// A binary matte at the frame's size, row-major, as run lengths that alternate between
/// outside and inside, starting with outside (a first run of 0 when the first pixel is
/// inside).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MaskPrompt {
    pub width: u32,
    pub height: u32,
    pub runs: Vec<u32>,
}

impl MaskPrompt {
    /// Encodes `inside` (`width × height` values, row-major).
    pub fn from_bits(width: u32, height: u32, inside: impl IntoIterator<Item = bool>) -> Result<Self> {
        let mut runs = Vec::new();
        let (mut current, mut run, mut n) = (false, 0u32, 0u64);
        for v in inside {
            if v != current {
                runs.push(run);
                current = v;
                run = 0;
            }
            run += 1;
            n += 1;
        }
        runs.push(run);
        if n != width as u64 * height as u64 {
            return Err(Error::invalid("mask", format!("{n} pixels given for a {width}x{height} mask")));
        }
        Ok(Self { width, height, runs })
    }

    /// The mask as `width × height` booleans, row-major (after [`validate`](Self::validate)).
    pub fn to_bits(&self) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.width as usize * self.height as usize);
        for (i, &r) in self.runs.iter().enumerate() {
            out.extend(std::iter::repeat_n(i % 2 == 1, r as usize));
        }
        out
    }

    /// Pixels inside.
    pub fn inside_count(&self) -> u64 {
        self.runs.iter().skip(1).step_by(2).map(|&r| r as u64).sum()
    }

    /// The runs must cover exactly `width × height` pixels, and something must be inside.
    pub fn validate(&self) -> Result<()> {
        let total: u64 = self.runs.iter().map(|&r| r as u64).sum();
        if self.width == 0 || self.height == 0 || total != self.width as u64 * self.height as u64 {
            return Err(Error::invalid(
                "mask",
                format!(
                    "its runs cover {total} pixels but it is {}x{} ({} pixels)",
                    self.width,
                    self.height,
                    self.width as u64 * self.height as u64
                ),
            ));
        }
        if self.inside_count() == 0 {
            return Err(Error::invalid("mask", "it is empty: no pixel is inside (> 0.5)"));
        }
        Ok(())
    }
}

/// A box `[x1, y1, x2, y2]` must be finite, ordered and overlap the `width × height`
/// image (the one check of a box, for the tracker, `segment` and the plugin alike).
pub fn validate_box(b: [f64; 4], width: u32, height: u32) -> Result<()> {
    let text = format!("[{}, {}, {}, {}]", b[0], b[1], b[2], b[3]);
    if b.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("box", format!("{text} has a non-finite coordinate")));
    }
    if b[2] <= b[0] || b[3] <= b[1] {
        return Err(Error::invalid("box", format!("{text} is empty: x2 must exceed x1 and y2 must exceed y1")));
    }
    if b[2] <= 0.0 || b[3] <= 0.0 || b[0] >= width as f64 || b[1] >= height as f64 {
        return Err(Error::invalid("box", format!("{text} lies outside the {width}x{height} image")));
    }
    Ok(())
}

/// One object's prompts on one frame. At least one of the three is given. A mask alone is
/// the frame's output (`add_new_mask`); with a box or points it is the decoder's mask input
/// and the clicks refine it.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct KeyframePrompt {
    /// `[x1, y1, x2, y2]` in pixels of the frame.
    pub bbox: Option<[f64; 4]>,
    /// Clicks, in the order they are given to the network (after the box's corners).
    pub points: Vec<PointPrompt>,
    pub mask: Option<MaskPrompt>,
}

impl KeyframePrompt {
    /// A box keyframe (what SamuraiRoto had before points and masks).
    pub fn from_box(bbox: [f64; 4]) -> Self {
        Self { bbox: Some(bbox), ..Self::default() }
    }

    /// A mask keyframe.
    pub fn from_mask(mask: MaskPrompt) -> Self {
        Self { mask: Some(mask), ..Self::default() }
    }

    /// Checks the prompt against a frame of `width × height`: something is given, the box
    /// passes [`validate_box`], points lie on the frame, the mask has the frame's size and
    /// is not empty.
    pub fn validate(&self, width: u32, height: u32) -> Result<()> {
        if self.bbox.is_none() && self.points.is_empty() && self.mask.is_none() {
            return Err(Error::invalid("keyframe", "it has no box, no point and no mask"));
        }
        if let Some(b) = self.bbox {
            validate_box(b, width, height)?;
        }
        for (i, p) in self.points.iter().enumerate() {
            if !(p.x.is_finite() && p.y.is_finite() && (0.0..=width as f64).contains(&p.x) && (0.0..=height as f64).contains(&p.y)) {
                return Err(Error::invalid(
                    "point",
                    format!("point {} at ({}, {}) lies outside the {width}x{height} frame", i + 1, p.x, p.y),
                ));
            }
        }
        if let Some(m) = &self.mask {
            if (m.width, m.height) != (width, height) {
                return Err(Error::invalid("mask", format!("it is {}x{} but the frame is {width}x{height}", m.width, m.height)));
            }
            m.validate()?;
        }
        Ok(())
    }

    /// A digest of every bit of the prompt (pass keys, track-cache keys).
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        match self.bbox {
            Some(b) => {
                h.update(b"box");
                b.iter().for_each(|v| {
                    h.update(&v.to_bits().to_le_bytes());
                });
            }
            None => {
                h.update(b"nobox");
            }
        }
        h.update(&(self.points.len() as u64).to_le_bytes());
        for p in &self.points {
            h.update(&p.x.to_bits().to_le_bytes());
            h.update(&p.y.to_bits().to_le_bytes());
            h.update(&[p.positive as u8]);
        }
        match &self.mask {
            Some(m) => {
                h.update(b"mask");
                h.update(&m.width.to_le_bytes());
                h.update(&m.height.to_le_bytes());
                h.update(&(m.runs.len() as u64).to_le_bytes());
                m.runs.iter().for_each(|r| {
                    h.update(&r.to_le_bytes());
                });
            }
            None => {
                h.update(b"nomask");
            }
        }
        *h.finalize().as_bytes()
    }

    /// Number of prompt points the network sees (two per box, then one per click), which
    /// decides single or multiple mask output as in SAM 2 (`_use_multimask`).
    pub fn network_points(&self) -> usize {
        2 * self.bbox.is_some() as usize + self.points.len()
    }
}

/// The box of a matte (`width × height` logits, row-major, inside where > 0) in frame
/// pixels, `[x_min, y_min, x_max + 1, y_max + 1]` (the pixels' outer edges), or `None` when
/// nothing is inside. What a click on a frame without a keyframe takes as that keyframe's
/// box: the object's tracked box there (see the README's propagation semantics).
pub fn matte_box(logits: &[f32], width: usize, height: usize) -> Option<[f64; 4]> {
    if width == 0 || logits.len() != width * height {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (y, row) in logits.chunks_exact(width).enumerate() {
        let mut inside = row.iter().enumerate().filter(|(_, v)| **v > 0.0).map(|(x, _)| x);
        if let Some(first) = inside.next() {
            let last = inside.next_back().unwrap_or(first);
            (x0, x1, y1) = (x0.min(first), x1.max(last), y);
            y0 = y0.min(y);
        }
    }
    (x0 != usize::MAX).then(|| [x0 as f64, y0 as f64, (x1 + 1) as f64, (y1 + 1) as f64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_of_a_matte() {
        let mut m = vec![-1.0f32; 6 * 4];
        m[6 + 2] = 0.5;
        m[2 * 6 + 4] = 3.0;
        assert_eq!(matte_box(&m, 6, 4), Some([2.0, 1.0, 5.0, 3.0]));
        assert_eq!(matte_box(&[-1.0; 24], 6, 4), None);
        assert_eq!(matte_box(&[1.0; 5], 6, 4), None, "a plane of the wrong size has no box");
    }

    #[test]
    fn masks_round_trip_through_runs() {
        let bits = [false, true, true, false, false, true, true, true, false];
        let m = MaskPrompt::from_bits(3, 3, bits).unwrap();
        assert_eq!(m.runs, vec![1, 2, 2, 3, 1]);
        assert_eq!(m.to_bits(), bits);
        assert_eq!(m.inside_count(), 5);
        let starts_inside = MaskPrompt::from_bits(2, 1, [true, true]).unwrap();
        assert_eq!(starts_inside.runs, vec![0, 2]);
        assert_eq!(starts_inside.to_bits(), vec![true, true]);
        assert!(MaskPrompt::from_bits(2, 2, [true]).unwrap_err().to_string().contains("1 pixels given for a 2x2"));
    }

    #[test]
    fn bad_prompts_are_named() {
        let m = MaskPrompt::from_bits(4, 2, [false; 8]).unwrap();
        let err = |p: &KeyframePrompt| p.validate(4, 2).unwrap_err().to_string();
        assert!(err(&KeyframePrompt::from_mask(m)).contains("empty"));
        let m = MaskPrompt::from_bits(2, 2, [true; 4]).unwrap();
        assert!(err(&KeyframePrompt::from_mask(m)).contains("2x2 but the frame is 4x2"));
        let p = KeyframePrompt { points: vec![PointPrompt { x: 1.0, y: 3.0, positive: true }], ..Default::default() };
        assert!(err(&p).contains("point 1 at (1, 3) lies outside the 4x2 frame"));
        assert!(err(&KeyframePrompt::default()).contains("no box, no point and no mask"));
        let bad_runs = MaskPrompt { width: 2, height: 2, runs: vec![1, 2] };
        assert!(err(&KeyframePrompt::from_mask(MaskPrompt { width: 4, height: 2, ..bad_runs })).contains("cover 3 pixels"));
        let ok =
            KeyframePrompt { bbox: Some([0.0, 0.0, 2.0, 2.0]), points: vec![PointPrompt { x: 4.0, y: 2.0, positive: false }], mask: None };
        ok.validate(4, 2).unwrap();
        assert_eq!(ok.network_points(), 3);
    }

    #[test]
    fn digests_see_every_bit() {
        let a =
            KeyframePrompt { bbox: Some([1.0, 2.0, 3.0, 4.0]), points: vec![PointPrompt { x: 1.0, y: 1.0, positive: true }], mask: None };
        let mut b = a.clone();
        b.points[0].positive = false;
        let mut c = a.clone();
        c.bbox = None;
        let m = |v: bool| KeyframePrompt::from_mask(MaskPrompt::from_bits(2, 1, [true, v]).unwrap());
        let ds = [a.digest(), b.digest(), c.digest(), m(true).digest(), m(false).digest()];
        for i in 0..ds.len() {
            for j in i + 1..ds.len() {
                assert_ne!(ds[i], ds[j], "prompts {i} and {j}");
            }
        }
        assert_eq!(a.digest(), a.clone().digest());
    }
}
