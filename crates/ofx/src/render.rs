//! The render action: source image → engine frame (sRGB 8-bit, [`crate::pixels`]), mattes
//! from the engine (cache first, then one propagation at a time per instance), output per
//! output mode. The clip actions are in [`crate::clip`], the Analyse button in
//! [`crate::analyse`].
use super::bar::Bar;
use super::edge::{self, EdgeMattes};
use super::engine::{EngineResult, FetchFn, FrameImage, Mattes};
use super::instance::{apply_config, object_keys, read_settings, Geometry, Instance, Settings};
use super::keyframe_matte;
use super::params;
use super::pixels::{host_frame_error, read_px, source_plate, to_frame, write_px};
use super::suites::{Components, Image, OfxError, OfxResult, PixelDepth};
use super::sys::names as n;
use rayon::prelude::*;
use std::time::Duration;

/// A matte value from a logit: a hard threshold, or a sigmoid of the given softness.
fn matte_alpha(logit: f32, s: &Settings) -> f32 {
    let d = logit as f64 - s.threshold;
    if s.softness <= 0.0 {
        (d > 0.0) as u8 as f32
    } else {
        (1.0 / (1.0 + (-d / s.softness).exp())) as f32
    }
}

/// The render action. Returns the frame's warning for the artist, if any (an object whose
/// edge could not be refined): the caller shows it once for the render.
pub fn render(inst: &Instance, time: f64, window: [i32; 4]) -> OfxResult<Option<String>> {
    let effect = inst.effect;
    let params = inst.params()?;
    let settings = read_settings(params, time)?;
    inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    let src_clip = effect.clip(n::kOfxImageEffectSimpleSourceClipName)?;
    let src = src_clip.image(time)?;
    let geo = Geometry {
        render_scale: src.render_scale,
        pixel_aspect: src.pixel_aspect,
        bounds: [src.bounds.x1, src.bounds.y1, src.bounds.x2, src.bounds.y2],
    };
    *inst.last_geometry.lock() = Some(geo);
    let range = inst.frame_range()?;
    let objects = object_keys(params, &settings, &geo, range.0, &|f, c| keyframe_matte::read(inst, &geo, f, c))?;
    apply_config(inst, &settings, range, geo.size(), objects)?;
    let frame = time.round() as i64;
    // Converted only when needed: a finished frame is served without it.
    let current = std::cell::OnceCell::new();
    let current_frame = || current.get_or_init(|| to_frame(&src, settings.input_linear));
    let fetch = |f: i64| -> EngineResult<FrameImage> {
        if f == frame {
            return Ok(current_frame().clone());
        }
        let img = src_clip.image(f as f64).map_err(|e| host_frame_error(f, e))?;
        Ok(to_frame(&img, settings.input_linear)) // `img` is released here
    };
    let mattes = mattes_for(inst, frame, range, &current_frame, &fetch)?;
    let (edge, warning) = edge_for(&src, &settings, &mattes, current_frame(), geo.render_scale[0], frame)?;
    let mut out = effect.clip(n::kOfxImageEffectOutputClipName)?.image(time)?;
    write_output(&src, &mut out, window, &settings, &mattes, edge.as_ref(), geo.size());
    Ok(warning)
}

/// The output objects: (position in `mattes`, object index, colour).
fn output_objects(s: &Settings, mattes: &Mattes) -> Vec<(usize, usize, [f32; 3])> {
    let names = mattes.names();
    s.objects
        .iter()
        .filter(|o| o.output)
        .filter_map(|o| {
            let key = format!("{}#{}", o.name, o.index + 1);
            Some((names.iter().position(|k| *k == key)?, o.index, o.colour.map(|c| c as f32)))
        })
        .collect()
}

/// The Edge group's planes when the settings ask for refinement or decontamination (or
/// its debug output), and the frame's warning when an object's edge could not be refined.
fn edge_for(
    src: &Image,
    s: &Settings,
    mattes: &Mattes,
    frame: &FrameImage,
    render_scale: f64,
    time: i64,
) -> OfxResult<(Option<EdgeMattes>, Option<String>)> {
    if !edge::needed(s) {
        return Ok((None, None));
    }
    let objects = output_objects(s, mattes);
    let positions: Vec<usize> = objects.iter().map(|o| o.0).collect();
    let source = (s.output_mode == params::OUTPUT_PREMULTIPLIED_FOREGROUND).then(|| source_plate(src));
    let edge =
        edge::edge_mattes(frame, source.as_ref(), mattes, &positions, s, render_scale, &|l| matte_alpha(l, s)).map_err(OfxError::failed)?;
    let names: Vec<String> = objects
        .iter()
        .map(|o| s.objects.iter().find(|x| x.index == o.1).map_or_else(|| format!("object {}", o.1 + 1), |x| x.name.clone()))
        .collect();
    let warning = edge.warning(time, &names);
    Ok((Some(edge), warning))
}

