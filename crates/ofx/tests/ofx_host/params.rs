//! Test host parameter suite (ofxParam.h `OfxParameterSuiteV1`): definition, handles,
//! values at a time with linear key interpolation, keyframes, edit blocks.
//!
//! Variadic functions: `paramGetValue(h, ...)`, `paramGetValueAtTime(h, t, ...)`,
//! `paramSetValue(h, ...)` and `paramSetValueAtTime(h, t, ...)` are C variadics, which
//! stable Rust cannot *define*. On Linux x86-64 (System V) and Linux aarch64 (AAPCS64) a
//! variadic call passes its arguments exactly like a non-variadic one: integer/pointer
//! arguments in the next general register (rdi, rsi, rdx, rcx, r8, r9 / x0..x7), doubles
//! in the next vector register (xmm0..7 / v0..v7), each class counted independently
//! (x86-64 additionally sets %al, which a non-variadic callee ignores). So a plain
//! `extern "C"` function declaring four pointer-sized and four double parameters receives
//! every argument any parameter type passes (at most four values); the ones the caller did
//! not pass are garbage registers we never read. The kind of the parameter tells which
//! registers are meaningful. `suites.rs` refuses to compile on any other target.
#![allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
use super::store::*;
use samurai_roto_ofx::sys::*;
use std::ffi::{c_char, c_int, c_uint, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The host's "current time" (timeline position) used by `paramGetValue`.
pub static CURRENT_TIME: AtomicU64 = AtomicU64::new(0);
/// Edit-block log: "begin <label>", "set <param>@<time>", "end".
pub static EDIT_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn set_current_time(t: f64) {
    CURRENT_TIME.store(t.to_bits(), Ordering::SeqCst);
}
fn current_time() -> f64 {
    f64::from_bits(CURRENT_TIME.load(Ordering::SeqCst))
}

unsafe fn s<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

macro_rules! or_bad {
    ($e:expr) => {
        match $e {
            Some(p) => p,
            None => return kOfxStatErrBadHandle,
        }
    };
}

type PS = OfxParamSetHandle;
type PH = OfxParamHandle;
type P = OfxPropertySetHandle;

unsafe extern "C" fn define(ps: PS, kind: *const c_char, name: *const c_char, props: *mut P) -> OfxStatus {
    let set = or_bad!(ParamSet::get(ps));
    if kind.is_null() || name.is_null() {
        return kOfxStatErrValue;
    }
    match set.define(s(kind), s(name)) {
        Some((_, pr)) => {
            if !props.is_null() {
                *props = pr;
            }
            kOfxStatOK
        }
        None => kOfxStatErrExists,
    }
}
unsafe extern "C" fn get_handle(ps: PS, name: *const c_char, out: *mut PH, props: *mut P) -> OfxStatus {
    let set = or_bad!(ParamSet::get(ps));
    if name.is_null() || out.is_null() {
        return kOfxStatErrValue;
    }
    let Some(h) = set.m.lock().unwrap().get(s(name)).copied() else { return kOfxStatErrUnknown };
    *out = h as PH;
    if !props.is_null() {
        *props = Param::get(h as PH).unwrap().props;
    }
    kOfxStatOK
}
unsafe extern "C" fn set_props(ps: PS, out: *mut P) -> OfxStatus {
    let set = or_bad!(ParamSet::get(ps));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = set.props as P;
    kOfxStatOK
}
unsafe extern "C" fn param_props(h: PH, out: *mut P) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = p.props;
    kOfxStatOK
}

/// Writes `p`'s value at `t` through the out pointers its kind takes.
unsafe fn write_value(p: &Param, t: f64, a: [usize; 4]) -> OfxStatus {
    let n = match p.kind.as_str() {
        "OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice" | "OfxParamTypeDouble" | "OfxParamTypeString" => 1,
        "OfxParamTypeDouble2D" | "OfxParamTypeRGB" | "OfxParamTypeRGBA" => p.dims(),
        _ => return kOfxStatErrUnsupported,
    };
    if a[..n].contains(&0) {
        return kOfxStatErrValue;
    }
    match p.kind.as_str() {
        "OfxParamTypeString" => *(a[0] as *mut *const c_char) = p.string.lock().unwrap().as_ptr(),
        "OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice" => {
            *(a[0] as *mut c_int) = p.at(t).first().copied().unwrap_or(0.0).round() as c_int
        }
        _ => {
            let v = p.at(t);
            for (i, ptr) in a[..n].iter().enumerate() {
                *(*ptr as *mut f64) = v.get(i).copied().unwrap_or(0.0);
            }
        }
    }
    kOfxStatOK
}
unsafe extern "C" fn get_value(h: PH, a1: usize, a2: usize, a3: usize, a4: usize) -> OfxStatus {
    write_value(or_bad!(Param::get(h)), current_time(), [a1, a2, a3, a4])
}
unsafe extern "C" fn get_value_at(h: PH, t: f64, a1: usize, a2: usize, a3: usize, a4: usize) -> OfxStatus {
    write_value(or_bad!(Param::get(h)), t, [a1, a2, a3, a4])
}
unsafe extern "C" fn no_derivative(h: PH, _t: f64, _a1: usize) -> OfxStatus {
    or_bad!(Param::get(h));
    kOfxStatErrUnsupported
}
unsafe extern "C" fn no_integral(h: PH, _t1: f64, _t2: f64, _a1: usize) -> OfxStatus {
    or_bad!(Param::get(h));
    kOfxStatErrUnsupported
}

