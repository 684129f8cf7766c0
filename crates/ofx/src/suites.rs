//! Safe wrappers over the host's suites (property, parameter, image effect, message,
//! progress, interact, draw). This file and `entry.rs` are the only places that call the
//! host through raw pointers; everything above them is safe Rust.
//!
//! Handles are plain copies of host pointers, passed back to the host's suite functions.
//! Hosts need not validate what they are given (Nuke and Natron cast a handle straight back
//! to their own object), so a handle may only be made from a pointer the host handed us:
//! `PropSet::from_raw` and the other constructors are `unsafe` and crate-private, and
//! each caller says where its pointer came from. A status the host does return for a bad
//! handle becomes an [`OfxError`].
use super::sys::{self, names as n, OfxStatus};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::RwLock;

mod effect;
mod ui;
pub use effect::{prefixed, Components, Image, PixelDepth};
pub use ui::{clear_persistent, has_draw_suite, post_message, post_persistent, Progress};

/// What a failed action means for the artist (see `entry`: which ones show a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Something went wrong: the artist sees the message (unless the host aborted the
    /// render, which explains it: a frame the host no longer provides, say).
    Failure,
    /// Stopped on request (the host's abort, the artist's cancel): no message.
    Stopped,
    /// The helper process failed (died, hung, or stopped and killed): always shown.
    Helper,
}

/// An OFX status with a message the artist can read, and what it means for them.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} (OFX status {status})")]
pub struct OfxError {
    pub status: OfxStatus,
    pub message: String,
    pub cause: Cause,
}

impl OfxError {
    pub fn new(status: OfxStatus, message: impl Into<String>) -> Self {
        OfxError { status, message: message.into(), cause: Cause::Failure }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(sys::kOfxStatFailed, message)
    }
    /// Stopped on request: the action fails, quietly.
    pub fn stopped(message: impl Into<String>) -> Self {
        OfxError { cause: Cause::Stopped, ..Self::failed(message) }
    }
}

pub type OfxResult<T> = Result<T, OfxError>;

fn check(status: OfxStatus, what: impl FnOnce() -> String) -> OfxResult<()> {
    match status {
        sys::kOfxStatOK | sys::kOfxStatReplyDefault => Ok(()),
        s => Err(OfxError::new(s, what())),
    }
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// The suites fetched from the host at load time.
pub struct Suites {
    /// The host's own properties (its name, version, capabilities), when it gave them.
    pub host_props: Option<PropSet>,
    prop: &'static sys::OfxPropertySuiteV1,
    param: &'static sys::OfxParameterSuiteV1,
    effect: &'static sys::OfxImageEffectSuiteV1,
    message1: Option<&'static sys::OfxMessageSuiteV1>,
    message2: Option<&'static sys::OfxMessageSuiteV2>,
    progress1: Option<&'static sys::OfxProgressSuiteV1>,
    progress2: Option<&'static sys::OfxProgressSuiteV2>,
    interact: Option<&'static sys::OfxInteractSuiteV1>,
    draw: Option<&'static sys::OfxDrawSuiteV1>,
}

// SAFETY: suite tables are immutable function tables the host keeps alive while the plugin
// is loaded; OFX requires them to be callable from any thread.
unsafe impl Send for Suites {}
// SAFETY: as above, the tables are read-only.
unsafe impl Sync for Suites {}

static SUITES: RwLock<Option<&'static Suites>> = RwLock::new(None);

/// The current host's suites, or `kOfxStatErrMissingHostFeature` before a successful load.
pub fn suites() -> OfxResult<&'static Suites> {
    let guard = SUITES.read().unwrap_or_else(|e| e.into_inner());
    guard.ok_or_else(|| OfxError::new(sys::kOfxStatErrMissingHostFeature, "the host has not loaded SamuraiRoto"))
}

