//! Keyframe prompts for `track`: `--object NAME:FRAME:x1,y1,x2,y2` and the prompts YAML
//! format of the sample clips (`clip: {frames: DIR, objects: {NAME: {frame: F, box: [..]}}}`).
use crate::commands::parse_box;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One keyframe box of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPrompt {
    pub name: String,
    pub frame: usize,
    pub bbox: [f64; 4],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClipEntry {
    frames: String,
    objects: BTreeMap<String, ObjectEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectEntry {
    frame: usize,
    #[serde(rename = "box")]
    bbox: [f64; 4],
}

/// Parses `NAME:FRAME:x1,y1,x2,y2`.
pub fn parse_object_arg(text: &str) -> Result<ObjectPrompt> {
    let mut parts = text.splitn(3, ':');
    let (Some(name), Some(frame), Some(bbox)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--object '{text}': expected NAME:FRAME:x1,y1,x2,y2");
    };
    if name.is_empty() {
        bail!("--object '{text}': the object name is empty");
    }
    let frame = frame.trim().parse().with_context(|| format!("--object '{text}': '{frame}' is not a frame number"))?;
    Ok(ObjectPrompt { name: name.to_owned(), frame, bbox: parse_box(bbox).with_context(|| format!("--object '{text}'"))? })
}

/// Reads the prompts of one clip from a prompts YAML. Without `clip`, picks the entry whose
/// `frames` is the last component of `frames_dir`, or the only entry.
pub fn read_prompts(path: &Path, clip: Option<&str>, frames_dir: &Path) -> Result<Vec<ObjectPrompt>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let clips: BTreeMap<String, ClipEntry> =
        serde_yaml::from_str(&text).with_context(|| format!("{}: not a prompts file", path.display()))?;
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
    Ok(entry.objects.iter().map(|(n, o)| ObjectPrompt { name: n.clone(), frame: o.frame, bbox: o.bbox }).collect())
}

fn names(clips: &BTreeMap<String, ClipEntry>) -> String {
    clips.keys().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_args() {
        let p = parse_object_arg("girl:0:310,0,515,400").unwrap();
        assert_eq!((p.name.as_str(), p.frame, p.bbox), ("girl", 0, [310.0, 0.0, 515.0, 400.0]));
        assert!(parse_object_arg("girl:x:1,2,3,4").is_err());
        assert!(parse_object_arg("girl:0").is_err());
        assert!(parse_object_arg(":0:1,2,3,4").is_err());
    }

    #[test]
    fn sample_prompts_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/clips/prompts.yaml");
        let p = read_prompts(&path, None, Path::new("/x/bedroom")).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().any(|o| o.name == "girl" && o.bbox == [310.0, 0.0, 515.0, 400.0]));
        let err = read_prompts(&path, Some("cat"), Path::new("bedroom")).unwrap_err().to_string();
        assert!(err.contains("no clip 'cat'"), "{err}");
    }
}
