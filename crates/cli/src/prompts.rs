//! Keyframe prompts for `track`: `--object NAME:FRAME:x1,y1,x2,y2`, `--point
//! NAME:FRAME:x,y,L`, `--mask NAME:FRAME:FILE` (combinable on one frame), and the prompts
//! YAML format of the sample clips (`clip: {frames: DIR, objects: {NAME: {frame: F, box:
//! [..], points: [[x, y, L], ..], mask: FILE}}}`, or a list of such keyframes per object).
//! The box and click syntax (`x1,y1,x2,y2`, `x,y,L`) is parsed here for `segment` too.
use anyhow::{bail, Context, Result};
use samurai_engine::tracker::{KeyframePrompt, MaskPrompt, PointPrompt};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One piece of a keyframe as given (several pieces on one object and frame combine).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPrompt {
    pub name: String,
    pub frame: usize,
    pub part: PromptPart,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptPart {
    Box([f64; 4]),
    Point(PointPrompt),
    /// A matte file (PNG or EXR at the frame's size; first channel, > 0.5 is inside).
    Mask(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClipEntry {
    frames: String,
    objects: BTreeMap<String, ObjectKeyframes>,
}

/// One keyframe (the original format) or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum ObjectKeyframes {
    One(KeyframeEntry),
    Many(Vec<KeyframeEntry>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyframeEntry {
    frame: usize,
    #[serde(rename = "box")]
    bbox: Option<[f64; 4]>,
    /// `[x, y, L]`: L is 1 (positive) or 0 (negative).
    #[serde(default)]
    points: Vec<[f64; 3]>,
    /// Relative to the prompts file's folder.
    mask: Option<PathBuf>,
}

/// Splits `NAME:FRAME:REST` (the flag's name for messages).
fn split_arg<'a>(flag: &str, text: &'a str, rest_form: &str) -> Result<(&'a str, usize, &'a str)> {
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(frame), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("{flag} '{text}': expected NAME:FRAME:{rest_form}");
    };
    if name.is_empty() {
        bail!("{flag} '{text}': the object name is empty");
    }
    let frame = frame.trim().parse().with_context(|| format!("{flag} '{text}': '{frame}' is not a frame number"))?;
    Ok((name, frame, rest))
}

/// Parses `NAME:FRAME:x1,y1,x2,y2`.
pub fn parse_object_arg(text: &str) -> Result<ObjectPrompt> {
    let (name, frame, bbox) = split_arg("--object", text, "x1,y1,x2,y2")?;
    Ok(ObjectPrompt { name: name.to_owned(), frame, part: PromptPart::Box(parse_box(bbox).with_context(|| format!("--object '{text}'"))?) })
}

/// Parses `x1,y1,x2,y2`.
pub fn parse_box(text: &str) -> Result<[f64; 4]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        bail!("--box '{text}': expected four comma-separated numbers x1,y1,x2,y2");
    }
    let mut b = [0.0; 4];
    for (slot, p) in b.iter_mut().zip(&parts) {
        *slot = p.parse().with_context(|| format!("--box '{text}': '{p}' is not a number"))?;
    }
    Ok(b)
}

/// Parses `x,y,L` (L: 1 positive, 0 negative).
pub fn parse_point(text: &str) -> Result<PointPrompt> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [x, y, l] = parts[..] else { bail!("point '{text}': expected x,y,L (L is 1 for positive, 0 for negative)") };
    let x: f64 = x.parse().with_context(|| format!("point '{text}': '{x}' is not a number"))?;
    let y: f64 = y.parse().with_context(|| format!("point '{text}': '{y}' is not a number"))?;
    point_from(x, y, l).with_context(|| format!("point '{text}'"))
}

fn point_from(x: f64, y: f64, label: &str) -> Result<PointPrompt> {
    let positive = match label {
        "1" => true,
        "0" => false,
        other => bail!("label '{other}' must be 1 (positive) or 0 (negative)"),
    };
    if !x.is_finite() || !y.is_finite() {
        bail!("({x}, {y}) is not a finite position");
    }
    Ok(PointPrompt { x, y, positive })
}

/// Parses `NAME:FRAME:x,y,L`.
pub fn parse_point_arg(text: &str) -> Result<ObjectPrompt> {
    let (name, frame, point) = split_arg("--point", text, "x,y,L")?;
    Ok(ObjectPrompt {
        name: name.to_owned(),
        frame,
        part: PromptPart::Point(parse_point(point).with_context(|| format!("--point '{text}'"))?),
    })
}

/// Parses `NAME:FRAME:FILE`.
pub fn parse_mask_arg(text: &str) -> Result<ObjectPrompt> {
    let (name, frame, file) = split_arg("--mask", text, "FILE")?;
    if file.is_empty() {
        bail!("--mask '{text}': the file name is empty");
    }
    Ok(ObjectPrompt { name: name.to_owned(), frame, part: PromptPart::Mask(PathBuf::from(file)) })
}

