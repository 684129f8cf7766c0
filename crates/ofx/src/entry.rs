//! The exported C entry points (ofxCore.h): `OfxGetNumberOfPlugins`, `OfxGetPlugin`, the
//! plugin's `setHost` and `mainEntry`, and the overlay interact's entry point.
//!
//! Every entry point runs its whole body inside `catch_unwind` (a panic must never cross
//! into the host: a crash loses the artist's unsaved work), from its first statement: even
//! wrapping a handle or asking the host which instance an effect is happens inside the
//! guard. It checks its pointers, maps errors to real OFX status codes, and shows the
//! message to the artist (persistent message on the instance when the host has message
//! suite V2, else a one-off message); showing it runs under a guard of its own.
use super::action::Action;
use super::describe::{self, PLUGIN_ID, VERSION};
use super::instance::Instance;
use super::suites::{self, Cause, DrawContext, Effect, OfxError, OfxResult, PropSet};
use super::sys::{self, names as n, OfxHost, OfxPlugin, OfxPropertySetHandle, OfxStatus};
use super::{analyse, clip, overlay, params, render, wiring};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

struct SyncPlugin(OfxPlugin);
// SAFETY: the descriptor only holds pointers to 'static C strings and functions; it is
// never mutated.
unsafe impl Sync for SyncPlugin {}

static PLUGIN: SyncPlugin = SyncPlugin(OfxPlugin {
    pluginApi: n::kOfxImageEffectPluginApi.as_ptr(),
    apiVersion: 1,
    pluginIdentifier: PLUGIN_ID.as_ptr(),
    pluginVersionMajor: VERSION.0,
    pluginVersionMinor: VERSION.1,
    setHost: Some(set_host),
    mainEntry: Some(main_entry),
});

static HOST: AtomicPtr<OfxHost> = AtomicPtr::new(std::ptr::null_mut());

/// Runs `f` with panics caught, `fallback` if it panicked: the guard of the entry points
/// that have nothing to report to.
fn shielded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        // Dropping the payload runs its destructor, which could panic in turn: leak it.
        std::mem::forget(panic);
        fallback
    })
}

/// ofxCore.h: how many plugins this binary holds.
#[no_mangle]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    shielded(0, || 1)
}

/// ofxCore.h: the nth plugin, or null for an index out of range.
#[no_mangle]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *const OfxPlugin {
    shielded(std::ptr::null(), || if nth == 0 { std::ptr::from_ref(&PLUGIN.0) } else { std::ptr::null() })
}

unsafe extern "C" fn set_host(host: *mut OfxHost) {
    // Only stores the pointer; it is checked when the load action fetches the suites.
    shielded((), || HOST.store(host, Ordering::SeqCst));
}

/// Runs an entry point's body `f` with panics caught and errors mapped to a status plus a
/// message for the artist. `f` names the effect to show the message on (through its
/// argument) once it knows it; until then, and when it names none, the message is a one-off.
/// Showing the message calls the host, so it runs under a guard of its own.
fn guarded(f: impl FnOnce(&mut Option<Effect>) -> OfxResult<OfxStatus>) -> OfxStatus {
    let mut report_to = None;
    let failure = match catch_unwind(AssertUnwindSafe(|| f(&mut report_to))) {
        Ok(Ok(status)) => return status,
        Ok(Err(e)) => Ok(e),
        Err(panic) => Err(panic),
    };
    shielded(sys::kOfxStatFailed, move || {
        let (status, message) = match failure {
            Ok(e) => (e.status, e.message),
            // Its kind decides the status (out of memory has its own).
            Err(panic) => {
                let e = OfxError::from(crate::engine::EngineError::from_panic(panic.as_ref()));
                (e.status, e.message)
            }
        };
        tracing::error!("SamuraiRoto: {message} (status {status})");
        let shown = match report_to {
            Some(e) => suites::post_persistent(e, n::kOfxMessageError, &message),
            None => suites::post_message(None, n::kOfxMessageError, &message),
        };
        if !shown {
            tracing::warn!("SamuraiRoto: the host could not show the message above");
        }
        status
    })
}