/// Cached mattes first; otherwise run the propagation if nobody else is, else poll the
/// cache (a frame finished by the other thread's propagation is returned at once).
fn mattes_for<'a>(
    inst: &Instance,
    frame: i64,
    range: (i64, i64),
    current: &dyn Fn() -> &'a FrameImage,
    fetch: FetchFn<'_>,
) -> OfxResult<Mattes> {
    let engine = inst.engine.as_ref().map_err(|e| OfxError::from(e.clone()))?;
    loop {
        // Finished frames first (no image needed), then the track cache file (checked
        // against the host's current image).
        if let Some(m) = engine.cached_mattes(frame, None).or_else(|| engine.cached_mattes(frame, Some(current()))) {
            return Ok(m);
        }
        if let Some(_guard) = inst.track_lock.try_lock() {
            let bar = Bar::new(inst.effect);
            let total = (range.1 - range.0 + 1).max(1) as f64;
            let done = std::cell::Cell::new(0.0);
            let cancelled = std::cell::Cell::new(false);
            let counting_fetch = |f: i64| {
                done.set(done.get() + 1.0);
                cancelled.set(cancelled.get() || !bar.update("SamuraiRoto: tracking", done.get() / total));
                fetch(f)
            };
            let abort = || cancelled.get() || inst.effect.aborted();
            let download = |file: &str, got: u64, of: Option<u64>| bar.download(file, got, of);
            return Ok(engine.mattes(frame, &counting_fetch, &abort, &download)?);
        }
        if inst.effect.aborted() {
            return Err(OfxError::stopped("render aborted by the host"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How a render turns an object's per-pixel values into its matte.
#[derive(Clone, Copy)]
struct Shading<'a> {
    s: &'a Settings,
    /// The values are the Edge group's alphas, not logits.
    alpha_values: bool,
}

impl Shading<'_> {
    fn alpha(&self, v: f32) -> f32 {
        if self.alpha_values {
            v
        } else {
            matte_alpha(v, self.s)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_output(
    src: &Image,
    out: &mut Image,
    window: [i32; 4],
    s: &Settings,
    mattes: &Mattes,
    edge: Option<&EdgeMattes>,
    (w, h): (u32, u32),
) {
    let names = mattes.names();
    let objs = output_objects(s, mattes);
    let shading = Shading { s, alpha_values: edge.is_some() };
    let rows_of = mattes.rows(w as usize);
    let (x1, x2) = (window[0].max(out.bounds.x1), window[2].min(out.bounds.x2));
    let (y1, y2) = (window[1].max(out.bounds.y1), window[3].min(out.bounds.y2));
    let (odepth, ocomps, ox1, ox2) = (out.depth, out.components, out.bounds.x1, out.bounds.x2);
    let (sx1, sy2, sdepth, scomps) = (src.bounds.x1, src.bounds.y2, src.depth, src.components);
    let src_rows: std::collections::HashMap<i32, &[u8]> = (y1..y2).filter_map(|y| Some((y, src.row(y)?))).collect();
    let rows: Vec<(i32, &mut [u8])> = out.rows_mut().into_iter().filter(|(y, _)| (y1..y2).contains(y)).collect();
    // The common case, without per-pixel dispatch: float RGBA in and out over whole rows,
    // source + matte or matte only.
    let float_rgba = |d: PixelDepth, c: Components| d == PixelDepth::Float && c == Components::Rgba;
    let whole_rows = (x1, x2) == (src.bounds.x1, src.bounds.x2) && (x1, x2) == (ox1, ox2) && x2 - x1 == w as i32;
    let fast = float_rgba(sdepth, scomps) && float_rgba(odepth, ocomps) && whole_rows && s.output_mode <= 1;
    rows.into_par_iter().for_each_init(
        || vec![Vec::new(); names.len()],
        |logits, (y, row)| {
            let src_row = src_rows.get(&y).copied();
            let my = sy2 - 1 - y; // engine rows run top-down
            let in_frame = src_row.is_some() && my >= 0 && (my as u32) < h;
            let row_objs: Vec<(usize, &[f32], [f32; 3])> = match edge {
                Some(e) if in_frame => objs
                    .iter()
                    .zip(&e.alphas)
                    .map(|((_, idx, col), a)| (*idx, a.row(my as usize).to_slice().expect("standard layout"), *col))
                    .collect(),
                Some(_) => objs.iter().map(|(_, idx, col)| (*idx, &[][..], *col)).collect(),
                None => {
                    if in_frame {
                        rows_of.row(my as usize, logits);
                    }
                    objs.iter().map(|(k, idx, col)| (*idx, logits[*k].as_slice(), *col)).collect()
                }
            };
            if fast && in_frame {
                if let Some(src_row) = src_row {
                    matte_row_rgba_f32(src_row, row, &row_objs, shading);
                    return;
                }
            }
            let colours = edge.and_then(|e| e.foreground.as_ref().or(e.picture.as_ref()));
            let fg_row = colours.filter(|_| in_frame).map(|f| f.index_axis(ndarray::Axis(0), my as usize));
            for x in x1..x2 {
                let sx = x - sx1;
                let inside = in_frame && sx >= 0 && (sx as u32) < w;
                let spx = if inside { read_px(src_row.unwrap_or(&[]), sx as usize, sdepth, scomps) } else { [0.0; 4] };
                let fg = fg_row.as_ref().filter(|_| inside).map(|f| [f[[sx as usize, 0]], f[[sx as usize, 1]], f[[sx as usize, 2]]]);
                let px = shade(spx, fg, inside.then_some(sx as usize), &row_objs, shading, odepth);
                write_px(row, (x - ox1) as usize, odepth, ocomps, px);
            }
        },
    );
}

/// One row of source + matte in alpha (mode 0) or matte only (mode 1), float RGBA in and
/// out: the same values [`shade`] gives, without its per-pixel dispatch.
fn matte_row_rgba_f32(src: &[u8], out: &mut [u8], objs: &[(usize, &[f32], [f32; 3])], sh: Shading) {
    let f = |b: &[u8]| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    for (x, (sp, op)) in src.chunks_exact(16).zip(out.chunks_exact_mut(16)).enumerate() {
        let a = objs.iter().map(|(_, m, _)| sh.alpha(m[x])).fold(0.0f32, f32::max);
        let px = if sh.s.output_mode == 0 { [f(&sp[0..4]), f(&sp[4..8]), f(&sp[8..12]), a] } else { [a; 4] };
        for (c, v) in op.chunks_exact_mut(4).zip(px) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
}

/// One output pixel. `fg` is the decontaminated foreground there (premultiplied-foreground
/// output with Decontaminate on) or the edge debug picture (that output), `mi` the pixel's
/// index in the object rows (none outside the frame).
fn shade(
    src: [f32; 4],
    fg: Option<[f32; 3]>,
    mi: Option<usize>,
    objs: &[(usize, &[f32], [f32; 3])],
    sh: Shading,
    depth: PixelDepth,
) -> [f32; 4] {
    let alphas = objs.iter().map(|(_, m, _)| mi.map_or(0.0, |i| sh.alpha(m[i])));
    let a = alphas.clone().fold(0.0f32, f32::max);
    match sh.s.output_mode {
        0 => [src[0], src[1], src[2], a],
        1 => [a; 4],
        2 => {
            // The object with the largest value (logit, or refined alpha) among those
            // inside; on a tie (hole filling gives every object the same 0.1 in a filled
            // hole) the lower object number.
            let mut best: Option<(usize, f32)> = None;
            for ((idx, m, _), a) in objs.iter().zip(alphas) {
                let v = mi.map_or(0.0, |i| m[i]);
                if a >= 0.5 && best.is_none_or(|(_, l)| v > l) {
                    best = Some((*idx, v));
                }
            }
            let id = best.map_or(0.0, |(idx, _)| (idx + 1) as f32);
            let v = match depth {
                PixelDepth::Byte => id / 255.0,
                PixelDepth::Short => id / 65535.0,
                PixelDepth::Float => id,
            };
            [v, v, v, (id > 0.0) as u8 as f32]
        }
        3 => {
            let mut px = [src[0], src[1], src[2], 1.0];
            for ((_, _, col), oa) in objs.iter().zip(objs.iter().map(|(_, m, _)| mi.map_or(0.0, |i| sh.alpha(m[i])))) {
                for c in 0..3 {
                    px[c] = px[c] * (1.0 - 0.5 * oa) + col[c] * 0.5 * oa;
                }
            }
            px
        }
        params::OUTPUT_EDGE_DEBUG => {
            let d = fg.unwrap_or([0.0, 0.0, 0.5 * a]);
            [d[0], d[1], d[2], 1.0]
        }
        _ => {
            let f = fg.unwrap_or([src[0], src[1], src[2]]);
            [f[0] * a, f[1] * a, f[2] * a, a]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_matte_takes_the_largest_logit_and_the_lower_number_on_ties() {
        use crate::engine::EngineSettings;
        use samurai_core::settings::DeviceChoice;
        let engine = EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new("x.pt") };
        let s = Settings {
            engine,
            input_linear: false,
            output_mode: 2,
            threshold: 0.0,
            softness: 0.0,
            objects: vec![],
            selected: 0,
            track_cache: None,
            edge: Default::default(),
        };
        // Pixels: 0 both outside, 1 object 3 larger, 2 tie at hole filling's 0.1, 3 only object 1 inside.
        let (a, b) = ([-1.0f32, 0.5, 0.1, 0.2], [-2.0f32, 0.7, 0.1, -0.3]);
        let objs = [(0usize, &a[..], [1.0f32, 0.0, 0.0]), (2usize, &b[..], [0.0f32, 1.0, 0.0])];
        let ids: Vec<f32> =
            (0..4).map(|i| shade([0.0; 4], None, Some(i), &objs, Shading { s: &s, alpha_values: false }, PixelDepth::Float)[0]).collect();
        assert_eq!(ids, [0.0, 3.0, 1.0, 1.0]);
    }

    #[test]
    fn the_float_rgba_row_path_equals_the_per_pixel_path() {
        use crate::engine::EngineSettings;
        use samurai_core::settings::DeviceChoice;
        let engine = EngineSettings { device: DeviceChoice::Cpu, image_size: 256, ..EngineSettings::new("x.pt") };
        let src: Vec<u8> = (0..40).flat_map(|i| [i as f32 / 40.0, 0.5, -0.25, 1.0]).flat_map(f32::to_ne_bytes).collect();
        let (a, b): (Vec<f32>, Vec<f32>) =
            ((0..40).map(|i| i as f32 / 4.0 - 5.0).collect(), (0..40).map(|i| 3.0 - i as f32 / 7.0).collect());
        let objs = [(0usize, &a[..], [1.0f32, 0.0, 0.0]), (1usize, &b[..], [0.0f32, 1.0, 0.0])];
        for (mode, threshold, softness) in [(0, 0.0, 0.0), (0, 0.5, 1.5), (1, -1.0, 0.0), (1, 0.0, 0.7)] {
            let s = Settings {
                engine: engine.clone(),
                input_linear: false,
                output_mode: mode,
                threshold,
                softness,
                objects: vec![],
                selected: 0,
                track_cache: None,
                edge: Default::default(),
            };
            let mut fast = vec![0u8; src.len()];
            let sh = Shading { s: &s, alpha_values: false };
            matte_row_rgba_f32(&src, &mut fast, &objs, sh);
            let mut slow = vec![0u8; src.len()];
            for x in 0..40 {
                let px = shade(read_px(&src, x, PixelDepth::Float, Components::Rgba), None, Some(x), &objs, sh, PixelDepth::Float);
                write_px(&mut slow, x, PixelDepth::Float, Components::Rgba, px);
            }
            assert_eq!(fast, slow, "mode {mode}, threshold {threshold}, softness {softness}");
        }
    }

    #[test]
    fn rgb_and_alpha_sources_read_and_write_in_every_depth() {
        for depth in [PixelDepth::Byte, PixelDepth::Short, PixelDepth::Float] {
            let close = |a: [f32; 4], b: [f32; 4]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1.0 / 255.0);
            let mut rgb = vec![0u8; 2 * 3 * depth.bytes()];
            write_px(&mut rgb, 1, depth, Components::Rgb, [0.2, 0.4, 0.8, 0.3]);
            // RGB has no alpha: it reads back opaque.
            assert!(close(read_px(&rgb, 1, depth, Components::Rgb), [0.2, 0.4, 0.8, 1.0]), "{depth:?} RGB");
            assert!(close(read_px(&rgb, 0, depth, Components::Rgb), [0.0, 0.0, 0.0, 1.0]), "{depth:?} RGB untouched pixel");
            let mut alpha = vec![0u8; 2 * depth.bytes()];
            write_px(&mut alpha, 1, depth, Components::Alpha, [0.1, 0.1, 0.1, 0.6]);
            // Alpha-only writes the alpha and reads it back on every channel.
            assert!(close(read_px(&alpha, 1, depth, Components::Alpha), [0.6; 4]), "{depth:?} alpha");
        }
    }
}