/// Fetches every suite from `host` and makes them current. Requires the property,
/// parameter and image effect suites; the others are optional.
///
/// # Safety
/// `host` must be null or the `OfxHost` the host passed to `setHost`, alive while loaded.
pub unsafe fn install_host(host: *const sys::OfxHost) -> OfxResult<()> {
    // SAFETY: the caller guarantees `host` is null or a live OfxHost.
    let host = unsafe { host.as_ref() }.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "setHost was never called"))?;
    let fetch = host.fetchSuite.ok_or_else(|| OfxError::new(sys::kOfxStatErrBadHandle, "host has no fetchSuite"))?;
    let get = |name: &CStr, v: c_int| -> *const c_void {
        // SAFETY: fetchSuite is the host's function; it returns null or a suite table.
        unsafe { fetch(host.host, name.as_ptr(), v) }
    };
    macro_rules! suite {
        ($t:ty, $name:expr, $v:expr) => {
            // SAFETY: a non-null pointer returned by fetchSuite(name, version) points to
            // that version's table, which lives as long as the host.
            unsafe { get($name, $v).cast::<$t>().as_ref() }
        };
    }
    let missing = |s: &str| OfxError::new(sys::kOfxStatErrMissingHostFeature, format!("host lacks the {s} suite"));
    let suites = Suites {
        // SAFETY: `host.host` is the host's own property set, from the OfxHost it gave setHost.
        host_props: unsafe { PropSet::from_raw(host.host.cast()) },
        prop: suite!(sys::OfxPropertySuiteV1, n::kOfxPropertySuite, 1).ok_or_else(|| missing("property"))?,
        param: suite!(sys::OfxParameterSuiteV1, n::kOfxParameterSuite, 1).ok_or_else(|| missing("parameter"))?,
        effect: suite!(sys::OfxImageEffectSuiteV1, n::kOfxImageEffectSuite, 1).ok_or_else(|| missing("image effect"))?,
        message1: suite!(sys::OfxMessageSuiteV1, n::kOfxMessageSuite, 1),
        message2: suite!(sys::OfxMessageSuiteV2, n::kOfxMessageSuite, 2),
        progress1: suite!(sys::OfxProgressSuiteV1, n::kOfxProgressSuite, 1),
        progress2: suite!(sys::OfxProgressSuiteV2, n::kOfxProgressSuite, 2),
        interact: suite!(sys::OfxInteractSuiteV1, n::kOfxInteractSuite, 1),
        draw: suite!(sys::OfxDrawSuiteV1, n::kOfxDrawSuite, 1),
    };
    *SUITES.write().unwrap_or_else(|e| e.into_inner()) = Some(Box::leak(Box::new(suites)));
    Ok(())
}

macro_rules! handle {
    ($name:ident, $raw:ty) => {
        /// A host handle (see the module documentation): only made by `from_raw`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name($raw);
        // SAFETY: OFX handles are opaque tokens the host accepts from any thread; all
        // access goes through host functions that do their own synchronisation.
        unsafe impl Send for $name {}
        // SAFETY: as above.
        unsafe impl Sync for $name {}
        impl $name {
            /// Wraps a host pointer; `None` when null.
            ///
            /// # Safety
            /// `p` must be null or a handle of this kind that the host handed the plugin (an
            /// action's argument, a suite function's out value, or a property the host
            /// documents as holding one), still alive: the wrapper's methods pass it back
            /// to the host's suite functions, which may dereference it unchecked.
            pub(crate) unsafe fn from_raw(p: *mut c_void) -> Option<Self> {
                (!p.is_null()).then(|| $name(p.cast()))
            }
            pub fn as_raw(self) -> *mut c_void {
                self.0.cast()
            }
        }
    };
}
handle!(PropSet, sys::OfxPropertySetHandle);
handle!(ParamSet, sys::OfxParamSetHandle);
handle!(Param, sys::OfxParamHandle);
handle!(Effect, sys::OfxImageEffectHandle);
handle!(Clip, sys::OfxImageClipHandle);
handle!(Interact, sys::OfxInteractHandle);
handle!(DrawContext, sys::OfxDrawContextHandle);