fn bad_handle(what: &str) -> OfxError {
    OfxError::new(sys::kOfxStatErrBadHandle, format!("null or invalid {what}"))
}

/// The instance stored on an effect, or `kOfxStatErrBadHandle`.
fn instance<'a>(effect: Effect) -> OfxResult<&'a Instance> {
    let p = effect.props()?.get_pointer(n::kOfxPropInstanceData, 0)?;
    // SAFETY: the only value we ever store under kOfxPropInstanceData is a pointer from
    // Box::into_raw(Box<Instance>) (create instance), cleared before the Box is freed
    // (destroy instance); the host sends no other action during destroy.
    unsafe { p.cast::<Instance>().as_ref() }.ok_or_else(|| bad_handle("effect instance (no instance data)"))
}

fn create_instance(effect: Effect) -> OfxResult<OfxStatus> {
    let engine = wiring::create_engine();
    if let Err(e) = &engine {
        suites::post_persistent(effect, n::kOfxMessageWarning, &e.message);
    }
    // Hosts without enabled-state or label changes still work: every control is just
    // always editable, and objects are shown by number.
    if let Err(e) = effect.params().and_then(params::sync_enabled) {
        tracing::debug!("enabled states not set: {}", e.message);
    }
    if let Err(e) = effect.params().and_then(params::sync_object_names) {
        tracing::debug!("object names not shown: {}", e.message);
    }
    let raw = Box::into_raw(Box::new(Instance::new(effect, engine)));
    if let Err(e) = effect.props().and_then(|p| p.set_pointer(n::kOfxPropInstanceData, raw.cast())) {
        // SAFETY: `raw` came from Box::into_raw above and was not stored anywhere.
        drop(unsafe { Box::from_raw(raw) });
        return Err(e);
    }
    Ok(sys::kOfxStatOK)
}

fn destroy_instance(effect: Effect) -> OfxResult<OfxStatus> {
    let props = effect.props()?;
    let p = props.get_pointer(n::kOfxPropInstanceData, 0)?.cast::<Instance>();
    props.set_pointer(n::kOfxPropInstanceData, std::ptr::null_mut())?;
    if !p.is_null() {
        // SAFETY: see `instance`: the pointer came from Box::into_raw and has just been
        // removed from the host, so this is the only owner.
        drop(unsafe { Box::from_raw(p) });
    }
    Ok(sys::kOfxStatOK)
}

fn instance_changed(inst: &Instance, name: &str, time: f64) -> OfxResult<OfxStatus> {
    if params::toggles_enabled(name) {
        params::sync_enabled(inst.params()?)?;
        return Ok(sys::kOfxStatOK);
    }
    if name.starts_with("obj") && name.ends_with(params::OBJ_NAME) {
        params::sync_object_names(inst.params()?)?;
        return Ok(sys::kOfxStatOK);
    }
    if name == params::CLEAR_CACHE.id {
        if let Ok(e) = &inst.engine {
            e.clear_cache();
        }
        let done = "SamuraiRoto: forgot every tracked frame; the next render tracks again.";
        tracing::info!("{done}");
        suites::post_message(Some(inst.effect), n::kOfxMessageMessage, done);
        return Ok(sys::kOfxStatOK);
    }
    if name == params::ANALYSE.id {
        let start = std::time::Instant::now();
        let report = analyse::analyse(inst, time)?;
        let took = start.elapsed().as_secs_f64();
        let done = match &report.written {
            Some((path, bytes)) => format!(
                "SamuraiRoto: analysed {} frames in {took:.1} s; wrote the track cache {} ({:.1} MB).",
                report.frames,
                path.display(),
                *bytes as f64 / 1e6
            ),
            None => format!(
                "SamuraiRoto: analysed {} frames in {took:.1} s (kept in memory; set Track cache file to keep them for farm renders).",
                report.frames
            ),
        };
        tracing::info!("{done}");
        suites::clear_persistent(inst.effect);
        suites::post_message(Some(inst.effect), n::kOfxMessageMessage, &done);
        return Ok(sys::kOfxStatOK);
    }
    // The export buttons: each writes its files and says what it wrote (host message).
    type Export = fn(&Instance, f64) -> OfxResult<String>;
    let exports: [(&str, Export); 2] =
        [(params::EXPORT_JOB.id, crate::export_job::export_job), (params::EXPORT_SHAPES.id, crate::export_shapes::export_shapes)];
    if let Some((_, export)) = exports.iter().find(|(id, _)| name == *id) {
        let done = export(inst, time)?;
        tracing::info!("{done}");
        suites::clear_persistent(inst.effect);
        suites::post_message(Some(inst.effect), n::kOfxMessageMessage, &done);
        return Ok(sys::kOfxStatOK);
    }
    Ok(sys::kOfxStatReplyDefault)
}

