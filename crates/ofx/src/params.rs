//! The plugin's parameters: one ID/label/hint block per parameter, and their definitions.
//! IDs are stable forever (saved scripts and projects refer to them); labels and hints may
//! change. SAMURAI tuning IDs are the upstream YAML key names (configs/*.yaml, `samurai`
//! section of the reference sam2 configs).
//!
//! Box representation: each object's box is two animated `Double2D` parameters of type
//! XY-absolute in canonical coordinates (`objNBoxBL` bottom-left, `objNBoxTR` top-right).
//! OpenFX has no 4-D double parameter; two XY parameters get the host's native point
//! handling (proxy scaling, copy/paste, per-point curves) and the overlay keeps them keyed
//! together, so the union of their key times is the object's keyframe set.
use super::suites::{OfxResult, ParamSet, PropSet};
use super::sys::names as n;
use samurai_core::config::ModelSize;
use samurai_core::refine::RefineMode;
use samurai_core::settings::{BlendMode, DeviceChoice, Precision};
use std::ffi::CStr;

/// One parameter's identity.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    pub id: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
}

macro_rules! defs {
    ($($name:ident = $id:literal, $label:literal, $hint:literal;)*) => {
        $(pub const $name: Def = Def { id: $id, label: $label, hint: $hint };)*
    };
}

