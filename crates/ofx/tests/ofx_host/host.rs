//! The test host itself: `fetchSuite`, the `OfxHost` struct handed to `setHost`, the
//! interact suite, and loading the built plugin library with `libloading`.
#![allow(clippy::missing_safety_doc)]
use super::{effect, params, store::*, suites};
use samurai_roto_ofx::sys::*;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Suite names (and versions) the plugin fetched.
pub static FETCHED: Mutex<Vec<(String, i32)>> = Mutex::new(Vec::new());

struct Tables {
    prop: OfxPropertySuiteV1,
    param: OfxParameterSuiteV1,
    effect: OfxImageEffectSuiteV1,
    memory: OfxMemorySuiteV1,
    thread: OfxMultiThreadSuiteV1,
    message: suites::MessageSuite,
    progress: OfxProgressSuiteV2,
    interact: OfxInteractSuiteV1,
    draw: OfxDrawSuiteV1,
}
static TABLES: OnceLock<Tables> = OnceLock::new();
static HOST_PROPS: OnceLock<usize> = OnceLock::new();

fn tables() -> &'static Tables {
    TABLES.get_or_init(|| Tables {
        prop: suites::property_suite(),
        param: params::parameter_suite(),
        effect: effect::image_effect_suite(),
        memory: suites::memory_suite(),
        thread: suites::thread_suite(),
        message: suites::message_suite(),
        progress: suites::progress_suite(),
        interact: interact_suite(),
        draw: suites::draw_suite(),
    })
}

fn host_props() -> OfxPropertySetHandle {
    *HOST_PROPS.get_or_init(|| {
        let h = Props::new_handle();
        let p = Props::get(h).unwrap();
        p.set_str("OfxPropType", "OfxTypeImageEffectHost");
        p.set_str("OfxPropName", "org.samuraiRoto.testHost");
        p.set_str("OfxPropLabel", "SamuraiRoto test host");
        p.set("OfxPropAPIVersion", Val::I(vec![1, 5]));
        p.set("OfxImageEffectHostPropIsBackground", Val::I(vec![0]));
        p.set("OfxImageEffectPropSupportsOverlays", Val::I(vec![1]));
        p.set("OfxImageEffectPropSupportsMultiResolution", Val::I(vec![0]));
        p.set("OfxImageEffectPropSupportsTiles", Val::I(vec![0]));
        p.set("OfxImageEffectPropTemporalClipAccess", Val::I(vec![1]));
        p.set("OfxParamHostPropSupportsCustomInteract", Val::I(vec![0]));
        h as usize
    }) as OfxPropertySetHandle
}

/// Only the host property set may ask for suites; V1 of message/progress is the prefix of
/// V2 (progress V1's start takes one argument less, which the V2 function ignores).
unsafe extern "C" fn fetch_suite(host: OfxPropertySetHandle, name: *const c_char, version: c_int) -> *const c_void {
    if host != host_props() || name.is_null() {
        return std::ptr::null();
    }
    let n = CStr::from_ptr(name).to_string_lossy().into_owned();
    FETCHED.lock().unwrap().push((n.clone(), version));
    let t = tables();
    let p: *const c_void = match (n.as_str(), version) {
        ("OfxPropertySuite", 1) => (&t.prop as *const OfxPropertySuiteV1).cast(),
        ("OfxParameterSuite", 1) => (&t.param as *const OfxParameterSuiteV1).cast(),
        ("OfxImageEffectSuite", 1) => (&t.effect as *const OfxImageEffectSuiteV1).cast(),
        ("OfxMemorySuite", 1) => (&t.memory as *const OfxMemorySuiteV1).cast(),
        ("OfxMultiThreadSuite", 1) => (&t.thread as *const OfxMultiThreadSuiteV1).cast(),
        ("OfxMessageSuite", 1 | 2) => (&t.message as *const suites::MessageSuite).cast(),
        ("OfxProgressSuite", 1 | 2) => (&t.progress as *const OfxProgressSuiteV2).cast(),
        ("OfxInteractSuite", 1) => (&t.interact as *const OfxInteractSuiteV1).cast(),
        ("OfxDrawSuite", 1) => (&t.draw as *const OfxDrawSuiteV1).cast(),
        _ => std::ptr::null(),
    };
    p
}

// ---- interact suite: an interact handle is a registered property set ----
unsafe extern "C" fn swap_buffers(i: OfxInteractHandle) -> OfxStatus {
    if Props::get(i.cast()).is_some() {
        kOfxStatOK
    } else {
        kOfxStatErrBadHandle
    }
}
pub static REDRAWS: Mutex<usize> = Mutex::new(0);
unsafe extern "C" fn redraw(i: OfxInteractHandle) -> OfxStatus {
    if Props::get(i.cast()).is_none() {
        return kOfxStatErrBadHandle;
    }
    *REDRAWS.lock().unwrap() += 1;
    kOfxStatOK
}
unsafe extern "C" fn interact_props(i: OfxInteractHandle, out: *mut OfxPropertySetHandle) -> OfxStatus {
    if Props::get(i.cast()).is_none() {
        return kOfxStatErrBadHandle;
    }
    if out.is_null() {
        return kOfxStatErrValue;
    }
    *out = i.cast();
    kOfxStatOK
}
fn interact_suite() -> OfxInteractSuiteV1 {
    OfxInteractSuiteV1 { interactSwapBuffers: swap_buffers, interactRedraw: redraw, interactGetPropertySet: interact_props }
}

