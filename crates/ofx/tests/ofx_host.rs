//! End-to-end OpenFX test: loads the built SamuraiRoto plugin library (cdylib) into the
//! in-repo test host (`tests/ofx_host/`) and drives it through the whole OFX lifecycle with
//! the box-matte test engine (`SAMURAI_ROTO_FAKE_ENGINE=1`): load → describe → describe in
//! context → create instance → clip preferences → renders from several threads in random
//! order (checked against the expected box mattes) → overlay draw and pen edit → destroy →
//! unload, plus error paths (null/bad handles, missing checkpoint).
//!
//! One `#[test]`: the plugin and the host keep process-wide state (a host loads a plugin
//! once), so the phases run in order inside it.
#[path = "ofx_host/mod.rs"]
mod ofx_host;

use ofx_host::effect::{self, Clip, Effect, FRAMES, H, W};
use ofx_host::host::{args, sval, Plugin, FETCHED};
use ofx_host::params::{self, keys_of, EDIT_LOG};
use ofx_host::store::{Param, Props, Val};
use ofx_host::suites::{CLEARED, DRAWN, MESSAGES, PROGRESS};
use samurai_roto_ofx::sys::*;
use std::ffi::c_void;

/// Box keys: (time, bottom-left, top-right) in canonical coordinates (= pixels, y up).
type Key = (f64, [f64; 2], [f64; 2]);
const KEYS: [Key; 2] = [(0.0, [8.0, 10.0], [24.0, 30.0]), (10.0, [28.0, 6.0], [52.0, 26.0])];
const OUTPUT_MATTE_ONLY: f64 = 1.0;

fn eh(h: OfxImageEffectHandle) -> *mut c_void {
    h.cast()
}
fn effect_of<'a>(h: OfxImageEffectHandle) -> &'a Effect {
    Effect::get(h).expect("registered effect")
}
fn param<'a>(e: &'a Effect, name: &str) -> &'a Param {
    e.param_set().param(name).unwrap_or_else(|| panic!("plugin did not define parameter {name}"))
}
fn last_message() -> (bool, String) {
    MESSAGES.lock().unwrap().last().cloned().expect("no message posted")
}

/// The fake engine's matte for `keys` at frame `t`, as the output's alpha (rows bottom-up):
/// engine boxes (y down) interpolated linearly between keys, held outside; a pixel is in
/// when its centre is in [x1, x2) × [y1, y2).
fn expected_alpha(keys: &[Key], t: f64) -> Vec<f32> {
    let h = H as f64;
    let engine: Vec<(i64, [f64; 4])> = keys
        .iter()
        .map(|(k, bl, tr)| {
            let (a, b) = ([bl[0], h - bl[1]], [tr[0], h - tr[1]]);
            (*k as i64, [a[0].min(b[0]), a[1].min(b[1]), a[0].max(b[0]), a[1].max(b[1])])
        })
        .collect();
    let f = t.round() as i64;
    let before = engine.iter().rev().find(|(k, _)| *k <= f);
    let after = engine.iter().find(|(k, _)| *k >= f);
    let bx = match (before, after) {
        (Some((a, ba)), Some((b, bb))) if b > a => {
            let w = (f - a) as f64 / (b - a) as f64;
            std::array::from_fn(|i| ba[i] + (bb[i] - ba[i]) * w)
        }
        (Some((_, v)), _) | (None, Some((_, v))) => *v,
        (None, None) => unreachable!(),
    };
    let mut out = Vec::with_capacity((W * H) as usize);
    for y in 0..H {
        let ey = (H - 1 - y) as f64 + 0.5;
        for x in 0..W {
            let xc = x as f64 + 0.5;
            out.push((xc >= bx[0] && xc < bx[2] && ey >= bx[1] && ey < bx[3]) as u8 as f32);
        }
    }
    out
}

fn render_args(t: f64) -> OfxPropertySetHandle {
    args(&[
        ("OfxPropTime", Val::D(vec![t])),
        ("OfxImageEffectPropRenderWindow", Val::I(vec![0, 0, W, H])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0])),
        ("OfxImageEffectPropFieldToRender", sval("OfxImageFieldNone")),
        ("OfxImageEffectPropSequentialRenderStatus", Val::I(vec![0])),
        ("OfxImageEffectPropInteractiveRenderStatus", Val::I(vec![0])),
    ])
}

fn render(plugin: &Plugin, inst: OfxImageEffectHandle, t: f64) -> OfxStatus {
    plugin.call("OfxImageEffectActionRender", eh(inst), render_args(t), std::ptr::null_mut())
}

/// Checks the Output image rendered at `t` is the "matte only" output of `keys`.
fn check_output(inst: &Effect, keys: &[Key], t: f64) {
    let out = inst.clip("Output").and_then(|c: &Clip| c.output(t)).unwrap_or_else(|| panic!("no output at {t}"));
    let want = expected_alpha(keys, t);
    let mut bad = 0;
    for (i, a) in want.iter().enumerate() {
        if out[i * 4..i * 4 + 4] != [*a; 4] {
            bad += 1;
        }
    }
    let inside = want.iter().filter(|a| **a > 0.0).count();
    assert_eq!(bad, 0, "time {t}: {bad} of {} pixels differ from the expected box matte ({inside} inside)", want.len());
    assert!(inside > 0, "time {t}: expected matte is empty; the test keys are wrong");
}

