//! The plugin with the real tracker, through the C ABI of the in-repo test host:
//! - renders requested in random order from two threads give mattes equal, bit for bit,
//!   to the `samurai-roto track` command's on the same frames, checkpoint and boxes;
//! - at render scale ½ (proxy) the plugin tracks the half-size frames with the boxes
//!   scaled, equal to `track` on those frames; pixel aspect 2 maps boxes correctly;
//! - the host's abort stops a propagation with an error status and a message, leaks no
//!   image, and keeps the finished frames (the next render does not fetch them again);
//! - Analyse writes the track cache; renders of frames 0–5 and 6–11 in two separate
//!   processes read it without tracking and give the same bits as one process rendering
//!   0–11, and as the analysing process; a stale cache is reported and ignored;
//! - the bundle `scripts/install-plugin.sh` installs renders equal to `track` in a process
//!   with a hostile BLAS preloaded (the uninstalled build, as a control, calls into it).
//!
//! The lifecycle, overlay and most error paths are covered with the test engine in
//! `ofx_host.rs`; this binary never sets `SAMURAI_ROTO_FAKE_ENGINE`.
mod common;
#[path = "ofx_host/mod.rs"]
mod ofx_host;

use ofx_host::effect::{image_size, source_pixel_sized, Effect, ABORT_AFTER_FETCHES, FRAMES, GEOMETRY, SOURCE_FETCHES};
use ofx_host::host::{args, plugin_path, sval, Plugin, PLUGIN_ENV};
use ofx_host::store::{time_key, Val};
use ofx_host::suites::{MESSAGES, PROGRESS, PROGRESS_REPLIES};
use samurai_roto_ofx::sys::*;
use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

/// Box keys: (time, bottom-left, top-right) in canonical coordinates (pixels at scale 1
/// and aspect 1, y up).
type Key = (f64, [f64; 2], [f64; 2]);
const KEYS: [Key; 2] = [(0.0, [10.0, 8.0], [50.0, 40.0]), (7.0, [14.0, 10.0], [54.0, 42.0])];
/// Environment of the child process role (`farm_child`): "checkpoint|cache|frames A-B|out dir".
const CHILD_ENV: &str = "SAMURAI_ROTO_TEST_FARM_CHILD";
/// Environment of the child process role (`bundle_child`): "checkpoint|out dir".
const BUNDLE_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_BUNDLE_CHILD";
/// Frames `bundle_child` renders.
const BUNDLE_FRAMES: [f64; 2] = [2.0, 5.0];

fn eh(h: OfxImageEffectHandle) -> *mut c_void {
    h.cast()
}

fn set_string(e: &Effect, name: &str, v: &str) {
    let p = e.param_set().param(name).unwrap_or_else(|| panic!("plugin did not define parameter {name}"));
    *p.string.lock().unwrap() = CString::new(v).unwrap();
}

fn set_value(e: &Effect, name: &str, v: f64) {
    let p = e.param_set().param(name).unwrap_or_else(|| panic!("plugin did not define parameter {name}"));
    *p.value.lock().unwrap() = vec![v];
}

fn set_keys(e: &Effect, keys: &[Key]) {
    for corner in ["obj1BoxBL", "obj1BoxTR"] {
        e.param_set().param(corner).unwrap().keys.lock().unwrap().clear();
    }
    for (t, bl, tr) in keys {
        e.param_set().param("obj1BoxBL").unwrap().keys.lock().unwrap().insert(time_key(*t), bl.to_vec());
        e.param_set().param("obj1BoxTR").unwrap().keys.lock().unwrap().insert(time_key(*t), tr.to_vec());
    }
}

fn render(plugin: &Plugin, inst: usize, t: f64) -> OfxStatus {
    let (w, h) = image_size();
    let scale = GEOMETRY.lock().unwrap().0;
    let a = args(&[("OfxPropTime", Val::D(vec![t])), ("OfxImageEffectPropRenderWindow", Val::I(vec![0, 0, w, h])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![scale, scale])), ("OfxImageEffectPropFieldToRender", sval("OfxImageFieldNone")),
        ("OfxImageEffectPropSequentialRenderStatus", Val::I(vec![0])), ("OfxImageEffectPropInteractiveRenderStatus", Val::I(vec![0]))]);
    plugin.call("OfxImageEffectActionRender", inst as *mut c_void, a, std::ptr::null_mut())
}