defs! {
    MODEL = "model", "Model", "The SAM 2.1 network: a published size (tiny is the fastest, large the most accurate), taken from the studio model folder ($SAMURAI_ROTO_MODELS) or your model cache and downloaded into the cache on first use (with progress and cancel), or \"checkpoint file\": the file set in Checkpoint.";
    CHECKPOINT = "checkpoint", "Checkpoint", "SAM 2.1 checkpoint file (.pt), used only when Model is \"checkpoint file\" (its size is read from the file).";
    DEVICE = "device", "Device", "Where the network runs: Auto picks CUDA when available, else CPU.";
    PRECISION = "precision", "Precision", "Arithmetic precision of the network. Auto: bf16 on CUDA and on CPUs with AMX matrix units (Intel Xeon since Sapphire Rapids), where it is several times faster; fp32 on other CPUs, where bf16 is not faster. A farm job exported from the node runs at what Auto chose on this machine.";
    GPU_MEMORY_LIMIT = "gpuMemoryLimit", "GPU memory limit (MB)", "Above this much memory in use on the CUDA device, the tracker moves image features and memory it keeps between frames to host memory, oldest first, and brings them back when needed: slower, same mattes. For long shots on small GPUs. 0: no limit. No effect on the CPU.";
    IMAGE_SIZE = "imageSize", "Quality", "Size the network sees each frame at; smaller is faster and coarser.";
    INPUT_COLOUR = "inputColour", "Input colour", "Colour encoding of Source: sRGB (video/display) or scene linear (converted to sRGB for tracking).";
    SELECTED = "selectedObject", "Selected object", "The object the viewer edits; drawing on empty space gives it a new box.";
    OUTPUT_MODE = "outputMode", "Output", "What the node outputs: the source with the matte in alpha, the matte alone, an ID matte (object number per pixel), the source tinted by each object's colour, the foreground premultiplied by the matte, or the edge refinement's debug picture.";
    MATTE_THRESHOLD = "matteThreshold", "Threshold", "Where the matte's edge lies, as the network's confidence from 0 to 1: 0.5 (default) is its own decision; higher shrinks the matte to what it is surer of, lower grows it.";
    THRESHOLD = "threshold", "Threshold offset (legacy)", "Scripts saved before Threshold ran from 0 to 1 kept their threshold here, in the network's logit units; it is added to Threshold. Hidden; 0 for new nodes.";
    SOFTNESS = "softness", "Softness", "How soft the matte's edge is, as a multiple of the network's own confidence ramp: 0 (default) a hard edge, 1 the network's confidence as the alpha, 2 twice as soft.";
    FILL_HOLES = "fillHoles", "Fill holes", "Fill small holes in each matte (size set by fill_hole_area).";
    NON_OVERLAP = "nonOverlap", "Non-overlap", "Each pixel belongs to at most one object.";
    PROPAGATION = "propagation", "Propagation", "Between keyframes: blend forward and backward passes, use the nearest keyframe's pass, or forward only.";
    ADVANCED = "samuraiGroup", "SAMURAI tuning", "Motion-model and memory-selection settings of SAMURAI.";
    CUSTOM_TUNING = "customTuning", "Custom tuning", "Off: the loaded model's own preset, as the command line and the reference use (the values below are ignored). On: the values below.";
    ANALYSE = "analyse", "Analyse", "Track the whole frame range now (with progress and cancel) and write the track cache file, if one is set, for farm renders.";
    CLEAR_CACHE = "clearCache", "Clear cache", "Forget every tracked frame; the next render tracks again.";
    EDGE = "edgeGroup", "Edge", "Edge refinement at the plate's resolution, guided by the plate's colours, and colour decontamination.";
    REFINE = "edgeRefine", "Refine", "Off: the network's matte stretched over the plate (smooth, detail-free edges). Fast: interactive edge refinement (tens of ms per HD frame). Quality: closed-form matting in the edge band, for final renders (a few hundred ms per HD frame).";
    BAND = "edgeBand", "Band width", "How far around the matte's uncertain edge refinement may move it, in plate pixels at full resolution. Widen for hair and motion blur, narrow for hard edges.";
    DECONTAMINATE = "edgeDecontaminate", "Decontaminate", "Premultiplied foreground output: estimate the foreground's own colours in the edge, removing the background that shows through soft and thin edges.";
    TRACK_CACHE = "trackCacheFile", "Track cache file", "File Analyse writes and renders read instead of tracking again (farm renders). Ignored, with a warning, when it no longer matches the checkpoint, settings, boxes or footage.";
    SHAPES_FILE = "shapesFile", "Shapes file", "Where Export shapes writes the objects' animated Bezier shapes: .nk (a Nuke Roto node), .py (a Natron script making a Roto node per object), .svg (one file per frame) or .json.";
    EXPORT_SHAPES = "exportShapes", "Export shapes", "Track the whole frame range (as Analyse) and write every object's mattes as animated Bezier shapes to the Shapes file.";
    FARM = "farmGroup", "Farm", "Analysis on a render farm: Export analysis job writes a job folder (plan.yaml and an OpenJD job template) that farm tasks run with the samurai-roto command line; its merge writes the Track cache file, which renders then read as after Analyse.";
    SOURCE_FRAMES = "farmSourceFrames", "Source frames", "The Source's frame files as a file pattern: the frame number as #### (one # per digit) or %04d (%0Nd, or %d unpadded), e.g. /shots/sh010/plate.####.exr. OpenFX does not tell a plugin file names: in Nuke set this to the expression [value Read1.file] (the Read node feeding Source). The farm decodes these files, so they must be the frames the host serves here: Export analysis job checks the first one.";
    FARM_JOB = "farmJobFolder", "Farm job folder", "The folder Export analysis job writes (created; a plan already there is replaced). Farm tasks must see it, and the Source frames, at the same paths.";
    FARM_SPLIT = "farmSplit", "Farm split", "How the job's passes become farm tasks: Keyframes (passes starting on the same keyframe in the same direction share a task and its image encoder runs) Passes (one task per pass: more tasks, each shorter) or Directions (two tasks, forward and backward, as one machine tracks: the least image encoder work).";
    EXPORT_JOB = "exportAnalysisJob", "Export analysis job", "Write the farm job folder for the node's objects, keyframes, settings, model and frame range, and point Track cache file at the cache its merge writes (the job folder's track.srtc unless a Track cache file is set). Run the job with OpenJD / Deadline Cloud (template.json) or `samurai-roto farm slurm`; renders then read the cache as after Analyse.";
    ENGINE = "engineGroup", "Engine", "Where and how the network runs: device, precision, GPU memory, and SAMURAI's tuning. The defaults suit most shots.";
}

