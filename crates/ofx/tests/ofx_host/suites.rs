//! Test host suites. Variadic OFX functions (paramGetValue, message, ...) cannot be
//! *defined* in stable Rust; on Linux x86-64/aarch64 a C variadic call passes its arguments
//! in the same registers as a non-variadic call, so they are defined here with enough
//! fixed pointer and double arguments to cover every parameter type.
#![allow(dead_code, clippy::missing_safety_doc)]
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
compile_error!("the in-repo OFX test host relies on the Linux x86-64/aarch64 variadic calling convention");

use super::store::*;
use samurai_roto_ofx::sys::*;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::Mutex;

/// Every message the plugin posted: (persistent?, "kind: text").
pub static MESSAGES: Mutex<Vec<(bool, String)>> = Mutex::new(Vec::new());
/// How many times the plugin cleared its persistent message.
pub static CLEARED: Mutex<usize> = Mutex::new(0);
pub static DRAWN: Mutex<Vec<(c_int, Vec<OfxPointD>)>> = Mutex::new(Vec::new());
pub static PROGRESS: Mutex<Vec<f64>> = Mutex::new(Vec::new());
/// Every progress bar started: its label and the values it was updated with.
pub static PROGRESS_BARS: Mutex<Vec<(String, Vec<f64>)>> = Mutex::new(Vec::new());

unsafe fn s<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

macro_rules! props_or_bad {
    ($h:expr) => {
        match Props::get($h) {
            Some(p) => p,
            None => return kOfxStatErrBadHandle,
        }
    };
}

unsafe fn set_val(h: P, k: *const c_char, i: c_int, f: impl FnOnce(&mut Option<Val>)) -> OfxStatus {
    let p = props_or_bad!(h);
    if k.is_null() || i < 0 {
        return kOfxStatErrValue;
    }
    let mut m = p.m.lock().unwrap();
    let mut v = m.remove(s(k));
    f(&mut v);
    if let Some(v) = v {
        m.insert(s(k).into(), v);
    }
    kOfxStatOK
}
type P = OfxPropertySetHandle;
macro_rules! setter {
    ($name:ident, $t:ty, $var:ident, $conv:expr) => {
        unsafe extern "C" fn $name(h: P, k: *const c_char, i: c_int, v: $t) -> OfxStatus {
            let v = $conv(v);
            set_val(h, k, i, |slot| {
                let mut vec = match slot.take() {
                    Some(Val::$var(x)) => x,
                    _ => vec![],
                };
                if vec.len() <= i as usize {
                    vec.resize(i as usize + 1, Default::default());
                }
                vec[i as usize] = v;
                *slot = Some(Val::$var(vec));
            })
        }
    };
}
setter!(set_ptr, *mut c_void, P, |v: *mut c_void| v as usize);
setter!(set_str, *const c_char, S, |v: *const c_char| if v.is_null() { CString::default() } else { CString::from(CStr::from_ptr(v)) });
setter!(set_dbl, f64, D, |v| v);
setter!(set_int, c_int, I, |v| v);
unsafe extern "C" fn set_dbl_n(h: P, k: *const c_char, n: c_int, v: *const f64) -> OfxStatus {
    if v.is_null() {
        return kOfxStatErrValue;
    }
    let v = std::slice::from_raw_parts(v, n as usize).to_vec();
    set_val(h, k, 0, |slot| *slot = Some(Val::D(v)))
}
unsafe extern "C" fn set_int_n(h: P, k: *const c_char, n: c_int, v: *const c_int) -> OfxStatus {
    if v.is_null() {
        return kOfxStatErrValue;
    }
    let v = std::slice::from_raw_parts(v, n as usize).to_vec();
    set_val(h, k, 0, |slot| *slot = Some(Val::I(v)))
}
/// Names of the properties set as a whole through `propSetStringN` (Natron 2.5 rebuilds a
/// choice parameter's menu only when its options are set so, or reset and appended).
pub static STRINGS_SET_WHOLE: Mutex<Vec<String>> = Mutex::new(Vec::new());
unsafe extern "C" fn set_str_n(h: P, k: *const c_char, n: c_int, v: *const *const c_char) -> OfxStatus {
    if v.is_null() || k.is_null() {
        return kOfxStatErrValue;
    }
    let v: Vec<CString> = std::slice::from_raw_parts(v, n as usize)
        .iter()
        .map(|p| if p.is_null() { CString::default() } else { CString::from(CStr::from_ptr(*p)) })
        .collect();
    STRINGS_SET_WHOLE.lock().unwrap().push(s(k).to_owned());
    set_val(h, k, 0, |slot| *slot = Some(Val::S(v)))
}
// The setters and getters nobody calls answer "unsupported", each with its slot's own
// signature (no transmutes).
unsafe extern "C" fn set_ptr_n(_: P, _: *const c_char, _: c_int, _: *const *mut c_void) -> OfxStatus {
    kOfxStatErrUnsupported
}