impl PropSet {
    fn s(&self) -> OfxResult<&'static sys::OfxPropertySuiteV1> {
        Ok(suites()?.prop)
    }
    fn err(name: &CStr) -> impl FnOnce() -> String + '_ {
        move || format!("property {}", name.to_string_lossy())
    }
    pub fn get_int(&self, name: &CStr, i: i32) -> OfxResult<i32> {
        let mut v = 0;
        // SAFETY: `v` is a valid out pointer; the handle came from the host (`from_raw`).
        check(unsafe { (self.s()?.propGetInt)(self.0, name.as_ptr(), i, &mut v) }, Self::err(name))?;
        Ok(v)
    }
    pub fn get_double(&self, name: &CStr, i: i32) -> OfxResult<f64> {
        let mut v = 0.0;
        // SAFETY: `v` is a valid out pointer; the handle came from the host (`from_raw`).
        check(unsafe { (self.s()?.propGetDouble)(self.0, name.as_ptr(), i, &mut v) }, Self::err(name))?;
        Ok(v)
    }
    pub fn get_doubles<const N: usize>(&self, name: &CStr) -> OfxResult<[f64; N]> {
        let mut v = [0.0; N];
        // SAFETY: `v` holds exactly N doubles, the count we pass.
        check(unsafe { (self.s()?.propGetDoubleN)(self.0, name.as_ptr(), N as c_int, v.as_mut_ptr()) }, Self::err(name))?;
        Ok(v)
    }
    pub fn get_ints<const N: usize>(&self, name: &CStr) -> OfxResult<[i32; N]> {
        let mut v = [0; N];
        // SAFETY: `v` holds exactly N ints, the count we pass.
        check(unsafe { (self.s()?.propGetIntN)(self.0, name.as_ptr(), N as c_int, v.as_mut_ptr()) }, Self::err(name))?;
        Ok(v)
    }
    pub fn get_string(&self, name: &CStr, i: i32) -> OfxResult<String> {
        let mut p: *mut c_char = null_mut();
        // SAFETY: `p` is a valid out pointer; the host returns a string it owns.
        check(unsafe { (self.s()?.propGetString)(self.0, name.as_ptr(), i, &mut p) }, Self::err(name))?;
        // SAFETY: the host returned null or a NUL-terminated string valid until the next call.
        Ok(if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() })
    }
    pub fn get_pointer(&self, name: &CStr, i: i32) -> OfxResult<*mut c_void> {
        let mut p = null_mut();
        // SAFETY: `p` is a valid out pointer.
        check(unsafe { (self.s()?.propGetPointer)(self.0, name.as_ptr(), i, &mut p) }, Self::err(name))?;
        Ok(p)
    }
    pub fn dimension(&self, name: &CStr) -> OfxResult<i32> {
        let mut v = 0;
        // SAFETY: `v` is a valid out pointer.
        check(unsafe { (self.s()?.propGetDimension)(self.0, name.as_ptr(), &mut v) }, Self::err(name))?;
        Ok(v)
    }
    pub fn set_int(&self, name: &CStr, i: i32, v: i32) -> OfxResult<()> {
        // SAFETY: plain values; the handle came from the host (`from_raw`).
        check(unsafe { (self.s()?.propSetInt)(self.0, name.as_ptr(), i, v) }, Self::err(name))
    }
    pub fn set_double(&self, name: &CStr, i: i32, v: f64) -> OfxResult<()> {
        // SAFETY: plain values; the handle came from the host (`from_raw`).
        check(unsafe { (self.s()?.propSetDouble)(self.0, name.as_ptr(), i, v) }, Self::err(name))
    }
    pub fn set_doubles(&self, name: &CStr, v: &[f64]) -> OfxResult<()> {
        // SAFETY: `v` holds v.len() doubles, the count we pass.
        check(unsafe { (self.s()?.propSetDoubleN)(self.0, name.as_ptr(), v.len() as c_int, v.as_ptr()) }, Self::err(name))
    }
    pub fn set_string(&self, name: &CStr, i: i32, v: &str) -> OfxResult<()> {
        let c = cstring(v);
        // SAFETY: `c` is NUL-terminated and outlives the call; the host copies it.
        check(unsafe { (self.s()?.propSetString)(self.0, name.as_ptr(), i, c.as_ptr()) }, Self::err(name))
    }
    /// Sets every value of a multi-dimensional string property in one call (its dimension
    /// becomes `v.len()`).
    pub fn set_all_strings(&self, name: &CStr, v: &[String]) -> OfxResult<()> {
        let c: Vec<CString> = v.iter().map(|s| cstring(s)).collect();
        let ptrs: Vec<*const c_char> = c.iter().map(|s| s.as_ptr()).collect();
        // SAFETY: `ptrs` holds v.len() NUL-terminated strings that outlive the call (`c`
        // owns them); the host copies them.
        check(unsafe { (self.s()?.propSetStringN)(self.0, name.as_ptr(), ptrs.len() as c_int, ptrs.as_ptr()) }, Self::err(name))
    }
    pub fn set_strings(&self, name: &CStr, v: &[&CStr]) -> OfxResult<()> {
        v.iter().enumerate().try_for_each(|(i, s)| {
            // SAFETY: `s` is NUL-terminated and 'static or outlives the call.
            check(unsafe { (self.s()?.propSetString)(self.0, name.as_ptr(), i as c_int, s.as_ptr()) }, Self::err(name))
        })
    }
    // The pointer is only stored as a value (instance data), never dereferenced here.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    pub fn set_pointer(&self, name: &CStr, v: *mut c_void) -> OfxResult<()> {
        // SAFETY: the host stores the pointer value, never dereferences it.
        check(unsafe { (self.s()?.propSetPointer)(self.0, name.as_ptr(), 0, v) }, Self::err(name))
    }
}

