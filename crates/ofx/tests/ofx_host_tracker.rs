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
//! - the network runs in one helper process per host process: two instances share it and
//!   one model load; SIGKILL to the helper during Analyse fails that Analyse with a
//!   message, and the next one starts a new helper and gives the same bits; SIGKILL to the
//!   host leaves no helper behind;
//! - faults of the helper during a render (each in a child process, with a short
//!   watchdog): SIGKILL during a frame is absorbed by one automatic retry in a new helper
//!   (every frame equals an undisturbed instance's, bit for bit; the retry is logged once);
//!   SIGSTOP during a frame is caught by the watchdog within its limit, then retried the
//!   same way; the host's abort while the helper is stopped returns within a second and
//!   kills it; a frame whose helper dies twice fails with a message saying both;
//! - the installed bundle renders equal to `track` in a process that carries another
//!   libtorch (torch 2.1.2, as Nuke 15.1 does), loaded before or after the plugin, and
//!   that libtorch keeps working;
//! - (run by `scripts/archive-check.sh`) the CPU release archive, unpacked and run in a
//!   clean environment, tracks like this build bit for bit, and its bundle renders equal to
//!   `track` through the bundle's own helper.
//! - the node fetches its model: Model tiny with empty model folders downloads it from a
//!   loopback server through the helper (the host's progress bar moves; its cancel stops
//!   the download and leaves nothing), then tracks; the track cache it writes matches the
//!   same file chosen by path; offline, the message names the URL, file and folder; a farm
//!   render from the cache never downloads, and renders once the studio folder holds it.
//!
//! The lifecycle, overlay and most error paths are covered with the test engine in
//! `ofx_host.rs`; this binary never sets `SAMURAI_ROTO_FAKE_ENGINE`.
mod common;
mod foreign_torch;
#[path = "../../fetch/tests/support/http.rs"]
mod http;
#[path = "ofx_host/mod.rs"]
mod ofx_host;

use ofx_host::effect::{image_size, source_pixel_sized, Effect, ABORT_AFTER_FETCHES, ABORT_NOW, FRAMES, GEOMETRY, SOURCE_FETCHES};
use ofx_host::host::{args, plugin_path, sval, Plugin, PLUGIN_ENV};
use ofx_host::store::{time_key, Val};
use ofx_host::suites::{MESSAGES, PROGRESS, PROGRESS_BARS, PROGRESS_REPLIES};
use samurai_core::models::{STUDIO_MODELS_ENV, TEST_DOWNLOAD_BASE_ENV, USER_CACHE_ENV};
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
/// Environment of the child process role (`nuke_child`): "early|late, checkpoint, out dir".
const NUKE_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_NUKE_CHILD";
/// Environment of the child process role (`host_child`): the checkpoint.
const HOST_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_HOST_CHILD";
/// Environment of the child process role (`fetch_child`): "MODE|checkpoint|track cache".
const FETCH_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_FETCH_CHILD";
/// Environment of the child process role (`fault_child`): "kill|stop|abort|twice", checkpoint.
const FAULT_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_FAULT_CHILD";
/// Frames `nuke_child` renders.
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
    let a = args(&[
        ("OfxPropTime", Val::D(vec![t])),
        ("OfxImageEffectPropRenderWindow", Val::I(vec![0, 0, w, h])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![scale, scale])),
        ("OfxImageEffectPropFieldToRender", sval("OfxImageFieldNone")),
        ("OfxImageEffectPropSequentialRenderStatus", Val::I(vec![0])),
        ("OfxImageEffectPropInteractiveRenderStatus", Val::I(vec![0])),
    ]);
    plugin.call("OfxImageEffectActionRender", inst as *mut c_void, a, std::ptr::null_mut())
}

fn press(plugin: &Plugin, inst: OfxImageEffectHandle, button: &str) -> OfxStatus {
    let a = args(&[
        ("OfxPropType", sval("OfxTypeParameter")),
        ("OfxPropName", sval(button)),
        ("OfxPropChangeReason", sval("OfxChangeUserEdited")),
        ("OfxPropTime", Val::D(vec![0.0])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0])),
    ]);
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
    set_value(e, "model", 4.0); // checkpoint file
    set_string(e, "checkpoint", checkpoint.to_str().unwrap());
    set_value(e, "imageSize", 3.0); // 256
    set_value(e, "outputMode", 1.0); // matte only
    set_value(e, "threshold", 0.0);
    set_value(e, "softness", 0.0);
    set_value(e, "edgeRefine", 0.0); // compared with `track`'s unrefined mattes; refinement below
    set_keys(e, keys);
    inst
}