unsafe extern "C" fn get_ptr_n(_: P, _: *const c_char, _: c_int, _: *mut *mut c_void) -> OfxStatus {
    kOfxStatErrUnsupported
}

unsafe extern "C" fn get_str_n(_: P, _: *const c_char, _: c_int, _: *mut *mut c_char) -> OfxStatus {
    kOfxStatErrUnsupported
}

unsafe extern "C" fn reset(_: P, _: *const c_char) -> OfxStatus {
    kOfxStatErrUnsupported
}

unsafe fn get_val(h: P, k: *const c_char) -> Result<Val, OfxStatus> {
    let p = Props::get(h).ok_or(kOfxStatErrBadHandle)?;
    if k.is_null() {
        return Err(kOfxStatErrValue);
    }
    p.get_val(s(k)).ok_or(kOfxStatErrUnknown)
}
macro_rules! getter {
    ($name:ident, $t:ty, $var:ident, $conv:expr) => {
        unsafe extern "C" fn $name(h: P, k: *const c_char, i: c_int, out: *mut $t) -> OfxStatus {
            if out.is_null() {
                return kOfxStatErrValue;
            }
            match get_val(h, k) {
                Ok(Val::$var(v)) => match usize::try_from(i).ok().and_then(|i| v.get(i)) {
                    Some(x) => {
                        *out = $conv(x);
                        kOfxStatOK
                    }
                    None => kOfxStatErrBadIndex,
                },
                Ok(_) => kOfxStatErrValue,
                Err(e) => e,
            }
        }
    };
}
getter!(get_ptr, *mut c_void, P, |x: &usize| *x as *mut c_void);
/// Strings are answered with a pointer into the *stored* CString (valid until the property
/// is set again), never into a temporary copy.
unsafe extern "C" fn get_str(h: P, k: *const c_char, i: c_int, out: *mut *mut c_char) -> OfxStatus {
    let p = props_or_bad!(h);
    if out.is_null() || k.is_null() {
        return kOfxStatErrValue;
    }
    let m = p.m.lock().unwrap();
    match m.get(s(k)) {
        Some(Val::S(v)) => match usize::try_from(i).ok().and_then(|i| v.get(i)) {
            Some(x) => {
                *out = x.as_ptr() as *mut c_char;
                kOfxStatOK
            }
            None => kOfxStatErrBadIndex,
        },
        Some(_) => kOfxStatErrValue,
        None => kOfxStatErrUnknown,
    }
}
getter!(get_dbl, f64, D, |x: &f64| *x);
getter!(get_int, c_int, I, |x: &c_int| *x);
unsafe extern "C" fn get_dbl_n(h: P, k: *const c_char, n: c_int, out: *mut f64) -> OfxStatus {
    (0..n).map(|i| get_dbl(h, k, i, out.add(i as usize))).find(|s| *s != kOfxStatOK).unwrap_or(kOfxStatOK)
}
unsafe extern "C" fn get_int_n(h: P, k: *const c_char, n: c_int, out: *mut c_int) -> OfxStatus {
    (0..n).map(|i| get_int(h, k, i, out.add(i as usize))).find(|s| *s != kOfxStatOK).unwrap_or(kOfxStatOK)
}
unsafe extern "C" fn get_dim(h: P, k: *const c_char, out: *mut c_int) -> OfxStatus {
    if out.is_null() {
        return kOfxStatErrValue;
    }
    match get_val(h, k) {
        Ok(v) => {
            *out = match v {
                Val::I(x) => x.len(),
                Val::D(x) => x.len(),
                Val::S(x) => x.len(),
                Val::P(x) => x.len(),
            } as c_int;
            kOfxStatOK
        }
        Err(e) => e,
    }
}