impl ParamSet {
    /// Defines a parameter (describe-in-context only) and returns its property set.
    pub fn define(&self, kind: &CStr, name: &str) -> OfxResult<PropSet> {
        let c = cstring(name);
        let mut props = null_mut();
        // SAFETY: `c` outlives the call; `props` is a valid out pointer.
        check(unsafe { (suites()?.param.paramDefine)(self.0, kind.as_ptr(), c.as_ptr(), &mut props) }, || {
            format!("define parameter {name}")
        })?;
        // SAFETY: `props` is null or the new parameter's property set, paramDefine's out value.
        unsafe { PropSet::from_raw(props.cast()) }.ok_or_else(|| OfxError::failed(format!("host gave no properties for {name}")))
    }
    pub fn param(&self, name: &str) -> OfxResult<Param> {
        let c = cstring(name);
        let (mut h, mut props) = (null_mut(), null_mut());
        // SAFETY: `c` outlives the call; both out pointers are valid.
        check(unsafe { (suites()?.param.paramGetHandle)(self.0, c.as_ptr(), &mut h, &mut props) }, || {
            format!("parameter {name} not found")
        })?;
        // SAFETY: `h` is null or the parameter's handle, paramGetHandle's out value.
        unsafe { Param::from_raw(h.cast()) }.ok_or_else(|| OfxError::new(sys::kOfxStatErrUnknown, format!("parameter {name} not found")))
    }
    /// A parameter's property set (enabled state, hint, ...).
    pub fn param_props(&self, name: &str) -> OfxResult<PropSet> {
        let c = cstring(name);
        let (mut h, mut props) = (null_mut(), null_mut());
        // SAFETY: `c` outlives the call; both out pointers are valid.
        check(unsafe { (suites()?.param.paramGetHandle)(self.0, c.as_ptr(), &mut h, &mut props) }, || {
            format!("parameter {name} not found")
        })?;
        // SAFETY: `props` is null or the parameter's property set, paramGetHandle's out value.
        unsafe { PropSet::from_raw(props.cast()) }.ok_or_else(|| OfxError::failed(format!("host gave no properties for {name}")))
    }
    pub fn edit_begin(&self, label: &str) -> OfxResult<()> {
        let c = cstring(label);
        // SAFETY: `c` outlives the call.
        check(unsafe { (suites()?.param.paramEditBegin)(self.0, c.as_ptr()) }, || "paramEditBegin".into())
    }
    pub fn edit_end(&self) -> OfxResult<()> {
        // SAFETY: plain handle.
        check(unsafe { (suites()?.param.paramEditEnd)(self.0) }, || "paramEditEnd".into())
    }
}