/// The Edge group with the real tracker: the matte-only output with refinement on is, bit
/// for bit, what `samurai-roto refine` writes for the same frame (the PNG `track` read) and
/// `track`'s logits of that frame, for Fast and Quality and two band widths. (The random
/// model's logits may be uncertain over the whole of this small frame, where refinement
/// keeps the coarse matte; the settings' effects are checked with the test engine in
/// ofx_host.rs, the refinement itself in samurai-roto-core's tests.)
fn assert_refined_matches_refine_cli(plugin: &Plugin, inst: OfxImageEffectHandle, t: f64, track_dir: &Path, logits: &Path) {
    let e = Effect::get(inst).unwrap();
    let (w, h) = image_size();
    for (choice, mode, band) in [(1.0, "fast", 16.0), (2.0, "quality", 16.0), (2.0, "quality", 4.0)] {
        set_value(e, "edgeRefine", choice);
        set_value(e, "edgeBand", band);
        SOURCE_FETCHES.lock().unwrap().clear();
        assert_eq!(render(plugin, inst as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
        assert_eq!(fetched_times(), [t as i64], "changing the Edge group must not track again");
        let got = output(inst, t);
        let alpha = track_dir.join(format!("refined-{mode}-{band}.exr"));
        let out = Command::new(common::samurai_roto())
            .args(["refine", "--mode", mode, "--band", &band.to_string(), "--image"])
            .arg(track_dir.join(format!("frames/{:05}.png", t as i64)))
            .arg("--matte")
            .arg(logits.join(format!("obj/{:05}.npy", t as i64)))
            .arg("--out")
            .arg(&alpha)
            .output()
            .unwrap();
        assert!(out.status.success(), "refine: {}", String::from_utf8_lossy(&out.stderr));
        let want = image::open(&alpha).unwrap().to_rgb32f();
        let (mut moved, mut soft) = (0, 0);
        let (_, l) = common::read_npy_f32(&logits.join(format!("obj/{:05}.npy", t as i64)));
        for y in 0..h {
            for x in 0..w {
                let a = want.get_pixel(x as u32, (h - 1 - y) as u32).0[0];
                let px = &got[((y * w + x) * 4) as usize..((y * w + x) * 4 + 4) as usize];
                assert_eq!(px, [a; 4], "{mode} band {band}: frame {t} pixel ({x},{y}): plugin {px:?} vs refine {a}");
                moved += ((a > 0.5) != (l[((h - 1 - y) * w + x) as usize] > 0.0)) as usize;
                soft += (a > 0.0 && a < 1.0) as usize;
            }
        }

        eprintln!("ofx_host_tracker: Edge {mode}, band {band}: frame {t}: plugin = `samurai-roto refine` ({moved} pixels changed side, {soft} soft)");
    }
    set_value(e, "edgeRefine", 0.0);
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
    track_with(checkpoint, keys, dir, &[])
}

/// `track` with more arguments (clicks, masks).
fn track_with(checkpoint: &Path, keys: &[Key], dir: &Path, extra: &[String]) -> PathBuf {
    write_frames(&dir.join("frames"));
    let (scale, aspect) = *GEOMETRY.lock().unwrap();
    let h = image_size().1 as f64;
    let mut cmd = Command::new(common::samurai_roto());
    cmd.args(["--threads", "2", "track", "--checkpoint"]).arg(checkpoint).arg("--frames").arg(dir.join("frames"));
    for (t, bl, tr) in keys {
        // Canonical (y up) corners to frame pixels (y down).
        let (x1, x2) = (bl[0] * scale / aspect, tr[0] * scale / aspect);
        let (y1, y2) = (h - tr[1] * scale, h - bl[1] * scale);
        cmd.args(["--object", &format!("obj:{}:{x1},{y1},{x2},{y2}", *t as i64)]);
    }
    let logits = dir.join("logits");
    let out = cmd
        .args(extra)
        .args(["--image-size", "256", "--device", "cpu", "--mode", "blend"])
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--logits")
        .arg(&logits)
        .output()
        .unwrap();
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
    let (shape, l) = common::read_npy_f32(&logits.join(format!("obj/{:05}.npy", t as i64)));
    assert_eq!(shape, [h as usize, w as usize], "{what}: track logits size");
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
// SAFETY: the plugin declares fully safe rendering; the host side is Mutex-guarded.
unsafe impl Sync for Shared<'_> {}

/// Renders `times` split over two threads; every render must succeed.
fn render_threaded(plugin: &Plugin, inst: OfxImageEffectHandle, times: &[f64]) {
    let shared = Shared(plugin, inst as usize);
    std::thread::scope(|s| {
        for chunk in times.chunks(times.len().div_ceil(2)) {
            let shared = &shared;
            s.spawn(move || {
                for &t in chunk {
                    let st = render(shared.0, shared.1, t);
                    assert_eq!(st, kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
                }
            });
        }
    });
}

/// Times the helpers of this process loaded `checkpoint`, from their log.
fn model_loads(log: &Path, checkpoint: &Path) -> usize {
    let name = checkpoint.display().to_string();
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("model load:") && l.contains(&name)).count()
}

fn fetched_times() -> Vec<i64> {
    let mut v: Vec<i64> = SOURCE_FETCHES.lock().unwrap().iter().map(|t| *t as i64).collect();
    v.sort();
    v
}

#[test]
fn renders_with_the_tracker_equal_the_track_command() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let helper_log = common::helper_log();
    // The helper log is the process's: earlier tests may have loaded (and evicted) models.
    let loads_at_start = model_loads(&helper_log, &ckpt);
    let plugin = Plugin::load();
    let ctx = describe(&plugin);

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
    assert_refined_matches_refine_cli(&plugin, inst, 5.0, &tmp.path().join("scale1"), &logits);

    // A second instance on the same checkpoint: the same helper, no second model load.
    // Its GPU memory limit parameter reaches its session in the helper (the tracker's
    // offload policy, logged there; no effect on the CPU).
    let loads_before_second = model_loads(&helper_log, &ckpt);
    assert!(loads_before_second - loads_at_start <= 1, "the first instance loaded its model more than once");
    let second = instance(&plugin, ctx, &ckpt, &KEYS[..1]);
    set_value(Effect::get(second).unwrap(), "gpuMemoryLimit", 2048.0);
    assert_eq!(render(&plugin, second as usize, 4.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    let log = std::fs::read_to_string(&helper_log).unwrap_or_default();
    assert!(log.contains("GPU memory limit 2048 MB") && log.contains("GPU memory limit off"), "helper log:\n{log}");
    assert_eq!(common::helper_pids().len(), 1, "one helper per host process");
    assert_eq!(
        model_loads(&helper_log, &ckpt),
        loads_before_second,
        "one model load for two instances on one checkpoint; helper log:\n{}",
        std::fs::read_to_string(&helper_log).unwrap_or_default()
    );
    destroy(&plugin, second);

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

    // Host abort: stop after three source images; a failure status, quietly (no message,
    // no persistent error, the node's messages left alone), no leak.
    let inst = instance(&plugin, ctx, &ckpt, &KEYS);
    SOURCE_FETCHES.lock().unwrap().clear();
    let (messages, cleared) = (MESSAGES.lock().unwrap().len(), *ofx_host::suites::CLEARED.lock().unwrap());
    ABORT_AFTER_FETCHES.store(3, Ordering::SeqCst);
    let st = render(&plugin, inst as usize, 5.0);
    ABORT_AFTER_FETCHES.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(st, kOfxStatFailed, "an aborted render must not report success");
    assert_eq!(MESSAGES.lock().unwrap()[messages..], [], "an aborted render must show no message");
    assert_eq!(*ofx_host::suites::CLEARED.lock().unwrap(), cleared, "an aborted render must leave the node's messages alone");
    assert_eq!(ofx_host::effect::outstanding_images(), 0, "images leaked by the aborted render");
    let before = fetched_times();
    // The tracker's fetches in order: the last one was asked for ahead (fetched while the
    // network computed the frame before) when the abort came, so it was not tracked.
    let mut finished: Vec<i64> = SOURCE_FETCHES.lock().unwrap().iter().map(|t| *t as i64).filter(|f| *f != 5).collect();
    finished.pop();
    SOURCE_FETCHES.lock().unwrap().clear();
    assert_eq!(render(&plugin, inst as usize, 5.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    let after = fetched_times();
    assert!(
        !finished.is_empty() && finished.iter().all(|f| !after.contains(f)),
        "frames tracked before the abort ({before:?}) were fetched again ({after:?})"
    );
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
    // SIGKILL to the helper in the middle of Analyse: the host lives, the status is an
    // error with a message naming what happened, nothing is written; the next Analyse
    // starts a new helper.
    let victim = common::helper_pids();
    assert_eq!(victim.len(), 1, "one helper: {victim:?}");
    SOURCE_FETCHES.lock().unwrap().clear();
    let killer = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while SOURCE_FETCHES.lock().unwrap().len() < 4 && start.elapsed() < std::time::Duration::from_secs(300) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Command::new("kill").args(["-9", &victim[0].to_string()]).status().unwrap();
    });
    assert_ne!(press(&plugin, inst, "analyse"), kOfxStatOK, "Analyse with its helper killed must fail");
    killer.join().unwrap();
    let (persistent, msg) = MESSAGES.lock().unwrap().last().cloned().unwrap();
    assert!(
        persistent
            && msg.contains("helper process")
            && msg.contains("killed")
            && msg.contains("press Analyse again")
            && msg.contains(&format!("the helper's log: {}", helper_log.display())),
        "message after the helper was killed: {msg}"
    );
    assert!(!cache.exists(), "a killed Analyse wrote a cache");
    assert!(common::helper_pids().is_empty(), "the killed helper is still there");
    eprintln!("ofx_host_tracker: helper killed during Analyse: {msg}");
    PROGRESS.lock().unwrap().clear();
    assert_eq!(press(&plugin, inst, "analyse"), kOfxStatOK, "Analyse: {:?}", MESSAGES.lock().unwrap().last());
    assert_eq!(common::helper_pids().len(), 1, "Analyse after the kill runs in a new helper");
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
            .args(["--ignored", "--exact", "farm_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .output()
            .unwrap();
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
    common::helper_log();
    let [ckpt, cache, frames, out]: [&str; 4] = spec.split('|').collect::<Vec<_>>().try_into().expect("4 fields");
    let (a, b) = frames.split_once('-').unwrap();
    let times: Vec<f64> = (a.parse::<i64>().unwrap()..=b.parse::<i64>().unwrap()).map(|t| t as f64).collect();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    set_string(Effect::get(inst).unwrap(), "trackCacheFile", cache);
    render_threaded(&plugin, inst, &times);
    assert_eq!(
        fetched_times(),
        times.iter().map(|t| *t as i64).collect::<Vec<_>>(),
        "the farm render tracked instead of reading the cache"
    );
    assert!(MESSAGES.lock().unwrap().iter().all(|(_, m)| !m.contains("track cache")), "{:?}", MESSAGES.lock().unwrap());
    std::fs::create_dir_all(out).unwrap();
    for t in &times {
        let bytes: Vec<u8> = output(inst, *t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(Path::new(out).join(format!("{:05}.f32", *t as i64)), bytes).unwrap();
    }
    destroy(&plugin, inst);
}

/// Which libraries of the libtorch family `pid` has mapped: (path, file name) pairs.
fn torch_maps(pid: &str) -> std::collections::BTreeSet<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains("libtorch") || p.contains("libc10"))
        .map(str::to_owned)
        .collect()
}

/// Installs this build as a bundle (plugin + helper + the helper's libtorch) into `dir`.
fn install_bundle(dir: &Path) -> PathBuf {
    let install = Command::new("bash")
        .arg(common::root().join("scripts/install-plugin.sh"))
        .arg(dir)
        .env("SAMURAI_ROTO_PLUGIN_LIB", plugin_path())
        .env("SAMURAI_ROTO_HELPER_BIN", common::helper_program())
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&install.stdout), String::from_utf8_lossy(&install.stderr));
    assert!(install.status.success(), "install-plugin.sh failed:\n{log}");
    let bin_dir = dir.join("SamuraiRoto.ofx.bundle/Contents/Linux-x86-64");
    assert!(
        bin_dir.join("SamuraiRoto.ofx").is_file()
            && bin_dir.join(common::HELPER_PROGRAM).is_file()
            && bin_dir.join("lib/libtorch_cpu.so").is_file(),
        "install log:\n{log}"
    );
    bin_dir
}

/// Untouched SAMURAI tuning means the loaded model's preset: a large checkpoint tracks
/// with its own `kf_score_weight` (0.15, not the 0.25 of the other sizes) in the plugin as
/// in `track` (the helper's log says which tuning its session used), and the renders equal
/// `track`'s.
#[test]
fn a_large_checkpoint_tracks_with_its_own_preset_as_track_does() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::checkpoint("large", 256);
    let tmp = tempfile::tempdir().unwrap();
    let helper_log = common::helper_log();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    // Frames 0–4 only (a large network on a CPU): a key on frame 0 and one on frame 4.
    let keys: [Key; 2] = [KEYS[0], (4.0, KEYS[1].1, KEYS[1].2)];
    let inst = instance(&plugin, ctx, &ckpt, &keys);
    for t in [1.0, 3.0] {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    }
    let log = std::fs::read_to_string(&helper_log).unwrap();
    let tuning: Vec<&str> = log.lines().filter(|l| l.contains("session tuning:") && l.contains(ckpt.to_str().unwrap())).collect();
    assert!(
        !tuning.is_empty()
            && tuning.iter().all(|l| l.contains("large model") && l.contains("(preset)") && l.contains("kf_score_weight 0.15")),
        "helper log:\n{log}"
    );
    let logits = track(&ckpt, &keys, &tmp.path().join("track"));
    for t in [1.0, 3.0] {
        assert_matches_track(inst, t, &logits, "large checkpoint");
    }
    destroy(&plugin, inst);
}

/// Clicks and a keyframe matte through the plugin's parameters and the Keyframe matte input
/// give what `track` gives for the same prompts: a box with a positive and a negative click
/// on frame 0, a click alone on frame 3, the matte input's alpha as the mask keyframe of
/// frame 5. `track` runs on the node's whole clip, as every comparison with it must: the
/// clip's length reaches every frame through the object pointers' temporal encoding
/// (`min(frames, max_obj_ptrs_in_encoder)`, the reference's rule), by a few 1e-5 in fp32 and
/// enough to move matte pixels in bf16.
#[test]
fn clicks_and_a_keyframe_matte_track_as_the_command_line() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    common::helper_log(); // before the first helper of this process starts
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let keys: [Key; 1] = [KEYS[0]];
    let inst = instance(&plugin, ctx, &ckpt, &keys);
    let e = Effect::get(inst).unwrap();
    // Canonical coordinates (y up); the command line takes frame pixels (y down).
    let clicks = [(0, [30.0, 24.0], true), (0, [12.0, 10.0], false), (3, [40.0, 20.0], true)];
    let text: Vec<String> = clicks.iter().map(|(f, p, pos)| format!("{f} {} {} {}", p[0], p[1], if *pos { "+" } else { "-" })).collect();
    set_string(e, "obj1Points", &text.join("\n"));
    set_value(e, "obj1MatteChannel", 4.0); // alpha
    e.param_set().param("obj1MatteKey").unwrap().keys.lock().unwrap().insert(time_key(5.0), vec![1.0]);
    ofx_host::effect::MATTE_FETCHES.lock().unwrap().clear();
    let times = [1.0, 2.0, 4.0, 5.0];
    for t in times {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    }
    let fetched = ofx_host::effect::MATTE_FETCHES.lock().unwrap().clone();
    assert!(!fetched.is_empty() && fetched.iter().all(|f| *f == 5.0), "Keyframe matte fetched at {fetched:?}");
    let (w, h) = image_size();
    let dir = tmp.path().join("track");
    std::fs::create_dir_all(&dir).unwrap();
    let mask = image::GrayImage::from_fn(w as u32, h as u32, |x, r| {
        image::Luma([if ofx_host::effect::matte_pixel(x as i32, h - 1 - r as i32)[3] > 0.5 { 255 } else { 0 }])
    });
    let mask_path = dir.join("matte5.png");
    mask.save(&mask_path).unwrap();
    let mut extra: Vec<String> = clicks
        .iter()
        .flat_map(|(f, p, pos)| ["--point".to_string(), format!("obj:{f}:{},{},{}", p[0], h as f64 - p[1], *pos as u8)])
        .collect();
    extra.extend(["--mask".to_string(), format!("obj:5:{}", mask_path.display())]);
    let logits = track_with(&ckpt, &keys, &dir, &extra);
    for t in times {
        assert_matches_track(inst, t, &logits, "clicks + keyframe matte");
    }
    destroy(&plugin, inst);
}

/// Lines of the process's helper log saying a session started tracking from scratch.
fn sessions_started(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("tracking from scratch")).count()
}