fn effect_action(action: Action, effect: Option<Effect>, out_args: Option<PropSet>) -> OfxResult<OfxStatus> {
    let effect_or = || effect.ok_or_else(|| bad_handle("effect handle"));
    let out = || out_args.ok_or_else(|| bad_handle("outArgs"));
    let ok = |r: OfxResult<()>| r.map(|_| sys::kOfxStatOK);
    match action {
        Action::Load => {
            // SAFETY: HOST is null or the pointer the host gave setHost, alive while loaded.
            unsafe { suites::install_host(HOST.load(Ordering::SeqCst)) }?;
            Ok(sys::kOfxStatOK)
        }
        Action::Unload => Ok(sys::kOfxStatOK),
        Action::Describe => ok(describe::describe(effect_or()?, overlay_entry)),
        Action::DescribeInContext { .. } => ok(describe::describe_in_context(effect_or()?)),
        Action::CreateInstance => create_instance(effect_or()?),
        Action::DestroyInstance => destroy_instance(effect_or()?),
        Action::InstanceChanged { name, time, .. } => instance_changed(instance(effect_or()?)?, &name, time),
        Action::PurgeCaches => {
            if let Ok(e) = &instance(effect_or()?)?.engine {
                e.clear_cache();
            }
            Ok(sys::kOfxStatOK)
        }
        Action::GetFramesNeeded { .. } => ok(clip::frames_needed(instance(effect_or()?)?, out()?)),
        Action::GetClipPreferences => ok(clip::clip_preferences(instance(effect_or()?)?, out()?)),
        Action::GetRegionOfDefinition { time } => ok(clip::region_of_definition(instance(effect_or()?)?, time, out()?)),
        Action::GetRegionsOfInterest { time } => ok(clip::regions_of_interest(instance(effect_or()?)?, time, out()?)),
        Action::Render { time, window, .. } => {
            let e = effect_or()?;
            let inst = instance(e)?;
            let edge_warning = match render::render(inst, time, window) {
                Ok(w) => w,
                // The host aborted the render (playback stopped, scrubbing, a newer request)
                // or the artist cancelled: the render fails quietly, with no message and the
                // node's messages left as they were. Anything that failed once the host had
                // aborted is put down to the abort (Natron, for one, stops serving the frames
                // of an aborted render: "no image at time 9"), except a failed helper.
                Err(err) if err.cause == Cause::Stopped || (err.cause == Cause::Failure && e.aborted()) => {
                    tracing::debug!("SamuraiRoto: render at {time} stopped: {}", err.message);
                    return Ok(sys::kOfxStatFailed);
                }
                Err(err) => return Err(err),
            };
            // A track cache that cannot be used, or an edge that could not be refined, stays
            // on screen (one message for the render, whatever the number of objects);
            // anything else is cleared.
            if let Some(w) = &edge_warning {
                tracing::warn!("SamuraiRoto: {w}");
            }
            let notice = inst.engine.as_ref().ok().and_then(|en| en.notice());
            let lines: Vec<String> = notice.into_iter().chain(edge_warning).collect();
            if lines.is_empty() {
                suites::clear_persistent(e);
            } else {
                suites::post_persistent(e, n::kOfxMessageWarning, &format!("SamuraiRoto: {}", lines.join("\n")));
            }
            Ok(sys::kOfxStatOK)
        }
        _ => Ok(sys::kOfxStatReplyDefault),
    }
}

