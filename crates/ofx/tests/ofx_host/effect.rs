//! Test host image effect suite (ofxImageEffect.h `OfxImageEffectSuiteV1`): effects
//! (descriptors and instances), clips, and images. The Source clip serves a synthetic
//! RGBA float image per time; the Output clip hands out a fresh zeroed buffer per render
//! and keeps it so the test can read the result. Every handle lives in a registry, so a
//! foreign or released handle is answered with `kOfxStatErrBadHandle`.
#![allow(clippy::missing_safety_doc)]
use super::store::*;
use samurai_roto_ofx::sys::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Source image size at render scale 1 (pixels; with pixel aspect 1, canonical = pixel).
pub const W: i32 = 64;
pub const H: i32 = 48;
/// Render scale and pixel aspect ratio of the images the host hands out (1, 1 unless a
/// test changes them): at scale s an image is round(W·s) × round(H·s) pixels and canonical
/// x = pixel x · aspect / s, canonical y = pixel y / s.
pub static GEOMETRY: Mutex<(f64, f64)> = Mutex::new((1.0, 1.0));
/// The host's abort flag comes on once the Source clip has served this many images
/// (`usize::MAX`: never).
pub static ABORT_AFTER_FETCHES: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The host's abort flag, set by a test at a moment of its choosing.
pub static ABORT_NOW: AtomicBool = AtomicBool::new(false);
/// With this on, the Source clip serves no image while the abort flag is up, as Natron
/// stops serving the frames of an aborted render ("no image at time 9").
pub static NO_IMAGES_WHEN_ABORTED: AtomicBool = AtomicBool::new(false);

/// Components and depth of the Source clip's images (RGBA float unless a test changes
/// them): ("OfxImageComponentRGBA" | "OfxImageComponentRGB" | "OfxImageComponentAlpha",
/// "OfxBitDepthFloat" | "OfxBitDepthShort" | "OfxBitDepthByte").
pub static SOURCE_FORMAT: Mutex<(&str, &str)> = Mutex::new(("OfxImageComponentRGBA", "OfxBitDepthFloat"));

/// The Source image of time `t` in `SOURCE_FORMAT` (rows bottom-up), and its row bytes.
fn source_bytes(t: f64, (w, h): (i32, i32)) -> (Vec<u8>, i32) {
    let (comps, depth) = *SOURCE_FORMAT.lock().unwrap();
    let channels: &[usize] = match comps {
        "OfxImageComponentRGB" => &[0, 1, 2],
        "OfxImageComponentAlpha" => &[3],
        _ => &[0, 1, 2, 3],
    };
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let px = source_pixel_sized(t, x, y, (w, h));
            for &c in channels {
                let v = px[c];
                match depth {
                    "OfxBitDepthByte" => out.push((v.clamp(0.0, 1.0) * 255.0).round() as u8),
                    "OfxBitDepthShort" => out.extend(((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_ne_bytes()),
                    _ => out.extend(v.to_ne_bytes()),
                }
            }
        }
    }
    let row = out.len() as i32 / h.max(1);
    (out, row)
}

/// Source size at render scale 1 when not `W` × `H` (benchmarks render 1920×1080).
pub static BASE_SIZE: Mutex<Option<(i32, i32)>> = Mutex::new(None);

/// Source size at render scale 1.
pub fn base_size() -> (i32, i32) {
    BASE_SIZE.lock().unwrap().unwrap_or((W, H))
}

/// Pixel size of the images at the current render scale.
pub fn image_size() -> (i32, i32) {
    let s = GEOMETRY.lock().unwrap().0;
    let (w, h) = base_size();
    ((w as f64 * s).round() as i32, (h as f64 * s).round() as i32)
}
/// Frame range of the test clip.
pub const FRAMES: (i32, i32) = (0, 11);

pub struct Effect {
    pub props: OfxPropertySetHandle,
    pub params: OfxParamSetHandle,
    pub clips: Mutex<BTreeMap<String, usize>>,
}

pub struct Clip {
    pub name: String,
    pub props: OfxPropertySetHandle,
    /// Output buffers by time key (leaked, so images may point into them).
    pub outputs: Mutex<BTreeMap<i64, (usize, usize)>>,
}

