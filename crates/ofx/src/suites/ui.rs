//! Safe wrappers over the artist-facing suites: messages (V2 persistent messages when the
//! host has them, V1 otherwise), progress (V2 or V1), interact redraw and the Draw suite.
use super::{check, cstring, suites, DrawContext, Effect, Interact, OfxResult, PropSet};
use crate::sys::{self, names as n, OfxPointD, OfxRGBAColourF};
use std::ffi::{c_void, CStr};
use std::ptr::null_mut;

const MESSAGE_ID: &CStr = c"SamuraiRoto";

/// Shows `text` as a persistent message on an effect instance (error/warning badge), or as
/// a one-off message when the host only has message suite V1. Returns whether shown.
pub fn post_persistent(effect: Effect, kind: &CStr, text: &str) -> bool {
    let Ok(s) = suites() else { return false };
    let c = cstring(&printf_literal(text));
    let h: *mut c_void = effect.as_raw();
    if let Some(m) = s.message2 {
        // SAFETY: the format has no conversion left (every '%' doubled), so the host reads
        // no variadic argument; the trailing null is never read. Strings outlive the call.
        return unsafe { (m.setPersistentMessage)(h, kind.as_ptr(), MESSAGE_ID.as_ptr(), c.as_ptr(), null_mut::<c_void>()) }
            == sys::kOfxStatOK;
    }
    post_message(Some(effect), kind, text)
}

/// Clears this plugin's persistent message on `effect` (V2 only; a no-op otherwise).
pub fn clear_persistent(effect: Effect) {
    if let Some(m) = suites().ok().and_then(|s| s.message2) {
        // SAFETY: a handle from the host (`from_raw`).
        unsafe { (m.clearPersistentMessage)(effect.as_raw()) };
    }
}

/// A one-off message (dialog or log, host's choice); `None` targets the plugin as a whole.
pub fn post_message(effect: Option<Effect>, kind: &CStr, text: &str) -> bool {
    let Ok(s) = suites() else { return false };
    let c = cstring(&printf_literal(text));
    let h = effect.map_or(null_mut(), |e| e.as_raw());
    let Some(f) = s.message2.map(|m| m.message).or(s.message1.map(|m| m.message)) else { return false };
    // SAFETY: as in `post_persistent`: a format without conversions, no argument read.
    unsafe { f(h, kind.as_ptr(), MESSAGE_ID.as_ptr(), c.as_ptr(), null_mut::<c_void>()) == sys::kOfxStatOK }
}

/// `text` as a printf format that prints it literally: every '%' doubled.
///
/// Host quirk: the message suites are printf-style (`format, ...`). Natron 2.5 forwards the
/// host's `va_list` into a `...` function, so a "%s" conversion prints garbage (seen as an
/// empty message in NatronRenderer). A format with no conversion is printed correctly by
/// every host, so the text itself is the format and no argument is passed.
pub fn printf_literal(text: &str) -> String {
    text.replace('%', "%%")
}

/// A running host progress bar; ended on drop. `update` reports whether to go on.
pub struct Progress {
    effect: Effect,
    /// Whether the host has answered an update with "go on" (see `update`).
    acknowledged: std::cell::Cell<bool>,
}

impl Progress {
    /// Starts a progress bar, or `None` when the host has no progress suite.
    pub fn start(effect: Effect, label: &str) -> Option<Progress> {
        let s = suites().ok()?;
        let c = cstring(label);
        let h = effect.as_raw();
        let st = if let Some(p) = s.progress2 {
            // SAFETY: strings outlive the call; the handle came from the host (`from_raw`).
            unsafe { (p.progressStart)(h, c.as_ptr(), MESSAGE_ID.as_ptr()) }
        } else {
            // SAFETY: as above.
            unsafe { (s.progress1?.progressStart)(h, c.as_ptr()) }
        };
        (st == sys::kOfxStatOK).then_some(Progress { effect, acknowledged: std::cell::Cell::new(false) })
    }
    /// Sets the fraction done; `false` when the artist cancelled.
    ///
    /// Host quirk: Natron's GUI registers a progress started from a render thread later, on
    /// its main thread, and answers "cancelled" (kOfxStatReplyNo) to updates until then. A
    /// cancel therefore counts only once the host has answered "go on" at least once.
    pub fn update(&self, fraction: f64) -> bool {
        let Ok(s) = suites() else { return true };
        let Some(f) = s.progress2.map(|p| p.progressUpdate).or(s.progress1.map(|p| p.progressUpdate)) else { return true };
        // SAFETY: plain values; the handle was accepted by progress start.
        let go_on = unsafe { f(self.effect.as_raw(), fraction.clamp(0.0, 1.0)) } != sys::kOfxStatReplyNo;
        if go_on {
            self.acknowledged.set(true);
        }
        go_on || !self.acknowledged.get()
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let Ok(s) = suites() else { return };
        if let Some(f) = s.progress2.map(|p| p.progressEnd).or(s.progress1.map(|p| p.progressEnd)) {
            // SAFETY: ends the bar this value started, once.
            unsafe { f(self.effect.as_raw()) };
        }
    }
}