/// Two instances with the same parameters and source (render clones, a host's several
/// instances of one node) track once: the second is served the frames the first
/// finished, bit for bit, fetching only the frames it renders and starting no tracking.
/// A third instance with the same parameters on another source (its frames differ) is
/// not served them: it tracks itself.
#[test]
fn two_instances_with_the_same_inputs_track_once() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let helper_log = common::helper_log();
    let ckpt = common::tiny_checkpoint(256);
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let first = instance(&plugin, ctx, &ckpt, &KEYS);
    let started = sessions_started(&helper_log);
    let times = [3.0, 8.0];
    for t in times {
        assert_eq!(render(&plugin, first as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    }
    assert_eq!(sessions_started(&helper_log), started + 1, "the first instance tracks in one session");
    let second = instance(&plugin, ctx, &ckpt, &KEYS);
    SOURCE_FETCHES.lock().unwrap().clear();
    for t in [8.0, 3.0] {
        assert_eq!(render(&plugin, second as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
        assert!(output(second, t) == output(first, t), "frame {t}: the second instance's matte differs from the first's");
    }
    assert_eq!(fetched_times(), [3, 8], "the second instance fetched more than the frames it rendered (it tracked)");
    assert_eq!(sessions_started(&helper_log), started + 1, "the second instance started tracking");
    // Another source with the same parameters: not served the first's frames.
    ofx_host::effect::SOURCE_STRIPES.store(true, Ordering::SeqCst);
    let other = instance(&plugin, ctx, &ckpt, &KEYS);
    let status = render(&plugin, other as usize, 3.0);
    ofx_host::effect::SOURCE_STRIPES.store(false, Ordering::SeqCst);
    assert_eq!(status, kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    assert_eq!(sessions_started(&helper_log), started + 2, "an instance on another source must track its own frames");
    eprintln!(
        "ofx_host_tracker: a second instance with the same inputs was served frames {times:?} without tracking; another source tracked"
    );
    for inst in [first, second, other] {
        destroy(&plugin, inst);
    }
}

/// The plate mask the keyframe matte cases place by hand (pixel coordinates at scale 1, y
/// up): a disc of radius 9 around (20, 30), constant over column pairs (2k, 2k + 1) so that
/// a matte of pixel aspect 2 can hold it exactly.
fn placed_disc(x: i32, y: i32) -> bool {
    let cx = (x.div_euclid(2) * 2 + 1) as f32;
    ((cx - 20.0).powi(2) + (y as f32 + 0.5 - 30.0).powi(2)).sqrt() < 9.0
}

/// A matte image of `bounds` (pixels, y up) and pixel aspect `aspect` whose pixel (x, y)
/// is `value(x, y)` (absolute pixel coordinates).
fn matte_image(bounds: [i32; 4], aspect: f64, value: impl Fn(i32, i32) -> bool) -> ofx_host::effect::MatteImage {
    let alpha =
        (bounds[1]..bounds[3]).flat_map(|y| (bounds[0]..bounds[2]).map(move |x| (x, y))).map(|(x, y)| value(x, y) as u8 as f32).collect();
    ofx_host::effect::MatteImage { bounds, aspect, alpha }
}

/// Writes `inside(x, y)` (plate pixels at the current render scale, y up) as a mask PNG
/// (rows top-down) for `track --mask`.
fn mask_png(path: &Path, inside: impl Fn(i32, i32) -> bool) {
    let (w, h) = image_size();
    image::GrayImage::from_fn(w as u32, h as u32, |x, r| image::Luma([if inside(x as i32, h - 1 - r as i32) { 255 } else { 0 }]))
        .save(path)
        .unwrap();
}

/// Keyframe mattes of any region (issue 26), each keyed on frame 3 of an object with no
/// other prompt, against `track --mask` with the matte placed on the plate by hand:
/// a matte smaller than the plate and offset from its origin, one larger than the plate
/// (with shapes outside the plate that must not count), one of pixel aspect 2; all three
/// place the same mask, so after the first the session keeps its results (no frame is
/// tracked again: the cache key is what the matte contributes, not its region); moving the
/// matte tracks again. Then at render scale ½ (proxy) the matte at that scale keys the
/// same shape on the half-size plate, equal to `track --mask` on the half-size frames.
/// Each input's region also reaches the region actions: the output's region is the
/// Source's, the matte's region of interest its own region.
#[test]
fn a_keyframe_matte_of_any_region_keys_its_canonical_place() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    use ofx_host::effect::MATTE_IMAGE;
    // The host's matte and geometry go back to their defaults however this test ends.
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            *MATTE_IMAGE.lock().unwrap_or_else(|p| p.into_inner()) = None;
            *GEOMETRY.lock().unwrap_or_else(|p| p.into_inner()) = (1.0, 1.0);
        }
    }
    let _restore = Restore;
    common::helper_log(); // before the first helper of this process starts
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, &ckpt, &[]);
    let e = Effect::get(inst).unwrap();
    set_value(e, "obj1MatteChannel", 4.0); // alpha
    e.param_set().param("obj1MatteKey").unwrap().keys.lock().unwrap().insert(time_key(3.0), vec![1.0]);
    let dir = tmp.path().join("scale1");
    std::fs::create_dir_all(&dir).unwrap();
    mask_png(&dir.join("matte3.png"), placed_disc);
    let extra = ["--mask".to_string(), format!("obj:3:{}", dir.join("matte3.png").display())];
    let logits = track_with(&ckpt, &[], &dir, &extra);
    let times = [1.0, 3.0, 5.0];
    let cases = [
        ("smaller than the plate, offset", matte_image([8, 18, 34, 42], 1.0, placed_disc)),
        // Shapes at (70..86, 55..66) and (-14..-4, -10..-2) lie outside the 64×48 plate.
        (
            "larger than the plate",
            matte_image([-16, -12, 90, 70], 1.0, |x, y| {
                placed_disc(x, y) || ((70..86).contains(&x) && (55..66).contains(&y)) || ((-14..-4).contains(&x) && (-10..-2).contains(&y))
            }),
        ),
        // Pixel aspect 2: matte pixel (x, y) covers canonical x 2x..2x + 2.
        ("pixel aspect 2", matte_image([3, 2, 20, 46], 2.0, |x, y| placed_disc(2 * x, y))),
    ];
    for (i, (what, matte)) in cases.into_iter().enumerate() {
        *MATTE_IMAGE.lock().unwrap() = Some(matte);
        SOURCE_FETCHES.lock().unwrap().clear();
        ofx_host::effect::MATTE_FETCHES.lock().unwrap().clear();
        for t in times {
            assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{what}: {:?}", MESSAGES.lock().unwrap().last());
            assert_matches_track(inst, t, &logits, &format!("keyframe matte {what}"));
        }
        let fetched = ofx_host::effect::MATTE_FETCHES.lock().unwrap().clone();
        assert!(!fetched.is_empty() && fetched.iter().all(|f| *f == 3.0), "{what}: Keyframe matte fetched at {fetched:?}");
        if i > 0 {
            assert_eq!(fetched_times(), [1, 3, 5], "{what}: the same placed mask must keep the session's results");
        }
        // The output's region is the Source's; the matte's region of interest is its own region.
        let out = args(&[]);
        let in_args = args(&[("OfxPropTime", Val::D(vec![3.0])), ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0]))]);
        assert_eq!(plugin.call("OfxImageEffectActionGetRegionOfDefinition", eh(inst), in_args, out), kOfxStatOK);
        let rod = ofx_host::store::Props::get(out).unwrap().dbl("OfxImageEffectPropRegionOfDefinition");
        assert_eq!(rod, [0.0, 0.0, 64.0, 48.0], "{what}: region of definition");
        let out = args(&[]);
        assert_eq!(plugin.call("OfxImageEffectActionGetRegionsOfInterest", eh(inst), in_args, out), kOfxStatOK);
        let roi = ofx_host::store::Props::get(out).unwrap().dbl("OfxImageClipPropRoI_KeyframeMatte");
        let b = MATTE_IMAGE
            .lock()
            .unwrap()
            .as_ref()
            .map(|m| [m.bounds[0] as f64 * m.aspect, m.bounds[1] as f64, m.bounds[2] as f64 * m.aspect, m.bounds[3] as f64])
            .unwrap();
        assert_eq!(roi, b, "{what}: the matte's region of interest");
    }
    // Moved by two pixels: the object is tracked again from its keyframe, whose matte moves.
    *MATTE_IMAGE.lock().unwrap() = Some(matte_image([10, 18, 36, 42], 1.0, |x, y| placed_disc(x - 2, y)));
    let before = output(inst, 3.0);
    SOURCE_FETCHES.lock().unwrap().clear();
    for t in [3.0, 5.0] {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    }
    let fetched = fetched_times();
    assert!(fetched.contains(&4), "a moved matte must track its object again from the keyframe: fetched {fetched:?}");
    let changed = output(inst, 3.0).iter().zip(&before).filter(|(a, b)| a != b).count();
    assert!(changed > 0, "a moved matte must move the keyframe's matte");

    // Render scale ½: the host hands the matte at that scale too; its half-size pixel (x, y)
    // covers canonical (2x..2x + 2, 2y..2y + 2).
    *GEOMETRY.lock().unwrap() = (0.5, 1.0);
    let half_disc = |x: i32, y: i32| placed_disc(2 * x, 2 * y);
    *MATTE_IMAGE.lock().unwrap() = Some(matte_image([4, 9, 17, 20], 1.0, half_disc));
    let dir = tmp.path().join("scale05");
    std::fs::create_dir_all(&dir).unwrap();
    mask_png(&dir.join("matte3.png"), half_disc);
    let extra = ["--mask".to_string(), format!("obj:3:{}", dir.join("matte3.png").display())];
    let half = track_with(&ckpt, &[], &dir, &extra);
    for t in times {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "render scale 0.5: {:?}", MESSAGES.lock().unwrap().last());
        assert_matches_track(inst, t, &half, "keyframe matte at render scale 0.5");
    }
    destroy(&plugin, inst);
}

