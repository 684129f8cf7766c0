//! Benchmark (printed, not a timed test): a finished frame rendered through the plugin at
//! 1920×1080, through the in-repo test host's C ABI: the render action end to end (Source
//! fetched from the host's image cache, mattes finished in pure Rust from the stored
//! low-resolution logits, output written), for one object and for three with
//! non-overlap. The frame is tracked once first (through the helper process).
//!   cargo bench -p samurai-roto-ofx --bench render_cached   (scripts/bench.sh render)
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/ofx_host/mod.rs"]
mod ofx_host;

use ofx_host::effect::{Effect, BASE_SIZE};
use ofx_host::host::{args, sval, Plugin};
use ofx_host::store::{time_key, Val};
use ofx_host::suites::MESSAGES;
use samurai_roto_ofx::sys::*;
use std::ffi::{c_void, CString};
use std::time::Instant;

const SIZE: (i32, i32) = (1920, 1080);
const RUNS: usize = 40;

fn set(e: &Effect, name: &str, v: f64) {
    *e.param_set().param(name).unwrap().value.lock().unwrap() = vec![v];
}

fn render(plugin: &Plugin, inst: OfxImageEffectHandle, t: f64) -> OfxStatus {
    let a = args(&[
        ("OfxPropTime", Val::D(vec![t])),
        ("OfxImageEffectPropRenderWindow", Val::I(vec![0, 0, SIZE.0, SIZE.1])),
        ("OfxImageEffectPropRenderScale", Val::D(vec![1.0, 1.0])),
        ("OfxImageEffectPropFieldToRender", sval("OfxImageFieldNone")),
        ("OfxImageEffectPropSequentialRenderStatus", Val::I(vec![0])),
        ("OfxImageEffectPropInteractiveRenderStatus", Val::I(vec![1])),
    ]);
    plugin.call("OfxImageEffectActionRender", inst.cast::<c_void>(), a, std::ptr::null_mut())
}

fn main() {
    *BASE_SIZE.lock().unwrap() = Some(SIZE);
    common::use_built_helper();
    let ckpt = common::tiny_checkpoint(256);
    let plugin = Plugin::load();
    let (null, no) = (std::ptr::null_mut::<c_void>(), std::ptr::null_mut());
    assert_eq!(plugin.call("OfxActionLoad", null, no, no), kOfxStatOK);
    let desc = Effect::new_handle("");
    assert_eq!(plugin.call("OfxActionDescribe", desc.cast(), no, no), kOfxStatOK);
    let ctx = Effect::new_handle("OfxImageEffectContextFilter");
    let copy = Effect::get(desc).unwrap().props().m.lock().unwrap().clone();
    Effect::get(ctx).unwrap().props().m.lock().unwrap().extend(copy);
    let a = args(&[("OfxImageEffectPropContext", sval("OfxImageEffectContextFilter"))]);
    assert_eq!(plugin.call("OfxImageEffectActionDescribeInContext", ctx.cast(), a, no), kOfxStatOK);
    println!("render_cached: {}x{} Source (RGBA float), output Source + matte in alpha, quality 256", SIZE.0, SIZE.1);
    for objects in [1usize, 3] {
        let inst = Effect::get(ctx).unwrap().instantiate();
        assert_eq!(plugin.call("OfxActionCreateInstance", inst.cast(), no, no), kOfxStatOK);
        let e = Effect::get(inst).unwrap();
        *e.param_set().param("checkpoint").unwrap().string.lock().unwrap() = CString::new(ckpt.to_str().unwrap()).unwrap();
        set(e, "imageSize", 3.0);
        set(e, "nonOverlap", (objects > 1) as i32 as f64);
        for i in 0..objects {
            let x = 200.0 + 500.0 * i as f64;
            set(e, &format!("obj{}Enable", i + 1), 1.0);
            e.param_set().param(&format!("obj{}BoxBL", i + 1)).unwrap().keys.lock().unwrap().insert(time_key(0.0), vec![x, 200.0]);
            e.param_set().param(&format!("obj{}BoxTR", i + 1)).unwrap().keys.lock().unwrap().insert(time_key(0.0), vec![x + 400.0, 800.0]);
        }
        let start = Instant::now();
        assert_eq!(render(&plugin, inst, 0.0), kOfxStatOK, "{:?}", MESSAGES.lock().unwrap().last());
        let first = start.elapsed();
        let mut times: Vec<f64> = (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                assert_eq!(render(&plugin, inst, 0.0), kOfxStatOK);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("render_cached: {objects} object(s): first render (tracked) {:.0} ms; finished frame over {RUNS} renders: median {:.2} ms, min {:.2} ms, max {:.2} ms",
            first.as_secs_f64() * 1e3, times[RUNS / 2], times[0], times[RUNS - 1]);
        assert_eq!(plugin.call("OfxActionDestroyInstance", inst.cast(), no, no), kOfxStatOK);
    }
}