pub fn property_suite() -> OfxPropertySuiteV1 {
    OfxPropertySuiteV1 {
        propSetPointer: set_ptr,
        propSetString: set_str,
        propSetDouble: set_dbl,
        propSetInt: set_int,
        propSetPointerN: set_ptr_n,
        propSetStringN: set_str_n,
        propSetDoubleN: set_dbl_n,
        propSetIntN: set_int_n,
        propGetPointer: get_ptr,
        propGetString: get_str,
        propGetDouble: get_dbl,
        propGetInt: get_int,
        propGetPointerN: get_ptr_n,
        propGetStringN: get_str_n,
        propGetDoubleN: get_dbl_n,
        propGetIntN: get_int_n,
        propReset: reset,
        propGetDimension: get_dim,
    }
}

// ---- messages and progress ----
unsafe fn record(persistent: bool, kind: *const c_char, fmt: *const c_char, a1: *const c_char) -> OfxStatus {
    if kind.is_null() || fmt.is_null() {
        return kOfxStatErrValue;
    }
    // printf semantics for what the plugin may send: "%%" prints '%' and "%s" the one
    // argument; any other conversion is a plugin bug (a host would read garbage).
    let (fmt, mut text, mut chars) = (s(fmt), String::new(), Vec::new());
    chars.extend(fmt.chars());
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('%', Some('%')) => {
                text.push('%');
                i += 2;
            }
            ('%', Some('s')) => {
                text.push_str(s(a1));
                i += 2;
            }
            ('%', other) => panic!("message format {fmt:?}: conversion %{other:?} the host would read garbage for"),
            (c, _) => {
                text.push(c);
                i += 1;
            }
        }
    }
    MESSAGES.lock().unwrap().push((persistent, format!("{}: {text}", s(kind))));
    kOfxStatOK
}
unsafe extern "C" fn message(_h: *mut c_void, kind: *const c_char, _id: *const c_char, fmt: *const c_char, a1: *const c_char) -> OfxStatus {
    record(false, kind, fmt, a1)
}
unsafe extern "C" fn persistent(
    _h: *mut c_void,
    kind: *const c_char,
    _id: *const c_char,
    fmt: *const c_char,
    a1: *const c_char,
) -> OfxStatus {
    record(true, kind, fmt, a1)
}
unsafe extern "C" fn clear_persistent(_h: *mut c_void) -> OfxStatus {
    *CLEARED.lock().unwrap() += 1;
    kOfxStatOK
}
unsafe extern "C" fn progress_start(_h: *mut c_void, l: *const c_char, _i: *const c_char) -> OfxStatus {
    PROGRESS_BARS.lock().unwrap().push((if l.is_null() { String::new() } else { s(l).to_owned() }, Vec::new()));
    kOfxStatOK
}
/// Replies of the next progress updates (then kOfxStatOK): kOfxStatReplyNo is "cancelled",
/// or, before any kOfxStatOK, Natron's GUI before it has registered the progress.
pub static PROGRESS_REPLIES: Mutex<std::collections::VecDeque<OfxStatus>> = Mutex::new(std::collections::VecDeque::new());
unsafe extern "C" fn progress_update(_h: *mut c_void, v: f64) -> OfxStatus {
    PROGRESS.lock().unwrap().push(v);
    if let Some((_, values)) = PROGRESS_BARS.lock().unwrap().last_mut() {
        values.push(v);
    }
    PROGRESS_REPLIES.lock().unwrap().pop_front().unwrap_or(kOfxStatOK)
}
unsafe extern "C" fn progress_end(_h: *mut c_void) -> OfxStatus {
    kOfxStatOK
}