/// Nuke's process, simulated: the libraries of PyPI torch 2.1.2 (what Nuke 15.1 ships) on
/// `LD_LIBRARY_PATH` and loaded `RTLD_GLOBAL` with a tensor operation run through them,
/// then the installed bundle loaded and rendering (`nuke_child`, order "early"); and the
/// plugin rendering first with the foreign libtorch loaded afterwards, as when Nuke loads
/// its own for a first Inference node (order "late"). Both orders: the renders equal
/// `track`, the foreign libtorch still works, the host process maps no libtorch but the
/// foreign one, and the helper maps only the bundle's and did not inherit
/// `LD_LIBRARY_PATH` or `LD_PRELOAD`.
#[test]
fn renders_in_a_process_that_carries_another_libtorch() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let foreign = foreign_torch::ensure_fixture();
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = install_bundle(&tmp.path().join("ofx"));
    let logits = track(&ckpt, &KEYS, &tmp.path().join("track"));
    for order in ["early", "late"] {
        let out = tmp.path().join(order);
        let mut cmd = foreign_torch::child_command(&foreign, "nuke_child");
        cmd.arg("--ignored");
        // Like Nuke: its library folder first on LD_LIBRARY_PATH; its libtorch also preloaded,
        // which the helper must not inherit either.
        cmd.env(NUKE_CHILD_ENV, format!("{order}|{}|{}", ckpt.display(), out.display()))
            .env(PLUGIN_ENV, bin_dir.join("SamuraiRoto.ofx"))
            .env("LD_PRELOAD", foreign.join("lib/libc10.so"))
            .env_remove("SAMURAI_ROTO_HELPER");
        let run = cmd.output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success() && log.contains("1 passed"), "the {order} Nuke-like process failed:\n{log}");
        for line in log.lines().filter(|l| l.starts_with("nuke_child:")) {
            eprintln!("ofx_host_tracker: {line}");
        }
        for t in BUNDLE_FRAMES {
            let bytes = std::fs::read(out.join(format!("{:05}.f32", t as i64))).unwrap();
            let got: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_ne_bytes(c.try_into().unwrap())).collect();
            assert_output_matches_track(&got, t, &logits, &format!("next to torch 2.1.2 ({order})"));
        }
    }
}

/// Child-process role of the test above: "ORDER|checkpoint|out dir".
#[test]
#[ignore = "child process of renders_in_a_process_that_carries_another_libtorch"]
fn nuke_child() {
    let spec = std::env::var(NUKE_CHILD_ENV).expect("run by renders_in_a_process_that_carries_another_libtorch");
    let [order, ckpt, out]: [&str; 3] = spec.split('|').collect::<Vec<_>>().try_into().expect("3 fields");
    let dir = foreign_torch::fixture_dir().expect("foreign torch fixture");
    let foreign_lib = dir.join("lib").canonicalize().unwrap();
    let load_foreign = || {
        let ft = foreign_torch::ForeignTorch::load(&dir).unwrap_or_else(|e| panic!("loading the foreign libtorch: {e}"));
        let check = ft.check().unwrap_or_else(|e| panic!("the foreign libtorch failed: {e}"));
        assert!(check.contains("2.1.2"), "{check}");
        println!("nuke_child: {order}: host libtorch works: {check}");
        ft
    };
    let foreign = (order == "early").then(load_foreign);
    common::helper_log();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    std::fs::create_dir_all(out).unwrap();
    let render_to_file = |t: f64| {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
        let bytes: Vec<u8> = output(inst, t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(Path::new(out).join(format!("{:05}.f32", t as i64)), bytes).unwrap();
    };
    render_to_file(BUNDLE_FRAMES[0]);
    let foreign = foreign.unwrap_or_else(load_foreign);
    render_to_file(BUNDLE_FRAMES[1]);
    let check = foreign.check().unwrap_or_else(|e| panic!("the foreign libtorch failed after the plugin rendered: {e}"));
    println!("nuke_child: {order}: host libtorch still works after the renders: {check}");

    // The host process: only the foreign libtorch.
    let host = torch_maps("self");
    assert!(
        !host.is_empty() && host.iter().all(|p| Path::new(p).starts_with(&foreign_lib)),
        "the host process maps another libtorch: {host:?}"
    );
    // The helper: only the bundle's, and a clean environment.
    let helpers = common::helper_pids();
    assert_eq!(helpers.len(), 1, "one helper per host process: {helpers:?}");
    let pid = helpers[0].to_string();
    let bundle_lib = Path::new(&std::env::var(PLUGIN_ENV).unwrap()).parent().unwrap().join("lib").canonicalize().unwrap();
    let theirs = torch_maps(&pid);
    assert!(
        theirs.iter().any(|p| p.ends_with("libtorch_cpu.so")) && theirs.iter().all(|p| Path::new(p).starts_with(&bundle_lib)),
        "the helper maps {theirs:?}, not only {}",
        bundle_lib.display()
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let names: Vec<String> = environ
        .split(|b| *b == 0)
        .filter_map(|kv| kv.split(|b| *b == b'=').next())
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(!names.iter().any(|k| k == "LD_LIBRARY_PATH" || k == "LD_PRELOAD"), "the helper inherited {names:?}");
    println!("nuke_child: {order}: host maps {} libtorch libraries, all foreign; the helper (pid {pid}) maps {} from the bundle; its environment has no LD_LIBRARY_PATH/LD_PRELOAD", host.len(), theirs.len());
    destroy(&plugin, inst);
}

/// The helper dies with its host: SIGKILL to a process whose plugin started a helper
/// leaves no helper behind.
#[test]
fn killing_the_host_ends_its_helper() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "host_child", "--nocapture", "--test-threads=1"])
        .env(HOST_CHILD_ENV, ckpt)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let pid = lines.find_map(|l| l.ok()?.strip_prefix("HELPER ").map(str::to_owned)).expect("the child reported its helper");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "helper {pid} not running");
    child.kill().unwrap(); // SIGKILL: no destructor, no unload action runs
    child.wait().unwrap();
    let gone = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "));
    let start = std::time::Instant::now();
    while !gone(&pid) && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(gone(&pid), "helper {pid} outlived its host by {:?}", start.elapsed());
    eprintln!("ofx_host_tracker: the helper (pid {pid}) ended {:?} after its host was killed", start.elapsed());
}