fn c_action<'a>(action: *const c_char) -> OfxResult<&'a CStr> {
    if action.is_null() {
        return Err(bad_handle("action name"));
    }
    // SAFETY: non-null, and the host passes a NUL-terminated action name valid for the call.
    Ok(unsafe { CStr::from_ptr(action) })
}

unsafe extern "C" fn main_entry(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    guarded(|report_to| {
        // SAFETY: the host passes null (actions on no effect: load, unload) or the handle of
        // the effect descriptor or instance the action is for.
        let effect = unsafe { Effect::from_raw(handle.cast_mut()) };
        // Failures are shown on the instance, when this is one.
        *report_to = effect.filter(|e| instance(*e).is_ok());
        let name = c_action(action)?;
        // SAFETY: `in_args` and `out_args` are null or the action's property sets, from the host.
        let (in_args, out_args) = unsafe { (PropSet::from_raw(in_args.cast()), PropSet::from_raw(out_args.cast())) };
        let decoded = Action::decode(name, in_args)?;
        if !matches!(decoded, Action::Load | Action::Unload | Action::Other(_)) && effect.is_none() {
            return Err(bad_handle("effect handle"));
        }
        effect_action(decoded, effect, out_args)
    })
}

/// Entry point of the overlay interact (kOfxImageEffectPluginPropOverlayInteractV1).
unsafe extern "C" fn overlay_entry(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    _out: OfxPropertySetHandle,
) -> OfxStatus {
    guarded(|_| {
        let name = c_action(action)?;
        // SAFETY: `in_args` is null or the action's property set, from the host.
        let args = unsafe { PropSet::from_raw(in_args.cast()) };
        let decoded = Action::decode(name, args)?;
        if !decoded.is_interact() {
            return Ok(sys::kOfxStatReplyDefault);
        }
        // SAFETY: the host passes the handle of the interact the action is for (or null).
        unsafe { suites::Interact::from_raw(handle.cast_mut()) }.ok_or_else(|| bad_handle("interact handle"))?;
        let args_ps = args.ok_or_else(|| bad_handle("interact inArgs"))?;
        let p = args_ps.get_pointer(n::kOfxPropEffectInstance, 0)?;
        // SAFETY: an interact action's inArgs hold, under kOfxPropEffectInstance, the handle
        // of the effect instance the interact belongs to (ofxInteract.h).
        let effect = unsafe { Effect::from_raw(p) }.ok_or_else(|| bad_handle("effect instance"))?;
        let inst = instance(effect)?;
        let handled = match decoded {
            Action::InteractDraw(a) => overlay::draw(inst, &a, DrawContext::from_args(args_ps).ok())?,
            Action::PenDown(a) => overlay::pen_down(inst, &a)?,
            Action::PenMotion(a) => overlay::pen_move(inst, &a, false)?,
            Action::PenUp(a) => overlay::pen_move(inst, &a, true)?,
            Action::KeyDown(k) => overlay::key(inst, k, true)?,
            Action::KeyUp(k) => overlay::key(inst, k, false)?,
            _ => false,
        };
        Ok(if handled { sys::kOfxStatOK } else { sys::kOfxStatReplyDefault })
    })
}

#[cfg(test)]
mod tests {
    use samurai_core::error::explain_panic;

    #[test]
    fn panics_become_messages_an_artist_can_act_on() {
        let oom = explain_panic("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123 bytes");
        assert!(oom.contains("ran out of memory") && oom.contains("lower Quality") && oom.contains("123 bytes"), "{oom}");
        assert!(explain_panic("CUDA error: out of memory").contains("ran out of memory"));
        assert!(explain_panic("CUDA error: device-side assert triggered").contains("set Device to CPU"));
        assert!(explain_panic("index out of bounds").starts_with("SamuraiRoto internal error"));
    }
}