static EFFECTS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
static CLIPS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
/// Images handed out and not yet released: image props handle → owned source buffer
/// (pointer and byte length).
pub static IMAGES: Mutex<Option<HashMap<usize, Option<(usize, usize)>>>> = Mutex::new(None);
/// Source images made so far: (time, width, height, components, depth) → (data, row bytes).
type SourceKey = (i64, i32, i32, &'static str, &'static str, bool);
static SOURCE_IMAGES: Mutex<BTreeMap<SourceKey, (usize, i32)>> = Mutex::new(BTreeMap::new());
/// Times the Source clip was asked for.
pub static SOURCE_FETCHES: Mutex<Vec<f64>> = Mutex::new(Vec::new());
/// Times the KeyframeMatte clip was asked for.
pub static MATTE_FETCHES: Mutex<Vec<f64>> = Mutex::new(Vec::new());

/// The KeyframeMatte clip's pixel (RGBA, pixel coordinates y up, scale 1): alpha is a disc
/// of radius 9 around (20, 30); red is always 0.
pub fn matte_pixel(x: i32, y: i32) -> [f32; 4] {
    let inside = ((x as f32 + 0.5 - 20.0).powi(2) + (y as f32 + 0.5 - 30.0).powi(2)).sqrt() < 9.0;
    [0.0, inside as u8 as f32, 0.0, inside as u8 as f32]
}

/// The KeyframeMatte clip's image when a test sets one (otherwise the disc of
/// `matte_pixel` on the Source's pixels): its pixel bounds at the host's render scale
/// (x1, y1, x2, y2, y up), its pixel aspect ratio, and one value per pixel, rows bottom-up;
/// served as an Alpha float image, its region of definition following from the three.
pub struct MatteImage {
    pub bounds: [i32; 4],
    pub aspect: f64,
    pub alpha: Vec<f32>,
}
pub static MATTE_IMAGE: Mutex<Option<MatteImage>> = Mutex::new(None);

fn registered(r: &Mutex<Option<HashSet<usize>>>, h: usize) -> bool {
    r.lock().unwrap().as_ref().is_some_and(|s| s.contains(&h))
}

impl Effect {
    /// A new effect with empty properties and parameters (a descriptor until `instantiate`).
    pub fn new_handle(context: &str) -> OfxImageEffectHandle {
        Self::with_params(context, ParamSet::new_handle())
    }
    fn with_params(context: &str, params: OfxParamSetHandle) -> OfxImageEffectHandle {
        let props = Props::new_handle();
        let pr = Props::get(props).unwrap();
        pr.set_str("OfxPropType", "OfxTypeImageEffect");
        pr.set_str("OfxImageEffectPropContext", context);
        let e = Box::into_raw(Box::new(Effect { props, params, clips: Mutex::default() }));
        EFFECTS.lock().unwrap().get_or_insert_with(HashSet::new).insert(e as usize);
        e.cast()
    }
    pub fn get<'a>(h: OfxImageEffectHandle) -> Option<&'a Effect> {
        // SAFETY: registered handles are leaked boxes that live for the whole test.
        registered(&EFFECTS, h as usize).then(|| unsafe { &*(h as *const Effect) })
    }
    pub fn props(&self) -> &Props {
        Props::get(self.props).unwrap()
    }
    pub fn param_set(&self) -> &ParamSet {
        ParamSet::get(self.params).unwrap()
    }
    pub fn clip(&self, name: &str) -> Option<&Clip> {
        let h = *self.clips.lock().unwrap().get(name)?;
        Clip::get(h as OfxImageClipHandle)
    }
    fn add_clip(&self, name: &str, props: OfxPropertySetHandle) -> OfxImageClipHandle {
        let c = Box::into_raw(Box::new(Clip { name: name.into(), props, outputs: Mutex::default() }));
        CLIPS.lock().unwrap().get_or_insert_with(HashSet::new).insert(c as usize);
        self.clips.lock().unwrap().insert(name.into(), c as usize);
        c.cast()
    }
    /// An instance of the in-context descriptor `self`: its clips (connected, RGBA float)
    /// and parameters with their defaults, plus the effect properties a host sets.
    pub fn instantiate(&self) -> OfxImageEffectHandle {
        let context = self.props().str("OfxImageEffectPropContext").unwrap_or_default();
        let h = Self::with_params(&context, self.param_set().instantiate());
        let inst = Self::get(h).unwrap();
        let range = Val::D(vec![FRAMES.0 as f64, FRAMES.1 as f64]);
        // Like Natron 2.5: the effect has a frame range in the general context only (the
        // plugin must take the Source clip's).
        if context == "OfxImageEffectContextGeneral" {
            inst.props().set("OfxImageEffectPropFrameRange", range.clone());
        }
        let (pw, ph) = base_size();
        inst.props().set("OfxImageEffectPropProjectSize", Val::D(vec![pw as f64, ph as f64]));
        inst.props().set("OfxImageEffectInstancePropSequentialRender", Val::I(vec![0]));
        for (name, ch) in self.clips.lock().unwrap().iter() {
            let desc = Clip::get(*ch as OfxImageClipHandle).unwrap();
            let props = Props::new_handle();
            let pr = Props::get(props).unwrap();
            *pr.m.lock().unwrap() = Props::get(desc.props).unwrap().m.lock().unwrap().clone();
            pr.set("OfxImageClipPropConnected", Val::I(vec![1]));
            pr.set_str("OfxImageEffectPropComponents", "OfxImageComponentRGBA");
            pr.set_str("OfxImageEffectPropPixelDepth", "OfxBitDepthFloat");
            pr.set_str("OfxImageEffectPropPreMultiplication", "OfxImageAlphaPremultiplied");
            pr.set("OfxImagePropPixelAspectRatio", Val::D(vec![1.0]));
            pr.set("OfxImageEffectPropFrameRange", range.clone());
            inst.add_clip(name, props);
        }
        h
    }
}

