//! The plugin with the real tracker, through the C ABI of the in-repo test host: renders
//! requested in random order from two threads give mattes equal, bit for bit, to the
//! `samurai-roto track` command's on the same frames, checkpoint and keyframe boxes.
//! (The lifecycle, overlay and error paths are covered with the test engine in
//! `ofx_host.rs`; this binary never sets `SAMURAI_ROTO_FAKE_ENGINE`.)
mod common;
#[path = "ofx_host/mod.rs"]
mod ofx_host;

use ofx_host::effect::{source_pixel, Effect, FRAMES, H, W};
use ofx_host::host::{args, sval, Plugin};
use ofx_host::store::{time_key, Param};
use ofx_host::suites::MESSAGES;
use samurai_roto::ofx::sys::*;
use std::ffi::{c_void, CString};
use std::process::Command;

/// Box keys: (time, bottom-left, top-right) in canonical coordinates (pixels, y up).
const KEYS: [(f64, [f64; 2], [f64; 2]); 2] = [(0.0, [10.0, 8.0], [50.0, 40.0]), (7.0, [14.0, 10.0], [54.0, 42.0])];

fn eh(h: OfxImageEffectHandle) -> *mut c_void {
    h.cast()
}

fn param<'a>(e: &'a Effect, name: &str) -> &'a Param {
    e.param_set().param(name).unwrap_or_else(|| panic!("plugin did not define parameter {name}"))
}

fn render(plugin: &Plugin, inst: usize, t: f64) -> OfxStatus {
    let a = args(&[("OfxPropTime", ofx_host::store::Val::D(vec![t])), ("OfxImageEffectPropRenderWindow", ofx_host::store::Val::I(vec![0, 0, W, H])),
        ("OfxImageEffectPropRenderScale", ofx_host::store::Val::D(vec![1.0, 1.0])), ("OfxImageEffectPropFieldToRender", sval("OfxImageFieldNone")),
        ("OfxImageEffectPropSequentialRenderStatus", ofx_host::store::Val::I(vec![0])), ("OfxImageEffectPropInteractiveRenderStatus", ofx_host::store::Val::I(vec![0]))]);
    plugin.call("OfxImageEffectActionRender", inst as *mut c_void, a, std::ptr::null_mut())
}

/// Loads the plugin and makes an instance in the filter context with the keys above.
fn instance(plugin: &Plugin, checkpoint: &std::path::Path) -> OfxImageEffectHandle {
    let (null, no_args) = (std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(plugin.call("OfxActionLoad", null, no_args, no_args), kOfxStatOK);
    let desc = Effect::new_handle("");
    assert_eq!(plugin.call("OfxActionDescribe", eh(desc), no_args, no_args), kOfxStatOK);
    let ctx = Effect::new_handle("OfxImageEffectContextFilter");
    let copy = Effect::get(desc).unwrap().props().m.lock().unwrap().clone();
    Effect::get(ctx).unwrap().props().m.lock().unwrap().extend(copy);
    let in_args = args(&[("OfxImageEffectPropContext", sval("OfxImageEffectContextFilter"))]);
    assert_eq!(plugin.call("OfxImageEffectActionDescribeInContext", eh(ctx), in_args, no_args), kOfxStatOK);
    let inst = Effect::get(ctx).unwrap().instantiate();
    assert_eq!(plugin.call("OfxActionCreateInstance", eh(inst), no_args, no_args), kOfxStatOK);
    let e = Effect::get(inst).unwrap();
    *param(e, "checkpoint").string.lock().unwrap() = CString::new(checkpoint.to_str().unwrap()).unwrap();
    *param(e, "imageSize").value.lock().unwrap() = vec![3.0]; // 256
    *param(e, "outputMode").value.lock().unwrap() = vec![1.0]; // matte only
    *param(e, "threshold").value.lock().unwrap() = vec![0.0];
    *param(e, "softness").value.lock().unwrap() = vec![0.0];
    for (t, bl, tr) in KEYS {
        param(e, "obj1BoxBL").keys.lock().unwrap().insert(time_key(t), bl.to_vec());
        param(e, "obj1BoxTR").keys.lock().unwrap().insert(time_key(t), tr.to_vec());
    }
    inst
}

/// The host's source frames as 8-bit PNG files, quantised as the plugin quantises them
/// (round(v·255)), rows top-down.
fn write_frames(dir: &std::path::Path) {
    for t in FRAMES.0..=FRAMES.1 {
        let mut img = image::RgbImage::new(W as u32, H as u32);
        for r in 0..H {
            for x in 0..W {
                let p = source_pixel(t as f64, x, H - 1 - r);
                let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                img.put_pixel(x as u32, r as u32, image::Rgb([q(p[0]), q(p[1]), q(p[2])]));
            }
        }
        img.save(dir.join(format!("{t:05}.png"))).unwrap();
    }
}

struct Shared<'a>(&'a Plugin, usize);
// SAFETY: the plugin declares instance-safe rendering; the host side is Mutex-guarded.
unsafe impl Sync for Shared<'_> {}