impl Param {
    fn p(&self) -> OfxResult<&'static sys::OfxParameterSuiteV1> {
        Ok(suites()?.param)
    }
    fn e() -> impl FnOnce() -> String {
        || "parameter value".to_owned()
    }
    pub fn get_f64(&self, t: f64) -> OfxResult<f64> {
        let mut v = 0.0f64;
        // SAFETY: a double parameter reads into one double*.
        check(unsafe { (self.p()?.paramGetValueAtTime)(self.0, t, &mut v as *mut f64) }, Self::e())?;
        Ok(v)
    }
    pub fn get_f64x2(&self, t: f64) -> OfxResult<[f64; 2]> {
        let (mut x, mut y) = (0.0f64, 0.0f64);
        // SAFETY: a 2-D double parameter reads into two double*.
        check(unsafe { (self.p()?.paramGetValueAtTime)(self.0, t, &mut x as *mut f64, &mut y as *mut f64) }, Self::e())?;
        Ok([x, y])
    }
    pub fn get_rgb(&self, t: f64) -> OfxResult<[f64; 3]> {
        let mut v = [0.0f64; 3];
        let [r, g, b] = v.each_mut().map(|p| p as *mut f64);
        // SAFETY: an RGB parameter reads into three double*.
        check(unsafe { (self.p()?.paramGetValueAtTime)(self.0, t, r, g, b) }, Self::e())?;
        Ok(v)
    }
    /// Integer, boolean and choice parameters all read into one int.
    pub fn get_int(&self, t: f64) -> OfxResult<i32> {
        let mut v: c_int = 0;
        // SAFETY: int/bool/choice parameters read into one int*.
        check(unsafe { (self.p()?.paramGetValueAtTime)(self.0, t, &mut v as *mut c_int) }, Self::e())?;
        Ok(v)
    }
    pub fn get_string(&self) -> OfxResult<String> {
        let mut p: *mut c_char = null_mut();
        // SAFETY: a string parameter reads into one char**.
        check(unsafe { (self.p()?.paramGetValue)(self.0, &mut p as *mut *mut c_char) }, Self::e())?;
        // SAFETY: the host returned null or a NUL-terminated string it owns.
        Ok(if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() })
    }
    pub fn set_f64x2_at(&self, t: f64, v: [f64; 2]) -> OfxResult<()> {
        // SAFETY: a 2-D double parameter takes two doubles after the time.
        check(unsafe { (self.p()?.paramSetValueAtTime)(self.0, t, v[0], v[1]) }, Self::e())
    }
    pub fn set_int(&self, v: i32) -> OfxResult<()> {
        // SAFETY: int/bool/choice parameters take one int.
        check(unsafe { (self.p()?.paramSetValue)(self.0, v as c_int) }, Self::e())
    }
    pub fn set_string(&self, v: &str) -> OfxResult<()> {
        let c = cstring(v);
        // SAFETY: a string parameter takes one char*; the host copies it.
        check(unsafe { (self.p()?.paramSetValue)(self.0, c.as_ptr()) }, Self::e())
    }
    /// Times of all keyframes, ascending.
    pub fn key_times(&self) -> OfxResult<Vec<f64>> {
        let mut n: c_uint = 0;
        // SAFETY: valid out pointer.
        check(unsafe { (self.p()?.paramGetNumKeys)(self.0, &mut n) }, || "paramGetNumKeys".into())?;
        (0..n)
            .map(|i| {
                let mut t = 0.0;
                // SAFETY: valid out pointer, index below the count the host gave.
                check(unsafe { (self.p()?.paramGetKeyTime)(self.0, i, &mut t) }, || "paramGetKeyTime".into()).map(|_| t)
            })
            .collect()
    }
    /// Whether a keyframe sits exactly at `t`.
    pub fn has_key_at(&self, t: f64) -> OfxResult<bool> {
        let mut i: c_int = -1;
        // SAFETY: valid out pointer; direction 0 asks for a key exactly at t.
        let st = unsafe { (self.p()?.paramGetKeyIndex)(self.0, t, 0, &mut i) };
        Ok(st == sys::kOfxStatOK && i >= 0)
    }
}