impl Clip {
    pub fn get<'a>(h: OfxImageClipHandle) -> Option<&'a Clip> {
        // SAFETY: registered handles are leaked boxes that live for the whole test.
        registered(&CLIPS, h as usize).then(|| unsafe { &*(h as *const Clip) })
    }
    /// The Output buffer rendered at time `t` (RGBA float rows bottom-up), if any.
    pub fn output(&self, t: f64) -> Option<&[f32]> {
        let (p, n) = *self.outputs.lock().unwrap().get(&time_key(t))?;
        // SAFETY: output buffers are leaked and never freed.
        Some(unsafe { std::slice::from_raw_parts(p as *const f32, n) })
    }
}

/// The synthetic source pixel (RGBA float) at pixel (x, y) of time `t` (render scale 1).
pub fn source_pixel(t: f64, x: i32, y: i32) -> [f32; 4] {
    source_pixel_sized(t, x, y, (W, H))
}

/// With this on, the source's red channel is vertical stripes five pixels wide (0.85 and
/// 0.15): sharp colour edges for edge refinement to snap to (the plain source is a smooth
/// gradient, where refinement rightly keeps the network's matte).
pub static SOURCE_STRIPES: AtomicBool = AtomicBool::new(false);

/// The synthetic source pixel of an image `size` pixels large (any render scale).
pub fn source_pixel_sized(t: f64, x: i32, y: i32, size: (i32, i32)) -> [f32; 4] {
    let red = if SOURCE_STRIPES.load(Ordering::SeqCst) { [0.85, 0.15][(x / 5 % 2) as usize] } else { x as f32 / size.0 as f32 };
    [red, y as f32 / size.1 as f32, ((t as f32) / 16.0).fract(), 1.0]
}

/// An image's properties: `bounds` in pixels at the host's render scale (the Source's when
/// `None`) and its pixel aspect ratio (the host's when `None`).
fn image_props(data: *mut u8, row_bytes: i32, format: (&str, &str), bounds: Option<[i32; 4]>, aspect: Option<f64>) -> OfxPropertySetHandle {
    let h = Props::new_handle();
    let p = Props::get(h).unwrap();
    let (w, ht) = image_size();
    let (scale, host_aspect) = *GEOMETRY.lock().unwrap();
    let bounds = bounds.unwrap_or([0, 0, w, ht]).to_vec();
    let aspect = aspect.unwrap_or(host_aspect);
    p.set("OfxImagePropData", Val::P(vec![data as usize]));
    p.set("OfxImagePropBounds", Val::I(bounds.clone()));
    p.set("OfxImagePropRegionOfDefinition", Val::I(bounds));
    p.set("OfxImagePropRowBytes", Val::I(vec![row_bytes]));
    p.set_str("OfxImageEffectPropPixelDepth", format.1);
    p.set_str("OfxImageEffectPropComponents", format.0);
    p.set_str("OfxImageEffectPropPreMultiplication", "OfxImageAlphaPremultiplied");
    p.set("OfxImagePropPixelAspectRatio", Val::D(vec![aspect]));
    p.set("OfxImageEffectPropRenderScale", Val::D(vec![scale, scale]));
    p.set_str("OfxImagePropField", "OfxImageFieldNone");
    h
}

macro_rules! or_bad {
    ($e:expr) => {
        match $e {
            Some(p) => p,
            None => return kOfxStatErrBadHandle,
        }
    };
}
unsafe fn name<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