/// The value a set call carries for `p`'s kind: ints/pointers from the general registers,
/// doubles from the vector registers. `None` for kinds without a value.
unsafe fn read_value(p: &Param, a: [usize; 4], d: [f64; 4]) -> Option<Result<Vec<f64>, CString>> {
    Some(match p.kind.as_str() {
        "OfxParamTypeString" => Err(if a[0] == 0 { CString::default() } else { CStr::from_ptr(a[0] as *const c_char).to_owned() }),
        "OfxParamTypeInteger" | "OfxParamTypeBoolean" | "OfxParamTypeChoice" => Ok(vec![a[0] as u32 as c_int as f64]),
        "OfxParamTypeDouble" => Ok(vec![d[0]]),
        "OfxParamTypeDouble2D" | "OfxParamTypeRGB" | "OfxParamTypeRGBA" => Ok(d[..p.dims()].to_vec()),
        _ => return None,
    })
}
fn log_set(p: &Param, t: Option<f64>) {
    let name = Props::get(p.props).and_then(|pr| pr.str("OfxPropName")).unwrap_or_default();
    EDIT_LOG.lock().unwrap().push(match t {
        Some(t) => format!("set {name}@{t}"),
        None => format!("set {name}"),
    });
}
unsafe extern "C" fn set_value(h: PH, a1: usize, a2: usize, a3: usize, a4: usize, d1: f64, d2: f64, d3: f64, d4: f64) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    match read_value(p, [a1, a2, a3, a4], [d1, d2, d3, d4]) {
        None => kOfxStatErrUnsupported,
        Some(Err(text)) => {
            *p.string.lock().unwrap() = text;
            log_set(p, None);
            kOfxStatOK
        }
        Some(Ok(v)) => {
            // With keys, a host keys the value at the current time; without, it is static.
            let mut keys = p.keys.lock().unwrap();
            if keys.is_empty() {
                *p.value.lock().unwrap() = v;
            } else {
                keys.insert(time_key(current_time()), v);
            }
            drop(keys);
            log_set(p, None);
            kOfxStatOK
        }
    }
}
unsafe extern "C" fn set_value_at(
    h: PH,
    t: f64,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    d1: f64,
    d2: f64,
    d3: f64,
    d4: f64,
) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    let animates = Props::get(p.props).and_then(|pr| pr.int("OfxParamPropAnimates")).unwrap_or(1) != 0;
    match read_value(p, [a1, a2, a3, a4], [d1, d2, d3, d4]) {
        None => kOfxStatErrUnsupported,
        Some(Err(text)) => {
            *p.string.lock().unwrap() = text;
            log_set(p, Some(t));
            kOfxStatOK
        }
        Some(Ok(v)) if !animates => {
            *p.value.lock().unwrap() = v;
            log_set(p, Some(t));
            kOfxStatOK
        }
        Some(Ok(v)) => {
            p.keys.lock().unwrap().insert(time_key(t), v);
            log_set(p, Some(t));
            kOfxStatOK
        }
    }
}

