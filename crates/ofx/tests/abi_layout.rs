//! The plugin's raw C ABI (`src/sys.rs`) against the official OpenFX headers: the size,
//! alignment, and every field's offset and size, of each `#[repr(C)]` struct (the suites' function
//! pointer slots, the host and plugin structs, points and rectangles), the status codes and
//! draw enums, and every property, action and suite name. A slip in any of them fails here.
//!
//! The in-repo test host (`tests/ofx_host/`) cannot catch such a slip: it is built from
//! the same declarations. This test compares with the C compiler's view of the headers
//! instead: build.rs turns `sys.rs` into rows for both sides, compiles the C side
//! (`tests/abi/ofx_layout.c`) against the headers in `OFX_INCLUDE_DIR` (`scripts/setup.sh`
//! unpacks the OpenFX release that the crates.io package `openfx-sys` 0.1.0 ships;
//! `scripts/env.sh` points `OFX_INCLUDE_DIR` at it) and the Rust side against `sys.rs`.
//!
//! Without the headers the test fails and says how to get them; it never passes unchecked.
use samurai_roto_ofx::sys;
use std::ffi::CStr;

#[derive(Debug, PartialEq)]
enum Expected {
    Int(i64),
    Name(&'static CStr),
}

/// The size of the field `field` picks out (its type need not be named).
fn field_size<T, F>(_field: impl Fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

include!(concat!(env!("OUT_DIR"), "/ofx_layout_gen.rs"));

/// Our own names, which the headers describe in prose but define no macro for: the
/// per-clip property prefixes (`OfxImageClipPropComponents_` + clip name, ...).
#[cfg(ofx_headers)]
const OURS_ONLY: &[&str] =
    &["kOfxImageClipPropComponentsPrefix", "kOfxImageClipPropFrameRangePrefix", "kOfxImageClipPropPARPrefix", "kOfxImageClipPropRoIPrefix"];

/// Every struct the plugin hands to or takes from the host: the parse of `sys.rs` must
/// find each of them (so a change of its layout cannot hide one from this test).
const STRUCTS: &[&str] = &[
    "OfxPointD",
    "OfxRectD",
    "OfxRectI",
    "OfxRangeD",
    "OfxRGBAColourF",
    "OfxHost",
    "OfxPlugin",
    "OfxPropertySuiteV1",
    "OfxParameterSuiteV1",
    "OfxImageEffectSuiteV1",
    "OfxMemorySuiteV1",
    "OfxMultiThreadSuiteV1",
    "OfxMessageSuiteV1",
    "OfxMessageSuiteV2",
    "OfxProgressSuiteV1",
    "OfxProgressSuiteV2",
    "OfxInteractSuiteV1",
    "OfxDrawSuiteV1",
];

#[test]
fn every_struct_of_sys_rs_is_checked() {
    for s in STRUCTS {
        assert!(PARSED_STRUCTS.contains(s), "build.rs did not find `pub struct {s}` in src/sys.rs: its parse needs updating");
    }
    let rows = rust_layout();
    assert!(rows.iter().filter(|(k, _)| k.starts_with("offset OfxParameterSuiteV1.")).count() == 18, "the parameter suite's 18 slots");
    assert!(rows.iter().any(|(k, _)| *k == "const kOfxStatErrBadHandle"), "status codes parsed");
    assert!(rows.iter().any(|(k, _)| *k == "name kOfxImageEffectPropRenderWindow"), "names parsed");
}

#[cfg(not(ofx_headers))]
#[test]
fn sys_rs_matches_the_official_openfx_headers() {
    panic!(
        "the ABI layout test needs the official OpenFX headers, and build.rs could not use any ({}). \
         Run `bash scripts/setup.sh` (it unpacks them from the crates.io package openfx-sys 0.1.0) \
         and `source scripts/env.sh` (it sets OFX_INCLUDE_DIR), or point OFX_INCLUDE_DIR at a \
         folder holding ofxCore.h and the other headers, then rebuild.",
        env!("OFX_LAYOUT_STATUS")
    );
}

#[cfg(ofx_headers)]
mod c_side {
    use std::ffi::{c_char, c_int, c_longlong};

    #[repr(C)]
    pub struct Row {
        pub key: *const c_char,
        pub value: c_longlong,
        pub text: *const c_char,
        pub defined: c_int,
    }

    #[link(name = "samurai_ofx_layout", kind = "static")]
    extern "C" {
        pub fn samurai_ofx_layout(count: *mut usize) -> *const Row;
    }
}

/// The C side's rows: key → (value, text, defined).
#[cfg(ofx_headers)]
fn c_layout() -> std::collections::BTreeMap<String, (i64, Option<String>, bool)> {
    let mut n = 0usize;
    // SAFETY: the shim returns its static table and writes its length to `n`.
    let rows = unsafe { std::slice::from_raw_parts(c_side::samurai_ofx_layout(&mut n), n) };
    rows.iter()
        .map(|r| {
            // SAFETY: keys and texts are null or static NUL-terminated C string literals.
            let text = |p: *const std::ffi::c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
            (text(r.key).expect("row key"), (r.value, text(r.text), r.defined != 0))
        })
        .collect()
}

#[cfg(ofx_headers)]
#[test]
fn sys_rs_matches_the_official_openfx_headers() {
    println!("abi_layout: headers {}", env!("OFX_LAYOUT_STATUS"));
    let c = c_layout();
    let mut slips = Vec::new();
    let rust = rust_layout();
    for (key, ours) in &rust {
        let Some((value, text, defined)) = c.get(*key) else {
            slips.push(format!("{key}: no row on the C side"));
            continue;
        };
        if !defined {
            let name = key.rsplit(' ').next().unwrap_or(key);
            if !OURS_ONLY.contains(&name) {
                slips.push(format!("{key}: the OpenFX headers define no {name}"));
            }
            continue;
        }
        match ours {
            Expected::Int(v) if v != value => slips.push(format!("{key}: sys.rs {v}, OpenFX headers {value}")),
            Expected::Name(s) if text.as_deref() != Some(&*s.to_string_lossy()) => {
                slips.push(format!("{key}: sys.rs {s:?}, OpenFX headers {text:?}"))
            }
            _ => {}
        }
    }
    // The draw suite's C enums travel as `int` (sys.rs declares them c_int).
    for e in ["OfxStandardColour", "OfxDrawLineStipplePattern", "OfxDrawPrimitive", "OfxDrawTextAlignment"] {
        let key = format!("enum size {e}");
        match c.get(&key) {
            Some((v, _, true)) if *v == std::mem::size_of::<std::ffi::c_int>() as i64 => {}
            other => slips.push(format!("{key}: {other:?}, expected the size of int")),
        }
    }
    let checked = rust.len();
    assert!(slips.is_empty(), "src/sys.rs does not match the OpenFX headers ({} of {checked} rows):\n{}", slips.len(), slips.join("\n"));
    println!("abi_layout: {checked} rows of src/sys.rs match the OpenFX headers");
}