/// Per-object parameter IDs: `obj{N}{suffix}` with N in 1..=8.
pub const OBJ_GROUP: &str = "Group";
pub const OBJ_ENABLE: &str = "Enable";
pub const OBJ_NAME: &str = "Name";
pub const OBJ_COLOUR: &str = "Colour";
pub const OBJ_OUTPUT: &str = "Output";
pub const OBJ_BOX_BL: &str = "BoxBL";
pub const OBJ_BOX_TR: &str = "BoxTR";
pub const OBJ_POINTS: &str = "Points";
pub const OBJ_MATTE_CHANNEL: &str = "MatteChannel";
pub const OBJ_MATTE_KEY: &str = "MatteKey";
/// The optional input whose mattes are mask keyframes (a Roto/RotoPaint node, any matte).
pub const KEYFRAME_MATTE_CLIP: &str = "KeyframeMatte";
/// The channels an object's keyframe matte can come from (None: the object uses none).
pub const MATTE_CHANNELS: [(&str, Option<usize>); 5] =
    [("None", None), ("Red", Some(0)), ("Green", Some(1)), ("Blue", Some(2)), ("Alpha", Some(3))];
pub const MAX_OBJECTS: usize = 8;

/// ID of parameter `suffix` of object `i` (0-based).
pub fn obj_id(i: usize, suffix: &str) -> String {
    format!("obj{}{}", i + 1, suffix)
}

/// Typed choice parameters: (option label, value), in option order (saved scripts store
/// the index: append only).
/// The Model choice: a published size, or `None`: the file in Checkpoint.
pub const MODELS: [(&str, Option<ModelSize>); 5] = [
    ("tiny", Some(ModelSize::Tiny)),
    ("small", Some(ModelSize::Small)),
    ("base_plus", Some(ModelSize::BasePlus)),
    ("large", Some(ModelSize::Large)),
    ("checkpoint file", None),
];

/// The Model a new node starts with: `samurai_core::models::DEFAULT_MODEL`, as `track`.
pub fn model_default() -> i32 {
    MODELS.iter().position(|(_, m)| *m == Some(samurai_core::models::DEFAULT_MODEL)).expect("the default model is a choice") as i32
}

/// Checkpoint is used, so enabled, only when Model is "checkpoint file".
pub fn sync_checkpoint_enabled(ps: ParamSet) -> OfxResult<()> {
    let file = MODELS.get(ps.param(MODEL.id)?.get_int(0.0)?.max(0) as usize).is_some_and(|(_, m)| m.is_none());
    ps.param_props(CHECKPOINT.id)?.set_int(n::kOfxParamPropEnabled, 0, file as i32)
}
pub const DEVICES: [(&str, DeviceChoice); 3] = [("auto", DeviceChoice::Auto), ("cpu", DeviceChoice::Cpu), ("cuda", DeviceChoice::Cuda(0))];
pub const PRECISIONS: [(&str, Option<Precision>); 3] = [("auto", None), ("fp32", Some(Precision::F32)), ("bf16", Some(Precision::Bf16))];
pub const IMAGE_SIZES: [(&str, i64); 4] = [("1024 (full)", 1024), ("768", 768), ("512 (fast)", 512), ("256 (draft)", 256)];
/// The Farm split choice (saved scripts store the index: append only).
pub const FARM_SPLITS: [(&str, samurai_core::farm::Split); 3] = [
    ("Keyframes", samurai_core::farm::Split::Keyframes),
    ("Passes", samurai_core::farm::Split::Passes),
    ("Directions", samurai_core::farm::Split::Directions),
];
pub const PROPAGATIONS: [(&str, BlendMode); 3] =
    [("Blend", BlendMode::Blend), ("Nearest keyframe", BlendMode::Nearest), ("Forward only", BlendMode::Forward)];

