//! The plugin descriptor (describe and describe-in-context): contexts, pixel depths,
//! thread safety, temporal access, the overlay interact, clips and parameters.
use super::params;
use super::suites::{Effect, OfxResult};
use super::sys::{names as n, OfxPluginEntryPoint};

pub const PLUGIN_ID: &std::ffi::CStr = c"org.samuraiRoto.SamuraiRoto";
pub const VERSION: (u32, u32) = (0, 1);

const DESCRIPTION: &str = "SAM 2.1 + SAMURAI object tracking: draw a box around an object on any frame \
(a keyframe) and get its matte on every frame. Pick a Model (downloaded on first use) or a checkpoint file.";

/// Describe: effect-wide properties. `overlay` is the interact's entry point.
pub fn describe(effect: Effect, overlay: OfxPluginEntryPoint) -> OfxResult<()> {
    let p = effect.props()?;
    p.set_string(n::kOfxPropLabel, 0, "SamuraiRoto")?;
    p.set_string(n::kOfxImageEffectPluginPropGrouping, 0, "Keyer")?;
    p.set_string(n::kOfxPropPluginDescription, 0, DESCRIPTION)?;
    p.set_strings(n::kOfxImageEffectPropSupportedContexts, &[n::kOfxImageEffectContextFilter, n::kOfxImageEffectContextGeneral])?;
    p.set_strings(n::kOfxImageEffectPropSupportedPixelDepths, &[n::kOfxBitDepthFloat, n::kOfxBitDepthShort, n::kOfxBitDepthByte])?;
    p.set_int(n::kOfxImageEffectPluginPropSingleInstance, 0, 0)?;
    // Fully safe, and true: one instance renders on several threads at once (one
    // propagation at a time per instance, the others wait for its frames or are served
    // finished ones; the in-repo host's tests render one instance from two threads).
    // Host quirk: Natron renders an instance-safe effect's concurrent frames through
    // render clones, each a new instance with its own tracking session; declared fully
    // safe, the node's one instance renders them. Instances that exist anyway (a host's
    // several instances of one node) share finished frames (`helper_engine::SharedFrames`).
    p.set_string(n::kOfxImageEffectPluginRenderThreadSafety, 0, &n::kOfxImageEffectRenderFullySafe.to_string_lossy())?;
    p.set_int(n::kOfxImageEffectPluginPropHostFrameThreading, 0, 0)?;
    // Inputs of any region: the Keyframe matte is often a Roto node without input, whose
    // region is its shapes' bounding box, or a matte with its own pixel aspect ratio. It is
    // read in canonical coordinates (`keyframe_matte`); the Source defines the output's
    // region (`clip::region_of_definition`) and pixel aspect (`clip::clip_preferences`).
    // Natron refuses to connect an input whose region differs from the Source's without these.
    p.set_int(n::kOfxImageEffectPropSupportsMultiResolution, 0, 1)?;
    p.set_int(n::kOfxImageEffectPropSupportsMultipleClipPARs, 0, 1)?;
    p.set_int(n::kOfxImageEffectPropSupportsTiles, 0, 0)?;
    p.set_int(n::kOfxImageEffectPropTemporalClipAccess, 0, 1)?;
    p.set_pointer(n::kOfxImageEffectPluginPropOverlayInteractV1, overlay as *mut std::ffi::c_void)
}

/// Describe-in-context: Source and Output clips, then every parameter.
pub fn describe_in_context(effect: Effect) -> OfxResult<()> {
    let src = effect.clip_define(n::kOfxImageEffectSimpleSourceClipName)?;
    src.set_strings(
        n::kOfxImageEffectPropSupportedComponents,
        &[n::kOfxImageComponentRGBA, n::kOfxImageComponentRGB, n::kOfxImageComponentAlpha],
    )?;
    src.set_int(n::kOfxImageEffectPropTemporalClipAccess, 0, 1)?;
    src.set_int(n::kOfxImageEffectPropSupportsTiles, 0, 0)?;
    let out = effect.clip_define(n::kOfxImageEffectOutputClipName)?;
    out.set_strings(n::kOfxImageEffectPropSupportedComponents, &[n::kOfxImageComponentRGBA])?;
    out.set_int(n::kOfxImageEffectPropSupportsTiles, 0, 0)?;
    let matte_name = std::ffi::CString::new(params::KEYFRAME_MATTE_CLIP).expect("no NUL");
    let matte = effect.clip_define(&matte_name)?;
    matte.set_strings(
        n::kOfxImageEffectPropSupportedComponents,
        &[n::kOfxImageComponentRGBA, n::kOfxImageComponentRGB, n::kOfxImageComponentAlpha],
    )?;
    matte.set_string(n::kOfxPropLabel, 0, "Keyframe matte")?;
    matte.set_int(n::kOfxImageClipPropOptional, 0, 1)?;
    matte.set_int(n::kOfxImageEffectPropTemporalClipAccess, 0, 1)?;
    matte.set_int(n::kOfxImageEffectPropSupportsTiles, 0, 0)?;
    params::define_all(effect.params()?)
}