unsafe extern "C" fn get_props(e: OfxImageEffectHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    let e = or_bad!(Effect::get(e));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = e.props;
    kOfxStatOK
}
unsafe extern "C" fn get_params(e: OfxImageEffectHandle, out: *mut OfxParamSetHandle) -> OfxStatus {
    let e = or_bad!(Effect::get(e));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = e.params;
    kOfxStatOK
}
unsafe extern "C" fn clip_define(e: OfxImageEffectHandle, n: *const c_char, out: *mut OfxPropertySetHandle) -> OfxStatus {
    let e = or_bad!(Effect::get(e));
    let Some(n) = name(n) else { return kOfxStatErrValue };
    if e.clip(n).is_some() {
        return kOfxStatErrExists;
    }
    let props = Props::new_handle();
    let p = Props::get(props).unwrap();
    p.set_str("OfxPropType", "OfxTypeClip");
    p.set_str("OfxPropName", n);
    e.add_clip(n, props);
    if !out.is_null() {
        *out = props;
    }
    kOfxStatOK
}
unsafe extern "C" fn clip_get_handle(
    e: OfxImageEffectHandle,
    n: *const c_char,
    out: *mut OfxImageClipHandle,
    props: *mut OfxPropertySetHandle,
) -> OfxStatus {
    let e = or_bad!(Effect::get(e));
    let Some(n) = name(n) else { return kOfxStatErrValue };
    if out.is_null() {
        return kOfxStatErrValue;
    }
    let Some(h) = e.clips.lock().unwrap().get(n).copied() else { return kOfxStatErrUnknown };
    *out = h as OfxImageClipHandle;
    if !props.is_null() {
        *props = Clip::get(h as OfxImageClipHandle).unwrap().props;
    }
    kOfxStatOK
}
unsafe extern "C" fn clip_props(c: OfxImageClipHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    let c = or_bad!(Clip::get(c));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = c.props;
    kOfxStatOK
}
unsafe extern "C" fn clip_image(c: OfxImageClipHandle, t: OfxTime, _region: *const OfxRectD, out: *mut OfxPropertySetHandle) -> OfxStatus {
    let c = or_bad!(Clip::get(c));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    if t < FRAMES.0 as f64 || t > FRAMES.1 as f64 {
        return kOfxStatFailed;
    }
    let (w, h) = image_size();
    let n = (w * h * 4) as usize;
    if c.name == "KeyframeMatte" {
        if let Some(m) = MATTE_IMAGE.lock().unwrap().as_ref() {
            MATTE_FETCHES.lock().unwrap().push(t);
            let b = Box::leak(m.alpha.clone().into_boxed_slice());
            let h = image_props(
                b.as_mut_ptr().cast(),
                (m.bounds[2] - m.bounds[0]) * 4,
                ("OfxImageComponentAlpha", "OfxBitDepthFloat"),
                Some(m.bounds),
                Some(m.aspect),
            );
            IMAGES.lock().unwrap().get_or_insert_with(HashMap::new).insert(h as usize, None);
            *out = h;
            return kOfxStatOK;
        }
    }
    let (buf, owned, row_bytes, format) = if c.name == "KeyframeMatte" {
        MATTE_FETCHES.lock().unwrap().push(t);
        let px: Vec<f32> = (0..h).flat_map(|y| (0..w).flat_map(move |x| matte_pixel(x, y))).collect();
        let b = Box::leak(px.into_boxed_slice());
        (b.as_mut_ptr().cast::<u8>(), None, w * 16, ("OfxImageComponentRGBA", "OfxBitDepthFloat"))
    } else if c.name == "Source" {
        if NO_IMAGES_WHEN_ABORTED.load(Ordering::SeqCst) && ABORT_NOW.load(Ordering::SeqCst) {
            return kOfxStatFailed;
        }
        SOURCE_FETCHES.lock().unwrap().push(t);
        // Like a host's image cache: each distinct image is made once and handed out
        // read-only (the plugin never writes to Source images).
        let format = *SOURCE_FORMAT.lock().unwrap();
        let mut made = SOURCE_IMAGES.lock().unwrap();
        let (p, row_bytes) =
            *made.entry((time_key(t), w, h, format.0, format.1, SOURCE_STRIPES.load(Ordering::SeqCst))).or_insert_with(|| {
                let (bytes, row_bytes) = source_bytes(t, (w, h));
                (Box::leak(bytes.into_boxed_slice()).as_mut_ptr() as usize, row_bytes)
            });
        (p as *mut u8, None, row_bytes, format)
    } else {
        // One buffer per time, reused by later renders of that time (as hosts reuse theirs).
        let mut outputs = c.outputs.lock().unwrap();
        let (p, _) = *outputs
            .entry(time_key(t))
            .and_modify(|e| {
                if e.1 != n {
                    *e = (0, 0)
                }
            })
            .or_insert((0, 0));
        let p = if p == 0 {
            let b = Box::leak(vec![0.0f32; n].into_boxed_slice());
            outputs.insert(time_key(t), (b.as_mut_ptr() as usize, n));
            b.as_mut_ptr()
        } else {
            p as *mut f32
        };
        (p.cast::<u8>(), None, w * 16, ("OfxImageComponentRGBA", "OfxBitDepthFloat"))
    };
    let h = image_props(buf, row_bytes, format, None, None);
    IMAGES.lock().unwrap().get_or_insert_with(HashMap::new).insert(h as usize, owned);
    *out = h;
    kOfxStatOK
}
unsafe extern "C" fn release_image(h: OfxPropertySetHandle) -> OfxStatus {
    let entry = IMAGES.lock().unwrap().as_mut().and_then(|m| m.remove(&(h as usize)));
    match entry {
        None => kOfxStatErrBadHandle,
        Some(owned) => {
            if let Some((p, n)) = owned {
                drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(p as *mut u8, n)));
            }
            kOfxStatOK
        }
    }
}
unsafe extern "C" fn clip_rod(c: OfxImageClipHandle, _t: OfxTime, out: *mut OfxRectD) -> OfxStatus {
    let c = or_bad!(Clip::get(c));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    let (scale, aspect) = *GEOMETRY.lock().unwrap();
    if let (true, Some(m)) = (c.name == "KeyframeMatte", MATTE_IMAGE.lock().unwrap().as_ref()) {
        let b = m.bounds.map(f64::from);
        *out = OfxRectD { x1: b[0] * m.aspect / scale, y1: b[1] / scale, x2: b[2] * m.aspect / scale, y2: b[3] / scale };
        return kOfxStatOK;
    }
    let (w, h) = base_size();
    *out = OfxRectD { x1: 0.0, y1: 0.0, x2: w as f64 * aspect, y2: h as f64 };
    kOfxStatOK
}
unsafe extern "C" fn abort(_e: OfxImageEffectHandle) -> c_int {
    (ABORT_NOW.load(Ordering::SeqCst) || SOURCE_FETCHES.lock().unwrap().len() >= ABORT_AFTER_FETCHES.load(Ordering::SeqCst)) as c_int
}