/// The option labels of a typed choice.
pub fn labels<T>(options: &[(&'static str, T)]) -> Vec<&'static str> {
    options.iter().map(|(l, _)| *l).collect()
}
pub const OUTPUT_MODES: [&str; 6] =
    ["Source + matte in alpha", "Matte only", "ID matte", "Colour overlay", "Premultiplied foreground", "Edge refinement (debug)"];
/// The output mode whose colour is the (decontaminated) foreground premultiplied by the matte.
pub const OUTPUT_PREMULTIPLIED_FOREGROUND: usize = 4;
/// The output mode that shows what edge refinement did: green where the band took the
/// solved edge, red where it fell back to the coarse matte, the matte in blue (see
/// `edge::debug_picture`). Last in the list so saved scripts keep their modes' numbers.
pub const OUTPUT_EDGE_DEBUG: usize = 5;
/// Edge refinement. Fast is the default: it costs tens of milliseconds per HD frame, so the
/// viewer stays interactive, and it lowers the matte's error against ground truth on every
/// composite of the evaluation harness (README, "Edge refinement"); Quality is the
/// final-render choice (closer to ground truth on soft edges, ten times the time).
pub const REFINE_MODES: [(&str, RefineMode); 3] = [("Off", RefineMode::Off), ("Fast", RefineMode::Fast), ("Quality", RefineMode::Quality)];
pub const REFINE_DEFAULT: i32 = 1;

/// SAMURAI tuning: the parameters are named by their upstream keys, labelled and typed by
/// `samurai_core::settings::Tuning::FIELDS` (the one list of them).
pub use samurai_core::settings::Tuning;

/// The values the tuning parameters start at: the tiny model's preset (small and
/// base_plus share it; large differs in `kf_score_weight`, which is why untouched tuning
/// means the loaded model's preset, see [`CUSTOM_TUNING`]).
pub fn tuning_defaults() -> Vec<(&'static str, f64)> {
    use samurai_core::config::{ModelSize, Preset};
    samurai_core::settings::Tuning::of(&Preset::builtin(ModelSize::Tiny).samurai).fields()
}

const OBJECT_COLOURS: [[f64; 3]; MAX_OBJECTS] = [
    [1.0, 0.3, 0.2],
    [0.2, 0.8, 0.3],
    [0.25, 0.5, 1.0],
    [1.0, 0.85, 0.1],
    [0.9, 0.3, 0.9],
    [0.1, 0.9, 0.9],
    [1.0, 0.6, 0.2],
    [0.7, 0.7, 0.7],
];

fn define(ps: ParamSet, kind: &CStr, id: &str, label: &str, hint: &str, parent: Option<&str>) -> OfxResult<PropSet> {
    let p = ps.define(kind, id)?;
    p.set_string(n::kOfxPropLabel, 0, label)?;
    p.set_string(n::kOfxParamPropHint, 0, hint)?;
    if let Some(parent) = parent {
        p.set_string(n::kOfxParamPropParent, 0, parent)?;
    }
    Ok(p)
}

fn def(ps: ParamSet, kind: &CStr, d: Def, parent: Option<&str>) -> OfxResult<PropSet> {
    define(ps, kind, d.id, d.label, d.hint, parent)
}

fn choice(ps: ParamSet, d: Def, options: &[&str], default: i32, parent: Option<&str>) -> OfxResult<()> {
    let p = def(ps, n::kOfxParamTypeChoice, d, parent)?;
    for (i, o) in options.iter().enumerate() {
        p.set_string(n::kOfxParamPropChoiceOption, i as i32, o)?;
    }
    p.set_int(n::kOfxParamPropDefault, 0, default)?;
    p.set_int(n::kOfxParamPropAnimates, 0, 0)
}

fn double(ps: ParamSet, d: Def, default: f64, range: (f64, f64), parent: Option<&str>) -> OfxResult<PropSet> {
    let p = def(ps, n::kOfxParamTypeDouble, d, parent)?;
    p.set_double(n::kOfxParamPropDefault, 0, default)?;
    p.set_double(n::kOfxParamPropDisplayMin, 0, range.0)?;
    p.set_double(n::kOfxParamPropDisplayMax, 0, range.1)?;
    p.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    Ok(p)
}

/// An integer parameter: `range` the values allowed, `display` the slider's span.
fn integer(ps: ParamSet, d: Def, default: i32, range: (i32, i32), display: (i32, i32), parent: Option<&str>) -> OfxResult<()> {
    let p = def(ps, n::kOfxParamTypeInteger, d, parent)?;
    p.set_int(n::kOfxParamPropDefault, 0, default)?;
    p.set_int(n::kOfxParamPropMin, 0, range.0)?;
    p.set_int(n::kOfxParamPropMax, 0, range.1)?;
    p.set_int(n::kOfxParamPropDisplayMin, 0, display.0)?;
    p.set_int(n::kOfxParamPropDisplayMax, 0, display.1)?;
    p.set_int(n::kOfxParamPropAnimates, 0, 0)
}

fn boolean(ps: ParamSet, id: &str, label: &str, hint: &str, default: bool, parent: Option<&str>) -> OfxResult<()> {
    let p = define(ps, n::kOfxParamTypeBoolean, id, label, hint, parent)?;
    p.set_int(n::kOfxParamPropDefault, 0, default as i32)?;
    p.set_int(n::kOfxParamPropAnimates, 0, 0)
}

fn file_path(ps: ParamSet, d: Def, must_exist: bool, parent: Option<&str>) -> OfxResult<()> {
    let p = def(ps, n::kOfxParamTypeString, d, parent)?;
    p.set_string(n::kOfxParamPropStringMode, 0, &n::kOfxParamStringIsFilePath.to_string_lossy())?;
    p.set_int(n::kOfxParamPropStringFilePathExists, 0, must_exist as i32)?;
    p.set_int(n::kOfxParamPropAnimates, 0, 0)
}

/// Defines every parameter (describe-in-context), in the order an artist works (hosts
/// show them in definition order): the objects and their prompts; what the node outputs
/// (mode, threshold, softness, cleanup, edge); the model and its quality; analysis and
/// its cache; then, in a closed group, the engineering settings (device, precision, GPU
/// memory, SAMURAI tuning). IDs never change with the order (saved scripts use them).
pub fn define_all(ps: ParamSet) -> OfxResult<()> {
    let labels_now = object_labels(&default_names());
    choice(ps, SELECTED, &labels_now.iter().map(String::as_str).collect::<Vec<_>>(), 0, None)?;
    for i in 0..MAX_OBJECTS {
        define_object(ps, i)?;
    }
    choice(ps, OUTPUT_MODE, &OUTPUT_MODES, 0, None)?;
    let threshold = double(ps, MATTE_THRESHOLD, 0.5, (0.0, 1.0), None)?;
    threshold.set_double(n::kOfxParamPropMin, 0, 0.0)?;
    threshold.set_double(n::kOfxParamPropMax, 0, 1.0)?;
    double(ps, SOFTNESS, 0.0, (0.0, 5.0), None)?;
    boolean(ps, FILL_HOLES.id, FILL_HOLES.label, FILL_HOLES.hint, true, None)?;
    boolean(ps, NON_OVERLAP.id, NON_OVERLAP.label, NON_OVERLAP.hint, false, None)?;
    define_edge(ps)?;
    choice(ps, MODEL, &labels(&MODELS), model_default(), None)?;
    file_path(ps, CHECKPOINT, true, None)?;
    choice(ps, IMAGE_SIZE, &labels(&IMAGE_SIZES), 0, None)?;
    choice(ps, INPUT_COLOUR, &["sRGB", "Linear"], 0, None)?;
    choice(ps, PROPAGATION, &labels(&PROPAGATIONS), 0, None)?;
    def(ps, n::kOfxParamTypePushButton, ANALYSE, None)?;
    def(ps, n::kOfxParamTypePushButton, CLEAR_CACHE, None)?;
    file_path(ps, TRACK_CACHE, false, None)?;
    file_path(ps, SHAPES_FILE, false, None)?;
    def(ps, n::kOfxParamTypePushButton, EXPORT_SHAPES, None)?;
    define_farm(ps)?;
    let g = def(ps, n::kOfxParamTypeGroup, ENGINE, None)?;
    g.set_int(n::kOfxParamPropGroupOpen, 0, 0)?;
    let parent = Some(ENGINE.id);
    choice(ps, DEVICE, &labels(&DEVICES), 0, parent)?;
    choice(ps, PRECISION, &labels(&PRECISIONS), 0, parent)?;
    integer(ps, GPU_MEMORY_LIMIT, 0, (0, 1 << 20), (0, 81_920), parent)?;
    define_tuning(ps)?;
    // The logit threshold of earlier builds, kept (hidden) so saved scripts render as before.
    double(ps, THRESHOLD, 0.0, (-10.0, 10.0), None)?.set_int(n::kOfxParamPropSecret, 0, 1)
}

/// The matte's threshold in logits: Threshold (the network's confidence, 0–1) as a logit,
/// plus the legacy logit offset. 0.5 and 0 give 0, the network's own decision.
pub fn threshold_logit(confidence: f64, legacy_offset: f64) -> f64 {
    let p = confidence.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln() + legacy_offset
}

/// The objects' default names (`object1` ...).
pub fn default_names() -> Vec<String> {
    (1..=MAX_OBJECTS).map(|i| format!("object{i}")).collect()
}

/// The *Selected object* options and group labels for the objects' names: "1 girl",
/// "2 boy", ... (the number keeps two objects of one name apart).
pub fn object_labels(names: &[String]) -> Vec<String> {
    names.iter().enumerate().map(|(i, n)| format!("{} {n}", i + 1)).collect()
}

/// Shows the objects by name where the host allows: the *Selected object* options and the
/// object groups' labels (called at instance creation and when a name changes). Hosts
/// that keep descriptor labels ignore it.
pub fn sync_object_names(ps: ParamSet) -> OfxResult<()> {
    let names: Vec<String> = (0..MAX_OBJECTS).map(|i| ps.param(&obj_id(i, OBJ_NAME))?.get_string()).collect::<OfxResult<_>>()?;
    let labels = object_labels(&names);
    // Host quirk: Natron 2.5 rebuilds a choice's menu only when its options are set all at
    // once (or reset and appended one by one); overwriting one option changes nothing.
    ps.param_props(SELECTED.id)?.set_all_strings(n::kOfxParamPropChoiceOption, &labels)?;
    for (i, label) in labels.iter().enumerate() {
        ps.param_props(&obj_id(i, OBJ_GROUP))?.set_string(n::kOfxPropLabel, 0, label)?;
    }
    Ok(())
}

/// Enables each control only where its toggle makes it matter: Checkpoint with Model
/// "checkpoint file", the tuning values with Custom tuning, Band width and Decontaminate
/// with refinement on, the GPU memory limit unless Device is CPU, an object's Matte
/// keyframe with a Matte channel (called at instance creation and when a toggle changes).
pub fn sync_enabled(ps: ParamSet) -> OfxResult<()> {
    sync_checkpoint_enabled(ps)?;
    let on = |id: &str| -> OfxResult<bool> { Ok(ps.param(id)?.get_int(0.0)? != 0) };
    let enable = |id: &str, e: bool| ps.param_props(id)?.set_int(n::kOfxParamPropEnabled, 0, e as i32);
    let custom = on(CUSTOM_TUNING.id)?;
    for key in Tuning::FIELDS.iter().map(|f| f.key) {
        enable(key, custom)?;
    }
    let refine = on(REFINE.id)?;
    enable(BAND.id, refine)?;
    enable(DECONTAMINATE.id, refine)?;
    let device = DEVICES.get(ps.param(DEVICE.id)?.get_int(0.0)?.max(0) as usize).map(|(_, d)| *d);
    enable(GPU_MEMORY_LIMIT.id, device != Some(DeviceChoice::Cpu))?;
    for i in 0..MAX_OBJECTS {
        enable(&obj_id(i, OBJ_MATTE_KEY), on(&obj_id(i, OBJ_MATTE_CHANNEL))?)?;
    }
    Ok(())
}

/// Whether a change of parameter `name` may change what [`sync_enabled`] decides.
pub fn toggles_enabled(name: &str) -> bool {
    [MODEL.id, CUSTOM_TUNING.id, REFINE.id, DEVICE.id].contains(&name) || name.ends_with(OBJ_MATTE_CHANNEL)
}

fn define_object(ps: ParamSet, i: usize) -> OfxResult<()> {
    let group = obj_id(i, OBJ_GROUP);
    let g = define(ps, n::kOfxParamTypeGroup, &group, &object_labels(&default_names())[i], "One tracked object.", None)?;
    g.set_int(n::kOfxParamPropGroupOpen, 0, (i == 0) as i32)?;
    let parent = Some(group.as_str());
    boolean(ps, &obj_id(i, OBJ_ENABLE), "Enable", "Track this object.", i == 0, parent)?;
    let name = define(
        ps,
        n::kOfxParamTypeString,
        &obj_id(i, OBJ_NAME),
        "Name",
        "Object name: shown in Selected object, the group's title and the viewer, and used in logs and the ID matte legend.",
        parent,
    )?;
    name.set_string(n::kOfxParamPropDefault, 0, &format!("object{}", i + 1))?;
    name.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    let colour = define(ps, n::kOfxParamTypeRGB, &obj_id(i, OBJ_COLOUR), "Colour", "Viewer and overlay colour.", parent)?;
    colour.set_doubles(n::kOfxParamPropDefault, &OBJECT_COLOURS[i])?;
    colour.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    boolean(
        ps,
        &obj_id(i, OBJ_OUTPUT),
        "In output",
        "Include this object in the node's output (its matte, ID, overlay colour).",
        true,
        parent,
    )?;
    for (suffix, label, hint) in [
        (OBJ_BOX_BL, "Box bottom-left", "Box corner (canonical coordinates); keyframes are the box keyframes."),
        (OBJ_BOX_TR, "Box top-right", "Box corner (canonical coordinates); keyframes are the box keyframes."),
    ] {
        let p = define(ps, n::kOfxParamTypeDouble2D, &obj_id(i, suffix), label, hint, parent)?;
        p.set_string(n::kOfxParamPropDoubleType, 0, &n::kOfxParamDoubleTypeXYAbsolute.to_string_lossy())?;
        p.set_string(n::kOfxParamPropDefaultCoordinateSystem, 0, &n::kOfxParamCoordinatesCanonical.to_string_lossy())?;
        p.set_doubles(n::kOfxParamPropDefault, &[0.0, 0.0])?;
        p.set_int(n::kOfxParamPropAnimates, 0, 1)?;
    }
    let points = define(
        ps,
        n::kOfxParamTypeString,
        &obj_id(i, OBJ_POINTS),
        "Points",
        "Clicks on keyframes, one per line: FRAME X Y + (part of the object) or FRAME X Y - (not), canonical coordinates. The viewer writes them: click to add +, Ctrl-click (Cmd on macOS) to add -, drag a click to move it, Shift-click a click to delete it.",
        parent,
    )?;
    points.set_string(n::kOfxParamPropDefault, 0, "")?;
    points.set_string(n::kOfxParamPropStringMode, 0, &n::kOfxParamStringIsMultiLine.to_string_lossy())?;
    points.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    let channel = define(
        ps,
        n::kOfxParamTypeChoice,
        &obj_id(i, OBJ_MATTE_CHANNEL),
        "Matte channel",
        "The channel of the Keyframe matte input that holds this object's matte (above 0.5 is inside) on its matte keyframes; None: no matte keyframes.",
        parent,
    )?;
    for (k, (label, _)) in MATTE_CHANNELS.iter().enumerate() {
        channel.set_string(n::kOfxParamPropChoiceOption, k as i32, label)?;
    }
    channel.set_int(n::kOfxParamPropDefault, 0, 0)?;
    channel.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    let key = define(
        ps,
        n::kOfxParamTypeBoolean,
        &obj_id(i, OBJ_MATTE_KEY),
        "Matte keyframe",
        "Animated: every frame where this has a key set to on is a mask keyframe: the Keyframe matte input is the object's matte there (as SAM 2's add_new_mask) and tracking starts from it.",
        parent,
    )?;
    key.set_int(n::kOfxParamPropDefault, 0, 0)?;
    key.set_int(n::kOfxParamPropAnimates, 0, 1)?;
    Ok(())
}

/// The Farm group (closed): the Source's file pattern, the job folder, the split and the
/// Export analysis job button.
fn define_farm(ps: ParamSet) -> OfxResult<()> {
    let g = def(ps, n::kOfxParamTypeGroup, FARM, None)?;
    g.set_int(n::kOfxParamPropGroupOpen, 0, 0)?;
    let parent = Some(FARM.id);
    file_path(ps, SOURCE_FRAMES, false, parent)?;
    let job = def(ps, n::kOfxParamTypeString, FARM_JOB, parent)?;
    job.set_string(n::kOfxParamPropStringMode, 0, &n::kOfxParamStringIsDirectoryPath.to_string_lossy())?;
    job.set_int(n::kOfxParamPropStringFilePathExists, 0, 0)?;
    job.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    choice(ps, FARM_SPLIT, &labels(&FARM_SPLITS), 0, parent)?;
    def(ps, n::kOfxParamTypePushButton, EXPORT_JOB, parent)?;
    Ok(())
}

fn define_edge(ps: ParamSet) -> OfxResult<()> {
    let g = def(ps, n::kOfxParamTypeGroup, EDGE, None)?;
    g.set_int(n::kOfxParamPropGroupOpen, 0, 1)?;
    let parent = Some(EDGE.id);
    choice(ps, REFINE, &labels(&REFINE_MODES), REFINE_DEFAULT, parent)?;
    // The harness's band (16 px at 1920×1080): wide enough for the 7.5-pixel logit cells of
    // quality 1024 on HD plus a hair's width.
    double(ps, BAND, samurai_core::refine::RefineSettings::default().band_px as f64, (0.0, 64.0), parent)?;
    boolean(ps, DECONTAMINATE.id, DECONTAMINATE.label, DECONTAMINATE.hint, true, parent)
}

fn define_tuning(ps: ParamSet) -> OfxResult<()> {
    let g = def(ps, n::kOfxParamTypeGroup, ADVANCED, Some(ENGINE.id))?;
    g.set_int(n::kOfxParamPropGroupOpen, 0, 0)?;
    boolean(ps, CUSTOM_TUNING.id, CUSTOM_TUNING.label, CUSTOM_TUNING.hint, false, Some(ADVANCED.id))?;
    for (field, (_, default)) in Tuning::FIELDS.iter().zip(tuning_defaults()) {
        let (key, label, integer) = (field.key, field.label, field.integer);
        let kind = if integer { n::kOfxParamTypeInteger } else { n::kOfxParamTypeDouble };
        let p = define(ps, kind, key, label, "SAMURAI tuning (upstream config key of the same name).", Some(ADVANCED.id))?;
        if integer {
            p.set_int(n::kOfxParamPropDefault, 0, default as i32)?;
        } else {
            p.set_double(n::kOfxParamPropDefault, 0, default)?;
        }
        p.set_int(n::kOfxParamPropAnimates, 0, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_networks_confidence_plus_the_legacy_offset() {
        assert_eq!(threshold_logit(0.5, 0.0), 0.0);
        assert!((threshold_logit(1.0 / (1.0 + (-2.0f64).exp()), 0.0) - 2.0).abs() < 1e-12);
        assert_eq!(threshold_logit(0.5, 1.5), 1.5);
        assert!(threshold_logit(1.0, 0.0).is_finite() && threshold_logit(0.0, 0.0).is_finite());
    }
}