fn describe(plugin: &Plugin) -> (OfxImageEffectHandle, OfxImageEffectHandle) {
    let desc = Effect::new_handle("");
    assert_eq!(plugin.call("OfxActionDescribe", eh(desc), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    let d = effect_of(desc).props();
    assert_eq!(d.str("OfxPropLabel").as_deref(), Some("SamuraiRoto"));
    assert!(d.strs("OfxImageEffectPropSupportedContexts").contains(&"OfxImageEffectContextFilter".to_string()));
    assert!(d.strs("OfxImageEffectPropSupportedPixelDepths").contains(&"OfxBitDepthFloat".to_string()));
    assert_eq!(d.str("OfxImageEffectPluginRenderThreadSafety").as_deref(), Some("OfxImageEffectRenderFullySafe"));
    assert!(matches!(d.get_val("OfxImageEffectPluginPropOverlayInteractV1"), Some(Val::P(v)) if v[0] != 0), "no overlay entry point");
    // Describe in context gets a descriptor carrying the describe-time properties.
    let ctx = Effect::new_handle("OfxImageEffectContextFilter");
    let copy = d.m.lock().unwrap().clone();
    effect_of(ctx).props().m.lock().unwrap().extend(copy);
    let in_args = args(&[("OfxImageEffectPropContext", sval("OfxImageEffectContextFilter"))]);
    assert_eq!(plugin.call("OfxImageEffectActionDescribeInContext", eh(ctx), in_args, std::ptr::null_mut()), kOfxStatOK);
    let c = effect_of(ctx);
    assert!(c.clip("Source").is_some() && c.clip("Output").is_some(), "Source/Output clips not defined");
    for name in [
        "model",
        "checkpoint",
        "outputMode",
        "obj1BoxBL",
        "obj1BoxTR",
        "obj8Enable",
        "clearCache",
        "trackCacheFile",
        "edgeBand",
        "edgeDecontaminate",
    ] {
        param(c, name);
    }
    // The Edge group: refinement defaults to Fast, a 16-pixel band, decontamination on.
    let default = |name: &str| Props::get(param(c, name).props).unwrap().get_val("OfxParamPropDefault");
    assert!(matches!(default("edgeRefine"), Some(Val::I(v)) if v == [1]), "edgeRefine default {:?}", default("edgeRefine"));
    assert!(matches!(default("edgeBand"), Some(Val::D(v)) if v == [16.0]), "edgeBand default {:?}", default("edgeBand"));
    assert!(matches!(default("edgeDecontaminate"), Some(Val::I(v)) if v == [1]));
    for name in ["edgeRefine", "edgeBand", "edgeDecontaminate"] {
        let props = Props::get(param(c, name).props).unwrap();
        assert_eq!(props.str("OfxParamPropParent").as_deref(), Some("edgeGroup"), "{name} is in the Edge group");
        assert!(props.str("OfxParamPropHint").is_some_and(|h| h.len() > 20), "{name} has a hint");
    }
    println!("ofx_host: describe + describe in context OK ({} parameters)", c.param_set().m.lock().unwrap().len());
    (desc, ctx)
}

fn create_instance(plugin: &Plugin, ctx: OfxImageEffectHandle) -> OfxImageEffectHandle {
    let inst = effect_of(ctx).instantiate();
    let before = MESSAGES.lock().unwrap().len();
    assert_eq!(plugin.call("OfxActionCreateInstance", eh(inst), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    assert!(matches!(effect_of(inst).props().get_val("OfxPropInstanceData"), Some(Val::P(v)) if v[0] != 0), "no instance data");
    assert_eq!(MESSAGES.lock().unwrap().len(), before, "create instance posted {:?}", MESSAGES.lock().unwrap().last());
    let e = effect_of(inst);
    *param(e, "outputMode").value.lock().unwrap() = vec![OUTPUT_MATTE_ONLY];
    // The box plumbing is checked on the unrefined mattes; `edge_group` turns refinement on.
    *param(e, "edgeRefine").value.lock().unwrap() = vec![0.0];
    for (t, bl, tr) in KEYS {
        param(e, "obj1BoxBL").keys.lock().unwrap().insert(ofx_host::store::time_key(t), bl.to_vec());
        param(e, "obj1BoxTR").keys.lock().unwrap().insert(ofx_host::store::time_key(t), tr.to_vec());
    }
    inst
}

/// The panel in the artist's order: objects first, then the output, the model and
/// analysis, the engineering settings last in a closed group; no label used twice in
/// one scope; objects shown by name once renamed; controls enabled only where their
/// toggle makes them matter.
fn panel(plugin: &Plugin, ctx: OfxImageEffectHandle, inst: OfxImageEffectHandle) {
    let order = effect_of(ctx).param_set().order.lock().unwrap().clone();
    let at = |name: &str| order.iter().position(|n| n == name).unwrap_or_else(|| panic!("{name} not defined: {order:?}"));
    assert!(at("selectedObject") < at("obj1Group") && at("obj8Group") < at("outputMode"), "objects first: {order:?}");
    assert!(at("outputMode") < at("matteThreshold") && at("matteThreshold") < at("softness") && at("softness") < at("edgeGroup"));
    // The logit threshold of earlier builds stays, hidden, for saved scripts.
    let secret = |name: &str| matches!(Props::get(param(effect_of(ctx), name).props).unwrap().get_val("OfxParamPropSecret"), Some(Val::I(v)) if v[0] != 0);
    assert!(secret("threshold") && !secret("matteThreshold"), "the legacy threshold is hidden");
    assert!(at("edgeGroup") < at("model") && at("model") < at("analyse") && at("analyse") < at("engineGroup"), "{order:?}");
    let e = effect_of(inst);
    let prop = |name: &str, key: &str| Props::get(param(e, name).props).unwrap().get_val(key);
    let text = |name: &str, key: &str| Props::get(param(e, name).props).unwrap().str(key);
    for name in ["device", "precision", "gpuMemoryLimit", "samuraiGroup"] {
        assert_eq!(text(name, "OfxParamPropParent").as_deref(), Some("engineGroup"), "{name} in the Engine group");
    }
    assert!(matches!(prop("engineGroup", "OfxParamPropGroupOpen"), Some(Val::I(v)) if v[0] == 0), "the Engine group starts closed");
    // Labels: the node's own and one object's, no two alike.
    let scope = |parent: Option<&str>| -> Vec<String> {
        order.iter().filter(|n| text(n, "OfxParamPropParent").as_deref() == parent).filter_map(|n| text(n, "OfxPropLabel")).collect()
    };
    for labels in [scope(None), scope(Some("obj1Group")), [scope(None), scope(Some("obj1Group"))].concat()] {
        let mut seen = std::collections::BTreeSet::new();
        let twice: Vec<&String> = labels.iter().filter(|l| !seen.insert(*l)).collect();
        assert!(twice.is_empty(), "labels used twice: {twice:?} in {labels:?}");
    }
    // Enabled where it matters: Model tiny (no Checkpoint), no custom tuning, refinement on,
    // no matte channel.
    let enabled = |name: &str| matches!(prop(name, "OfxParamPropEnabled"), Some(Val::I(v)) if v[0] != 0);
    assert!(!enabled("checkpoint") && !enabled("kf_score_weight") && !enabled("obj1MatteKey"), "disabled at creation");
    let change = |name: &str| {
        let a = args(&[
            ("OfxPropType", sval("OfxTypeParameter")),
            ("OfxPropName", sval(name)),
            ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
            ("OfxPropTime", Val::D(vec![0.0])),
        ]);
        assert_eq!(plugin.call("OfxActionInstanceChanged", eh(inst), a, std::ptr::null_mut()), kOfxStatOK, "{name} changed");
    };
    *param(e, "customTuning").value.lock().unwrap() = vec![1.0];
    change("customTuning");
    *param(e, "obj1MatteChannel").value.lock().unwrap() = vec![4.0];
    change("obj1MatteChannel");
    *param(e, "edgeRefine").value.lock().unwrap() = vec![0.0];
    change("edgeRefine");
    assert!(enabled("kf_score_weight") && enabled("obj1MatteKey") && !enabled("edgeBand"), "enabled states follow their toggles");
    *param(e, "customTuning").value.lock().unwrap() = vec![0.0];
    change("customTuning");
    *param(e, "obj1MatteChannel").value.lock().unwrap() = vec![0.0];
    change("obj1MatteChannel");
    // Objects by name: the Selected object options and the group titles follow a rename.
    *param(e, "obj2Name").string.lock().unwrap() = std::ffi::CString::new("boy").unwrap();
    change("obj2Name");
    let options = Props::get(param(e, "selectedObject").props).unwrap().strs("OfxParamPropChoiceOption");
    assert_eq!(options, ["1 object1", "2 boy", "3 object3", "4 object4", "5 object5", "6 object6", "7 object7", "8 object8"]);
    assert!(ofx_host::suites::STRINGS_SET_WHOLE.lock().unwrap().iter().any(|n| n == "OfxParamPropChoiceOption"), "options set one by one");
    assert_eq!(text("obj2Group", "OfxPropLabel").as_deref(), Some("2 boy"));
    *param(e, "obj2Name").string.lock().unwrap() = std::ffi::CString::new("object2").unwrap();
    change("obj2Name");
    println!("ofx_host: panel: objects, output, model, analysis, Engine (closed); labels unique; names and enabled states follow");
}

fn clip_preferences(plugin: &Plugin, inst: OfxImageEffectHandle) {
    let out = args(&[]);
    assert_eq!(plugin.call("OfxImageEffectActionGetClipPreferences", eh(inst), args(&[]), out), kOfxStatOK);
    let o = Props::get(out).unwrap();
    assert_eq!(o.str("OfxImageClipPropComponents_Output").as_deref(), Some("OfxImageComponentRGBA"));
    assert_eq!(o.str("OfxImageEffectPropPreMultiplication").as_deref(), Some("OfxImageAlphaPremultiplied"));
    let out = args(&[]);
    let in_args = args(&[("OfxPropTime", Val::D(vec![3.0]))]);
    assert_eq!(plugin.call("OfxImageEffectActionGetFramesNeeded", eh(inst), in_args, out), kOfxStatOK);
    assert_eq!(Props::get(out).unwrap().dbl("OfxImageClipPropFrameRange_Source"), vec![FRAMES.0 as f64, FRAMES.1 as f64]);
    println!("ofx_host: clip preferences + frames needed OK");
}

/// Model "checkpoint file" enables Checkpoint (disabled while Model is a published size,
/// the default: tiny).
fn choose_checkpoint_file(plugin: &Plugin, inst: OfxImageEffectHandle) {
    let e = effect_of(inst);
    let enabled = || Props::get(param(e, "checkpoint").props).unwrap().int("OfxParamPropEnabled");
    assert_eq!(param(e, "model").at(0.0), vec![0.0], "a new node's Model is tiny");
    assert_eq!(enabled(), Some(0), "Checkpoint is disabled while Model is a published size");
    *param(e, "model").value.lock().unwrap() = vec![4.0];
    let changed = args(&[
        ("OfxPropType", sval("OfxTypeParameter")),
        ("OfxPropName", sval("model")),
        ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
        ("OfxPropTime", Val::D(vec![0.0])),
    ]);
    assert_eq!(plugin.call("OfxActionInstanceChanged", eh(inst), changed, std::ptr::null_mut()), kOfxStatOK);
    assert_eq!(enabled(), Some(1), "Checkpoint is enabled when Model is \"checkpoint file\"");
}

/// Render without a usable checkpoint: kOfxStatFailed and a persistent error message.
fn render_without_checkpoint(plugin: &Plugin, inst: OfxImageEffectHandle) {
    let e = effect_of(inst);
    choose_checkpoint_file(plugin, inst);
    for (path, expect) in [("", "Checkpoint is empty"), ("/nonexistent/samurai/100%s_sure/sam2.1_hiera_tiny.pt", "Checkpoint not found")] {
        *param(e, "checkpoint").string.lock().unwrap() = std::ffi::CString::new(path).unwrap();
        assert_eq!(render(plugin, inst, 2.0), kOfxStatFailed, "render with checkpoint {path:?}");
        let (persistent, text) = last_message();
        assert!(
            persistent && text.starts_with("OfxMessageError") && text.contains(expect),
            "message after render with checkpoint {path:?}: {text:?}"
        );
        // The message reaches the host as a printf format: a '%' in the path prints literally.
        assert!(text.contains(path), "message after render with checkpoint {path:?} must name it: {text:?}");
        println!("ofx_host: render with checkpoint {path:?} -> kOfxStatFailed, persistent message {text:?}");
        // The Analyse button fails the same way (error status, message), never crashes.
        let analyse = args(&[
            ("OfxPropType", sval("OfxTypeParameter")),
            ("OfxPropName", sval("analyse")),
            ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
            ("OfxPropTime", Val::D(vec![2.0])),
        ]);
        assert_eq!(
            plugin.call("OfxActionInstanceChanged", eh(inst), analyse, std::ptr::null_mut()),
            kOfxStatFailed,
            "Analyse with checkpoint {path:?}"
        );
        let (persistent, text) = last_message();
        assert!(persistent && text.contains(expect), "message after Analyse with checkpoint {path:?}: {text:?}");
    }
    assert_eq!(effect::outstanding_images(), 0, "images leaked by the failed renders");
}

/// Small deterministic shuffle (xorshift), so the render order is "random" but repeatable.
fn shuffled(mut v: Vec<f64>, mut seed: u64) -> Vec<f64> {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

struct SharedPlugin<'a>(&'a Plugin, usize);
// SAFETY: the plugin declares fully safe rendering; the host side is all Mutex-guarded.
unsafe impl Sync for SharedPlugin<'_> {}

fn threaded_renders(plugin: &Plugin, inst: OfxImageEffectHandle, checkpoint: &std::path::Path) {
    let e = effect_of(inst);
    *param(e, "checkpoint").string.lock().unwrap() = std::ffi::CString::new(checkpoint.to_str().unwrap()).unwrap();
    let cleared = *CLEARED.lock().unwrap();
    let times = shuffled((FRAMES.0..=FRAMES.1).map(f64::from).collect(), 0x5eed);
    println!("ofx_host: rendering frames {times:?} on 3 threads");
    let shared = SharedPlugin(plugin, inst as usize);
    std::thread::scope(|s| {
        for chunk in times.chunks(4) {
            let shared = &shared;
            s.spawn(move || {
                for t in chunk {
                    let st = render(shared.0, shared.1 as OfxImageEffectHandle, *t);
                    assert_eq!(st, kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
                }
            });
        }
    });
    for t in &times {
        check_output(e, &KEYS, *t);
    }
    assert!(*CLEARED.lock().unwrap() >= cleared + times.len(), "successful renders must clear the persistent message");
    assert_eq!(effect::outstanding_images(), 0, "images not released after render");
    let fetched = effect::SOURCE_FETCHES.lock().unwrap().clone();
    assert!(fetched.contains(&0.0) && fetched.contains(&10.0), "engine never pulled the keyframes: {fetched:?}");
    let progress = PROGRESS.lock().unwrap().clone();
    assert!(!progress.is_empty() && progress.iter().all(|p| (0.0..=1.0).contains(p)), "progress {progress:?}");
    println!("ofx_host: {} renders OK, every output equals its box matte; source fetches {}", times.len(), fetched.len());
}

fn overlay_args(inst: OfxImageEffectHandle, t: f64, pen: Option<[f64; 2]>, draw_ctx: usize) -> OfxPropertySetHandle {
    overlay_args_zoomed(inst, t, pen, draw_ctx, 1.0)
}

/// `overlay_args` with `pixel_scale` canonical units per screen pixel (0.5: zoomed in 2×).
fn overlay_args_zoomed(
    inst: OfxImageEffectHandle,
    t: f64,
    pen: Option<[f64; 2]>,
    draw_ctx: usize,
    pixel_scale: f64,
) -> OfxPropertySetHandle {
    let mut v = vec![
        ("OfxPropEffectInstance", Val::P(vec![inst as usize])),
        ("OfxPropTime", Val::D(vec![t])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0])),
        ("OfxInteractPropPixelScale", Val::D(vec![pixel_scale, pixel_scale])),
        ("OfxInteractPropBackgroundColour", Val::D(vec![0.0; 3])),
    ];
    if let Some(p) = pen {
        v.extend([("OfxInteractPropPenPosition", Val::D(p.to_vec())), ("OfxInteractPropPenPressure", Val::D(vec![1.0]))]);
    }
    if draw_ctx != 0 {
        v.push(("OfxInteractPropDrawContext", Val::P(vec![draw_ctx])));
    }
    args(&v)
}

/// Builds the recording GL stub (`ofx_host/gl_stub.c`) with the system C compiler, points
/// the plugin at it, runs `draw` (which must succeed) and returns the GL calls it made.
fn opengl_draw(draw: impl FnOnce() -> OfxStatus) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libglstub.so");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ofx_host/gl_stub.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("the OpenGL overlay test needs a C compiler ({cc}): {e}"));
    assert!(out.status.success(), "building the GL stub: {}", String::from_utf8_lossy(&out.stderr));
    std::env::set_var(samurai_roto_ofx::gl::GL_LIBRARY_ENV, &lib);
    assert_eq!(draw(), kOfxStatOK, "draw without a draw context (OpenGL)");
    // SAFETY: the stub has no initialisers; dlopen returns the copy the plugin loaded.
    let stub = unsafe { libloading::Library::new(&lib) }.unwrap();
    // SAFETY: stub_gl_log returns its static NUL-terminated log.
    let text =
        unsafe { std::ffi::CStr::from_ptr(stub.get::<unsafe extern "C" fn() -> *const std::ffi::c_char>(b"stub_gl_log\0").unwrap()()) };
    let lines = text.to_string_lossy().lines().map(str::to_owned).collect();
    std::mem::forget(stub);
    std::mem::forget(dir); // the plugin keeps the stub mapped
    lines
}

/// Draw at frame 5 (tracked box drawn), then drag the box's bottom-left corner: both corner
/// parameters get a key at frame 5, the bottom-left one at the dragged position.
fn overlay(desc: OfxImageEffectHandle, inst: OfxImageEffectHandle) -> Vec<Key> {
    let Some(Val::P(p)) = effect_of(desc).props().get_val("OfxImageEffectPluginPropOverlayInteractV1") else { panic!("no overlay") };
    // SAFETY: the plugin stored its overlay entry point (an OfxPluginEntryPoint) there.
    let entry: OfxPluginEntryPoint = unsafe { std::mem::transmute::<usize, OfxPluginEntryPoint>(p[0]) };
    let interact = Props::new_handle();
    let call = |action: &std::ffi::CStr, a: OfxPropertySetHandle| unsafe {
        entry(action.as_ptr(), interact as *const c_void, a, std::ptr::null_mut())
    };
    assert_eq!(call(c"OfxActionDescribe", std::ptr::null_mut()), kOfxStatReplyDefault);
    assert_eq!(call(c"OfxActionCreateInstance", overlay_args(inst, 0.0, None, 0)), kOfxStatReplyDefault);
    let t = 5.0;
    params::set_current_time(t);
    let draw_ctx = Props::new_handle() as usize;
    // Two saved clicks on this frame and one on another: the frame's are drawn (a diamond
    // for the positive one, a square for the negative one), in both drawing paths.
    let e = effect_of(inst);
    *param(e, "obj1Points").string.lock().unwrap() = std::ffi::CString::new("5 20 20 +\n5 30 12 -\n6 40 40 +").unwrap();
    let diamond = [[12.0, 20.0], [20.0, 12.0], [28.0, 20.0], [20.0, 28.0]];
    let square = [[22.0, 4.0], [38.0, 4.0], [38.0, 20.0], [22.0, 20.0]];
    DRAWN.lock().unwrap().clear();
    assert_eq!(call(c"OfxInteractActionDraw", overlay_args(inst, t, None, draw_ctx)), kOfxStatOK);
    let drawn = DRAWN.lock().unwrap().clone();
    for shape in [diamond, square] {
        assert!(
            drawn
                .iter()
                .any(|(prim, pts)| *prim == kOfxDrawPrimitiveLineLoop && pts.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>() == shape),
            "click marker {shape:?} not drawn: {drawn:?}"
        );
    }
    assert!(!drawn.iter().any(|(_, pts)| pts.iter().any(|p| p.x == 45.0 && p.y == 40.0)), "a click of frame 6 drawn at frame 5");
    let (bl, tr) = ([18.0, 8.0], [38.0, 28.0]); // KEYS interpolated at frame 5
                                                // Frame 5 is finished: object 1's matte outline (the test engine's box matte, its 0
                                                // contour on the pixel edges) is drawn as segments spanning exactly the box.
    let outline: Vec<&Vec<OfxPointD>> = drawn.iter().filter(|(prim, _)| *prim == kOfxDrawPrimitiveLines).map(|(_, p)| p).collect();
    assert_eq!(outline.len(), 1, "one outline (object 1): {drawn:?}");
    let xs: Vec<f64> = outline[0].iter().map(|p| p.x).collect();
    let ys: Vec<f64> = outline[0].iter().map(|p| p.y).collect();
    let span = [
        xs.iter().cloned().fold(f64::MAX, f64::min),
        ys.iter().cloned().fold(f64::MAX, f64::min),
        xs.iter().cloned().fold(f64::MIN, f64::max),
        ys.iter().cloned().fold(f64::MIN, f64::max),
    ];
    assert_eq!(span, [bl[0], bl[1], tr[0], tr[1]], "the outline spans the matte");
    assert!(outline[0].len().is_multiple_of(2) && outline[0].len() >= 2 * 4, "segments: {}", outline[0].len());
    let want = [[bl[0], bl[1]], [tr[0], bl[1]], [tr[0], tr[1]], [bl[0], tr[1]]];
    assert!(
        drawn.iter().any(|(prim, pts)| *prim == kOfxDrawPrimitiveLineLoop && pts.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>() == want),
        "box {want:?} not drawn: {drawn:?}"
    );
    // Without a draw context (an OFX 1.4 host) the overlay draws with OpenGL, here a
    // recording stub standing in for libGL: the host's GL state is saved and restored, the
    // box is drawn in object 1's colour, dashed (frame 5 is not a key: the tracked box).
    let gl_log = opengl_draw(|| call(c"OfxInteractActionDraw", overlay_args(inst, t, None, 0)));
    let loop_at = gl_log.iter().position(|l| l == "begin 2").unwrap_or_else(|| panic!("no GL_LINE_LOOP in {gl_log:?}"));
    let verts: Vec<String> = want.iter().map(|[x, y]| format!("vertex {x:.1} {y:.1}")).collect();
    assert_eq!(gl_log[loop_at + 1..loop_at + 5], verts[..], "GL box vertices: {gl_log:?}");
    assert_eq!(gl_log[loop_at + 5], "end");
    let diamond_gl: Vec<String> = diamond.iter().map(|[x, y]| format!("vertex {x:.1} {y:.1}")).collect();
    assert!(gl_log.windows(4).any(|w| w == diamond_gl.as_slice()), "GL click marker {diamond_gl:?} not drawn: {gl_log:?}");
    // GL has no text: the object's name ("object1") in the stroke font above the box (4
    // screen pixels up, 2-pixel grid units): the 'o' starts with its left stroke.
    let name_at = [want[3][0], want[3][1] + 4.0];
    let stroke = [format!("vertex {:.1} {:.1}", name_at[0], name_at[1]), format!("vertex {:.1} {:.1}", name_at[0], name_at[1] + 12.0)];
    assert!(gl_log.windows(2).any(|w| w == stroke.as_slice()), "the name's first stroke {stroke:?} not drawn: {gl_log:?}");
    assert!(gl_log.contains(&"begin 1".to_string()), "no GL_LINES (name, outline) in {gl_log:?}");
    // Positive and negative clicks in their own colours (green, red), 3-pixel lines.
    for c in [samurai_roto_ofx::overlay::POSITIVE_CLICK, samurai_roto_ofx::overlay::NEGATIVE_CLICK] {
        let colour = format!("colour {:.2} {:.2} {:.2} {:.2}", c[0], c[1], c[2], c[3]);
        assert!(gl_log.contains(&colour), "no {colour} in {gl_log:?}");
    }
    *param(e, "obj1Points").string.lock().unwrap() = std::ffi::CString::default();
    assert_eq!(gl_log.first().map(String::as_str), Some("push 8197"), "GL state not saved first: {gl_log:?}");
    assert_eq!(gl_log.last().map(String::as_str), Some("pop"), "GL state not restored last: {gl_log:?}");
    assert!(
        gl_log.contains(&"colour 1.00 0.30 0.20 1.00".to_string()) && gl_log.contains(&"enable 2852".to_string()),
        "GL colour/stipple: {gl_log:?}"
    );
    println!("ofx_host: overlay draw through OpenGL (no Draw suite): {} GL calls, box {want:?}", gl_log.len());
    EDIT_LOG.lock().unwrap().clear();
    assert_eq!(call(c"OfxInteractActionPenDown", overlay_args(inst, t, Some(bl), 0)), kOfxStatOK);
    assert_eq!(call(c"OfxInteractActionPenMotion", overlay_args(inst, t, Some([21.0, 6.0]), 0)), kOfxStatOK);
    // While the pen moves nothing is written (one gesture, one undo step); the overlay
    // draws the box being dragged.
    assert_eq!(EDIT_LOG.lock().unwrap().clone(), Vec::<String>::new(), "parameters written while dragging");
    DRAWN.lock().unwrap().clear();
    assert_eq!(call(c"OfxInteractActionDraw", overlay_args(inst, t, None, draw_ctx)), kOfxStatOK);
    let dragging = [[21.0, 6.0], [tr[0], 6.0], [tr[0], tr[1]], [21.0, tr[1]]];
    assert!(
        DRAWN.lock().unwrap().iter().any(|(_, pts)| pts.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>() == dragging),
        "the box being dragged {dragging:?} not drawn: {:?}",
        DRAWN.lock().unwrap()
    );
    assert_eq!(call(c"OfxInteractActionPenUp", overlay_args(inst, t, Some([23.0, 4.0]), 0)), kOfxStatOK);
    let (kbl, ktr) = (keys_of(param(e, "obj1BoxBL")), keys_of(param(e, "obj1BoxTR")));
    assert_eq!(kbl, vec![(0.0, KEYS[0].1.to_vec()), (5.0, vec![23.0, 4.0]), (10.0, KEYS[1].1.to_vec())], "BL keys");
    assert_eq!(ktr, vec![(0.0, KEYS[0].2.to_vec()), (5.0, tr.to_vec()), (10.0, KEYS[1].2.to_vec())], "TR keys");
    assert_eq!(*e.param_set().edits.lock().unwrap(), 0, "unbalanced paramEditBegin/End: {:?}", EDIT_LOG.lock().unwrap());
    let log = EDIT_LOG.lock().unwrap().clone();
    assert!(
        log.first().is_some_and(|l| l.starts_with("begin"))
            && log.last().is_some_and(|l| l == "end")
            && log.iter().filter(|l| l.starts_with("begin")).count() == 1
            && log.contains(&"set obj1BoxBL@5".to_string())
            && log.contains(&"set obj1BoxTR@5".to_string()),
        "one undoable edit for the gesture: {log:?}"
    );
    // A pen-up without a drag in progress is not handled.
    assert_eq!(call(c"OfxInteractActionPenUp", overlay_args(inst, t, Some([0.0, 0.0]), 0)), kOfxStatReplyDefault);
    // Overlay error paths: an error status, never a crash.
    let mut junk = [0u64; 8];
    let bogus = junk.as_mut_ptr() as usize;
    // SAFETY: the entry point must cope with null/bogus arguments; that is what is tested.
    let overlay_errors = [
        ("null action", unsafe {
            entry(std::ptr::null(), interact as *const c_void, overlay_args(inst, t, Some(bl), 0), std::ptr::null_mut())
        }),
        ("pen down, null inArgs", call(c"OfxInteractActionPenDown", std::ptr::null_mut())),
        ("pen down, bogus effect", call(c"OfxInteractActionPenDown", overlay_args(bogus as OfxImageEffectHandle, t, Some(bl), 0))),
        ("pen down, null interact", unsafe {
            entry(c"OfxInteractActionPenDown".as_ptr(), std::ptr::null(), overlay_args(inst, t, Some(bl), 0), std::ptr::null_mut())
        }),
    ];
    for (what, st) in overlay_errors {
        println!("ofx_host: overlay error path {what:<24} -> status {st}");
        // Without a draw context the overlay leaves drawing to the host (default).
        let ok = if what.starts_with("draw") { st == kOfxStatReplyDefault } else { st != kOfxStatOK && st != kOfxStatReplyDefault };
        assert!(ok, "overlay {what} returned {st}");
    }
    assert_eq!(keys_of(param(e, "obj1BoxBL")).len(), 3, "an overlay error path changed the keys");
    println!("ofx_host: overlay draw + corner drag OK; BL keys {kbl:?}");
    vec![KEYS[0], (5.0, [23.0, 4.0], tr), KEYS[1]]
}

/// Clicks through the overlay at frame `t` (rendered, not a keyframe of object 1), the
/// viewer zoomed in 2× (the test's boxes are small for 6-screen-pixel grab zones): a click
/// keys the tracked box there and adds a positive click; Ctrl-click a negative one; a
/// click is dragged; Shift-click deletes it; a press inside the box that moves drags the
/// box. Every edit is a parameter write at the current time, balanced begin/end.
fn clicks(plugin: &Plugin, desc: OfxImageEffectHandle, inst: OfxImageEffectHandle, keys: &[Key], t: f64) -> Vec<Key> {
    let Some(Val::P(p)) = effect_of(desc).props().get_val("OfxImageEffectPluginPropOverlayInteractV1") else { panic!("no overlay") };
    // SAFETY: the plugin stored its overlay entry point (an OfxPluginEntryPoint) there.
    let entry: OfxPluginEntryPoint = unsafe { std::mem::transmute::<usize, OfxPluginEntryPoint>(p[0]) };
    let interact = Props::new_handle();
    let call = |action: &std::ffi::CStr, a: OfxPropertySetHandle| unsafe {
        entry(action.as_ptr(), interact as *const c_void, a, std::ptr::null_mut())
    };
    let key = |action: &std::ffi::CStr, sym: i32| {
        let a = args(&[
            ("OfxPropEffectInstance", Val::P(vec![inst as usize])),
            ("OfxPropTime", Val::D(vec![t])),
            ("kOfxPropKeySym", Val::I(vec![sym])),
        ]);
        // Modifier keys are noted, never consumed (the host's shortcuts keep working).
        assert_eq!(call(action, a), kOfxStatReplyDefault, "{action:?} {sym:#x}");
    };
    let click = |at: [f64; 2]| {
        assert_eq!(call(c"OfxInteractActionPenDown", overlay_args_zoomed(inst, t, Some(at), 0, 0.5)), kOfxStatOK);
        assert_eq!(call(c"OfxInteractActionPenUp", overlay_args_zoomed(inst, t, Some([at[0] + 1.0, at[1]]), 0, 0.5)), kOfxStatOK);
    };
    params::set_current_time(t);
    let e = effect_of(inst);
    let points = || param(e, "obj1Points").string.lock().unwrap().to_string_lossy().into_owned();
    assert!(!keys.iter().any(|k| k.0 == t), "frame {t} must not be a keyframe for this check");
    let before = keys_of(param(e, "obj1BoxBL"));
    // The tracked box at t: the bounding box of the test engine's matte there.
    let alpha = expected_alpha(keys, t);
    let inside: Vec<(i32, i32)> =
        (0..H).flat_map(|y| (0..W).map(move |x| (x, y))).filter(|&(x, y)| alpha[(y * W + x) as usize] > 0.0).collect();
    let tracked = [
        inside.iter().map(|p| p.0).min().unwrap() as f64,
        inside.iter().map(|p| p.1).min().unwrap() as f64,
        inside.iter().map(|p| p.0).max().unwrap() as f64 + 1.0,
        inside.iter().map(|p| p.1).max().unwrap() as f64 + 1.0,
    ];
    let centre = [(tracked[0] + tracked[2]) / 2.0, (tracked[1] + tracked[3]) / 2.0];
    EDIT_LOG.lock().unwrap().clear();
    click(centre);
    assert_eq!(points(), format!("{} {} {} +", t, centre[0], centre[1]), "a click adds a positive click");
    let bl = keys_of(param(e, "obj1BoxBL"));
    assert_eq!(bl.len(), before.len() + 1, "the click keys the box at {t}: {bl:?}");
    assert!(bl.contains(&(t, vec![tracked[0], tracked[1]])), "keyed box is the tracked box {tracked:?}: {bl:?}");
    assert!(keys_of(param(e, "obj1BoxTR")).contains(&(t, vec![tracked[2], tracked[3]])));
    // Ctrl-click: a negative click; the frame is now a keyframe, so the box is not keyed again.
    let neg = [centre[0] + 5.0, centre[1] - 3.0];
    key(c"OfxInteractActionKeyDown", 0xffe3);
    click(neg);
    key(c"OfxInteractActionKeyUp", 0xffe3);
    assert_eq!(points().lines().nth(1), Some(format!("{} {} {} -", t, neg[0], neg[1]).as_str()), "Ctrl-click: {}", points());
    // Drag the positive click.
    let moved = [centre[0] - 4.0, centre[1] + 2.0];
    assert_eq!(call(c"OfxInteractActionPenDown", overlay_args_zoomed(inst, t, Some([centre[0] + 1.0, centre[1]]), 0, 0.5)), kOfxStatOK);
    assert_eq!(
        call(c"OfxInteractActionPenMotion", overlay_args_zoomed(inst, t, Some([centre[0] - 2.0, centre[1] + 1.0]), 0, 0.5)),
        kOfxStatOK
    );
    assert_eq!(call(c"OfxInteractActionPenUp", overlay_args_zoomed(inst, t, Some(moved), 0, 0.5)), kOfxStatOK);
    assert_eq!(points().lines().next(), Some(format!("{} {} {} +", t, moved[0], moved[1]).as_str()), "dragged: {}", points());
    // Shift-click on the negative click deletes it.
    key(c"OfxInteractActionKeyDown", 0xffe1);
    assert_eq!(call(c"OfxInteractActionPenDown", overlay_args_zoomed(inst, t, Some([neg[0], neg[1] + 2.0]), 0, 0.5)), kOfxStatOK);
    assert_eq!(call(c"OfxInteractActionPenUp", overlay_args_zoomed(inst, t, Some([neg[0], neg[1] + 2.0]), 0, 0.5)), kOfxStatReplyDefault);
    key(c"OfxInteractActionKeyUp", 0xffe1);
    assert_eq!(points(), format!("{} {} {} +", t, moved[0], moved[1]), "Shift-click deletes");
    // A press inside the box that moves is a box drag, not a click.
    let grab = [tracked[2] - 7.0, tracked[1] + 7.0];
    assert_eq!(call(c"OfxInteractActionPenDown", overlay_args_zoomed(inst, t, Some(grab), 0, 0.5)), kOfxStatOK);
    assert_eq!(call(c"OfxInteractActionPenMotion", overlay_args_zoomed(inst, t, Some([grab[0] + 2.0, grab[1]]), 0, 0.5)), kOfxStatOK);
    assert_eq!(call(c"OfxInteractActionPenUp", overlay_args_zoomed(inst, t, Some([grab[0] + 6.0, grab[1]]), 0, 0.5)), kOfxStatOK);
    let bl = keys_of(param(e, "obj1BoxBL"));
    assert!(bl.contains(&(t, vec![tracked[0] + 6.0, tracked[1]])), "box moved by the drag: {bl:?}");
    assert_eq!(points().lines().count(), 1, "a drag adds no click");
    assert_eq!(*e.param_set().edits.lock().unwrap(), 0, "unbalanced paramEditBegin/End: {:?}", EDIT_LOG.lock().unwrap());
    let log = EDIT_LOG.lock().unwrap().clone();
    assert!(log.iter().any(|l| l == &format!("set obj1Points@{t}") || l.starts_with("set obj1Points")), "edit log {log:?}");
    println!(
        "ofx_host: clicks: add (keys the tracked box {tracked:?}), Ctrl-click negative, drag, Shift-click delete, box drag; Points = {:?}",
        points()
    );
    // A bad Points parameter fails the render with a message naming it.
    let saved = points();
    *param(e, "obj1Points").string.lock().unwrap() = std::ffi::CString::new("8 1 2 *").unwrap();
    assert_eq!(render(plugin, inst, t), kOfxStatFailed);
    assert!(last_message().1.contains("Object 1 Points"), "message: {:?}", last_message());
    *param(e, "obj1Points").string.lock().unwrap() = std::ffi::CString::new(saved).unwrap();
    let mut out: Vec<Key> = keys.iter().copied().filter(|k| k.0 != t).collect();
    out.push((t, [tracked[0] + 6.0, tracked[1]], [tracked[2] + 6.0, tracked[3]]));
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The Keyframe matte input: object 1 takes its alpha on frame 3 (a key set to on) and not
/// on frame 6 (a key set to off); a render fetches the input on frame 3 only; an empty
/// channel fails the render with a message naming the object, the frame and the channel.
fn keyframe_matte(plugin: &Plugin, inst: OfxImageEffectHandle, t: f64) {
    let e = effect_of(inst);
    *param(e, "obj1MatteChannel").value.lock().unwrap() = vec![4.0]; // Alpha
    {
        let mut keys = param(e, "obj1MatteKey").keys.lock().unwrap();
        keys.insert(ofx_host::store::time_key(3.0), vec![1.0]);
        keys.insert(ofx_host::store::time_key(6.0), vec![0.0]);
    }
    effect::MATTE_FETCHES.lock().unwrap().clear();
    assert_eq!(render(plugin, inst, t), kOfxStatOK, "render with a matte keyframe: {:?}", last_message());
    let fetched = effect::MATTE_FETCHES.lock().unwrap().clone();
    assert!(!fetched.is_empty() && fetched.iter().all(|f| *f == 3.0), "Keyframe matte fetched at {fetched:?}, expected frame 3 only");
    *param(e, "obj1MatteChannel").value.lock().unwrap() = vec![1.0]; // Red: empty in the test matte
    assert_eq!(render(plugin, inst, t), kOfxStatFailed, "render with an empty keyframe matte");
    let (_, msg) = last_message();
    assert!(msg.contains("Object 1 matte keyframe at frame 3") && msg.contains("red"), "message: {msg}");
    *param(e, "obj1MatteChannel").value.lock().unwrap() = vec![0.0];
    param(e, "obj1MatteKey").keys.lock().unwrap().clear();
    effect::MATTE_FETCHES.lock().unwrap().clear();
    assert_eq!(render(plugin, inst, t), kOfxStatOK, "{:?}", last_message());
    assert!(effect::MATTE_FETCHES.lock().unwrap().is_empty(), "the matte input is fetched with no matte keyframe");
    println!("ofx_host: Keyframe matte: fetched on its keyframe only ({} fetches at frame 3); empty channel named: {msg}", fetched.len());
}

/// The other output modes at frame `t`: source + matte in alpha, ID matte, colour overlay
/// (object 1's default colour), each pixel against the source and the expected matte.
fn other_output_modes(plugin: &Plugin, inst: OfxImageEffectHandle, keys: &[Key], t: f64) {
    let e = effect_of(inst);
    let alpha = expected_alpha(keys, t);
    let colour = [1.0f32, 0.3, 0.2];
    for mode in [0usize, 2, 3] {
        *param(e, "outputMode").value.lock().unwrap() = vec![mode as f64];
        assert_eq!(render(plugin, inst, t), kOfxStatOK, "render mode {mode}");
        let out = e.clip("Output").and_then(|c| c.output(t)).unwrap();
        for y in 0..H {
            for x in 0..W {
                let i = (y * W + x) as usize;
                let (src, a) = (effect::source_pixel(t, x, y), alpha[i]);
                let want = match mode {
                    0 => [src[0], src[1], src[2], a],
                    2 => [a; 4],
                    _ => {
                        let mut px = [src[0], src[1], src[2], 1.0];
                        for c in 0..3 {
                            px[c] = px[c] * (1.0 - 0.5 * a) + colour[c] * 0.5 * a;
                        }
                        px
                    }
                };
                assert_eq!(out[i * 4..i * 4 + 4], want, "mode {mode}, pixel ({x}, {y})");
            }
        }
    }
    let out = args(&[]);
    assert_eq!(plugin.call("OfxImageEffectActionGetClipPreferences", eh(inst), args(&[]), out), kOfxStatOK);
    assert_eq!(Props::get(out).unwrap().str("OfxImageEffectPropPreMultiplication").as_deref(), Some("OfxImageAlphaPremultiplied"));
    *param(e, "outputMode").value.lock().unwrap() = vec![0.0];
    assert_eq!(plugin.call("OfxImageEffectActionGetClipPreferences", eh(inst), args(&[]), out), kOfxStatOK);
    assert_eq!(Props::get(out).unwrap().str("OfxImageEffectPropPreMultiplication").as_deref(), Some("OfxImageAlphaUnPremultiplied"));
    // Clear cache button and purge caches are answered.
    let changed = args(&[
        ("OfxPropType", sval("OfxTypeParameter")),
        ("OfxPropName", sval("clearCache")),
        ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
        ("OfxPropTime", Val::D(vec![t])),
    ]);
    assert_eq!(plugin.call("OfxActionInstanceChanged", eh(inst), changed, std::ptr::null_mut()), kOfxStatOK);
    let (persistent, msg) = last_message();
    assert!(!persistent && msg.contains("forgot every tracked frame"), "Clear cache confirms: {msg}");
    assert_eq!(plugin.call("OfxActionPurgeCaches", eh(inst), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    // Analyse runs over the whole range with the host's progress bar (the test engine
    // writes no file; the real one is checked in ofx_host_tracker.rs).
    PROGRESS.lock().unwrap().clear();
    let analyse = args(&[
        ("OfxPropType", sval("OfxTypeParameter")),
        ("OfxPropName", sval("analyse")),
        ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
        ("OfxPropTime", Val::D(vec![t])),
    ]);
    assert_eq!(plugin.call("OfxActionInstanceChanged", eh(inst), analyse, std::ptr::null_mut()), kOfxStatOK, "{:?}", last_message());
    assert!(PROGRESS.lock().unwrap().len() >= 12, "Analyse showed no progress");
    let (persistent, msg) = last_message();
    assert!(!persistent && msg.contains("analysed 12 frames in ") && msg.contains(" s "), "Analyse reports frames and time: {msg}");
    println!("ofx_host: output modes source+alpha / ID matte / colour overlay OK at frame {t}; Analyse said: {msg}");
}

/// The Edge group with the test engine's box mattes (logits ±8): matte-only output with
/// Fast and Quality refinement equals the library run on the frame the plugin hands the
/// network (8-bit sRGB) and the box's coarse matte; the band width reaches it; the
/// premultiplied-foreground output carries the decontaminated foreground (the library's
/// estimate on the host's float source, the source itself where alpha is 1) or, with
/// Decontaminate off, the source premultiplied.
fn edge_group(plugin: &Plugin, inst: OfxImageEffectHandle, keys: &[Key], t: f64) {
    use ndarray::{Array2, Array3};
    use samurai_core::refine::{self, RefineMode, RefineSettings};
    let e = effect_of(inst);
    let (w, h) = (W as usize, H as usize);
    effect::SOURCE_STRIPES.store(true, std::sync::atomic::Ordering::SeqCst);
    // Engine rows run top-down; the host's bottom-up.
    let alpha = expected_alpha(keys, t);
    let coarse = Array2::from_shape_fn((h, w), |(r, x)| refine::image::sigmoid(if alpha[(h - 1 - r) * w + x] > 0.0 { 8.0 } else { -8.0 }));
    let src = |r: usize, x: usize| effect::source_pixel(t, x as i32, (h - 1 - r) as i32);
    let guide = Array3::from_shape_fn((h, w, 3), |(r, x, c)| (src(r, x)[c].clamp(0.0, 1.0) * 255.0).round() / 255.0);
    let plate = Array3::from_shape_fn((h, w, 3), |(r, x, c)| src(r, x)[c]);
    let rendered = |mode: f64| {
        *param(e, "outputMode").value.lock().unwrap() = vec![mode];
        assert_eq!(render(plugin, inst, t), kOfxStatOK, "render with the Edge group: {:?}", last_message());
        e.clip("Output").and_then(|c| c.output(t)).unwrap()
    };
    let at = |out: &[f32], r: usize, x: usize| -> [f32; 4] {
        let i = ((h - 1 - r) * w + x) * 4;
        out[i..i + 4].try_into().unwrap()
    };
    let mut previous: Option<Array2<f32>> = None;
    for (choice, mode, band) in [(1.0, RefineMode::Fast, 6.0), (2.0, RefineMode::Quality, 6.0), (2.0, RefineMode::Quality, 3.0)] {
        *param(e, "edgeRefine").value.lock().unwrap() = vec![choice];
        *param(e, "edgeBand").value.lock().unwrap() = vec![band];
        let want = refine::refine(guide.view(), coarse.view(), &RefineSettings { mode, band_px: band as f32, ..RefineSettings::default() })
            .unwrap()
            .alpha;
        let out = rendered(OUTPUT_MATTE_ONLY);
        let mut moved = 0;
        for ((r, x), a) in want.indexed_iter() {
            assert_eq!(at(out, r, x), [*a; 4], "{mode:?} band {band}: pixel ({x}, {})", h - 1 - r);
            moved += ((a - coarse[[r, x]]).abs() > 0.01) as usize;
        }
        assert!(moved > 0, "{mode:?} band {band}: refinement changed no pixel of the coarse matte");
        assert!(previous.as_ref() != Some(&want), "{mode:?} band {band}: same matte as the previous settings");
        previous = Some(want);
        println!("ofx_host: Edge refine {mode:?}, band {band}: matte-only output = the library's refined alpha ({moved} pixels moved)");
    }
    let refined = previous.unwrap();
    // Premultiplied foreground, decontaminated (Quality, band 3 still set).
    let (fg, _) = refine::estimate_foreground_ml(plate.view(), refined.view(), &Default::default());
    let out = rendered(4.0);
    let mut moved = 0;
    for ((r, x), &a) in refined.indexed_iter() {
        let s = src(r, x);
        let f = if a >= 1.0 { [s[0], s[1], s[2]] } else { [fg[[r, x, 0]], fg[[r, x, 1]], fg[[r, x, 2]]] };
        assert_eq!(at(out, r, x), [f[0] * a, f[1] * a, f[2] * a, a], "decontaminated pixel ({x}, {})", h - 1 - r);
        moved += (a > 0.0 && a < 1.0 && (0..3).any(|c| (f[c] - s[c]).abs() > 1e-3)) as usize;
    }
    assert!(moved > 0, "decontamination changed no edge colour");
    let prefs = args(&[]);
    assert_eq!(plugin.call("OfxImageEffectActionGetClipPreferences", eh(inst), args(&[]), prefs), kOfxStatOK);
    assert_eq!(Props::get(prefs).unwrap().str("OfxImageEffectPropPreMultiplication").as_deref(), Some("OfxImageAlphaPremultiplied"));
    // Decontaminate off: the source premultiplied by the refined alpha.
    *param(e, "edgeDecontaminate").value.lock().unwrap() = vec![0.0];
    let out = rendered(4.0);
    for ((r, x), &a) in refined.indexed_iter() {
        let s = src(r, x);
        assert_eq!(at(out, r, x), [s[0] * a, s[1] * a, s[2] * a, a], "premultiplied pixel ({x}, {})", h - 1 - r);
    }
    println!("ofx_host: premultiplied foreground output, decontaminated ({moved} edge pixels recoloured) and not");
    // The debug output (Quality, band 3): green by the weight the solved edge kept, red by
    // the share that fell back, in the band; the matte at half strength in blue; opaque.
    let r = refine::refine(
        guide.view(),
        coarse.view(),
        &RefineSettings { mode: RefineMode::Quality, band_px: 3.0, ..RefineSettings::default() },
    )
    .unwrap();
    let out = rendered(5.0);
    let (mut band, mut fell_back) = (0, 0);
    for ((y, x), &a) in r.alpha.indexed_iter() {
        let want = if r.trimap[[y, x]] == refine::UNKNOWN {
            band += 1;
            fell_back += (r.weight[[y, x]] < 0.5) as usize;
            [1.0 - r.weight[[y, x]], r.weight[[y, x]], 0.5 * a, 1.0]
        } else {
            [0.0, 0.0, 0.5 * a, 1.0]
        };
        assert_eq!(at(out, y, x), want, "debug pixel ({x}, {})", h - 1 - y);
    }
    assert!(band > 0, "the debug output shows no band");
    println!("ofx_host: edge debug output = the library's band and weights ({band} band pixels, {fell_back} mostly fell back)");
    // A band that leaves nothing known: the coarse matte, and one warning for the render
    // naming the frame; a refinable band again clears it.
    *param(e, "edgeBand").value.lock().unwrap() = vec![64.0];
    let before = MESSAGES.lock().unwrap().len();
    let out = rendered(OUTPUT_MATTE_ONLY);
    let posted: Vec<(bool, String)> = MESSAGES.lock().unwrap()[before..].to_vec();
    assert_eq!(posted.len(), 1, "one message for the render: {posted:?}");
    let (persistent, text) = &posted[0];
    assert!(
        *persistent && text.contains("Warning") && text.contains(&format!("frame {}", t as i64)) && text.contains("edge not refined"),
        "{text}"
    );
    for ((y, x), &c) in coarse.indexed_iter() {
        assert_eq!(at(out, y, x), [c; 4], "unrefined pixel ({x}, {})", h - 1 - y);
    }
    println!("ofx_host: unrefinable band: the coarse matte and one warning: {text}");
    *param(e, "edgeBand").value.lock().unwrap() = vec![3.0];
    let cleared = *CLEARED.lock().unwrap();
    rendered(OUTPUT_MATTE_ONLY);
    assert_eq!(*CLEARED.lock().unwrap(), cleared + 1, "a refined render clears the warning");
    *param(e, "edgeDecontaminate").value.lock().unwrap() = vec![1.0];
    *param(e, "edgeRefine").value.lock().unwrap() = vec![0.0];
    effect::SOURCE_STRIPES.store(false, std::sync::atomic::Ordering::SeqCst);
    *param(e, "outputMode").value.lock().unwrap() = vec![OUTPUT_MATTE_ONLY];
}

/// Sources in RGB and Alpha at 8 and 16 bits: "source + matte in alpha" carries the source
/// (quantised as the host stored it; RGB reads as opaque, Alpha fills every channel) and
/// the matte of the keys.
fn source_formats(plugin: &Plugin, inst: OfxImageEffectHandle, keys: &[Key], t: f64) {
    let e = effect_of(inst);
    *param(e, "outputMode").value.lock().unwrap() = vec![0.0];
    let alpha = expected_alpha(keys, t);
    for (comps, depth, levels) in [
        ("OfxImageComponentRGB", "OfxBitDepthByte", 255.0f32),
        ("OfxImageComponentAlpha", "OfxBitDepthShort", 65535.0),
        ("OfxImageComponentRGBA", "OfxBitDepthShort", 65535.0),
    ] {
        *effect::SOURCE_FORMAT.lock().unwrap() = (comps, depth);
        assert_eq!(render(plugin, inst, t), kOfxStatOK, "render with a {comps} {depth} source: {:?}", last_message());
        let out = e.clip("Output").and_then(|c| c.output(t)).unwrap();
        for y in 0..H {
            for x in 0..W {
                let i = (y * W + x) as usize;
                let q = |v: f32| (v * levels).round() / levels;
                let src = effect::source_pixel(t, x, y);
                let want = match comps {
                    "OfxImageComponentRGB" => [q(src[0]), q(src[1]), q(src[2]), alpha[i]],
                    "OfxImageComponentAlpha" => [q(src[3]), q(src[3]), q(src[3]), alpha[i]],
                    _ => [q(src[0]), q(src[1]), q(src[2]), alpha[i]],
                };
                let got = &out[i * 4..i * 4 + 4];
                assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{comps} {depth} pixel ({x},{y}): {got:?} vs {want:?}");
            }
        }
        println!("ofx_host: {comps} {depth} source renders OK at frame {t}");
    }
    *effect::SOURCE_FORMAT.lock().unwrap() = ("OfxImageComponentRGBA", "OfxBitDepthFloat");
    assert_eq!(effect::outstanding_images(), 0, "images leaked");
}

/// Null pointers and bad handles: an error status, never a crash.
/// A render the host aborted while the node fetched its Source image (playback stopped:
/// the host no longer serves that frame) fails quietly: a failure status, no message, the
/// node's messages left alone; a frame the host cannot provide without an abort still
/// fails with its named message; after the abort, renders work again.
fn aborted_render(plugin: &Plugin, inst: OfxImageEffectHandle) {
    use std::sync::atomic::Ordering::SeqCst;
    let (messages, cleared) = (MESSAGES.lock().unwrap().len(), *CLEARED.lock().unwrap());
    effect::NO_IMAGES_WHEN_ABORTED.store(true, SeqCst);
    effect::ABORT_NOW.store(true, SeqCst);
    let st = render(plugin, inst, 4.0);
    effect::ABORT_NOW.store(false, SeqCst);
    effect::NO_IMAGES_WHEN_ABORTED.store(false, SeqCst);
    assert_eq!(st, kOfxStatFailed, "an aborted render must not report success");
    assert_eq!(MESSAGES.lock().unwrap()[messages..], [], "an aborted render must show no message");
    assert_eq!(*CLEARED.lock().unwrap(), cleared, "an aborted render must leave the node's messages alone");
    assert_eq!(effect::outstanding_images(), 0, "images leaked by the aborted render");
    // Not aborted: a frame the host cannot provide is a real failure, named.
    let beyond = FRAMES.1 as f64 + 5.0;
    assert_eq!(render(plugin, inst, beyond), kOfxStatFailed);
    let (persistent, msg) = last_message();
    assert!(persistent && msg.contains(&format!("no image at time {beyond}")), "{msg}");
    assert_eq!(render(plugin, inst, 4.0), kOfxStatOK, "render after the abort: {:?}", last_message());
    println!("ofx_host: an aborted render failed quietly (no message); a frame the host cannot provide said: {msg}");
}

/// Threshold is the network's confidence (0–1), the hidden legacy logit offset added: with
/// the test engine's logits of ±8 (confidence 0.9997 inside), the matte-only output keeps
/// its matte at 0.5 and at 0.999 (logit 6.9), is empty at 0.9999 (logit 9.2), and a saved
/// script's offset of 9 with 0.5 empties it too.
fn threshold_units(plugin: &Plugin, inst: OfxImageEffectHandle, t: f64) {
    let e = effect_of(inst);
    let inside = |confidence: f64, offset: f64| -> usize {
        *param(e, "matteThreshold").value.lock().unwrap() = vec![confidence];
        *param(e, "threshold").value.lock().unwrap() = vec![offset];
        assert_eq!(render(plugin, inst, t), kOfxStatOK, "{:?}", last_message());
        let out = e.clip("Output").and_then(|c| c.output(t)).unwrap();
        out.chunks(4).filter(|px| px[3] > 0.5).count()
    };
    let base = inside(0.5, 0.0);
    assert!(base > 0, "no matte at the default threshold");
    assert_eq!(inside(0.999, 0.0), base, "confidence 0.999 is below the box's");
    assert_eq!(inside(0.9999, 0.0), 0, "confidence 0.9999 is above the box's");
    assert_eq!(inside(0.5, 9.0), 0, "the legacy offset adds to the threshold");
    assert_eq!(inside(0.5, 0.0), base);
    println!("ofx_host: Threshold in confidence: {base} pixels inside at 0.5 and 0.999, none at 0.9999 or with a legacy offset of 9");
}

fn error_paths(plugin: &Plugin, inst: OfxImageEffectHandle) {
    let null = std::ptr::null_mut();
    let mut junk = [0u64; 8];
    let bogus: *mut c_void = junk.as_mut_ptr().cast();
    let checks: Vec<(&str, OfxStatus)> = vec![
        ("null action", plugin.call_raw(std::ptr::null(), eh(inst), null, null)),
        ("render, null handle", plugin.call("OfxImageEffectActionRender", null.cast(), render_args(1.0), null)),
        ("render, bogus handle", plugin.call("OfxImageEffectActionRender", bogus, render_args(1.0), null)),
        ("render, null inArgs", plugin.call("OfxImageEffectActionRender", eh(inst), null, null)),
        ("render, bogus inArgs", plugin.call("OfxImageEffectActionRender", eh(inst), bogus.cast(), null)),
        ("describe, null handle", plugin.call("OfxActionDescribe", null.cast(), null, null)),
        ("describe in context, null inArgs", plugin.call("OfxImageEffectActionDescribeInContext", eh(Effect::new_handle("")), null, null)),
        ("clip preferences, null outArgs", plugin.call("OfxImageEffectActionGetClipPreferences", eh(inst), null, null)),
        ("create instance, bogus handle", plugin.call("OfxActionCreateInstance", bogus, null, null)),
        ("destroy instance, bogus handle", plugin.call("OfxActionDestroyInstance", bogus, null, null)),
    ];
    for (what, st) in &checks {
        println!("ofx_host: error path {what:<36} -> status {st}");
    }
    let not_errors: Vec<_> =
        checks.iter().filter(|(_, st)| [kOfxStatOK, kOfxStatReplyDefault, kOfxStatReplyYes, kOfxStatReplyNo].contains(st)).collect();
    assert!(not_errors.is_empty(), "these must return an error status: {not_errors:?}");
    assert_eq!(plugin.call("SomeFutureAction", eh(inst), null, null), kOfxStatReplyDefault, "unknown actions get the default");
    assert_eq!(effect::outstanding_images(), 0);
}

/// *Export shapes* with the test engine's box mattes: without a Shapes file it fails with a
/// message; with a `.json` path it writes the object's shapes over the frame range (0-11),
/// each frame's shapes within the IoU goal of the box (rasterised, against the box matte).
fn export_shapes(plugin: &Plugin, inst: OfxImageEffectHandle, keys: &[Key]) {
    use samurai_core::shapes::{json, raster};
    let e = effect_of(inst);
    let press = |t: f64| {
        let a = args(&[
            ("OfxPropType", sval("OfxTypeParameter")),
            ("OfxPropName", sval("exportShapes")),
            ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
            ("OfxPropTime", Val::D(vec![t])),
        ]);
        plugin.call("OfxActionInstanceChanged", eh(inst), a, std::ptr::null_mut())
    };
    assert_eq!(press(3.0), kOfxStatFailed, "Export shapes without a Shapes file");
    let (persistent, text) = last_message();
    assert!(persistent && text.contains("set Shapes file"), "{text:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shapes.json");
    *param(e, "shapesFile").string.lock().unwrap() = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(press(3.0), kOfxStatOK, "Export shapes: {:?}", last_message());
    let (persistent, msg) = last_message();
    assert!(!persistent && msg.contains("exported 1 shape(s) of 1 object(s), frames 0-11"), "Export shapes reports what it wrote: {msg}");
    let set = json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!((set.size, set.first_frame, set.last_frame), ((W as u32, H as u32), 0, 11));
    let object = &set.objects[0];
    for t in 0..=11 {
        let host = expected_alpha(keys, t as f64);
        // The export is top-down, the host's rows bottom-up.
        let top_down: Vec<f32> = (0..H as usize).flat_map(|y| host[(H as usize - 1 - y) * W as usize..][..W as usize].to_vec()).collect();
        let logits: Vec<f32> = top_down.iter().map(|&a| if a > 0.5 { 8.0 } else { -8.0 }).collect();
        let iou = raster::iou(&raster::rasterise(&object.shapes, t, W as u32, H as u32), &logits);
        assert!(iou >= 0.97, "frame {t}: IoU {iou} of the exported shapes against the box");
    }
    println!("ofx_host: Export shapes wrote {} shape(s) of {} over frames 0-11", object.shapes.len(), object.name);
}

fn destroy_and_unload(plugin: &Plugin, inst: OfxImageEffectHandle) {
    assert_eq!(plugin.call("OfxActionDestroyInstance", eh(inst), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    assert!(matches!(effect_of(inst).props().get_val("OfxPropInstanceData"), Some(Val::P(v)) if v[0] == 0), "instance data not cleared");
    let st = render(plugin, inst, 1.0);
    assert!(st != kOfxStatOK && st != kOfxStatReplyDefault, "render after destroy returned {st}");
    assert_eq!(plugin.call("OfxActionUnload", std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    assert_eq!(effect::outstanding_images(), 0);
    println!("ofx_host: destroy instance + unload OK (render after destroy -> {st})");
}

#[test]
fn plugin_lifecycle_through_the_test_host() {
    // The fake engine must be chosen before the plugin creates an instance.
    std::env::set_var(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV, "1");
    let plugin = Plugin::load();
    // Before the load action the plugin has no suites: describe fails, cleanly.
    let early = plugin.call("OfxActionDescribe", eh(Effect::new_handle("")), std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(early, kOfxStatErrMissingHostFeature, "describe before load");
    assert_eq!(plugin.call("OfxActionLoad", std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
    let fetched = FETCHED.lock().unwrap().clone();
    for s in ["OfxPropertySuite", "OfxParameterSuite", "OfxImageEffectSuite", "OfxMessageSuite", "OfxProgressSuite", "OfxDrawSuite"] {
        assert!(fetched.iter().any(|(n, _)| n == s), "plugin never fetched {s}: {fetched:?}");
    }
    let (desc, ctx) = describe(&plugin);
    let inst = create_instance(&plugin, ctx);
    panel(&plugin, ctx, inst);
    clip_preferences(&plugin, inst);
    render_without_checkpoint(&plugin, inst);
    let ckpt = tempfile::Builder::new().suffix(".pt").tempfile().expect("temp checkpoint");
    std::fs::write(ckpt.path(), b"not a real checkpoint: the fake engine only checks it exists").unwrap();
    threaded_renders(&plugin, inst, ckpt.path());
    let keys = overlay(desc, inst);
    for t in [5.0, 3.0, 8.0] {
        assert_eq!(render(&plugin, inst, t), kOfxStatOK, "render at {t} after the overlay edit");
        check_output(effect_of(inst), &keys, t);
    }
    println!("ofx_host: renders after the overlay edit follow the new keys");
    let keys = clicks(&plugin, desc, inst, &keys, 8.0);
    for t in [8.0, 9.0] {
        assert_eq!(render(&plugin, inst, t), kOfxStatOK, "render at {t} after the clicks: {:?}", last_message());
        check_output(effect_of(inst), &keys, t);
    }
    other_output_modes(&plugin, inst, &keys, 7.0);
    export_shapes(&plugin, inst, &keys);
    keyframe_matte(&plugin, inst, 7.0);
    edge_group(&plugin, inst, &keys, 7.0);
    source_formats(&plugin, inst, &keys, 6.0);
    aborted_render(&plugin, inst);
    threshold_units(&plugin, inst, 6.0);
    error_paths(&plugin, inst);
    destroy_and_unload(&plugin, inst);
    drop(plugin);
}

/// The host's own suites, called through the `sys` tables exactly as the plugin calls them
/// (variadic parameter accessors included), without the plugin: checks the fixed-register
/// definitions of the variadic functions, the memory suite and the multithread suite.
#[test]
fn host_suites_round_trip_through_the_c_tables() {
    use ofx_host::store::ParamSet;
    use std::ffi::{c_int, c_uint, CStr};
    let param = ofx_host::params::parameter_suite();
    let ps = ParamSet::new_handle();
    let mut props = std::ptr::null_mut();
    // SAFETY: calls into our own host tables with valid pointers (the point of the test).
    unsafe {
        assert_eq!((param.paramDefine)(ps, c"OfxParamTypeDouble2D".as_ptr(), c"corner".as_ptr(), &mut props), kOfxStatOK);
        assert_eq!((param.paramDefine)(ps, c"OfxParamTypeChoice".as_ptr(), c"mode".as_ptr(), &mut props), kOfxStatOK);
        assert_eq!((param.paramDefine)(ps, c"OfxParamTypeString".as_ptr(), c"path".as_ptr(), &mut props), kOfxStatOK);
        let get = |name: &CStr| {
            let mut h = std::ptr::null_mut();
            assert_eq!((param.paramGetHandle)(ps, name.as_ptr(), &mut h, std::ptr::null_mut()), kOfxStatOK);
            h
        };
        let (corner, mode, path) = (get(c"corner"), get(c"mode"), get(c"path"));
        assert_eq!((param.paramSetValueAtTime)(corner, 2.0, 1.5f64, -2.5f64), kOfxStatOK);
        assert_eq!((param.paramSetValueAtTime)(corner, 4.0, 3.5f64, 0.5f64), kOfxStatOK);
        let (mut x, mut y) = (0.0f64, 0.0f64);
        assert_eq!((param.paramGetValueAtTime)(corner, 3.0, &mut x as *mut f64, &mut y as *mut f64), kOfxStatOK);
        assert_eq!((x, y), (2.5, -1.0));
        let (mut n, mut t, mut i) = (0 as c_uint, 0.0, -1 as c_int);
        assert_eq!((param.paramGetNumKeys)(corner, &mut n), kOfxStatOK);
        assert_eq!((param.paramGetKeyTime)(corner, 1, &mut t), kOfxStatOK);
        assert_eq!((param.paramGetKeyIndex)(corner, 3.0, 1, &mut i), kOfxStatOK);
        assert_eq!((n, t, i), (2, 4.0, 1));
        assert_eq!((param.paramGetKeyIndex)(corner, 3.0, 0, &mut i), kOfxStatFailed);
        assert_eq!((param.paramSetValue)(mode, 3 as c_int), kOfxStatOK);
        let mut m: c_int = 0;
        assert_eq!((param.paramGetValue)(mode, &mut m as *mut c_int), kOfxStatOK);
        assert_eq!(m, 3);
        assert_eq!((param.paramSetValue)(path, c"/tmp/a.pt".as_ptr()), kOfxStatOK);
        let mut s: *const std::ffi::c_char = std::ptr::null();
        assert_eq!((param.paramGetValue)(path, &mut s as *mut *const std::ffi::c_char), kOfxStatOK);
        assert_eq!(CStr::from_ptr(s), c"/tmp/a.pt");
        let mut junk = [0u64; 4];
        assert_eq!((param.paramGetValue)(junk.as_mut_ptr().cast(), &mut m as *mut c_int), kOfxStatErrBadHandle);
    }
    let mem = ofx_host::suites::memory_suite();
    let mt = ofx_host::suites::thread_suite();
    // SAFETY: as above.
    unsafe {
        let mut p = std::ptr::null_mut();
        assert_eq!((mem.memoryAlloc)(std::ptr::null_mut(), 1000, &mut p), kOfxStatOK);
        std::slice::from_raw_parts_mut(p.cast::<u8>(), 1000).fill(7);
        assert_eq!((mem.memoryFree)(p), kOfxStatOK);
        let mut mx = std::ptr::null_mut();
        assert_eq!((mt.mutexCreate)(&mut mx, 0), kOfxStatOK);
        assert_eq!((mt.mutexLock)(mx), kOfxStatOK);
        assert_eq!((mt.mutexTryLock)(mx), kOfxStatOK, "OFX mutexes are recursive");
        let other = mx as usize;
        let st = std::thread::spawn(move || (mt.mutexTryLock)(other as OfxMutexHandle)).join().unwrap();
        assert_eq!(st, kOfxStatFailed, "another thread must not get a held mutex");
        assert_eq!((mt.mutexUnLock)(mx), kOfxStatOK);
        assert_eq!((mt.mutexUnLock)(mx), kOfxStatOK);
        assert_eq!((mt.mutexDestroy)(mx), kOfxStatOK);
        static SEEN: std::sync::Mutex<Vec<(u32, u32, c_int)>> = std::sync::Mutex::new(Vec::new());
        unsafe extern "C" fn work(i: c_uint, n: c_uint, _arg: *mut c_void) {
            let mut idx = 99;
            (ofx_host::suites::thread_suite().multiThreadIndex)(&mut idx);
            assert_eq!(idx, i);
            SEEN.lock().unwrap().push((i, n, (ofx_host::suites::thread_suite().multiThreadIsSpawnedThread)()));
        }
        assert_eq!((mt.multiThread)(work, 3, std::ptr::null_mut()), kOfxStatOK);
        let mut seen = SEEN.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, vec![(0, 3, 1), (1, 3, 1), (2, 3, 1)]);
    }
}
