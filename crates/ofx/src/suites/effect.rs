//! Safe wrappers over the image effect suite: effect/param-set/clip handles, fetching and
//! releasing images, and row access into an image's pixels.
use super::{check, cstring, suites, Clip, Effect, OfxError, OfxResult, ParamSet, PropSet};
use crate::sys::{self, names as n};
use std::ffi::CStr;
use std::ptr::null_mut;

impl Effect {
    pub fn props(&self) -> OfxResult<PropSet> {
        let mut p = null_mut();
        // SAFETY: valid out pointer; the handle came from the host (`from_raw`).
        check(unsafe { (suites()?.effect.getPropertySet)(self.0, &mut p) }, || "effect properties".into())?;
        // SAFETY: `p` is null or the effect's property set, getPropertySet's out value.
        unsafe { PropSet::from_raw(p.cast()) }.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "effect has no properties"))
    }
    pub fn params(&self) -> OfxResult<ParamSet> {
        let mut p = null_mut();
        // SAFETY: valid out pointer; the handle came from the host (`from_raw`).
        check(unsafe { (suites()?.effect.getParamSet)(self.0, &mut p) }, || "effect parameters".into())?;
        // SAFETY: `p` is null or the effect's parameter set, getParamSet's out value.
        unsafe { ParamSet::from_raw(p.cast()) }.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "effect has no parameters"))
    }
    pub fn clip_define(&self, name: &CStr) -> OfxResult<PropSet> {
        let mut p = null_mut();
        // SAFETY: `name` is NUL-terminated; valid out pointer.
        check(unsafe { (suites()?.effect.clipDefine)(self.0, name.as_ptr(), &mut p) }, || "clipDefine".into())?;
        // SAFETY: `p` is null or the new clip's property set, clipDefine's out value.
        unsafe { PropSet::from_raw(p.cast()) }.ok_or_else(|| OfxError::failed("clipDefine gave no properties"))
    }
    pub fn clip(&self, name: &CStr) -> OfxResult<Clip> {
        let (mut c, mut p) = (null_mut(), null_mut());
        // SAFETY: `name` is NUL-terminated; both out pointers are valid.
        check(unsafe { (suites()?.effect.clipGetHandle)(self.0, name.as_ptr(), &mut c, &mut p) }, || {
            format!("clip {}", name.to_string_lossy())
        })?;
        // SAFETY: `c` is null or the clip's handle, clipGetHandle's out value.
        unsafe { Clip::from_raw(c.cast()) }.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "null clip"))
    }
    /// The host's abort flag for the current render.
    pub fn aborted(&self) -> bool {
        // SAFETY: a handle from the host (`from_raw`); no pointers besides.
        suites().map(|s| unsafe { (s.effect.abort)(self.0) } != 0).unwrap_or(false)
    }
}

impl Clip {
    pub fn props(&self) -> OfxResult<PropSet> {
        let mut p = null_mut();
        // SAFETY: valid out pointer.
        check(unsafe { (suites()?.effect.clipGetPropertySet)(self.0, &mut p) }, || "clip properties".into())?;
        // SAFETY: `p` is null or the clip's property set, clipGetPropertySet's out value.
        unsafe { PropSet::from_raw(p.cast()) }.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "clip has no properties"))
    }
    /// The clip's region of definition at `time`, canonical coordinates (x1, y1, x2, y2).
    pub fn region_of_definition(&self, time: f64) -> OfxResult<[f64; 4]> {
        let mut r = sys::OfxRectD::default();
        // SAFETY: `r` is a valid out pointer for one OfxRectD.
        check(unsafe { (suites()?.effect.clipGetRegionOfDefinition)(self.0, time, &mut r) }, || {
            format!("region of definition at time {time}")
        })?;
        Ok([r.x1, r.y1, r.x2, r.y2])
    }
    /// Whether the clip is connected (an optional input may not be).
    pub fn connected(&self) -> bool {
        self.props().and_then(|p| p.get_int(n::kOfxImageClipPropConnected, 0)).is_ok_and(|c| c != 0)
    }
    /// The image at `time` (whole region), released when the returned value is dropped.
    pub fn image(&self, time: f64) -> OfxResult<Image> {
        let mut p = null_mut();
        // SAFETY: null region means "the whole RoI"; valid out pointer.
        check(unsafe { (suites()?.effect.clipGetImage)(self.0, time, std::ptr::null(), &mut p) }, || format!("no image at time {time}"))?;
        // SAFETY: `p` is null or the image's property set, clipGetImage's out value; `Image`
        // releases it (clipReleaseImage) when dropped.
        let props = unsafe { PropSet::from_raw(p.cast()) }.ok_or_else(|| OfxError::failed(format!("no image at time {time}")))?;
        Image::new(props)
    }
}

/// Bit depth of image channels we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelDepth {
    Byte,
    Short,
    Float,
}
/// Channel layout of images we accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Components {
    Rgba,
    Rgb,
    Alpha,
}

impl PixelDepth {
    pub fn bytes(self) -> usize {
        match self {
            PixelDepth::Byte => 1,
            PixelDepth::Short => 2,
            PixelDepth::Float => 4,
        }
    }
    pub fn parse(s: &str) -> OfxResult<Self> {
        match s.as_bytes() {
            b if b == n::kOfxBitDepthByte.to_bytes() => Ok(PixelDepth::Byte),
            b if b == n::kOfxBitDepthShort.to_bytes() => Ok(PixelDepth::Short),
            b if b == n::kOfxBitDepthFloat.to_bytes() => Ok(PixelDepth::Float),
            _ => Err(OfxError::new(sys::kOfxStatErrImageFormat, format!("unsupported pixel depth {s}"))),
        }
    }
}
impl Components {
    pub fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
    pub fn parse(s: &str) -> OfxResult<Self> {
        match s.as_bytes() {
            b if b == n::kOfxImageComponentRGBA.to_bytes() => Ok(Components::Rgba),
            b if b == n::kOfxImageComponentRGB.to_bytes() => Ok(Components::Rgb),
            b if b == n::kOfxImageComponentAlpha.to_bytes() => Ok(Components::Alpha),
            _ => Err(OfxError::new(sys::kOfxStatErrImageFormat, format!("unsupported components {s}"))),
        }
    }
}

