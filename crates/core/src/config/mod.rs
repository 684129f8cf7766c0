//! Configuration: the SAM 2.1 architecture ([`ModelConfig`]) and the SAMURAI tracker tuning
//! ([`SamuraiConfig`]), both with the upstream YAML key names (reference:
//! `sam2/configs/samurai/sam2.1_hiera_*.yaml` and `SAM2Base.__init__`). Presets for the four
//! model sizes are the YAML files in `configs/`, compiled into the binary. Unknown keys are
//! rejected with the key named.
mod model;
mod samurai;

pub use model::{
    ImageEncoderConfig, MaskDecoderExtraArgs, MemoryAttentionConfig, MemoryEncoderConfig, ModelConfig, NeckConfig, TrunkConfig,
};
pub use samurai::SamuraiConfig;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The four published SAM 2.1 model sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSize {
    Tiny,
    Small,
    BasePlus,
    Large,
}

impl ModelSize {
    pub const ALL: [ModelSize; 4] = [Self::Tiny, Self::Small, Self::BasePlus, Self::Large];

    /// The name used by the official files: `sam2.1_hiera_{name}.pt`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Small => "small",
            Self::BasePlus => "base_plus",
            Self::Large => "large",
        }
    }

    /// The short suffix of the official config files: `sam2.1_hiera_{t,s,b+,l}.yaml`.
    pub fn config_suffix(self) -> &'static str {
        match self {
            Self::Tiny => "t",
            Self::Small => "s",
            Self::BasePlus => "b+",
            Self::Large => "l",
        }
    }

    /// Parses `tiny|small|base_plus|large` (also `t|s|b+|l` and `base-plus`).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" | "t" => Ok(Self::Tiny),
            "small" | "s" => Ok(Self::Small),
            "base_plus" | "base-plus" | "b+" | "baseplus" => Ok(Self::BasePlus),
            "large" | "l" => Ok(Self::Large),
            other => Err(Error::invalid("model size", format!("'{other}' is not one of tiny, small, base_plus, large"))),
        }
    }

    /// The trunk's (embed_dim, total block count), which identifies a size in a checkpoint.
    pub fn trunk_signature(self) -> (i64, usize) {
        let cfg = Preset::builtin(self).model.image_encoder.trunk;
        (cfg.embed_dim, cfg.stages.iter().sum())
    }

    /// Identifies the size from the trunk's embed dim and block count.
    pub fn from_trunk_signature(embed_dim: i64, blocks: usize) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.trunk_signature() == (embed_dim, blocks))
    }
}

impl std::fmt::Display for ModelSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One configuration file: architecture plus tracker tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub model: ModelConfig,
    pub samurai: SamuraiConfig,
}

const PRESET_T: &str = include_str!("../../../../configs/sam2.1_hiera_t.yaml");
const PRESET_S: &str = include_str!("../../../../configs/sam2.1_hiera_s.yaml");
const PRESET_BP: &str = include_str!("../../../../configs/sam2.1_hiera_b+.yaml");
const PRESET_L: &str = include_str!("../../../../configs/sam2.1_hiera_l.yaml");

impl Preset {
    /// The built-in preset for a model size (the files in `configs/`).
    pub fn builtin(size: ModelSize) -> Self {
        let (text, name) = match size {
            ModelSize::Tiny => (PRESET_T, "sam2.1_hiera_t.yaml"),
            ModelSize::Small => (PRESET_S, "sam2.1_hiera_s.yaml"),
            ModelSize::BasePlus => (PRESET_BP, "sam2.1_hiera_b+.yaml"),
            ModelSize::Large => (PRESET_L, "sam2.1_hiera_l.yaml"),
        };
        // The built-in files are validated by a unit test; a failure here is a build defect.
        Self::from_yaml(text, name).expect("built-in preset is valid")
    }

    /// Parses a preset from YAML text; `origin` names the source in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self> {
        let preset: Preset =
            serde_norway::from_str(text).map_err(|e| Error::Config { origin: origin.to_owned(), reason: e.to_string() })?;
        preset.validate().map_err(|reason| Error::Config { origin: origin.to_owned(), reason })?;
        Ok(preset)
    }

    /// Reads a preset file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Checks value ranges; returns a message naming the offending key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.model.validate()?;
        self.samurai.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_parse_and_match_the_published_architectures() {
        let expect = [
            (ModelSize::Tiny, 96, vec![1, 2, 7, 2], 0.25),
            (ModelSize::Small, 96, vec![1, 2, 11, 2], 0.25),
            (ModelSize::BasePlus, 112, vec![2, 3, 16, 3], 0.25),
            (ModelSize::Large, 144, vec![2, 6, 36, 4], 0.15),
        ];
        for (size, dim, stages, kf) in expect {
            let p = Preset::builtin(size);
            assert_eq!(p.model.image_encoder.trunk.embed_dim, dim, "{size}");
            assert_eq!(p.model.image_encoder.trunk.stages, stages, "{size}");
            assert_eq!(p.samurai.kf_score_weight, kf, "{size}");
            assert_eq!(ModelSize::from_trunk_signature(dim, stages.iter().sum()), Some(size));
        }
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let text = PRESET_T.replace("kf_score_weight:", "kf_score_wieght:");
        let err = Preset::from_yaml(&text, "test.yaml").unwrap_err().to_string();
        assert!(err.contains("kf_score_wieght"), "{err}");
        assert!(err.contains("test.yaml"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected_by_key() {
        let text = PRESET_T.replace("image_size: 1024", "image_size: 1000");
        let err = Preset::from_yaml(&text, "x.yaml").unwrap_err().to_string();
        assert!(err.contains("image_size"), "{err}");
    }

    #[test]
    fn size_names_parse() {
        assert_eq!(ModelSize::parse("b+").unwrap(), ModelSize::BasePlus);
        assert!(ModelSize::parse("huge").unwrap_err().to_string().contains("huge"));
    }
}