pub type MessageFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char, *const c_char) -> OfxStatus;
#[repr(C)]
pub struct MessageSuite {
    pub message: MessageFn,
    pub set_persistent: MessageFn,
    pub clear: unsafe extern "C" fn(*mut c_void) -> OfxStatus,
}
pub fn message_suite() -> MessageSuite {
    MessageSuite { message, set_persistent: persistent, clear: clear_persistent }
}
pub fn progress_suite() -> OfxProgressSuiteV2 {
    OfxProgressSuiteV2 { progressStart: progress_start, progressUpdate: progress_update, progressEnd: progress_end }
}

// ---- draw ----
unsafe extern "C" fn d_colour_get(_c: OfxDrawContextHandle, _s: c_int, _o: *mut OfxRGBAColourF) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn d_colour(_c: OfxDrawContextHandle, _o: *const OfxRGBAColourF) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn d_width(_c: OfxDrawContextHandle, _w: f32) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn d_stipple(_c: OfxDrawContextHandle, _p: c_int) -> OfxStatus {
    kOfxStatOK
}
unsafe extern "C" fn d_draw(_c: OfxDrawContextHandle, prim: c_int, pts: *const OfxPointD, n: c_int) -> OfxStatus {
    if pts.is_null() || n <= 0 {
        return kOfxStatErrValue;
    }
    DRAWN.lock().unwrap().push((prim, std::slice::from_raw_parts(pts, n as usize).to_vec()));
    kOfxStatOK
}
unsafe extern "C" fn d_text(_c: OfxDrawContextHandle, t: *const c_char, p: *const OfxPointD, _a: c_int) -> OfxStatus {
    if t.is_null() || p.is_null() {
        kOfxStatErrValue
    } else {
        kOfxStatOK
    }
}
pub fn draw_suite() -> OfxDrawSuiteV1 {
    OfxDrawSuiteV1 {
        getColour: d_colour_get,
        setColour: d_colour,
        setLineWidth: d_width,
        setLineStipple: d_stipple,
        draw: d_draw,
        drawText: d_text,
    }
}

// ---- memory and multithread (plain implementations) ----
// Blocks carry their size in a 16-byte header so memoryFree can rebuild the layout.
const HDR: usize = 16;
unsafe extern "C" fn mem_alloc(_h: *mut c_void, n: usize, out: *mut *mut c_void) -> OfxStatus {
    if out.is_null() {
        return kOfxStatErrValue;
    }
    let Ok(layout) = std::alloc::Layout::from_size_align(n + HDR, HDR) else { return kOfxStatErrMemory };
    let base = std::alloc::alloc_zeroed(layout);
    if base.is_null() {
        return kOfxStatErrMemory;
    }
    base.cast::<usize>().write(n);
    *out = base.add(HDR).cast();
    kOfxStatOK
}
unsafe extern "C" fn mem_free(p: *mut c_void) -> OfxStatus {
    if p.is_null() {
        return kOfxStatErrBadHandle;
    }
    let base = p.cast::<u8>().sub(HDR);
    let n = base.cast::<usize>().read();
    std::alloc::dealloc(base, std::alloc::Layout::from_size_align_unchecked(n + HDR, HDR));
    kOfxStatOK
}
pub fn memory_suite() -> OfxMemorySuiteV1 {
    OfxMemorySuiteV1 { memoryAlloc: mem_alloc, memoryFree: mem_free }
}
thread_local! { static MT_INDEX: std::cell::Cell<Option<c_uint>> = const { std::cell::Cell::new(None) }; }
unsafe extern "C" fn mt_run(f: OfxThreadFunctionV1, n: c_uint, arg: *mut c_void) -> OfxStatus {
    let arg = arg as usize;
    std::thread::scope(|sc| {
        for i in 0..n {
            sc.spawn(move || {
                MT_INDEX.with(|c| c.set(Some(i)));
                f(i, n, arg as *mut c_void)
            });
        }
    });
    kOfxStatOK
}
unsafe extern "C" fn mt_cpus(n: *mut c_uint) -> OfxStatus {
    if n.is_null() {
        return kOfxStatErrValue;
    }
    *n = 2;
    kOfxStatOK
}
unsafe extern "C" fn mt_index(n: *mut c_uint) -> OfxStatus {
    if n.is_null() {
        return kOfxStatErrValue;
    }
    *n = MT_INDEX.with(|c| c.get()).unwrap_or(0);
    kOfxStatOK
}
unsafe extern "C" fn mt_spawned() -> c_int {
    MT_INDEX.with(|c| c.get()).is_some() as c_int
}