#[test]
fn renders_with_the_tracker_equal_the_track_command() {
    assert!(std::env::var_os(samurai_roto::ofx::engine::FAKE_ENGINE_ENV).is_none(), "this test needs the real engine");
    let ckpt = common::tiny_checkpoint(256);
    let plugin = Plugin::load();
    let inst = instance(&plugin, &ckpt);
    let order = [5.0, 0.0, 11.0, 3.0, 8.0, 1.0];
    let shared = Shared(&plugin, inst as usize);
    std::thread::scope(|s| {
        for chunk in order.chunks(3) {
            let shared = &shared;
            s.spawn(move || for &t in chunk {
                let st = render(shared.0, shared.1, t);
                assert_eq!(st, kOfxStatOK, "render at {t}: {:?}", MESSAGES.lock().unwrap().last());
            });
        }
    });

    let tmp = tempfile::tempdir().unwrap();
    let frames = tmp.path().join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    write_frames(&frames);
    let logits = tmp.path().join("logits");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_samurai-roto"));
    cmd.args(["--threads", "2", "track", "--checkpoint"]).arg(&ckpt).arg("--frames").arg(&frames);
    for (t, bl, tr) in KEYS {
        // Canonical (y up) corners to frame pixels (y down), as the plugin maps them.
        cmd.args(["--object", &format!("obj:{}:{},{},{},{}", t as i64, bl[0], H as f64 - tr[1], tr[0], H as f64 - bl[1])]);
    }
    let out = cmd.args(["--image-size", "256", "--device", "cpu", "--mode", "blend"]).arg("--out").arg(tmp.path().join("out")).arg("--logits").arg(&logits).output().unwrap();
    assert!(out.status.success(), "track: {}", String::from_utf8_lossy(&out.stderr));

    let e = Effect::get(inst).unwrap();
    for t in order {
        let got = e.clip("Output").and_then(|c| c.output(t)).unwrap_or_else(|| panic!("no output at {t}"));
        let l = tch::Tensor::read_npy(logits.join(format!("obj/{:05}.npy", t as i64))).unwrap();
        let l: Vec<f32> = Vec::try_from(l.flatten(0, -1)).unwrap();
        let mut inside = 0;
        for y in 0..H {
            for x in 0..W {
                let want = (l[((H - 1 - y) * W + x) as usize] > 0.0) as u8 as f32;
                inside += want as usize;
                let px = &got[((y * W + x) * 4) as usize..((y * W + x) * 4 + 4) as usize];
                assert_eq!(px, [want; 4], "frame {t} pixel ({x},{y}): plugin {px:?} vs track {want}");
            }
        }
        eprintln!("ofx_host_tracker: frame {t}: plugin matte = track matte ({inside} of {} pixels inside)", W * H);
    }
    let no_args = std::ptr::null_mut();
    assert_eq!(plugin.call("OfxActionDestroyInstance", eh(inst), no_args, no_args), kOfxStatOK);
    assert_eq!(plugin.call("OfxActionUnload", std::ptr::null_mut(), no_args, no_args), kOfxStatOK);
}