fn press(plugin: &Plugin, inst: OfxImageEffectHandle, button: &str) -> OfxStatus {
    let a = args(&[("OfxPropType", sval("OfxTypeParameter")), ("OfxPropName", sval(button)), ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
        ("OfxPropTime", Val::D(vec![0.0])), ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0]))]);
    plugin.call("OfxActionInstanceChanged", eh(inst), a, std::ptr::null_mut())
}

/// Loads the plugin and describes it in the filter context; returns the context descriptor.
fn describe(plugin: &Plugin) -> OfxImageEffectHandle {
    let (null, no_args) = (std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(plugin.call("OfxActionLoad", null, no_args, no_args), kOfxStatOK);
    let desc = Effect::new_handle("");
    assert_eq!(plugin.call("OfxActionDescribe", eh(desc), no_args, no_args), kOfxStatOK);
    let ctx = Effect::new_handle("OfxImageEffectContextFilter");
    let copy = Effect::get(desc).unwrap().props().m.lock().unwrap().clone();
    Effect::get(ctx).unwrap().props().m.lock().unwrap().extend(copy);
    let in_args = args(&[("OfxImageEffectPropContext", sval("OfxImageEffectContextFilter"))]);
    assert_eq!(plugin.call("OfxImageEffectActionDescribeInContext", eh(ctx), in_args, no_args), kOfxStatOK);
    ctx
}

/// A new instance: quality 256, matte-only output, hard threshold at 0, object 1 with `keys`.
fn instance(plugin: &Plugin, ctx: OfxImageEffectHandle, checkpoint: &Path, keys: &[Key]) -> OfxImageEffectHandle {
    let inst = Effect::get(ctx).unwrap().instantiate();
    let no_args = std::ptr::null_mut();
    assert_eq!(plugin.call("OfxActionCreateInstance", eh(inst), no_args, no_args), kOfxStatOK);
    let e = Effect::get(inst).unwrap();
    set_string(e, "checkpoint", checkpoint.to_str().unwrap());
    set_value(e, "imageSize", 3.0); // 256
    set_value(e, "outputMode", 1.0); // matte only
    set_value(e, "threshold", 0.0);
    set_value(e, "softness", 0.0);
    set_keys(e, keys);
    inst
}

fn destroy(plugin: &Plugin, inst: OfxImageEffectHandle) {
    assert_eq!(plugin.call("OfxActionDestroyInstance", eh(inst), std::ptr::null_mut(), std::ptr::null_mut()), kOfxStatOK);
}

/// The Output image rendered at `t` (RGBA float, rows bottom-up).
fn output(inst: OfxImageEffectHandle, t: f64) -> Vec<f32> {
    let e = Effect::get(inst).unwrap();
    e.clip("Output").and_then(|c| c.output(t)).unwrap_or_else(|| panic!("no output at {t}")).to_vec()
}

/// The host's source frames at the current render scale as 8-bit PNG files, quantised as
/// the plugin quantises them (round(v·255)), rows top-down.
fn write_frames(dir: &Path) {
    let (w, h) = image_size();
    std::fs::create_dir_all(dir).unwrap();
    for t in FRAMES.0..=FRAMES.1 {
        let mut img = image::RgbImage::new(w as u32, h as u32);
        for r in 0..h {
            for x in 0..w {
                let p = source_pixel_sized(t as f64, x, h - 1 - r, (w, h));
                let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                img.put_pixel(x as u32, r as u32, image::Rgb([q(p[0]), q(p[1]), q(p[2])]));
            }
        }
        img.save(dir.join(format!("{t:05}.png"))).unwrap();
    }
}

/// Runs `samurai-roto track` on the host's frames at the current render scale with the
/// boxes of `keys` mapped as the plugin maps them; returns the logits folder.
fn track(checkpoint: &Path, keys: &[Key], dir: &Path) -> PathBuf {
    write_frames(&dir.join("frames"));
    let (scale, aspect) = *GEOMETRY.lock().unwrap();
    let h = image_size().1 as f64;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_samurai-roto"));
    cmd.args(["--threads", "2", "track", "--checkpoint"]).arg(checkpoint).arg("--frames").arg(dir.join("frames"));
    for (t, bl, tr) in keys {
        // Canonical (y up) corners to frame pixels (y down).
        let (x1, x2) = (bl[0] * scale / aspect, tr[0] * scale / aspect);
        let (y1, y2) = (h - tr[1] * scale, h - bl[1] * scale);
        cmd.args(["--object", &format!("obj:{}:{x1},{y1},{x2},{y2}", *t as i64)]);
    }
    let logits = dir.join("logits");
    let out = cmd.args(["--image-size", "256", "--device", "cpu", "--mode", "blend"]).arg("--out").arg(dir.join("out")).arg("--logits").arg(&logits).output().unwrap();
    assert!(out.status.success(), "track: {}", String::from_utf8_lossy(&out.stderr));
    logits
}

/// Asserts the matte-only output at `t` is `track`'s logits > 0, pixel for pixel.
fn assert_matches_track(inst: OfxImageEffectHandle, t: f64, logits: &Path, what: &str) {
    assert_output_matches_track(&output(inst, t), t, logits, what);
}

/// Asserts `got` (a matte-only RGBA float output at `t`) is `track`'s logits > 0.
fn assert_output_matches_track(got: &[f32], t: f64, logits: &Path, what: &str) {
    let (w, h) = image_size();
    let l = tch::Tensor::read_npy(logits.join(format!("obj/{:05}.npy", t as i64))).unwrap();
    assert_eq!(l.size(), [h as i64, w as i64], "{what}: track logits size");
    let l: Vec<f32> = Vec::try_from(l.flatten(0, -1)).unwrap();
    let mut inside = 0;
    for y in 0..h {
        for x in 0..w {
            let want = (l[((h - 1 - y) * w + x) as usize] > 0.0) as u8 as f32;
            inside += want as usize;
            let px = &got[((y * w + x) * 4) as usize..((y * w + x) * 4 + 4) as usize];
            assert_eq!(px, [want; 4], "{what}: frame {t} pixel ({x},{y}): plugin {px:?} vs track {want}");
        }
    }
    assert!(inside > 0 && inside < (w * h) as usize, "{what}: frame {t}: degenerate matte ({inside} pixels inside)");
    eprintln!("ofx_host_tracker: {what}: frame {t}: plugin matte = track matte ({inside} of {} pixels inside)", w * h);
}

struct Shared<'a>(&'a Plugin, usize);
// SAFETY: the plugin declares instance-safe rendering; the host side is Mutex-guarded.
unsafe impl Sync for Shared<'_> {}

