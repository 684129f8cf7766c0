//! What configures tracking and what the artist prompts, as types. These travel unchanged
//! from the plugin's parameters over the helper socket into the engine (never as strings
//! parsed back); the CLI builds the same types from its arguments.
use crate::config::{ModelSize, Preset, SamuraiConfig};
use crate::cpu::{Bf16Matrix, CpuInfo};
use crate::error::{Error, Result};
pub use crate::models::ModelSource;
pub use crate::prompt::{KeyframePrompt, MaskPrompt, PointPrompt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How frames between two keyframes combine the two passes that cover them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BlendMode {
    /// Linear blend of logits by temporal distance (no pop at the midpoint).
    #[default]
    Blend,
    /// The pass of the nearer keyframe (ties go to the earlier keyframe).
    Nearest,
    /// The forward pass from the earlier keyframe only.
    Forward,
}

impl BlendMode {
    pub const ALL: [BlendMode; 3] = [Self::Blend, Self::Nearest, Self::Forward];

    pub fn name(self) -> &'static str {
        match self {
            Self::Blend => "blend",
            Self::Nearest => "nearest",
            Self::Forward => "forward",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s.to_ascii_lowercase())
            .ok_or_else(|| Error::invalid("mode", format!("'{s}' is not one of blend, nearest, forward")))
    }
}

/// Which device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    /// Parses `auto`, `cpu`, `cuda` or `cuda:N`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(Self::Cuda(n)),
                None => Err(Error::invalid("device", format!("'{s}' is not one of auto, cpu, cuda, cuda:N"))),
            },
        }
    }
}

/// Numeric precision of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Precision {
    /// float32 everywhere (reference parity).
    #[default]
    F32,
    /// bfloat16 weights and activations: SAM 2's own working precision on GPUs, and fast on
    /// CPUs with AMX matrix units.
    Bf16,
}

/// What `auto` chose and why, for the log, `doctor` and the analysis's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedPrecision {
    pub precision: Precision,
    /// Why, in words: "asked for", or the machine's reason.
    pub why: &'static str,
}

impl std::fmt::Display for ResolvedPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.precision, self.why)
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl Precision {
    /// Parses `fp32`/`f32`/`float32` or `bf16`/`bfloat16`.
    pub fn parse(s: &str) -> Result<Self> {
        match Self::parse_choice(s)? {
            Some(p) => Ok(p),
            None => Err(Error::invalid("precision", "'auto' is not allowed here: one of fp32, bf16")),
        }
    }

    /// Parses a user's choice: `auto` (None, see [`Precision::auto`]) or a precision.
    pub fn parse_choice(s: &str) -> Result<Option<Self>> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "fp32" | "f32" | "float32" | "float" => Ok(Some(Self::F32)),
            "bf16" | "bfloat16" => Ok(Some(Self::Bf16)),
            other => Err(Error::invalid("precision", format!("'{other}' is not one of auto, fp32, bf16"))),
        }
    }

    /// What `auto` means on a CUDA device (`cuda`) or on a CPU that multiplies bf16
    /// matrices as `cpu` says: bf16 on CUDA (SAM 2 runs its video predictor under bf16
    /// autocast there), on a CPU with AMX and on an AMD CPU with AVX512-BF16; fp32 elsewhere.
    /// AVX512-BF16 is not enough on other CPUs: on this project's machine of that kind,
    /// libtorch's bf16 matmul ran at 0.58× its fp32 rate, so bf16 would be slower and less
    /// exact, while on its AMD EPYC it ran at 2.2× and a tracked frame took 0.6× its fp32
    /// time (see [`Bf16Matrix`]).
    pub fn auto(cuda: bool, cpu: Bf16Matrix) -> ResolvedPrecision {
        let (precision, why) = match (cuda, cpu) {
            (true, _) => (Self::Bf16, "auto: a CUDA device"),
            (false, Bf16Matrix::Amx) => (Self::Bf16, "auto: a CPU with AMX bf16 matrix units"),
            (false, Bf16Matrix::Avx512Bf16Amd) => {
                (Self::Bf16, "auto: an AMD CPU with AVX512-BF16, where bf16 products run at twice the fp32 rate")
            }
            (false, Bf16Matrix::Avx512Bf16) => {
                (Self::F32, "auto: a CPU with AVX512-BF16 but no AMX, where bf16 products are slower than fp32")
            }
            (false, Bf16Matrix::None) => (Self::F32, "auto: a CPU without bf16 matrix units"),
        };
        ResolvedPrecision { precision, why }
    }

    /// The user's `choice` (None: auto) resolved for a CUDA device (`cuda`) or this
    /// machine's CPU.
    pub fn resolve(choice: Option<Self>, cuda: bool) -> ResolvedPrecision {
        match choice {
            Some(precision) => ResolvedPrecision { precision, why: "asked for" },
            None => Self::auto(cuda, CpuInfo::this_machine().bf16_matrix()),
        }
    }
}