unsafe extern "C" fn num_keys(h: PH, out: *mut c_uint) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = p.keys.lock().unwrap().len() as c_uint;
    kOfxStatOK
}
unsafe extern "C" fn key_time(h: PH, nth: c_uint, out: *mut OfxTime) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    match p.keys.lock().unwrap().keys().nth(nth as usize) {
        Some(k) => {
            *out = *k as f64 / 1000.0;
            kOfxStatOK
        }
        None => kOfxStatErrBadIndex,
    }
}
/// direction 0: key exactly at t; −1: last key before t; 1: first key after t.
unsafe extern "C" fn key_index(h: PH, t: OfxTime, direction: c_int, out: *mut c_int) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    if out.is_null() {
        return kOfxStatErrValue;
    }
    let k = time_key(t);
    let keys: Vec<i64> = p.keys.lock().unwrap().keys().copied().collect();
    let found = match direction {
        0 => keys.iter().position(|x| *x == k),
        d if d < 0 => keys.iter().rposition(|x| *x < k),
        _ => keys.iter().position(|x| *x > k),
    };
    match found {
        Some(i) => {
            *out = i as c_int;
            kOfxStatOK
        }
        None => {
            *out = -1;
            kOfxStatFailed
        }
    }
}
unsafe extern "C" fn delete_key(h: PH, t: OfxTime) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    if p.keys.lock().unwrap().remove(&time_key(t)).is_some() {
        kOfxStatOK
    } else {
        kOfxStatErrBadIndex
    }
}
unsafe extern "C" fn delete_all_keys(h: PH) -> OfxStatus {
    let p = or_bad!(Param::get(h));
    let mut keys = p.keys.lock().unwrap();
    if let Some(v) = keys.get(&time_key(current_time())).cloned().or_else(|| keys.values().next().cloned()) {
        *p.value.lock().unwrap() = v;
    }
    keys.clear();
    kOfxStatOK
}
unsafe extern "C" fn copy(to: PH, from: PH, _offset: OfxTime, _range: *const OfxRangeD) -> OfxStatus {
    or_bad!(Param::get(to));
    or_bad!(Param::get(from));
    kOfxStatErrUnsupported
}
unsafe extern "C" fn edit_begin(ps: PS, name: *const c_char) -> OfxStatus {
    let set = or_bad!(ParamSet::get(ps));
    *set.edits.lock().unwrap() += 1;
    EDIT_LOG.lock().unwrap().push(format!("begin {}", s(name)));
    kOfxStatOK
}
unsafe extern "C" fn edit_end(ps: PS) -> OfxStatus {
    let set = or_bad!(ParamSet::get(ps));
    let mut e = set.edits.lock().unwrap();
    if *e == 0 {
        return kOfxStatFailed;
    }
    *e -= 1;
    EDIT_LOG.lock().unwrap().push("end".into());
    kOfxStatOK
}

/// The suite table. The four variadic slots hold the fixed-register functions above,
/// reinterpreted as the variadic pointer types of `sys::OfxParameterSuiteV1`.
pub fn parameter_suite() -> OfxParameterSuiteV1 {
    type GetV = unsafe extern "C" fn(PH, usize, usize, usize, usize) -> OfxStatus;
    type GetAt = unsafe extern "C" fn(PH, f64, usize, usize, usize, usize) -> OfxStatus;
    type SetV = unsafe extern "C" fn(PH, usize, usize, usize, usize, f64, f64, f64, f64) -> OfxStatus;
    type SetAt = unsafe extern "C" fn(PH, f64, usize, usize, usize, usize, f64, f64, f64, f64) -> OfxStatus;
    type Deriv = unsafe extern "C" fn(PH, f64, usize) -> OfxStatus;
    type Integ = unsafe extern "C" fn(PH, f64, f64, usize) -> OfxStatus;
    // SAFETY: see the module doc: on the supported targets a variadic call reaches these
    // functions with every argument in the register the fixed signature reads it from.
    unsafe {
        OfxParameterSuiteV1 {
            paramDefine: define,
            paramGetHandle: get_handle,
            paramSetGetPropertySet: set_props,
            paramGetPropertySet: param_props,
            paramGetValue: std::mem::transmute::<GetV, unsafe extern "C" fn(PH, ...) -> OfxStatus>(get_value),
            paramGetValueAtTime: std::mem::transmute::<GetAt, unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus>(get_value_at),
            paramGetDerivative: std::mem::transmute::<Deriv, unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus>(no_derivative),
            paramGetIntegral: std::mem::transmute::<Integ, unsafe extern "C" fn(PH, OfxTime, OfxTime, ...) -> OfxStatus>(no_integral),
            paramSetValue: std::mem::transmute::<SetV, unsafe extern "C" fn(PH, ...) -> OfxStatus>(set_value),
            paramSetValueAtTime: std::mem::transmute::<SetAt, unsafe extern "C" fn(PH, OfxTime, ...) -> OfxStatus>(set_value_at),
            paramGetNumKeys: num_keys,
            paramGetKeyTime: key_time,
            paramGetKeyIndex: key_index,
            paramDeleteKey: delete_key,
            paramDeleteAllKeys: delete_all_keys,
            paramCopy: copy,
            paramEditBegin: edit_begin,
            paramEditEnd: edit_end,
        }
    }
}

/// Keys of a parameter as (time, value) for the test's checks.
pub fn keys_of(p: &Param) -> Vec<(f64, Vec<f64>)> {
    p.keys.lock().unwrap().iter().map(|(k, v)| (*k as f64 / 1000.0, v.clone())).collect()
}