/// A fetched image; released back to the host on drop.
pub struct Image {
    props: PropSet,
    data: *mut u8,
    pub bounds: sys::OfxRectI,
    row_bytes: isize,
    pub depth: PixelDepth,
    pub components: Components,
    pub pixel_aspect: f64,
    pub render_scale: [f64; 2],
}

// SAFETY: the pixel buffer belongs to this image until release; the host allows images to
// be used from the thread that fetched them or handed to another one.
unsafe impl Send for Image {}

impl Image {
    fn new(props: PropSet) -> OfxResult<Self> {
        let mut img = Image {
            props,
            data: null_mut(),
            bounds: Default::default(),
            row_bytes: 0,
            depth: PixelDepth::Float,
            components: Components::Rgba,
            pixel_aspect: 1.0,
            render_scale: [1.0; 2],
        };
        // The image is released by Drop from here on, even if a property read fails.
        img.data = props.get_pointer(n::kOfxImagePropData, 0)?.cast();
        let b = props.get_ints::<4>(n::kOfxImagePropBounds)?;
        img.bounds = sys::OfxRectI { x1: b[0], y1: b[1], x2: b[2], y2: b[3] };
        img.row_bytes = props.get_int(n::kOfxImagePropRowBytes, 0)? as isize;
        img.depth = PixelDepth::parse(&props.get_string(n::kOfxImageEffectPropPixelDepth, 0)?)?;
        img.components = Components::parse(&props.get_string(n::kOfxImageEffectPropComponents, 0)?)?;
        img.pixel_aspect = props.get_double(n::kOfxImagePropPixelAspectRatio, 0).unwrap_or(1.0);
        img.render_scale = props.get_doubles::<2>(n::kOfxImageEffectPropRenderScale).unwrap_or([1.0; 2]);
        let row_len = img.width() * img.pixel_bytes();
        if img.data.is_null() || img.bounds.x2 < img.bounds.x1 || img.bounds.y2 < img.bounds.y1 || img.row_bytes.unsigned_abs() < row_len {
            return Err(OfxError::new(sys::kOfxStatErrImageFormat, "host image has null data or inconsistent bounds/rowBytes"));
        }
        Ok(img)
    }
    pub fn width(&self) -> usize {
        (self.bounds.x2 - self.bounds.x1).max(0) as usize
    }
    pub fn height(&self) -> usize {
        (self.bounds.y2 - self.bounds.y1).max(0) as usize
    }
    pub fn pixel_bytes(&self) -> usize {
        self.depth.bytes() * self.components.count()
    }
    fn row_ptr(&self, y: i32) -> Option<*mut u8> {
        if y < self.bounds.y1 || y >= self.bounds.y2 {
            return None;
        }
        let offset = (y - self.bounds.y1) as isize * self.row_bytes;
        // SAFETY: the host guarantees `data` addresses height rows of |rowBytes| bytes each
        // (rowBytes may be negative), so row y (inside bounds) is in the buffer.
        Some(unsafe { self.data.offset(offset) })
    }
    /// Raw bytes of row `y` (pixel coordinates), `None` outside the bounds.
    pub fn row(&self, y: i32) -> Option<&[u8]> {
        let len = self.width() * self.pixel_bytes();
        // SAFETY: row_ptr checked the row is inside the buffer; len ≤ |rowBytes| was checked
        // in `new`; the buffer stays valid until this Image is dropped.
        self.row_ptr(y).map(|p| unsafe { std::slice::from_raw_parts(p.cast_const(), len) })
    }
    /// Mutable raw bytes of row `y`.
    pub fn row_mut(&mut self, y: i32) -> Option<&mut [u8]> {
        let len = self.width() * self.pixel_bytes();
        // SAFETY: as in `row`; `&mut self` makes this the only view of the row.
        self.row_ptr(y).map(|p| unsafe { std::slice::from_raw_parts_mut(p, len) })
    }
    /// Every row as mutable raw bytes, with its pixel y, for filling rows in parallel.
    pub fn rows_mut(&mut self) -> Vec<(i32, &mut [u8])> {
        let len = self.width() * self.pixel_bytes();
        (self.bounds.y1..self.bounds.y2)
            .filter_map(|y| {
                // SAFETY: as in `row_mut`; rows are |rowBytes| ≥ len bytes apart (checked in
                // `new`), so the slices never overlap, and `&mut self` keeps them the only
                // views of the buffer while they live.
                self.row_ptr(y).map(|p| (y, unsafe { std::slice::from_raw_parts_mut(p, len) }))
            })
            .collect()
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        if let Ok(s) = suites() {
            // SAFETY: `props` is the image handle clipGetImage gave us, released once.
            let st = unsafe { (s.effect.clipReleaseImage)(self.props.0) };
            if st != sys::kOfxStatOK {
                tracing::warn!("clipReleaseImage returned {st}");
            }
        }
    }
}

/// Helper for dynamic names such as `OfxImageClipPropComponents_Output`.
pub fn prefixed(prefix: &CStr, clip: &CStr) -> std::ffi::CString {
    cstring(&format!("{}{}", prefix.to_string_lossy(), clip.to_string_lossy()))
}