// Image memory: a boxed Vec per handle; lock hands out its data pointer.
static IMAGE_MEMORY: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
unsafe extern "C" fn mem_alloc(_e: OfxImageEffectHandle, n: usize, out: *mut OfxImageMemoryHandle) -> OfxStatus {
    if out.is_null() {
        return kOfxStatErrValue;
    }
    let h = Box::into_raw(Box::new(vec![0u8; n]));
    IMAGE_MEMORY.lock().unwrap().get_or_insert_with(HashSet::new).insert(h as usize);
    *out = h.cast();
    kOfxStatOK
}
unsafe extern "C" fn mem_free(h: OfxImageMemoryHandle) -> OfxStatus {
    if !IMAGE_MEMORY.lock().unwrap().as_mut().is_some_and(|s| s.remove(&(h as usize))) {
        return kOfxStatErrBadHandle;
    }
    drop(Box::from_raw(h.cast::<Vec<u8>>()));
    kOfxStatOK
}
unsafe extern "C" fn mem_lock(h: OfxImageMemoryHandle, out: *mut *mut c_void) -> OfxStatus {
    if out.is_null() {
        return kOfxStatErrValue;
    }
    if !registered(&IMAGE_MEMORY, h as usize) {
        return kOfxStatErrBadHandle;
    }
    *out = (*h.cast::<Vec<u8>>()).as_mut_ptr().cast();
    kOfxStatOK
}
unsafe extern "C" fn mem_unlock(h: OfxImageMemoryHandle) -> OfxStatus {
    if registered(&IMAGE_MEMORY, h as usize) {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}

pub fn image_effect_suite() -> OfxImageEffectSuiteV1 {
    OfxImageEffectSuiteV1 {
        getPropertySet: get_props,
        getParamSet: get_params,
        clipDefine: clip_define,
        clipGetHandle: clip_get_handle,
        clipGetPropertySet: clip_props,
        clipGetImage: clip_image,
        clipReleaseImage: release_image,
        clipGetRegionOfDefinition: clip_rod,
        abort,
        imageMemoryAlloc: mem_alloc,
        imageMemoryFree: mem_free,
        imageMemoryLock: mem_lock,
        imageMemoryUnlock: mem_unlock,
    }
}

/// Images fetched and not released yet.
pub fn outstanding_images() -> usize {
    IMAGES.lock().unwrap().as_ref().map_or(0, |m| m.len())
}
