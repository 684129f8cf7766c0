//! The clip actions: the frames a render needs, the output's region of definition, the
//! regions of interest of the inputs and the clip preferences.
use super::instance::Instance;
use super::params;
use super::suites::{prefixed, OfxResult, PropSet};
use super::sys::names as n;

/// Frames-needed: tracking needs the whole clip (history before and after the frame).
pub fn frames_needed(inst: &Instance, out_args: PropSet) -> OfxResult<()> {
    let (a, b) = inst.frame_range()?;
    let name = prefixed(n::kOfxImageClipPropFrameRangePrefix, n::kOfxImageEffectSimpleSourceClipName);
    out_args.set_doubles(&name, &[a as f64, b as f64])
}

/// Region of definition: the Source's, whatever region the Keyframe matte has (the node
/// declares multi-resolution support so that a matte of any region connects).
pub fn region_of_definition(inst: &Instance, time: f64, out_args: PropSet) -> OfxResult<()> {
    let rod = inst.effect.clip(n::kOfxImageEffectSimpleSourceClipName)?.region_of_definition(time)?;
    out_args.set_doubles(n::kOfxImageEffectPropRegionOfDefinition, &rod)
}

/// Regions of interest: each input's whole region (tracking reads whole frames; the matte
/// is placed on the plate in canonical coordinates, wherever its region lies).
pub fn regions_of_interest(inst: &Instance, time: f64, out_args: PropSet) -> OfxResult<()> {
    let matte = std::ffi::CString::new(params::KEYFRAME_MATTE_CLIP).expect("no NUL");
    for name in [n::kOfxImageEffectSimpleSourceClipName, matte.as_c_str()] {
        let clip = inst.effect.clip(name)?;
        if !clip.connected() {
            continue;
        }
        if let Ok(rod) = clip.region_of_definition(time) {
            out_args.set_doubles(&prefixed(n::kOfxImageClipPropRoIPrefix, name), &rod)?;
        }
    }
    Ok(())
}

/// Clip preferences: the output is always RGBA (the matte needs alpha) with the Source's
/// pixel aspect ratio (the Keyframe matte may have another: the node declares multiple clip
/// aspect ratios); premultiplication follows the output mode (source + matte keeps colour
/// unpremultiplied).
pub fn clip_preferences(inst: &Instance, out_args: PropSet) -> OfxResult<()> {
    let name = prefixed(n::kOfxImageClipPropComponentsPrefix, n::kOfxImageEffectOutputClipName);
    out_args.set_string(&name, 0, &n::kOfxImageComponentRGBA.to_string_lossy())?;
    let source_aspect = inst.effect.clip(n::kOfxImageEffectSimpleSourceClipName)?.props()?.get_double(n::kOfxImagePropPixelAspectRatio, 0);
    if let Ok(aspect) = source_aspect.map(|a| if a > 0.0 { a } else { 1.0 }) {
        out_args.set_double(&prefixed(n::kOfxImageClipPropPARPrefix, n::kOfxImageEffectOutputClipName), 0, aspect)?;
    }
    let mode = inst.params()?.param(super::params::OUTPUT_MODE.id)?.get_int(0.0).unwrap_or(0);
    let premult = if mode == 0 { n::kOfxImageUnPreMultiplied } else { n::kOfxImagePreMultiplied };
    out_args.set_string(n::kOfxImageEffectPropPreMultiplication, 0, &premult.to_string_lossy())
}