/// Renders `times` split over two threads; every render must succeed.
fn render_threaded(plugin: &Plugin, inst: OfxImageEffectHandle, times: &[f64]) {
    let shared = Shared(plugin, inst as usize);
    std::thread::scope(|s| {
        for chunk in times.chunks(times.len().div_ceil(2)) {
            let shared = &shared;
            s.spawn(move || for &t in chunk {
                let st = render(shared.0, shared.1, t);
                assert_eq!(st, kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
            });
        }
    });
}

fn fetched_times() -> Vec<i64> {
    let mut v: Vec<i64> = SOURCE_FETCHES.lock().unwrap().iter().map(|t| *t as i64).collect();
    v.sort();
    v
}

#[test]
fn renders_with_the_tracker_equal_the_track_command() {
    assert!(std::env::var_os(samurai_roto_ofx::engine::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let tmp = tempfile::tempdir().unwrap();

    // Scale 1: random order from two threads = track.
    let inst = instance(&plugin, ctx, &ckpt, &KEYS);
    let order = [5.0, 0.0, 11.0, 3.0, 8.0, 1.0];
    // Like Natron's GUI, the host answers "cancelled" until it has registered the progress
    // bar a render thread started: that is not the artist cancelling.
    PROGRESS_REPLIES.lock().unwrap().extend([kOfxStatReplyNo, kOfxStatReplyNo]);
    render_threaded(&plugin, inst, &order);
    assert!(PROGRESS_REPLIES.lock().unwrap().is_empty(), "the renders reported no progress");
    let logits = track(&ckpt, &KEYS, &tmp.path().join("scale1"));
    for t in order {
        assert_matches_track(inst, t, &logits, "scale 1");
    }

    // Pixel aspect 2: canonical x doubles; with the keys doubled the engine sees the same
    // boxes and frames, so the mattes are the same bits (served from the instance's
    // results: nothing changed for the engine).
    *GEOMETRY.lock().unwrap() = (1.0, 2.0);
    let wide: Vec<Key> = KEYS.iter().map(|(t, bl, tr)| (*t, [bl[0] * 2.0, bl[1]], [tr[0] * 2.0, tr[1]])).collect();
    set_keys(Effect::get(inst).unwrap(), &wide);
    SOURCE_FETCHES.lock().unwrap().clear();
    for t in [3.0, 8.0] {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
        assert_matches_track(inst, t, &logits, "pixel aspect 2");
    }
    assert_eq!(fetched_times(), [3, 8], "pixel aspect 2 must map to the same engine boxes (no re-tracking)");

    // Render scale ½ (proxy): the plugin tracks the half-size frames with halved boxes.
    *GEOMETRY.lock().unwrap() = (0.5, 1.0);
    set_keys(Effect::get(inst).unwrap(), &KEYS);
    render_threaded(&plugin, inst, &[9.0, 2.0]);
    let half = track(&ckpt, &KEYS, &tmp.path().join("scale05"));
    for t in [9.0, 2.0] {
        assert_matches_track(inst, t, &half, "render scale 0.5");
    }
    *GEOMETRY.lock().unwrap() = (1.0, 1.0);
    destroy(&plugin, inst);

    // Host abort: stop after three source images; error status, message, no leak.
    let inst = instance(&plugin, ctx, &ckpt, &KEYS);
    SOURCE_FETCHES.lock().unwrap().clear();
    ABORT_AFTER_FETCHES.store(3, Ordering::SeqCst);
    let st = render(&plugin, inst as usize, 5.0);
    ABORT_AFTER_FETCHES.store(usize::MAX, Ordering::SeqCst);
    assert_ne!(st, kOfxStatOK, "an aborted render must not report success");
    let (persistent, msg) = MESSAGES.lock().unwrap().last().cloned().unwrap();
    assert!(persistent && msg.contains("cancelled") && msg.contains("kept"), "abort message: {msg}");
    assert_eq!(ofx_host::effect::outstanding_images(), 0, "images leaked by the aborted render");
    let before = fetched_times();
    SOURCE_FETCHES.lock().unwrap().clear();
    assert_eq!(render(&plugin, inst as usize, 5.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    let after = fetched_times();
    let finished: Vec<i64> = before.iter().copied().filter(|f| *f != 5).collect();
    assert!(!finished.is_empty() && finished.iter().all(|f| !after.contains(f)), "frames tracked before the abort ({before:?}) were fetched again ({after:?})");
    assert_matches_track(inst, 5.0, &logits, "after abort");
    destroy(&plugin, inst);

    // Analyse → track cache → farm renders in two other processes.
    let cache = tmp.path().join("cache/shot.srtc");
    let inst = instance(&plugin, ctx, &ckpt, &KEYS);
    set_string(Effect::get(inst).unwrap(), "trackCacheFile", cache.to_str().unwrap());
    // The artist cancels Analyse (the host answered "go on" before): stopped, nothing written.
    PROGRESS_REPLIES.lock().unwrap().extend([kOfxStatOK, kOfxStatOK, kOfxStatReplyNo]);
    assert_ne!(press(&plugin, inst, "analyse"), kOfxStatOK, "a cancelled Analyse must not report success");
    let (_, msg) = MESSAGES.lock().unwrap().last().cloned().unwrap();
    assert!(msg.contains("cancelled") && !cache.exists(), "cancelled Analyse: message {msg:?}, cache written: {}", cache.exists());
    PROGRESS.lock().unwrap().clear();
    assert_eq!(press(&plugin, inst, "analyse"), kOfxStatOK, "Analyse: {:?}", MESSAGES.lock().unwrap().last());
    assert!(cache.is_file(), "Analyse wrote no track cache");
    assert!(PROGRESS.lock().unwrap().len() >= 12, "Analyse showed no progress");
    let all: Vec<f64> = (FRAMES.0..=FRAMES.1).map(f64::from).collect();
    SOURCE_FETCHES.lock().unwrap().clear();
    render_threaded(&plugin, inst, &all);
    assert_eq!(fetched_times(), (FRAMES.0 as i64..=FRAMES.1 as i64).collect::<Vec<_>>(), "renders after Analyse tracked again");
    let farm = |frames: &str| -> PathBuf {
        let out = tmp.path().join(format!("farm-{frames}"));
        let spec = format!("{}|{}|{frames}|{}", ckpt.display(), cache.display(), out.display());
        let run = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "farm_child", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, spec).output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success() && log.contains("1 passed"), "farm process {frames} failed:\n{log}");
        out
    };
    let (a, b, whole) = (farm("0-5"), farm("6-11"), farm("0-11"));
    for t in &all {
        let name = format!("{:05}.f32", *t as i64);
        let split = std::fs::read(if *t < 6.0 { a.join(&name) } else { b.join(&name) }).unwrap();
        let one = std::fs::read(whole.join(&name)).unwrap();
        let here: Vec<u8> = output(inst, *t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert!(split == one, "frame {t}: two farm processes and one differ");
        assert!(one == here, "frame {t}: the farm render and the analysing process differ");
    }
    for t in order {
        assert_matches_track(inst, t, &logits, "analysed");
    }
    eprintln!("ofx_host_tracker: farm renders 0-5 + 6-11 (two processes) = 0-11 (one process) = the analysing instance, bit for bit");

    // A stale cache (another box) is reported and ignored: the render tracks live.
    let moved = [(0.0, [11.0, 8.0], [50.0, 40.0]), KEYS[1]];
    let stale = instance(&plugin, ctx, &ckpt, &moved);
    set_string(Effect::get(stale).unwrap(), "trackCacheFile", cache.to_str().unwrap());
    SOURCE_FETCHES.lock().unwrap().clear();
    assert_eq!(render(&plugin, stale as usize, 2.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    let (persistent, msg) = MESSAGES.lock().unwrap().last().cloned().unwrap();
    assert!(persistent && msg.contains("stale") && msg.contains("shot.srtc"), "stale-cache message: {msg}");
    assert!(fetched_times().len() > 1, "a stale cache must not be used");
    destroy(&plugin, stale);
    destroy(&plugin, inst);
    let no_args = std::ptr::null_mut();
    assert_eq!(plugin.call("OfxActionUnload", std::ptr::null_mut(), no_args, no_args), kOfxStatOK);
}

/// Child-process role of the farm check above (run by it with `--ignored --exact`): a
/// fresh process loads the plugin, points an instance at the track cache, renders its
/// frame range from two threads, checks that no frame was tracked (each source image
/// fetched once, only for its own render) and writes each output as raw f32.
#[test]
#[ignore = "child process of renders_with_the_tracker_equal_the_track_command"]
fn farm_child() {
    let spec = std::env::var(CHILD_ENV).expect("run by renders_with_the_tracker_equal_the_track_command");
    let [ckpt, cache, frames, out]: [&str; 4] = spec.split('|').collect::<Vec<_>>().try_into().expect("4 fields");
    let (a, b) = frames.split_once('-').unwrap();
    let times: Vec<f64> = (a.parse::<i64>().unwrap()..=b.parse::<i64>().unwrap()).map(|t| t as f64).collect();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    set_string(Effect::get(inst).unwrap(), "trackCacheFile", cache);
    render_threaded(&plugin, inst, &times);
    assert_eq!(fetched_times(), times.iter().map(|t| *t as i64).collect::<Vec<_>>(), "the farm render tracked instead of reading the cache");
    assert!(MESSAGES.lock().unwrap().iter().all(|(_, m)| !m.contains("track cache")), "{:?}", MESSAGES.lock().unwrap());
    std::fs::create_dir_all(out).unwrap();
    for t in &times {
        let bytes: Vec<u8> = output(inst, *t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(Path::new(out).join(format!("{:05}.f32", *t as i64)), bytes).unwrap();
    }
    destroy(&plugin, inst);
}

/// BLAS entry points a host process may already have loaded (the system BLAS, through
/// Ceres in NatronRenderer), as a library whose every function aborts naming itself.
const HOSTILE_BLAS: &str = r#"
#include <stdio.h>
#include <stdlib.h>
static void hostile(const char *name) { fprintf(stderr, "HOSTILE BLAS: %s called\n", name); abort(); }
#define H(n) void n(void) { hostile(#n); }
H(sgemm_) H(dgemm_) H(sgemv_) H(dgemv_) H(sdot_) H(ddot_) H(saxpy_) H(daxpy_) H(sscal_) H(dscal_)
H(scopy_) H(dcopy_) H(strsm_) H(dtrsm_) H(lsame_) H(xerbla_)
H(cblas_sgemm) H(cblas_dgemm) H(cblas_sgemv) H(cblas_dgemv) H(cblas_sdot) H(cblas_saxpy)
H(cblas_sgemm_batch) H(cblas_sgemm_batch_strided) H(cblas_dgemm_batch)
"#;

/// The installed bundle keeps libtorch on its own BLAS in a host that already has another
/// one loaded. Found in Natron: NatronRenderer links the system BLAS, libtorch_cpu called
/// it instead of its own MKL, and the mattes stopped matching `track`.
/// `scripts/install-plugin.sh` installs this build; a child process with a hostile BLAS
/// preloaded then renders through the installed bundle (its libtorch, from the bundle) and
/// must equal `track`; the same child with the uninstalled build must hit the hostile BLAS,
/// which shows the check can fail.
#[test]
fn installed_bundle_keeps_libtorch_on_its_own_blas() {
    assert!(std::env::var_os(samurai_roto_ofx::engine::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hostile_blas.c");
    std::fs::write(&src, HOSTILE_BLAS).unwrap();
    let hostile = tmp.path().join("libhostile_blas.so");
    let cc = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&hostile).arg(&src).output().expect("cc (C compiler) missing");
    assert!(cc.status.success(), "cc: {}", String::from_utf8_lossy(&cc.stderr));

    let plugins = tmp.path().join("ofx");
    let install = Command::new("bash").arg(common::root().join("scripts/install-plugin.sh")).arg(&plugins)
        .env("SAMURAI_ROTO_PLUGIN_LIB", plugin_path()).output().unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&install.stdout), String::from_utf8_lossy(&install.stderr));
    assert!(install.status.success(), "install-plugin.sh failed:\n{log}");
    let bin_dir = plugins.join("SamuraiRoto.ofx.bundle/Contents/Linux-x86-64");
    assert!(bin_dir.join("SamuraiRoto.ofx").is_file() && bin_dir.join("libtorch_cpu.so").is_file(), "install log:\n{log}");

    let child = |installed: bool, out: &Path| -> (bool, String) {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "bundle_child", "--nocapture", "--test-threads=1"])
            .env(BUNDLE_CHILD_ENV, format!("{}|{}", ckpt.display(), out.display())).env("LD_PRELOAD", &hostile);
        if installed {
            // The bundle's libraries first, for this test binary's own libtorch too: one copy
            // of libtorch_cpu in the process, the installed one.
            cmd.env(PLUGIN_ENV, bin_dir.join("SamuraiRoto.ofx")).env("LD_LIBRARY_PATH", &bin_dir);
        }
        let run = cmd.output().unwrap();
        (run.status.success(), format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr)))
    };
    let (ok, log) = child(false, &tmp.path().join("uninstalled"));
    assert!(!ok && log.contains("HOSTILE BLAS"), "control: the uninstalled build must reach the host's BLAS; log:\n{log}");
    eprintln!("ofx_host_tracker: control: the uninstalled build called the host's BLAS ({})",
        log.lines().find(|l| l.contains("HOSTILE BLAS")).unwrap_or_default().trim());
    let out = tmp.path().join("installed");
    let (ok, log) = child(true, &out);
    assert!(ok && log.contains("1 passed"), "the installed bundle with a hostile BLAS loaded failed:\n{log}");
    let logits = track(&ckpt, &KEYS, &tmp.path().join("track"));
    for t in BUNDLE_FRAMES {
        let bytes = std::fs::read(out.join(format!("{:05}.f32", t as i64))).unwrap();
        let got: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_ne_bytes(c.try_into().unwrap())).collect();
        assert_output_matches_track(&got, t, &logits, "installed bundle, hostile BLAS loaded");
    }
}

/// Child-process role of the bundle check above: renders `BUNDLE_FRAMES` with the plugin
/// `PLUGIN_ENV` names (or the crate's build) and writes each output as raw f32.
#[test]
#[ignore = "child process of installed_bundle_keeps_libtorch_on_its_own_blas"]
fn bundle_child() {
    let spec = std::env::var(BUNDLE_CHILD_ENV).expect("run by installed_bundle_keeps_libtorch_on_its_own_blas");
    let (ckpt, out) = spec.split_once('|').expect("checkpoint|out");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let torch: std::collections::BTreeSet<&str> = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).filter(|p| p.ends_with("/libtorch_cpu.so")).collect();
    eprintln!("bundle_child: libtorch_cpu mapped from {torch:?}");
    if let Some(plugin) = std::env::var_os(PLUGIN_ENV) {
        let dir = Path::new(&plugin).parent().unwrap().to_str().unwrap().to_string();
        assert!(torch.len() == 1 && torch.iter().all(|p| p.starts_with(&dir)), "libtorch_cpu must come from the bundle ({dir}) only: {torch:?}");
    }
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    std::fs::create_dir_all(out).unwrap();
    for t in BUNDLE_FRAMES {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
        let bytes: Vec<u8> = output(inst, t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(Path::new(out).join(format!("{:05}.f32", t as i64)), bytes).unwrap();
    }
    destroy(&plugin, inst);
}