impl Interact {
    pub fn props(&self) -> OfxResult<PropSet> {
        let s = suites()?.interact.ok_or_else(|| super::OfxError::new(sys::kOfxStatErrMissingHostFeature, "no interact suite"))?;
        let mut p = null_mut();
        // SAFETY: valid out pointer; the handle came from the host (`from_raw`).
        check(unsafe { (s.interactGetPropertySet)(self.0, &mut p) }, || "interact properties".into())?;
        // SAFETY: `p` is null or the interact's property set, interactGetPropertySet's out value.
        unsafe { PropSet::from_raw(p.cast()) }.ok_or_else(|| super::OfxError::failed("interact has no properties"))
    }
    /// Asks the host to redraw this interact (after an edit); harmless when unsupported.
    pub fn redraw(&self) {
        if let Some(s) = suites().ok().and_then(|s| s.interact) {
            // SAFETY: plain handle.
            unsafe { (s.interactRedraw)(self.0) };
        }
    }
}

/// Whether the host offers the OFX 1.5 Draw suite.
pub fn has_draw_suite() -> bool {
    suites().map(|s| s.draw.is_some()).unwrap_or(false)
}

impl DrawContext {
    fn d(&self) -> OfxResult<&'static sys::OfxDrawSuiteV1> {
        suites()?.draw.ok_or_else(|| super::OfxError::new(sys::kOfxStatErrMissingHostFeature, "no draw suite"))
    }
    /// The draw context handed to the draw action in `in_args`.
    pub fn from_args(in_args: PropSet) -> OfxResult<DrawContext> {
        let p = in_args.get_pointer(n::kOfxInteractPropDrawContext, 0)?;
        // SAFETY: the host puts the draw action's draw context handle (or nothing, when it
        // has no draw suite) under kOfxInteractPropDrawContext in the action's inArgs.
        unsafe { DrawContext::from_raw(p) }.ok_or_else(|| super::OfxError::new(sys::kOfxStatErrBadHandle, "null draw context"))
    }
    pub fn set_colour(&self, rgba: [f32; 4]) -> OfxResult<()> {
        let c = OfxRGBAColourF { r: rgba[0], g: rgba[1], b: rgba[2], a: rgba[3] };
        // SAFETY: `c` outlives the call.
        check(unsafe { (self.d()?.setColour)(self.0, &c) }, || "setColour".into())
    }
    pub fn set_line(&self, width: f32, stipple: i32) -> OfxResult<()> {
        let d = self.d()?;
        // SAFETY: plain values.
        check(unsafe { (d.setLineWidth)(self.0, width) }, || "setLineWidth".into())?;
        // SAFETY: plain values.
        check(unsafe { (d.setLineStipple)(self.0, stipple) }, || "setLineStipple".into())
    }
    pub fn draw(&self, primitive: i32, points: &[OfxPointD]) -> OfxResult<()> {
        // SAFETY: `points` holds points.len() points, the count we pass.
        check(unsafe { (self.d()?.draw)(self.0, primitive, points.as_ptr(), points.len() as i32) }, || "draw".into())
    }
    pub fn text(&self, text: &str, at: OfxPointD) -> OfxResult<()> {
        let c = cstring(text);
        let align = sys::kOfxDrawTextAlignmentLeft | sys::kOfxDrawTextAlignmentBaseline;
        // SAFETY: `c` and `at` outlive the call.
        check(unsafe { (self.d()?.drawText)(self.0, c.as_ptr(), &at, align) }, || "drawText".into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_are_formats_that_print_the_text_literally() {
        assert_eq!(super::printf_literal("50% done, 100%s"), "50%% done, 100%%s");
        assert_eq!(super::printf_literal("no percent"), "no percent");
    }
}