/// One SAMURAI tuning value as the node and the track cache name it: its upstream key (the
/// field's name in [`Tuning`] and [`SamuraiConfig`]), the node's label and whether it is a
/// whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TuningField {
    pub key: &'static str,
    pub label: &'static str,
    pub integer: bool,
}

/// A tuning value's type: how it is carried as `f64` (node parameters, track-cache keys).
trait TuningValue: Copy {
    const INTEGER: bool;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl TuningValue for f64 {
    const INTEGER: bool = false;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

impl TuningValue for u32 {
    const INTEGER: bool = true;
    fn to_f64(self) -> f64 {
        self as f64
    }
    /// Rounded, negatives as 0.
    fn from_f64(v: f64) -> Self {
        v.round().max(0.0) as u32
    }
}

impl TuningValue for i64 {
    const INTEGER: bool = true;
    fn to_f64(self) -> f64 {
        self as f64
    }
    /// Rounded, negatives as 0 (the only integer of this type, `fill_hole_area`, is an area).
    fn from_f64(v: f64) -> Self {
        v.round().max(0.0) as i64
    }
}

/// The tuning values, written once: the [`Tuning`] struct, its [`Tuning::FIELDS`] table,
/// its conversions from and to [`SamuraiConfig`] (by field name, so a field missing there
/// does not compile) and its by-name reading ([`Tuning::from_values`]) all come from this
/// list. Adding a value here adds it to the node's panel and the track-cache key.
macro_rules! tuning {
    ($($(#[$doc:meta])* $field:ident: $ty:ty, $label:literal;)*) => {
        /// SAMURAI tuning values an artist may set instead of the model's preset (upstream
        /// key names, see `configs/`).
        #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
        pub struct Tuning {
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Tuning {
            /// Every value, in a fixed order (the node's panel, track-cache keys, messages).
            pub const FIELDS: &'static [TuningField] =
                &[$(TuningField { key: stringify!($field), label: $label, integer: <$ty as TuningValue>::INTEGER },)*];

            /// The tuning values of a configuration.
            pub fn of(c: &SamuraiConfig) -> Self {
                Tuning { $($field: c.$field,)* }
            }

            /// `base` with these values in place of its own.
            pub fn apply(&self, base: SamuraiConfig) -> SamuraiConfig {
                SamuraiConfig { $($field: self.$field,)* ..base }
            }

            /// `(upstream key, value)` pairs, in the order of [`Tuning::FIELDS`].
            pub fn fields(&self) -> Vec<(&'static str, f64)> {
                vec![$((stringify!($field), TuningValue::to_f64(self.$field)),)*]
            }

            /// The values read by name: `value` is asked once per field of
            /// [`Tuning::FIELDS`] (integers are rounded, negative integers read as 0).
            pub fn from_values<E>(mut value: impl FnMut(&TuningField) -> std::result::Result<f64, E>) -> std::result::Result<Self, E> {
                let mut fields = Self::FIELDS.iter();
                Ok(Tuning { $($field: TuningValue::from_f64(value(fields.next().expect("one entry per field"))?),)* })
            }
        }
    };
}

tuning! {
    stable_frames_threshold: u32, "Stable frames";
    stable_ious_threshold: f64, "Stable IoU";
    min_obj_score_logits: f64, "Min object score";
    kf_score_weight: f64, "Kalman score weight";
    memory_bank_iou_threshold: f64, "Memory IoU threshold";
    memory_bank_obj_score_threshold: f64, "Memory object-score threshold";
    memory_bank_kf_score_threshold: f64, "Memory Kalman-score threshold";
    fill_hole_area: i64, "Fill hole area";
}

/// Everything that configures tracking; any change invalidates the engine's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// The network: a published size (found or downloaded by the helper) or a checkpoint
    /// file (its size read from it).
    pub model: ModelSource,
    pub device: DeviceChoice,
    /// `None` = automatic: bf16 on CUDA, fp32 on CPU.
    pub precision: Option<Precision>,
    /// The network's input size (a multiple of 64 from 256 to 1024).
    pub image_size: i64,
    /// `None` = the preset of the model actually loaded.
    pub tuning: Option<Tuning>,
    /// Hole filling on (with the tuning's `fill_hole_area`) or off.
    pub fill_holes: bool,
    pub mode: BlendMode,
    pub non_overlap: bool,
    /// Device memory above which the tracker moves kept image features and memory-bank
    /// entries to host memory (MiB of the CUDA caching allocator; 0 = never). Results are
    /// the same either way; no effect on the CPU. The plugin's "GPU memory limit (MB)".
    pub gpu_memory_limit_mb: u64,
    /// Whether the helper asks the plugin for the frame the tracker will load next before
    /// it computes on the current one, so the host fetch overlaps the network (see
    /// `protocol`). Results are the same either way; off only for measuring
    /// (`SAMURAI_ROTO_FRAME_PREFETCH=0` in the plugin).
    pub frame_prefetch: bool,
}

impl EngineSettings {
    /// The checkpoint file `checkpoint` with everything else at its default (see
    /// [`Self::with_model`]).
    pub fn new(checkpoint: impl Into<PathBuf>) -> Self {
        Self::with_model(ModelSource::File(checkpoint.into()))
    }

    /// `model` with everything else at its default: automatic device and precision,
    /// quality 1024, the model's preset tuning, hole filling on, blended passes, objects
    /// may overlap, no GPU memory limit, frames asked for ahead.
    pub fn with_model(model: ModelSource) -> Self {
        EngineSettings {
            model,
            device: DeviceChoice::Auto,
            precision: None,
            image_size: 1024,
            tuning: None,
            fill_holes: true,
            mode: BlendMode::Blend,
            non_overlap: false,
            gpu_memory_limit_mb: 0,
            frame_prefetch: true,
        }
    }

    /// The SAMURAI configuration for a model of `size`: its preset, with the artist's
    /// tuning in place when set, and hole filling as asked.
    pub fn samurai(&self, size: ModelSize) -> Result<SamuraiConfig> {
        let preset = Preset::builtin(size).samurai;
        let mut c = match &self.tuning {
            Some(t) => t.apply(preset),
            None => preset,
        };
        if !self.fill_holes {
            c.fill_hole_area = 0;
        }
        c.validate().map_err(|reason| Error::Config { origin: "SAMURAI tuning".into(), reason })?;
        Ok(c)
    }

    /// Whether `other` gives the same results: it differs at most in what changes how the
    /// tracker computes, not what (the GPU memory limit, frames asked for ahead), so
    /// finished frames stay valid across the change.
    pub fn same_results(&self, other: &EngineSettings) -> bool {
        let how = |s: &EngineSettings| EngineSettings { gpu_memory_limit_mb: 0, frame_prefetch: true, ..s.clone() };
        how(self) == how(other)
    }

    /// What decides which network is loaded (the helper loads each once).
    pub fn model_key(&self) -> (ModelSource, i64, DeviceChoice, Option<Precision>) {
        (self.model.clone(), self.image_size, self.device, self.precision)
    }
}

/// One object's keyframes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectKeys {
    pub name: String,
    /// frame → the prompts on it, in pixels of the frames (x right, y down, origin top-left).
    pub keyframes: BTreeMap<i64, KeyframePrompt>,
}

impl ObjectKeys {
    /// An object with box keyframes only.
    pub fn from_boxes(name: impl Into<String>, boxes: impl IntoIterator<Item = (i64, [f64; 4])>) -> Self {
        Self { name: name.into(), keyframes: boxes.into_iter().map(|(f, b)| (f, KeyframePrompt::from_box(b))).collect() }
    }
}

/// One frame as the engine eats it: sRGB 8-bit RGB, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameImage {
    pub width: u32,
    pub height: u32,
    pub rgb8: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auto` is bf16 on CUDA, on AMX and on AMD's AVX512-BF16, fp32 on every other CPU; a
    /// choice is kept as asked.
    #[test]
    fn precision_auto_follows_the_device_and_the_cpus_matrix_units() {
        use Bf16Matrix::{Amx, Avx512Bf16, Avx512Bf16Amd};
        let auto = |cuda, cpu| Precision::auto(cuda, cpu).precision;
        for cpu in [Amx, Avx512Bf16Amd, Avx512Bf16, Bf16Matrix::None] {
            assert_eq!(auto(true, cpu), Precision::Bf16, "{cpu:?} with CUDA");
        }
        assert_eq!(auto(false, Amx), Precision::Bf16);
        assert_eq!(auto(false, Avx512Bf16Amd), Precision::Bf16);
        assert_eq!(auto(false, Avx512Bf16), Precision::F32);
        assert_eq!(auto(false, Bf16Matrix::None), Precision::F32);
        for (choice, cuda) in [(Precision::F32, true), (Precision::Bf16, false)] {
            let r = Precision::resolve(Some(choice), cuda);
            assert_eq!((r.precision, r.why), (choice, "asked for"));
        }
        // auto on this machine: what its CPU flags say.
        let here = Precision::resolve(None, false);
        assert_eq!(here, Precision::auto(false, CpuInfo::read().bf16_matrix()));
        assert!(here.to_string().starts_with(&format!("{} (auto: a", here.precision)), "{here}");
        assert_eq!(Precision::parse_choice(" AUTO ").unwrap(), None);
        assert_eq!(Precision::parse_choice("bfloat16").unwrap(), Some(Precision::Bf16));
        let e = Precision::parse_choice("fp8").unwrap_err().to_string();
        assert!(e.contains("precision") && e.contains("fp8") && e.contains("auto, fp32, bf16"), "{e}");
        assert!(Precision::parse("auto").unwrap_err().to_string().contains("'auto' is not allowed here"));
    }

    /// The tuning table and the preset files' `samurai:` section name the same values (all
    /// but the on/off switch), so a value added to one without the other fails here.
    #[test]
    fn the_tuning_table_covers_the_presets_samurai_section() {
        let preset = Preset::builtin(ModelSize::Large).samurai;
        let yaml = serde_norway::to_value(&preset).unwrap();
        let mut config_keys: Vec<String> = yaml.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        config_keys.retain(|k| k != "samurai_mode");
        config_keys.sort();
        let mut table: Vec<String> = Tuning::FIELDS.iter().map(|f| f.key.to_owned()).collect();
        table.sort();
        assert_eq!(config_keys, table);
        // Read by name, whatever order the caller keeps them in.
        let tuning = Tuning::of(&preset);
        let by_name: std::collections::HashMap<&str, f64> = tuning.fields().into_iter().collect();
        let read = Tuning::from_values::<()>(|f| Ok(by_name[f.key])).unwrap();
        assert_eq!(read, tuning);
        assert_eq!(read.apply(preset.clone()), preset);
        let integers: Vec<&str> = Tuning::FIELDS.iter().filter(|f| f.integer).map(|f| f.key).collect();
        assert_eq!(integers, ["stable_frames_threshold", "fill_hole_area"]);
        let negative = Tuning::from_values::<()>(|f| Ok(if f.integer { -3.4 } else { 0.5 })).unwrap();
        assert_eq!((negative.stable_frames_threshold, negative.fill_hole_area, negative.kf_score_weight), (0, 0, 0.5));
    }

    #[test]
    fn untouched_tuning_is_the_loaded_models_preset() {
        let s = EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new("x.pt") };
        assert_eq!(s.samurai(ModelSize::Large).unwrap().kf_score_weight, 0.15);
        assert_eq!(s.samurai(ModelSize::Tiny).unwrap().kf_score_weight, 0.25);
        let custom = Tuning { kf_score_weight: 0.5, ..Tuning::of(&Preset::builtin(ModelSize::Large).samurai) };
        let s = EngineSettings { tuning: Some(custom), fill_holes: false, ..s };
        let c = s.samurai(ModelSize::Large).unwrap();
        assert_eq!((c.kf_score_weight, c.fill_hole_area), (0.5, 0));
        assert_eq!(BlendMode::parse("Nearest").unwrap(), BlendMode::Nearest);
        assert!(BlendMode::parse("both").unwrap_err().to_string().contains("both"));
        assert_eq!(DeviceChoice::parse("cuda:1").unwrap(), DeviceChoice::Cuda(1));
        let limited = EngineSettings { gpu_memory_limit_mb: 2048, frame_prefetch: false, ..s.clone() };
        assert!(limited.same_results(&s) && limited != s);
        assert!(!EngineSettings { image_size: 512, ..s.clone() }.same_results(&s));
    }
}