/// Reads the prompts of one clip from a prompts YAML. Without `clip`, picks the entry whose
/// `frames` is the last component of `frames_dir`, or the only entry.
pub fn read_prompts(path: &Path, clip: Option<&str>, frames_dir: &Path) -> Result<Vec<ObjectPrompt>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let clips: BTreeMap<String, ClipEntry> =
        serde_norway::from_str(&text).with_context(|| format!("{}: not a prompts file", path.display()))?;
    let dir_name = frames_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (name, entry) = match clip {
        Some(c) => clips
            .iter()
            .find(|(k, _)| k.as_str() == c)
            .with_context(|| format!("{}: no clip '{c}' (has: {})", path.display(), names(&clips)))?,
        None if clips.len() == 1 => clips.iter().next().expect("one entry"),
        None => clips
            .iter()
            .find(|(_, e)| e.frames == dir_name)
            .with_context(|| format!("{}: no clip has frames '{dir_name}'; choose one with --clip ({})", path.display(), names(&clips)))?,
    };
    if entry.objects.is_empty() {
        bail!("{}: clip '{name}' has no objects", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (object, keys) in &entry.objects {
        let keys = match keys {
            ObjectKeyframes::One(k) => std::slice::from_ref(k),
            ObjectKeyframes::Many(v) => v.as_slice(),
        };
        for k in keys {
            let at = |part| ObjectPrompt { name: object.clone(), frame: k.frame, part };
            let here = || format!("{}: clip '{name}' object '{object}' frame {}", path.display(), k.frame);
            if k.bbox.is_none() && k.points.is_empty() && k.mask.is_none() {
                bail!("{}: no box, points or mask", here());
            }
            out.extend(k.bbox.map(|b| at(PromptPart::Box(b))));
            for p in &k.points {
                let label = if p[2] == 1.0 {
                    "1"
                } else if p[2] == 0.0 {
                    "0"
                } else {
                    &p[2].to_string()
                };
                out.push(at(PromptPart::Point(point_from(p[0], p[1], label).with_context(|| format!("{}: points", here()))?)));
            }
            out.extend(k.mask.as_ref().map(|m| at(PromptPart::Mask(base.join(m)))));
        }
    }
    Ok(out)
}

/// Every clip entry of a prompts YAML with its frames folder (relative to the file's own
/// folder): the shots of `farm plan --shots`, in name order.
pub fn clip_folders(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let clips: BTreeMap<String, ClipEntry> =
        serde_norway::from_str(&text).with_context(|| format!("{}: not a prompts file", path.display()))?;
    if clips.is_empty() {
        bail!("{}: no clip entry", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(clips.into_iter().map(|(name, entry)| (name, base.join(entry.frames))).collect())
}

fn names(clips: &BTreeMap<String, ClipEntry>) -> String {
    clips.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// Combines the pieces into one prompt per object and frame (objects in first-seen order):
/// at most one box and one mask per keyframe; points keep their order.
pub fn combine(parts: &[ObjectPrompt], frame_size: (u32, u32)) -> Result<Vec<(String, BTreeMap<usize, KeyframePrompt>)>> {
    let mut out: Vec<(String, BTreeMap<usize, KeyframePrompt>)> = Vec::new();
    for p in parts {
        let i = match out.iter().position(|(n, _)| *n == p.name) {
            Some(i) => i,
            None => {
                out.push((p.name.clone(), BTreeMap::new()));
                out.len() - 1
            }
        };
        let key = out[i].1.entry(p.frame).or_default();
        let (name, frame) = (&p.name, p.frame);
        match &p.part {
            PromptPart::Box(b) if key.bbox.is_some() => {
                bail!("object '{name}' frame {frame}: two boxes given ({:?} and {b:?})", key.bbox.unwrap())
            }
            PromptPart::Box(b) => key.bbox = Some(*b),
            PromptPart::Point(q) => key.points.push(*q),
            PromptPart::Mask(f) if key.mask.is_some() => {
                bail!("object '{name}' frame {frame}: two masks given (the second: {})", f.display())
            }
            PromptPart::Mask(f) => {
                key.mask = Some(read_mask(f, frame_size).with_context(|| format!("--mask of object '{name}' frame {frame}"))?)
            }
        }
    }
    Ok(out)
}

/// Reads a matte file as a keyframe mask: PNG (8/16-bit, scaled to 0–1) or EXR (linear
/// values as they are); its first channel; > 0.5 is inside. It must have the frame's size
/// and not be empty.
pub fn read_mask(path: &Path, (w, h): (u32, u32)) -> Result<MaskPrompt> {
    let img = image::open(path).with_context(|| format!("mask {}", path.display()))?.to_rgb32f();
    if (img.width(), img.height()) != (w, h) {
        bail!("mask {} is {}x{} but the frames are {w}x{h}", path.display(), img.width(), img.height());
    }
    let mask = MaskPrompt::from_bits(w, h, img.pixels().map(|p| p.0[0] > 0.5))?;
    if mask.inside_count() == 0 {
        bail!("mask {} is empty: no pixel of its first channel is above 0.5", path.display());
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(p: &ObjectPrompt) -> Option<[f64; 4]> {
        match p.part {
            PromptPart::Box(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn object_point_and_mask_args() {
        let p = parse_object_arg("girl:0:310,0,515,400").unwrap();
        assert_eq!((p.name.as_str(), p.frame, boxed(&p)), ("girl", 0, Some([310.0, 0.0, 515.0, 400.0])));
        assert!(parse_object_arg("girl:x:1,2,3,4").is_err());
        assert!(parse_object_arg("girl:0").is_err());
        assert!(parse_object_arg(":0:1,2,3,4").is_err());
        let p = parse_point_arg("girl:3:10.5,20,0").unwrap();
        assert_eq!((p.frame, p.part), (3, PromptPart::Point(PointPrompt { x: 10.5, y: 20.0, positive: false })));
        let e = format!("{:#}", parse_point_arg("girl:3:10,20,2").unwrap_err());
        assert!(e.contains("label '2' must be 1 (positive) or 0 (negative)"), "{e}");
        assert!(format!("{:#}", parse_point_arg("girl:3:10,20").unwrap_err()).contains("expected x,y,L"));
        let p = parse_mask_arg("girl:4:/tmp/a:b.png").unwrap();
        assert_eq!(p.part, PromptPart::Mask(PathBuf::from("/tmp/a:b.png")));
    }

    #[test]
    fn pieces_combine_per_object_and_frame() {
        let parts = vec![
            parse_object_arg("girl:0:1,2,30,40").unwrap(),
            parse_point_arg("boy:2:5,5,1").unwrap(),
            parse_point_arg("girl:0:10,10,1").unwrap(),
            parse_point_arg("girl:0:12,12,0").unwrap(),
        ];
        let c = combine(&parts, (64, 48)).unwrap();
        assert_eq!(c.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["girl", "boy"]);
        let k = &c[0].1[&0];
        assert_eq!((k.bbox, k.points.len(), k.points[1].positive), (Some([1.0, 2.0, 30.0, 40.0]), 2, false));
        let twice = vec![parse_object_arg("girl:0:1,2,30,40").unwrap(), parse_object_arg("girl:0:1,2,31,40").unwrap()];
        assert!(combine(&twice, (64, 48)).unwrap_err().to_string().contains("two boxes"));
    }

    #[test]
    fn masks_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, w: u32, h: u32, on: bool| {
            let img = image::GrayImage::from_fn(w, h, |x, _| image::Luma([if on && x < 3 { 255 } else { 0 }]));
            let p = dir.path().join(name);
            img.save(&p).unwrap();
            p
        };
        let m = read_mask(&write("ok.png", 8, 4, true), (8, 4)).unwrap();
        assert_eq!(m.inside_count(), 12);
        let e = read_mask(&write("small.png", 4, 4, true), (8, 4)).unwrap_err().to_string();
        assert!(e.contains("small.png is 4x4 but the frames are 8x4"), "{e}");
        let e = read_mask(&write("empty.png", 8, 4, false), (8, 4)).unwrap_err().to_string();
        assert!(e.contains("empty.png is empty"), "{e}");
    }

    #[test]
    fn sample_prompts_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/clips/prompts.yaml");
        let p = read_prompts(&path, None, Path::new("/x/bedroom")).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().any(|o| o.name == "girl" && boxed(o) == Some([310.0, 0.0, 515.0, 400.0])));
        let err = read_prompts(&path, Some("cat"), Path::new("bedroom")).unwrap_err().to_string();
        assert!(err.contains("no clip 'cat'"), "{err}");
    }

    #[test]
    fn prompts_file_with_points_masks_and_several_keyframes() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "c:\n  frames: c\n  objects:\n    a: { frame: 0, box: [1, 2, 30, 40], points: [[5, 6, 1], [7, 8, 0]] }\n    b:\n      - { frame: 1, mask: m.png }\n      - { frame: 4, points: [[3, 3, 1]] }\n";
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, yaml).unwrap();
        let p = read_prompts(&path, None, Path::new("c")).unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(p[4].part, PromptPart::Point(PointPrompt { x: 3.0, y: 3.0, positive: true }));
        assert_eq!(p[3].part, PromptPart::Mask(dir.path().join("m.png")));
        std::fs::write(&path, "c:\n  frames: c\n  objects:\n    a: { frame: 0, points: [[5, 6, 3]] }\n").unwrap();
        let e = format!("{:#}", read_prompts(&path, None, Path::new("c")).unwrap_err());
        assert!(e.contains("object 'a' frame 0: points") && e.contains("label '3'"), "{e}");
        std::fs::write(&path, "c:\n  frames: c\n  objects:\n    a: { frame: 0 }\n").unwrap();
        let e = format!("{:#}", read_prompts(&path, None, Path::new("c")).unwrap_err());
        assert!(e.contains("no box, points or mask"), "{e}");
    }
}