/// OFX mutexes are recursive and may be created already locked `count` times.
struct HostMutex {
    state: Mutex<(Option<std::thread::ThreadId>, c_int)>,
    cv: std::sync::Condvar,
}
unsafe fn hm<'a>(m: OfxMutexHandle) -> Option<&'a HostMutex> {
    m.cast::<HostMutex>().as_ref()
}
unsafe extern "C" fn mx_create(m: *mut OfxMutexHandle, count: c_int) -> OfxStatus {
    if m.is_null() {
        return kOfxStatErrValue;
    }
    let owner = (count > 0).then(|| std::thread::current().id());
    *m = Box::into_raw(Box::new(HostMutex { state: Mutex::new((owner, count.max(0))), cv: Default::default() })).cast();
    kOfxStatOK
}
unsafe extern "C" fn mx_destroy(m: OfxMutexHandle) -> OfxStatus {
    if m.is_null() {
        return kOfxStatErrBadHandle;
    }
    drop(Box::from_raw(m.cast::<HostMutex>()));
    kOfxStatOK
}
unsafe fn mx_acquire(m: OfxMutexHandle, wait: bool) -> OfxStatus {
    let Some(m) = hm(m) else { return kOfxStatErrBadHandle };
    let me = std::thread::current().id();
    let mut st = m.state.lock().unwrap();
    loop {
        if st.1 == 0 || st.0 == Some(me) {
            *st = (Some(me), st.1 + 1);
            return kOfxStatOK;
        }
        if !wait {
            return kOfxStatFailed;
        }
        st = m.cv.wait(st).unwrap();
    }
}
unsafe extern "C" fn mx_lock(m: OfxMutexHandle) -> OfxStatus {
    mx_acquire(m, true)
}
unsafe extern "C" fn mx_try(m: OfxMutexHandle) -> OfxStatus {
    mx_acquire(m, false)
}
unsafe extern "C" fn mx_unlock(m: OfxMutexHandle) -> OfxStatus {
    let Some(m) = hm(m) else { return kOfxStatErrBadHandle };
    let mut st = m.state.lock().unwrap();
    if st.1 == 0 || st.0 != Some(std::thread::current().id()) {
        return kOfxStatFailed;
    }
    st.1 -= 1;
    if st.1 == 0 {
        st.0 = None;
        m.cv.notify_one();
    }
    kOfxStatOK
}
pub fn thread_suite() -> OfxMultiThreadSuiteV1 {
    OfxMultiThreadSuiteV1 {
        multiThread: mt_run,
        multiThreadNumCPUs: mt_cpus,
        multiThreadIndex: mt_index,
        multiThreadIsSpawnedThread: mt_spawned,
        mutexCreate: mx_create,
        mutexDestroy: mx_destroy,
        mutexLock: mx_lock,
        mutexUnLock: mx_unlock,
        mutexTryLock: mx_try,
    }
}