/// Loads this plugin binary instead of the crate's build (an installed bundle's).
pub const PLUGIN_ENV: &str = "SAMURAI_ROTO_TEST_PLUGIN";

/// Where cargo put the plugin (unless `PLUGIN_ENV` names one). Integration tests of a crate with crate-type
/// ["rlib", "cdylib"] get the cdylib built too, as `deps/libsamurai_roto.so` next to this
/// test binary. `cargo build` also copies it up to `<target>/debug/libsamurai_roto.so`, but
/// `cargo test` does not, so that copy can be stale: the newest of the two is loaded.
pub fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os(PLUGIN_ENV) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a directory").to_path_buf();
    let candidates: Vec<PathBuf> = [Some(deps.join("libsamurai_roto_ofx.so")), deps.parent().map(|d| d.join("libsamurai_roto_ofx.so"))]
        .into_iter()
        .flatten()
        .collect();
    let mtime = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    candidates.iter().filter(|p| p.is_file()).max_by_key(|p| mtime(p)).cloned().unwrap_or_else(|| {
        panic!(
            "plugin library not found: looked for {candidates:?} (built by `cargo test -p samurai-roto-ofx` as the crate's cdylib; \
                is crate-type [\"cdylib\", \"rlib\"] still set in crates/ofx/Cargo.toml?)"
        )
    })
}

/// The loaded plugin library and its one plugin. `lib` and `host` are only held to keep
/// the library mapped and the `OfxHost` given to setHost alive.
#[allow(dead_code)]
pub struct Plugin {
    pub lib: libloading::Library,
    pub plugin: *const OfxPlugin,
    pub host: Box<OfxHost>,
}

impl Plugin {
    /// dlopens the library, checks the plugin table and calls setHost.
    pub fn load() -> Plugin {
        let path = plugin_path();
        if std::env::var_os(PLUGIN_ENV).is_none() && std::env::var_os("SAMURAI_ROTO_HELPER").is_none() {
            // The build's plugin has no helper beside it (an installed bundle has).
            let exe = std::env::current_exe().expect("current_exe");
            let bin = exe.parent().and_then(|d| d.parent()).expect("target folder").join("samurai-roto-helper");
            if bin.is_file() {
                std::env::set_var("SAMURAI_ROTO_HELPER", bin);
            }
        }
        println!("ofx_host: loading {}", path.display());
        // SAFETY: loading our own plugin; its initialisers are Rust statics only.
        let lib = unsafe { libloading::Library::new(&path) }.unwrap_or_else(|e| panic!("dlopen {}: {e}", path.display()));
        // SAFETY: the symbols have the ofxCore.h signatures.
        let (count, get) = unsafe {
            let count = *lib.get::<unsafe extern "C" fn() -> c_int>(b"OfxGetNumberOfPlugins\0").expect("OfxGetNumberOfPlugins");
            let get = *lib.get::<unsafe extern "C" fn(c_int) -> *const OfxPlugin>(b"OfxGetPlugin\0").expect("OfxGetPlugin");
            (count(), get)
        };
        assert_eq!(count, 1, "OfxGetNumberOfPlugins");
        // SAFETY: plain calls; index 1 and -1 are out of range and must give null.
        let (plugin, none, negative) = unsafe { (get(0), get(1), get(-1)) };
        assert!(!plugin.is_null(), "OfxGetPlugin(0) is null");
        assert!(none.is_null() && negative.is_null(), "OfxGetPlugin out of range must be null");
        // SAFETY: non-null pointer to the plugin's static descriptor.
        let p = unsafe { &*plugin };
        // SAFETY: the descriptor's strings are static C strings.
        let (api, id) = unsafe { (CStr::from_ptr(p.pluginApi), CStr::from_ptr(p.pluginIdentifier)) };
        assert_eq!(api, c"OfxImageEffectPluginAPI");
        assert_eq!(p.apiVersion, 1);
        assert_eq!(id, c"org.samuraiRoto.SamuraiRoto");
        assert!(p.mainEntry.is_some() && p.setHost.is_some());
        let mut host = Box::new(OfxHost { host: host_props(), fetchSuite: Some(fetch_suite) });
        // SAFETY: `host` is boxed and kept alive in the returned Plugin.
        unsafe { (p.setHost.unwrap())(&mut *host) };
        Plugin { lib, plugin, host }
    }

    /// mainEntry(action, handle, inArgs, outArgs).
    pub fn call(&self, action: &str, handle: *mut c_void, in_args: OfxPropertySetHandle, out_args: OfxPropertySetHandle) -> OfxStatus {
        let a = CString::new(action).unwrap();
        self.call_raw(a.as_ptr(), handle, in_args, out_args)
    }
    pub fn call_raw(
        &self,
        action: *const c_char,
        handle: *mut c_void,
        in_args: OfxPropertySetHandle,
        out_args: OfxPropertySetHandle,
    ) -> OfxStatus {
        // SAFETY: the plugin's entry point; it must cope with whatever we pass (that is
        // what the error-path checks test).
        unsafe { ((*self.plugin).mainEntry.unwrap())(action, handle, in_args, out_args) }
    }
}

/// A fresh property set with the given values.
pub fn args(vals: &[(&str, Val)]) -> OfxPropertySetHandle {
    let h = Props::new_handle();
    let p = Props::get(h).unwrap();
    for (k, v) in vals {
        p.set(k, v.clone());
    }
    h
}
pub fn sval(s: &str) -> Val {
    Val::S(vec![CString::new(s).unwrap()])
}