/// Child-process role of the test above: renders one frame, reports its helper, waits.
#[test]
#[ignore = "child process of killing_the_host_ends_its_helper"]
fn host_child() {
    let ckpt = std::env::var(HOST_CHILD_ENV).expect("run by killing_the_host_ends_its_helper");
    common::helper_log();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(&ckpt), &KEYS);
    assert_eq!(render(&plugin, inst as usize, 0.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
    let helpers = common::helper_pids();
    assert_eq!(helpers.len(), 1);
    println!("HELPER {}", helpers[0]);
    std::thread::sleep(std::time::Duration::from_secs(120));
}

/// The release archive the archive test unpacks (`scripts/archive-check.sh` sets it).
const ARCHIVE_ENV: &str = "SAMURAI_ROTO_ARCHIVE";
/// Environment of the child process role (`archive_child`): "checkpoint|out dir".
const ARCHIVE_CHILD_ENV: &str = "SAMURAI_ROTO_TEST_ARCHIVE_CHILD";

/// A command for `program` in a clean environment, as on a studio machine that never saw
/// this repository: `env -i`, `PATH=/usr/bin:/bin`, a fresh `HOME`, no venv, no Rust, no
/// `LD_LIBRARY_PATH`.
fn clean_command(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", home).current_dir(home);
    cmd
}

/// Every file under `dir` (relative path → bytes).
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Unpack and go: the CPU release archive, unpacked into a fresh folder and run in a clean
/// environment, (1) tracks the bedroom clip through its `bin/samurai-roto` to the same
/// mattes and logits, bit for bit, as this development build; (2) its `doctor` finds the
/// bundle's helper and starts it; (3) the unpacked bundle loads in the test host, whose
/// renders start the bundle's helper (mapping only the bundle's libtorch) and equal `track`.
/// Given the CUDA archive on a machine without an NVIDIA driver, the same holds with the
/// archive's track on the automatic device (the CPU fallback), and doctor reports a CUDA
/// build with no device (`scripts/archive-check.sh --cuda`).
#[test]
#[ignore = "needs a release archive: scripts/archive-check.sh builds one and runs this test"]
fn an_unpacked_release_archive_runs_in_a_clean_environment() {
    let archive =
        PathBuf::from(std::env::var_os(ARCHIVE_ENV).expect("SAMURAI_ROTO_ARCHIVE names the release archive (scripts/archive-check.sh)"));
    assert!(archive.is_file(), "{} is not a file", archive.display());
    let tmp = tempfile::tempdir().unwrap();
    let (unpacked, home) = (tmp.path().join("unpacked"), tmp.path().join("home"));
    std::fs::create_dir_all(&unpacked).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let tar = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked).status().unwrap();
    assert!(tar.success(), "tar -xzf {} failed", archive.display());
    let tops: Vec<PathBuf> = std::fs::read_dir(&unpacked).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(tops.len(), 1, "the archive holds one top folder: {tops:?}");
    let top = &tops[0];
    let cli = top.join("bin/samurai-roto");
    let bin_dir = top.join("SamuraiRoto.ofx.bundle/Contents/Linux-x86-64");
    let ckpt = common::tiny_checkpoint(256);

    // (1) The command line on real footage: the archive's build equals this one's.
    let frames = tmp.path().join("bedroom");
    std::fs::create_dir_all(&frames).unwrap();
    for i in 0..6 {
        let name = format!("{i:05}.jpg");
        std::fs::copy(common::root().join("../shared/data/clips/bedroom").join(&name), frames.join(&name)).unwrap();
    }
    let run_track = |mut cmd: Command, out: &Path, what: &str, device: &str| {
        let run = cmd
            .args(["--threads", "2", "track", "--checkpoint"])
            .arg(&ckpt)
            .arg("--frames")
            .arg(&frames)
            .args(["--object", "girl:0:310,0,515,400", "--object", "boy:0:145,135,295,405", "--object", "boy:5:160,140,300,410"])
            .args(["--image-size", "256", "--device", device, "--out"])
            .arg(out.join("mattes"))
            .arg("--logits")
            .arg(out.join("logits"))
            .output()
            .unwrap();
        assert!(run.status.success(), "{what} track failed:\n{}", String::from_utf8_lossy(&run.stderr));
        tree(out)
    };
    // The CUDA archive (its bundle carries libtorch_cuda) on a machine without a GPU: the
    // archive's track asks for the automatic device and must run on the CPU, bit for bit.
    let cuda_archive = bin_dir.join("lib/libtorch_cuda.so").is_file();
    let archive_device = if cuda_archive { "auto" } else { "cpu" };
    if cuda_archive {
        assert!(
            !Path::new("/proc/driver/nvidia/version").exists(),
            "the CUDA archive's check is for a machine without an NVIDIA driver (it proves the CPU fallback)"
        );
    }
    let ours = run_track(Command::new(common::samurai_roto()), &tmp.path().join("dev"), "the development build's", "cpu");
    let theirs = run_track(clean_command(&cli, &home), &tmp.path().join("archive"), "the archive's", archive_device);
    assert_eq!(ours.len(), 2 * 2 * 6, "mattes and logits of two objects on six frames: {:?}", ours.keys());
    assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "the same files");
    for (name, bytes) in &ours {
        assert!(theirs[name] == *bytes, "{}: the archive's track differs from the development build's", name.display());
    }
    eprintln!("ofx_host_tracker: archive: track in a clean environment = the development build, {} files bit for bit", ours.len());

    // (2) doctor: finds and starts the bundle's helper.
    let doctor = clean_command(&cli, &home).arg("doctor").output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&doctor.stdout), String::from_utf8_lossy(&doctor.stderr));
    assert!(doctor.status.success(), "doctor failed in a clean environment:\n{report}");
    if cuda_archive {
        // A CUDA build without a device: doctor says so and names the CUDA runtime it loaded;
        // the helper it starts maps the bundle's libtorch_cuda.
        for want in ["devices        none visible (runs on the CPU)", "cuda runtime   libcudart.so", "/lib/libtorch_cuda.so"] {
            assert!(report.contains(want), "the CUDA archive's doctor does not report {want:?}:\n{report}");
        }
    } else {
        assert!(
            report.contains("devices        none: this build loads no CUDA libtorch") && !report.contains("/lib/libtorch_cuda.so"),
            "the CPU archive's doctor reports CUDA:\n{report}"
        );
    }
    eprintln!("ofx_host_tracker: archive: doctor in a clean environment:\n{report}");

    // (3) The unpacked bundle in the test host, in a clean environment.
    let logits = track(&ckpt, &KEYS, &tmp.path().join("track"));
    let out = tmp.path().join("render");
    let run = clean_command(&std::env::current_exe().unwrap(), &home)
        .args(["--ignored", "--exact", "archive_child", "--nocapture", "--test-threads=1"])
        .env(ARCHIVE_CHILD_ENV, format!("{}|{}", ckpt.display(), out.display()))
        .env(PLUGIN_ENV, bin_dir.join("SamuraiRoto.ofx"))
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success() && log.contains("1 passed"), "the host process with the unpacked bundle failed:\n{log}");
    for line in log.lines().filter(|l| l.starts_with("archive_child:")) {
        eprintln!("ofx_host_tracker: {line}");
    }
    for t in BUNDLE_FRAMES {
        let bytes = std::fs::read(out.join(format!("{:05}.f32", t as i64))).unwrap();
        let got: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_ne_bytes(c.try_into().unwrap())).collect();
        assert_output_matches_track(&got, t, &logits, "the unpacked archive's bundle");
    }
}

/// Child-process role of the test above: "checkpoint|out dir"; the plugin is the unpacked
/// bundle's (`PLUGIN_ENV`), so it starts the bundle's helper.
#[test]
#[ignore = "child process of an_unpacked_release_archive_runs_in_a_clean_environment"]
fn archive_child() {
    let spec = std::env::var(ARCHIVE_CHILD_ENV).expect("run by an_unpacked_release_archive_runs_in_a_clean_environment");
    let (ckpt, out) = spec.split_once('|').expect("checkpoint|out");
    common::helper_log();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    std::fs::create_dir_all(out).unwrap();
    for t in BUNDLE_FRAMES {
        assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
        let bytes: Vec<u8> = output(inst, t).iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(Path::new(out).join(format!("{:05}.f32", t as i64)), bytes).unwrap();
    }
    let helpers = common::helper_pids();
    assert_eq!(helpers.len(), 1, "one helper: {helpers:?}");
    let pid = helpers[0].to_string();
    let bundle_lib = Path::new(&std::env::var(PLUGIN_ENV).unwrap()).parent().unwrap().join("lib").canonicalize().unwrap();
    let maps = torch_maps(&pid);
    assert!(
        maps.iter().any(|p| p.ends_with("libtorch_cpu.so")) && maps.iter().all(|p| Path::new(p).starts_with(&bundle_lib)),
        "the helper maps {maps:?}, not only {}",
        bundle_lib.display()
    );
    println!(
        "archive_child: the bundle's helper (pid {pid}) rendered frames {BUNDLE_FRAMES:?}, mapping {} libtorch libraries, all from {}",
        maps.len(),
        bundle_lib.display()
    );
    destroy(&plugin, inst);
}

/// The official name the loopback server serves the random tiny checkpoint under.
const TINY: &str = "sam2.1_hiera_tiny.pt";

/// Names in `dir` (hidden `.part` files included; none when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// The node fetches its model (issue 18 item 4), end to end through the helper, against a
/// loopback server serving the random tiny checkpoint as `sam2.1_hiera_tiny.pt`; each step
/// is a fresh host process (`fetch_child`) with its own model folders:
/// - "fetch": Model tiny, empty folders: the first render downloads into the user cache
///   (the host's progress bar "downloading sam2.1_hiera_tiny.pt" moves up to 1) and tracks;
///   Analyse writes the track cache; an instance with the same file chosen by path renders
///   from that cache without tracking (one key), with the same bits;
/// - "cancel": the host's progress bar cancels the download: the render fails saying so,
///   and the user cache holds nothing;
/// - "offline": the server down: the message names the URL, the file and the folder;
/// - "farm-absent": a render from the track cache with the model absent makes no request,
///   starts no helper, and says where to put the file;
/// - "farm-seeded": with the file pre-seeded in the studio folder it renders from the cache.
#[test]
fn the_node_fetches_its_model_then_tracks() {
    let ckpt = common::tiny_checkpoint(256);
    let body = std::sync::Arc::new(std::fs::read(&ckpt).unwrap());
    let server = http::serve(body.clone());
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("shot.srtc");
    let child = |mode: &str, models: &Path, studio: Option<&Path>, base: &str| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "fetch_child", "--nocapture", "--test-threads=1"])
            .env(FETCH_CHILD_ENV, format!("{mode}|{}|{}", ckpt.display(), cache.display()))
            .env(USER_CACHE_ENV, models)
            .env(TEST_DOWNLOAD_BASE_ENV, base);
        match studio {
            Some(dir) => cmd.env(STUDIO_MODELS_ENV, dir),
            None => cmd.env_remove(STUDIO_MODELS_ENV),
        };
        let run = cmd.output().unwrap();
        let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success() && log.contains("1 passed"), "fetch child {mode} failed:\n{log}");
        for line in log.lines().filter(|l| l.starts_with("ofx_host_tracker:")) {
            eprintln!("{line}");
        }
    };
    let requests = || server.requests.load(Ordering::SeqCst);
    let ok = format!("{}/ok", server.base);
    let models = tmp.path().join("models");
    child("fetch", &models, None, &ok);
    assert_eq!(entries(&models), [TINY], "the user cache holds the model, nothing else");
    assert!(std::fs::read(models.join(TINY)).unwrap() == *body, "the downloaded model differs from the one served");
    assert_eq!(requests(), 1, "one download");
    assert!(cache.is_file(), "Analyse wrote no track cache");

    let cancelled = tmp.path().join("models-cancel");
    child("cancel", &cancelled, None, &ok);
    assert!(entries(&cancelled).is_empty(), "a cancelled download left {:?}", entries(&cancelled));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    child("offline", &tmp.path().join("models-offline"), None, &format!("http://127.0.0.1:{port}/models"));

    let before = requests();
    let farm = tmp.path().join("models-farm");
    child("farm-absent", &farm, None, &ok);
    let studio = tmp.path().join("studio");
    std::fs::create_dir_all(&studio).unwrap();
    std::fs::copy(&ckpt, studio.join(TINY)).unwrap();
    child("farm-seeded", &farm, Some(&studio), &ok);
    assert_eq!(requests(), before, "a farm render from the track cache made a request");
    assert!(entries(&farm).is_empty(), "a farm render wrote into the user cache: {:?}", entries(&farm));
}

/// Child-process role of the test above (run by it with `--ignored --exact`).
#[test]
#[ignore = "child process of the_node_fetches_its_model_then_tracks"]
fn fetch_child() {
    let spec = std::env::var(FETCH_CHILD_ENV).expect("run by the_node_fetches_its_model_then_tracks");
    common::helper_log();
    let [mode, ckpt, cache]: [&str; 3] = spec.split('|').collect::<Vec<_>>().try_into().expect("3 fields");
    let models = PathBuf::from(std::env::var(USER_CACHE_ENV).unwrap());
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let inst = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
    set_value(Effect::get(inst).unwrap(), "model", 0.0); // tiny
                                                         // The track cache file is there once "fetch" has run: the other interactive modes
                                                         // render without it (with it, the model absent, a render never downloads).
    if mode == "fetch" || mode.starts_with("farm") {
        set_string(Effect::get(inst).unwrap(), "trackCacheFile", cache);
    }
    let last = || MESSAGES.lock().unwrap().last().cloned().map(|(_, m)| m).unwrap_or_default();
    let download_bars = || PROGRESS_BARS.lock().unwrap().iter().filter(|(l, _)| *l == format!("SamuraiRoto: downloading {TINY}")).count();
    match mode {
        "fetch" => {
            assert_eq!(render(&plugin, inst as usize, 2.0), kOfxStatOK, "render with Model tiny: {}", last());
            let bars = PROGRESS_BARS.lock().unwrap().clone();
            let values = &bars.iter().find(|(l, _)| *l == format!("SamuraiRoto: downloading {TINY}")).expect("no download progress bar").1;
            assert!(values.windows(2).all(|w| w[0] <= w[1]) && values.windows(2).filter(|w| w[0] < w[1]).count() >= 4, "{values:?}");
            assert_eq!(values.last(), Some(&1.0), "the download bar ends at 1");
            assert!(bars.iter().any(|(l, _)| l == "SamuraiRoto: tracking"), "the bar goes on with the tracking: {bars:?}");
            assert!(models.join(TINY).is_file());
            eprintln!("ofx_host_tracker: Model tiny downloaded with {} progress updates, then tracked", values.len());
            assert_eq!(press(&plugin, inst, "analyse"), kOfxStatOK, "Analyse: {}", last());
            assert!(Path::new(cache).is_file(), "Analyse wrote no track cache");
            assert_eq!(download_bars(), 1, "Analyse downloaded again");
            let times = [3.0, 9.0];
            for t in times {
                assert_eq!(render(&plugin, inst as usize, t), kOfxStatOK, "{}", last());
            }
            // The same file chosen by path: the cache's key is the file's contents, so it
            // matches and nothing is tracked.
            let by_path = instance(&plugin, ctx, Path::new(ckpt), &KEYS);
            set_string(Effect::get(by_path).unwrap(), "trackCacheFile", cache);
            SOURCE_FETCHES.lock().unwrap().clear();
            for t in times {
                assert_eq!(render(&plugin, by_path as usize, t), kOfxStatOK, "{}", last());
                assert!(output(by_path, t) == output(inst, t), "frame {t}: the cache read by path differs");
            }
            assert_eq!(fetched_times(), [3, 9], "the same file chosen by path did not match the track cache");
            // No warning about the cache (Analyse's own report names the file it wrote).
            let warnings: Vec<String> =
                MESSAGES.lock().unwrap().iter().filter(|(persistent, _)| *persistent).map(|(_, m)| m.clone()).collect();
            assert!(warnings.iter().all(|m| !m.contains("track cache")), "{warnings:?}");
            eprintln!(
                "ofx_host_tracker: the track cache made with the downloaded model serves Model \"checkpoint file\" with the same file"
            );
            destroy(&plugin, by_path);
        }
        "cancel" => {
            PROGRESS_REPLIES.lock().unwrap().extend([kOfxStatOK, kOfxStatOK, kOfxStatReplyNo]);
            assert_eq!(render(&plugin, inst as usize, 2.0), kOfxStatFailed, "a cancelled download must fail the render");
            let msg = last();
            assert!(msg.contains("cancelled") && msg.contains(TINY), "{msg}");
            assert!(entries(&models).is_empty(), "left behind: {:?}", entries(&models));
            eprintln!("ofx_host_tracker: cancelled download: {msg}");
        }
        "offline" => {
            assert_eq!(render(&plugin, inst as usize, 2.0), kOfxStatFailed, "offline render");
            let msg = last();
            let url = format!("{}/{TINY}", std::env::var(TEST_DOWNLOAD_BASE_ENV).unwrap());
            assert!(msg.contains(&url) && msg.contains(TINY) && msg.contains(&models.display().to_string()), "{msg}");
            eprintln!("ofx_host_tracker: offline: {msg}");
        }
        "farm-absent" => {
            assert_eq!(render(&plugin, inst as usize, 2.0), kOfxStatFailed, "a farm render without the model");
            let msg = last();
            assert!(msg.contains("never downloads") && msg.contains(TINY) && msg.contains(cache), "{msg}");
            assert!(msg.contains(&models.display().to_string()) && msg.contains(STUDIO_MODELS_ENV), "{msg}");
            assert!(common::helper_pids().is_empty(), "a farm render without the model started a helper");
            assert_eq!(download_bars(), 0);
            eprintln!("ofx_host_tracker: farm render, model absent: {msg}");
        }
        "farm-seeded" => {
            render_threaded(&plugin, inst, &[2.0, 7.0]);
            assert_eq!(fetched_times(), [2, 7], "the farm render tracked instead of reading the cache");
            assert!(common::helper_pids().is_empty(), "a farm render from the cache started a helper");
            eprintln!("ofx_host_tracker: farm render with the model pre-seeded in the studio folder read the cache");
        }
        other => panic!("unknown mode {other}"),
    }
    destroy(&plugin, inst);
}

/// The watchdog's limit in the fault tests (seconds): short, so a hung helper is caught in
/// seconds; long enough for a helper on a loaded two-core machine to keep its heartbeats
/// (one every limit / 4) coming.
const FAULT_LIMIT_S: f64 = 3.0;

/// Runs `fault_child` in `mode` in a new process (its own helpers, its own watchdog limit:
/// `limit_s`) and returns its output; it must pass.
fn run_fault_child(mode: &str, limit_s: f64) -> String {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let start = std::time::Instant::now();
    // Its output goes to a file and it gets five minutes: a render that waits forever (what
    // these tests guard against) fails the test instead of hanging it.
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "fault_child", "--nocapture", "--test-threads=1"])
        .env(FAULT_CHILD_ENV, format!("{mode}|{}", ckpt.display()))
        .env(samurai_core::protocol::TIMEOUT_ENV, limit_s.to_string())
        .stdout(out.reopen().unwrap())
        .stderr(out.reopen().unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > std::time::Duration::from_secs(300) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(out.path()).unwrap_or_default();
    assert!(status.is_some(), "fault child {mode} still running after {:?}: killed\n{log}", start.elapsed());
    assert!(status.is_some_and(|s| s.success()) && log.contains("1 passed"), "fault child {mode} failed:\n{log}");
    for line in log.lines().filter(|l| l.contains("fault_child: ")) {
        eprintln!("{line}");
    }
    eprintln!("ofx_host_tracker: fault {mode}: child process passed in {:.1?}", start.elapsed());
    log
}

/// SIGKILL to the helper while it computes a frame: the node starts a new helper and
/// computes the frame again; the render succeeds, every frame equals an undisturbed
/// instance's, and the retry is logged once.
#[test]
fn a_helper_killed_during_a_frame_is_replaced_and_the_frame_computed_again() {
    run_fault_child("kill", FAULT_LIMIT_S);
}

/// SIGSTOP to the helper while it computes a frame: the watchdog declares it hung within
/// its limit, kills it, and the frame is computed again in a new helper (the render
/// succeeds; the retried frame's bits are checked in the SIGKILL test).
#[test]
fn a_stopped_helper_is_caught_by_the_watchdog_and_the_frame_computed_again() {
    run_fault_child("stop", FAULT_LIMIT_S);
}

/// The host's abort while the helper is stopped: the render returns within a second with
/// the abort reported, and the stopped helper is killed.
#[test]
fn the_host_abort_ends_a_wait_on_a_stopped_helper_within_a_second() {
    // A longer limit here: the abort must come before the watchdog would fire.
    run_fault_child("abort", 6.0);
}

/// The helper dies, and its replacement dies too, on the same frame: the frame fails with a
/// message saying both and what the node did; the next render works.
#[test]
fn a_frame_whose_helper_dies_twice_fails_with_a_named_failure() {
    run_fault_child("twice", FAULT_LIMIT_S);
}

/// Whether process `pid` is gone (reaped, or a zombie).
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.contains(") Z "))
}

/// This process's one helper.
fn only_helper() -> u32 {
    let pids = common::helper_pids();
    assert_eq!(pids.len(), 1, "one helper: {pids:?}");
    pids[0]
}

/// Waits until the Source clip has served `n` images (five minutes at most).
fn wait_for_fetches(n: usize) {
    let start = std::time::Instant::now();
    while SOURCE_FETCHES.lock().unwrap().len() < n {
        assert!(start.elapsed() < std::time::Duration::from_secs(300), "the render never fetched {n} images");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success(), "kill {sig} {pid}");
}

/// Lines of the helper log (where the plugin notes its retries) containing `text`.
fn log_lines(text: &str) -> usize {
    std::fs::read_to_string(common::helper_log()).unwrap_or_default().lines().filter(|l| l.contains(text)).count()
}

fn last_message() -> (bool, String) {
    MESSAGES.lock().unwrap().last().cloned().unwrap_or_default()
}

/// Child-process role of the fault tests above (`FAULT_CHILD_ENV` = "mode|checkpoint";
/// `SAMURAI_ROTO_HELPER_TIMEOUT` set by the parent). Instance A renders frame 3 (tracking
/// frames 0–3) while a thread does the mode's harm to its helper.
#[test]
#[ignore = "child process of the fault tests"]
fn fault_child() {
    use std::time::{Duration, Instant};
    let spec = std::env::var(FAULT_CHILD_ENV).expect("run by a fault test");
    let (mode, ckpt) = spec.split_once('|').unwrap();
    let ckpt = Path::new(ckpt);
    let limit = samurai_core::protocol::helper_timeout();
    common::helper_log();
    let began = Instant::now();
    let step = |what: &str| println!("fault_child: {mode}: {what} at {:.1?}", began.elapsed());
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    // One box, on frame 0: frame 3 is tracked forward from it (four frames, no backward
    // pass), so each try costs only a few frames.
    let keys = &KEYS[..1];
    let a = instance(&plugin, ctx, ckpt, keys);
    // The harm comes once the render has fetched `n` source images: the helper is then
    // running, has loaded the model and is inside the frame.
    let victim_after = |n: usize| {
        wait_for_fetches(n);
        only_helper()
    };
    let frames: Vec<f64> = (0..=3).map(f64::from).collect();
    // Instance B, rendered without harm afterwards: the undisturbed run A must equal.
    let undisturbed = |plugin: &Plugin| {
        step("undisturbed run starts");
        let b = instance(plugin, ctx, ckpt, keys);
        for &t in &frames {
            assert_eq!(render(plugin, b as usize, t), kOfxStatOK, "undisturbed render at {t}: {:?}", last_message());
        }
        for &t in &frames {
            assert!(output(a, t) == output(b, t), "frame {t} differs from the undisturbed run");
        }
        destroy(plugin, b);
    };
    match mode {
        "kill" => {
            let harm = std::thread::spawn(move || {
                let victim = victim_after(3);
                signal(victim, "-KILL");
                victim
            });
            assert_eq!(render(&plugin, a as usize, 3.0), kOfxStatOK, "{:?}", last_message());
            let victim = harm.join().unwrap();
            step("frame 3 done");
            assert!(gone(victim), "the killed helper {victim} is still there");
            let helper = only_helper();
            assert_ne!(helper, victim, "a new helper computed the frame");
            for &t in &frames {
                assert_eq!(render(&plugin, a as usize, t), kOfxStatOK, "render at {t}: {:?}", last_message());
            }
            undisturbed(&plugin);
            let retries: Vec<String> = MESSAGES
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, m)| m.contains("computed again in a new helper"))
                .map(|(_, m)| m.clone())
                .collect();
            assert_eq!(retries.len(), 1, "one retry shown to the artist: {:?}", MESSAGES.lock().unwrap());
            assert!(retries[0].contains(&format!("pid {victim}")) && retries[0].contains("SIGKILL"), "{}", retries[0]);
            assert_eq!(log_lines("computes frame 3 again"), 1, "one retry in the helper log");
            println!(
                "fault_child: kill: frame 3 computed again in helper {helper}; frames 0-3 equal the undisturbed run; shown: {}",
                retries[0]
            );
        }
        "stop" => {
            let harm = std::thread::spawn(move || {
                let victim = victim_after(3);
                signal(victim, "-STOP");
                let stopped = Instant::now();
                while !gone(victim) && stopped.elapsed() < Duration::from_secs(120) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                (victim, stopped.elapsed())
            });
            assert_eq!(render(&plugin, a as usize, 3.0), kOfxStatOK, "{:?}", last_message());
            let (victim, fired) = harm.join().unwrap();
            // Silence is counted from the last heartbeat, which came at most a heartbeat
            // interval (limit / 4) before the stop.
            let interval = samurai_core::protocol::heartbeat_interval(limit);
            assert!(
                fired >= limit - interval - Duration::from_millis(100) && fired < limit + Duration::from_millis(1500),
                "the watchdog (limit {limit:?}) killed the stopped helper {fired:?} after the stop"
            );
            assert_ne!(only_helper(), victim);
            // The watchdog's own line, then the retry's (which repeats it), in the helper log.
            let log = std::fs::read_to_string(common::helper_log()).unwrap();
            let watchdog = log.lines().filter(|l| l.contains("declared it hung") && !l.contains("again")).count();
            assert_eq!(watchdog, 1, "the hang is in the helper log once:\n{log}");
            assert_eq!(log_lines("computes frame 3 again"), 1, "one retry in the helper log");
            let shown = MESSAGES.lock().unwrap().iter().filter(|(_, m)| m.contains("computed again")).count();
            assert_eq!(shown, 1, "{:?}", MESSAGES.lock().unwrap());
            let (_, msg) = MESSAGES.lock().unwrap().iter().find(|(_, m)| m.contains("computed again")).cloned().unwrap();
            assert!(
                msg.contains(&format!("pid {victim}")) && msg.contains("sent nothing for") && msg.contains("declared it hung"),
                "{msg}"
            );
            // (The retry's bits are checked in the "kill" mode: a hang ends the same way.)
            println!("fault_child: stop: the watchdog (limit {limit:?}) killed the stopped helper {fired:?} after SIGSTOP; shown: {msg}");
        }
        "abort" => {
            let harm = std::thread::spawn(move || {
                let victim = victim_after(3);
                signal(victim, "-STOP");
                std::thread::sleep(Duration::from_secs(1));
                ABORT_NOW.store(true, std::sync::atomic::Ordering::SeqCst);
                (victim, Instant::now())
            });
            let status = render(&plugin, a as usize, 3.0);
            let returned = Instant::now();
            let (victim, aborted) = harm.join().unwrap();
            ABORT_NOW.store(false, std::sync::atomic::Ordering::SeqCst);
            let took = returned.saturating_duration_since(aborted);
            assert_ne!(status, kOfxStatOK, "an aborted render must not report success");
            assert!(took < Duration::from_secs(1), "the render returned {took:?} after the host's abort");
            let (persistent, msg) = last_message();
            assert!(persistent && msg.contains("cancelled") && msg.contains("aborted") && msg.contains("killed"), "abort message: {msg}");
            assert!(gone(victim), "the stopped helper {victim} is still there after the abort");
            assert!(common::helper_pids().is_empty(), "no helper runs after the abort: {:?}", common::helper_pids());
            assert_eq!(render(&plugin, a as usize, 3.0), kOfxStatOK, "render after the abort: {:?}", last_message());
            println!("fault_child: abort: the render returned {took:?} after the host's abort; the message: {msg}");
        }
        "twice" => {
            let harm = std::thread::spawn(move || {
                let victim = victim_after(2);
                signal(victim, "-KILL");
                let start = Instant::now();
                let second = loop {
                    if let Some(p) = common::helper_pids().into_iter().find(|p| *p != victim) {
                        break p;
                    }
                    assert!(start.elapsed() < Duration::from_secs(120), "no second helper started");
                    std::thread::sleep(Duration::from_millis(2));
                };
                let seen = SOURCE_FETCHES.lock().unwrap().len();
                wait_for_fetches(seen + 2);
                signal(second, "-KILL");
                (victim, second)
            });
            let status = render(&plugin, a as usize, 3.0);
            let (victim, second) = harm.join().unwrap();
            assert_ne!(status, kOfxStatOK, "a frame whose helper died twice must fail");
            let (persistent, msg) = last_message();
            for want in [
                format!("pid {victim}"),
                format!("pid {second}"),
                "second helper lost on frame 3".into(),
                "computed the frame again".into(),
                "next render starts a new helper".into(),
            ] {
                assert!(persistent && msg.contains(&want), "expected '{want}' in: {msg}");
            }
            assert!(!msg.contains("render again"), "the node restarted the helper itself: {msg}");
            assert_eq!(log_lines("computes frame 3 again"), 1, "one retry in the helper log");
            assert_eq!(render(&plugin, a as usize, 3.0), kOfxStatOK, "the next render: {:?}", last_message());
            println!("fault_child: twice: {msg}");
        }
        other => panic!("unknown fault mode {other}"),
    }
    destroy(&plugin, a);
}

fn get_string(e: &Effect, name: &str) -> String {
    let p = e.param_set().param(name).unwrap_or_else(|| panic!("plugin did not define parameter {name}"));
    let s = p.string.lock().unwrap().to_str().unwrap().to_owned();
    s
}

/// The Farm group from the node: Export analysis job writes the job folder for the node's
/// keyframes, settings, model and frame range, and points Track cache file at what the
/// merge writes; the job run by OpenJD's runtime (`openjd run` on the exported template)
/// gives a cache equal, bit for bit, to the one Analyse writes, and a fresh instance
/// renders from it without tracking, equal to the analysing instance. A pattern naming
/// other frames (another size, or the same size with other pixels) is refused with both
/// named, and nothing is written.
#[test]
fn export_analysis_job_runs_on_the_farm_equal_to_analyse() {
    assert!(std::env::var_os(samurai_roto_ofx::wiring::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let tmp = tempfile::tempdir().unwrap();
    common::helper_log();
    let plugin = Plugin::load();
    let ctx = describe(&plugin);
    let all: Vec<f64> = (FRAMES.0..=FRAMES.1).map(f64::from).collect();
    let last = || MESSAGES.lock().unwrap().last().cloned().map(|(_, m)| m).unwrap_or_default();

    // The node's own Analyse: the reference cache and outputs.
    let analysed = tmp.path().join("analysed.srtc");
    let a = instance(&plugin, ctx, &ckpt, &KEYS);
    set_string(Effect::get(a).unwrap(), "trackCacheFile", analysed.to_str().unwrap());
    assert_eq!(press(&plugin, a, "analyse"), kOfxStatOK, "Analyse: {}", last());
    render_threaded(&plugin, a, &all);
    let want: Vec<Vec<f32>> = all.iter().map(|t| output(a, *t)).collect();
    destroy(&plugin, a);

    // The host's frames as files, named as a Read node's would be.
    let frames = tmp.path().join("plate");
    write_frames(&frames);
    for t in FRAMES.0..=FRAMES.1 {
        std::fs::rename(frames.join(format!("{t:05}.png")), frames.join(format!("plate.{t:04}.png"))).unwrap();
    }
    let job = tmp.path().join("job");
    let b = instance(&plugin, ctx, &ckpt, &KEYS);
    let eb = Effect::get(b).unwrap();
    set_string(eb, "farmJobFolder", job.to_str().unwrap());

    // Refused: a pattern whose files are not there (another padding), frames of another
    // size (the bedroom clip), then frames of the same size
    // with other pixels (each frame's file holds the next frame).
    set_string(eb, "farmSourceFrames", frames.join("plate.%05d.png").to_str().unwrap());
    assert_ne!(press(&plugin, b, "exportAnalysisJob"), kOfxStatOK, "export with missing frames");
    let msg = last();
    assert!(msg.contains("12 of the 12 frames") && msg.contains(&frames.join("plate.00000.png").display().to_string()), "missing: {msg}");
    let bedroom = common::root().join("../shared/data/clips/bedroom").canonicalize().unwrap();
    set_string(eb, "farmSourceFrames", bedroom.join("%05d.jpg").to_str().unwrap());
    assert_ne!(press(&plugin, b, "exportAnalysisJob"), kOfxStatOK, "export with another clip's frames");
    let msg = last();
    let (w, h) = image_size();
    assert!(
        msg.contains(&bedroom.join("00000.jpg").display().to_string()) && msg.contains(&format!("{w}x{h}")) && msg.contains("frame 0"),
        "size refusal: {msg}"
    );
    let shifted = tmp.path().join("shifted");
    std::fs::create_dir_all(&shifted).unwrap();
    for t in FRAMES.0..=FRAMES.1 {
        std::os::unix::fs::symlink(frames.join(format!("plate.{:04}.png", (t + 1).min(FRAMES.1))), shifted.join(format!("s_{t:04}.png")))
            .unwrap();
    }
    set_string(eb, "farmSourceFrames", shifted.join("s_####.png").to_str().unwrap());
    assert_ne!(press(&plugin, b, "exportAnalysisJob"), kOfxStatOK, "export with shifted frames");
    let msg = last();
    let cache_a = std::fs::read(&analysed).unwrap();
    assert!(
        msg.contains(&shifted.join("s_0000.png").display().to_string()) && msg.contains("hashes") && msg.contains("frame 0"),
        "content refusal: {msg}"
    );
    assert!(!job.exists() && get_string(eb, "trackCacheFile").is_empty(), "a refused export wrote something");
    eprintln!("ofx_host_tracker: export refused: {msg}");

    // Exported: the plan holds the node's range, objects, key and host frame hashes.
    set_string(eb, "farmSourceFrames", frames.join("plate.%04d.png").to_str().unwrap());
    assert_eq!(press(&plugin, b, "exportAnalysisJob"), kOfxStatOK, "Export analysis job: {}", last());
    let msg = last();
    let merged = job.join("track.srtc");
    assert_eq!(get_string(eb, "trackCacheFile"), merged.display().to_string(), "Track cache file after the export");
    assert!(msg.contains(&job.display().to_string()) && msg.contains("farm slurm"), "export message: {msg}");
    let (plan, _) = samurai_core::farm::Plan::read(&job).unwrap();
    let shot = &plan.shots[0];
    assert_eq!((shot.range, shot.first_frame, shot.frame_size), ((0, 11), 0, (w as u32, h as u32)));
    assert_eq!(shot.frames_dir, frames);
    let files: Vec<String> = (0..12).map(|t| format!("plate.{t:04}.png")).collect();
    assert_eq!(shot.clip.iter().map(|c| c.file.clone()).collect::<Vec<_>>(), files);
    assert_eq!(shot.objects.len(), 1);
    assert_eq!(shot.objects[0].keyframes.iter().map(|k| k.frame).collect::<Vec<_>>(), [0, 7]);
    assert_eq!(plan.merge_args, ["--cache".to_owned(), merged.display().to_string()]);
    assert!(job.join("template.json").is_file());
    let key = shot.cache_key.clone().unwrap();
    let reference = samurai_core::track_cache::TrackCache::read(&analysed, &key).expect("the plan's key is the one Analyse wrote");
    assert_eq!(shot.clip.iter().map(|c| c.hash.clone()).collect::<Vec<_>>(), reference.header.frame_hashes);
    // Precision Auto: the helper's resolution on this machine, told with each result and
    // recorded by Analyse; the plan, resolved by the node, runs its passes at the same.
    let auto = samurai_core::settings::Precision::resolve(None, false).precision;
    assert_eq!((reference.header.precision, plan.settings.precision), (Some(auto), auto));
    destroy(&plugin, b);

    // The job, run as the farm runs it: OpenJD's runtime on the exported template (every
    // pass task in its own process, then the merge), with the samurai-roto beside the helper.
    let template = job.join("template.json");
    let beside = std::path::PathBuf::from(std::env::var_os("SAMURAI_ROTO_HELPER").unwrap()).with_file_name("samurai-roto");
    assert!(std::fs::read_to_string(&template).unwrap().contains(&beside.display().to_string()), "the template runs {}", beside.display());
    let openjd = common::root().join(".venv/bin/openjd");
    for args in [["check", template.to_str().unwrap()], ["run", template.to_str().unwrap()]] {
        let out = Command::new(&openjd).args(args).output().expect("openjd (scripts/setup.sh installs openjd-cli)");
        assert!(
            out.status.success(),
            "openjd {}: {}{}",
            args[0],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(std::fs::read(&merged).unwrap() == cache_a, "the farm's track cache differs from Analyse's");

    // A fresh instance renders from it without tracking, as the analysing one did.
    let c = instance(&plugin, ctx, &ckpt, &KEYS);
    set_string(Effect::get(c).unwrap(), "trackCacheFile", merged.to_str().unwrap());
    SOURCE_FETCHES.lock().unwrap().clear();
    render_threaded(&plugin, c, &all);
    assert_eq!(fetched_times(), (FRAMES.0 as i64..=FRAMES.1 as i64).collect::<Vec<_>>(), "renders from the farm's cache tracked");
    for (t, want) in all.iter().zip(&want) {
        assert!(output(c, *t) == *want, "frame {t}: render from the farm's cache differs from the analysing instance");
    }
    destroy(&plugin, c);
    eprintln!(
        "ofx_host_tracker: Export analysis job: {} pass group(s) run by openjd run; merged cache = Analyse's, bit for bit; renders from it = Analyse's",
        plan.groups.len()
    );
    let no_args = std::ptr::null_mut();
    assert_eq!(plugin.call("OfxActionUnload", std::ptr::null_mut(), no_args, no_args), kOfxStatOK);
}
