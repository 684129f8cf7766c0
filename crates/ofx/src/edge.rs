//! The Edge group at render time: per-object edge refinement at the plate's resolution and
//! the decontaminated foreground (`samurai_core::refine`, pure Rust, so farm renders from
//! a track cache refine too).
//!
//! Contract with the command line: for the same frame (8-bit sRGB, as the network sees it)
//! and the same logits, the refined alpha of an object is bit for bit what
//! `samurai-roto refine --image FRAME --matte LOGITS.npy --mode M --band B` writes (and
//! what `track --refine M --band B` writes): the coarse matte is the sigmoid of the
//! full-resolution logits (shifted by Threshold; Softness does not apply, refinement makes
//! the edge), the guide is the frame's 8-bit RGB over 255, and the band is given in plate
//! pixels at render scale 1 (scaled by the render scale here).
use super::engine::{FrameImage, Mattes};
use super::instance::Settings;
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;
use samurai_core::refine::{self, RefineMode, RefineSettings};

/// What the Edge group produced for one frame, top-down at the frame's resolution.
pub struct EdgeMattes {
    /// One alpha plane per requested object, in the order asked for.
    pub alphas: Vec<Array2<f32>>,
    /// The straight (not premultiplied) foreground colours of the union of the objects, in
    /// the source's own values, when decontamination was asked for.
    pub foreground: Option<Array3<f32>>,
    /// The debug output's picture ([`debug_picture`]), when that output is asked for.
    pub picture: Option<Array3<f32>>,
    /// Per requested object, what refinement did (log lines, the host's warning).
    pub stats: Vec<refine::RefineStats>,
}

impl EdgeMattes {
    /// One warning for the whole frame naming every object whose edge could not be refined
    /// at all, and why; `None` when every edge was refined (or had none).
    pub fn warning(&self, frame: i64, names: &[String]) -> Option<String> {
        let parts: Vec<String> =
            self.stats.iter().zip(names).filter_map(|(st, name)| st.outcome.warning().map(|why| format!("{name}: {why}"))).collect();
        (!parts.is_empty()).then(|| format!("frame {frame}: edge not refined, the coarse matte is shown ({})", parts.join("; ")))
    }
}

/// Whether a render needs whole planes from this module (else rows stream as before).
pub fn needed(s: &Settings) -> bool {
    s.edge.mode != RefineMode::Off || decontaminates(s) || s.output_mode == super::params::OUTPUT_EDGE_DEBUG
}

fn decontaminates(s: &Settings) -> bool {
    s.edge.decontaminate && s.output_mode == super::params::OUTPUT_PREMULTIPLIED_FOREGROUND
}

/// The guide: the frame's 8-bit RGB as 0..1 floats (what the CLI reads from a PNG).
pub fn guide_plate(frame: &FrameImage) -> Array3<f32> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let data: Vec<f32> = frame.rgb8.par_iter().map(|&v| v as f32 / 255.0).collect();
    Array3::from_shape_vec((h, w, 3), data).expect("a frame holds width × height RGB pixels")
}

/// Refines the objects at positions `objects` of `mattes` (and estimates the foreground
/// of their union on `source`, `H × W × 3` top-down in the host's values, when the output
/// needs it). `alpha_of` is the matte the render would show without refinement.
pub fn edge_mattes(
    guide: &FrameImage,
    source: Option<&Array3<f32>>,
    mattes: &Mattes,
    objects: &[usize],
    s: &Settings,
    render_scale: f64,
    alpha_of: &(dyn Fn(f32) -> f32 + Sync),
) -> Result<EdgeMattes, String> {
    let (w, h) = (guide.width as usize, guide.height as usize);
    let logits = logit_planes(mattes, objects, w, h);
    let settings = RefineSettings { band_px: s.edge.band_px * render_scale as f32, decontaminate: false, ..s.edge };
    let plate = (settings.mode != RefineMode::Off).then(|| guide_plate(guide));
    let threshold = s.threshold as f32;
    let debug = s.output_mode == super::params::OUTPUT_EDGE_DEBUG;
    let mut alphas = Vec::with_capacity(objects.len());
    let mut stats = Vec::with_capacity(objects.len());
    let mut bands = Vec::new();
    for (k, mut plane) in objects.iter().zip(logits) {
        match &plate {
            Some(plate) => {
                plane.par_mapv_inplace(|l| refine::image::sigmoid(l - threshold));
                let refined = refine::refine(plate.view(), plane.view(), &settings)
                    .map_err(|e| format!("edge refinement of object {}: {e}", k + 1))?;
                tracing::debug!("edge of object {}: {}", k + 1, refined.stats.summary());
                alphas.push(refined.alpha);
                stats.push(refined.stats);
                if debug {
                    bands.push((refined.trimap, refined.weight));
                }
            }
            None => {
                plane.par_mapv_inplace(alpha_of);
                alphas.push(plane);
            }
        }
    }
    let foreground = match source {
        Some(src) if decontaminates(s) => Some(foreground(src, &alphas, &s.edge)?),
        _ => None,
    };
    let picture = debug.then(|| debug_picture(&alphas, &bands, h, w));
    Ok(EdgeMattes { alphas, foreground, picture, stats })
}

/// The debug output: in the unknown band of any object, green by the share of the solved
/// edge kept and red by the share that fell back to the coarse matte (the first object
/// whose band holds the pixel); everywhere, the matte (union of the objects) at half
/// strength in blue. With refinement off there is no band: only the blue matte.
pub fn debug_picture(alphas: &[Array2<f32>], bands: &[(Array2<u8>, Array2<f32>)], h: usize, w: usize) -> Array3<f32> {
    let mut out = Array3::<f32>::zeros((h, w, 3));
    out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(y, mut row)| {
        for x in 0..w {
            let band = bands.iter().find(|(t, _)| !t.is_empty() && t[[y, x]] == refine::UNKNOWN);
            if let Some((_, weight)) = band {
                let kept = if weight.is_empty() { 0.0 } else { weight[[y, x]] };
                row[[x, 0]] = 1.0 - kept;
                row[[x, 1]] = kept;
            }
            row[[x, 2]] = 0.5 * alphas.iter().map(|a| a[[y, x]]).fold(0.0f32, f32::max);
        }
    });
    out
}

/// Full-resolution logit planes of the requested objects.
fn logit_planes(mattes: &Mattes, objects: &[usize], w: usize, h: usize) -> Vec<Array2<f32>> {
    let reader = mattes.rows(w);
    let n = mattes.names().len();
    let rows: Vec<Vec<Vec<f32>>> = (0..h)
        .into_par_iter()
        .map_init(
            || vec![Vec::new(); n],
            |buf, y| {
                reader.row(y, buf);
                objects.iter().map(|&k| std::mem::take(&mut buf[k])).collect()
            },
        )
        .collect();
    (0..objects.len())
        .map(|j| {
            let mut plane = Array2::<f32>::zeros((h, w));
            for (mut dst, row) in plane.axis_iter_mut(Axis(0)).zip(&rows) {
                dst.as_slice_mut().expect("standard layout").copy_from_slice(&row[j]);
            }
            plane
        })
        .collect()
}

/// The decontaminated foreground of the union (per-pixel maximum) of `alphas` on the
/// source. The estimator works in 0..1 (it clamps its result there), so a plate with
/// values above 1 (scene-linear highlights) is scaled into range first and back after:
/// the compositing equation I = αF + (1 − α)B is linear, so the estimate scales with it.
/// Where alpha is 1 the foreground is the source itself, so the object's core is untouched.
fn foreground(source: &Array3<f32>, alphas: &[Array2<f32>], s: &RefineSettings) -> Result<Array3<f32>, String> {
    let (h, w, _) = source.dim();
    let mut union = Array2::<f32>::zeros((h, w));
    for a in alphas {
        ndarray::Zip::from(&mut union).and(a).par_for_each(|u, &v| *u = u.max(v));
    }
    let clean = source.mapv(|v| if v.is_finite() { v.max(0.0) } else { 0.0 });
    let scale = clean.iter().copied().fold(1.0f32, f32::max);
    let scaled = clean.mapv(|v| v / scale);
    let (mut fg, _) = refine::estimate_foreground_ml(scaled.view(), union.view(), &s.foreground);
    ndarray::Zip::from(fg.lanes_mut(Axis(2))).and(clean.lanes(Axis(2))).and(&union).par_for_each(|mut f, src, &a| {
        for c in 0..3 {
            f[c] = if a >= 1.0 { src[c] } else { f[c] * scale };
        }
    });
    Ok(fg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use samurai_core::lowres::LowResFrame;

    fn settings(mode: RefineMode, output_mode: usize, decontaminate: bool) -> Settings {
        use crate::engine::EngineSettings;
        Settings {
            engine: EngineSettings::new("x.pt"),
            input_linear: false,
            output_mode,
            threshold: 0.0,
            softness: 0.0,
            objects: vec![],
            selected: 0,
            track_cache: None,
            edge: RefineSettings { mode, band_px: 6.0, decontaminate, ..RefineSettings::default() },
        }
    }

    /// A 48×40 frame: a bright disc on a dark ramp, and logits of a slightly wrong disc.
    fn scene() -> (FrameImage, Mattes) {
        let (w, h) = (48usize, 40usize);
        let inside = |x: f32, y: f32| ((x - 24.0).powi(2) + (y - 20.0).powi(2)).sqrt() < 11.0;
        let rgb8 = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .flat_map(|(x, y)| if inside(x as f32, y as f32) { [230, 200, 40] } else { [20, (x * 3) as u8, 90] })
            .collect();
        let plane: Vec<f32> =
            (0..h).flat_map(|y| (0..w).map(move |x| 13.0 - (((x as f32 - 25.0).powi(2) + (y as f32 - 19.0).powi(2)).sqrt()))).collect();
        let frame = FrameImage { width: w as u32, height: h as u32, rgb8 };
        (frame, Mattes::Planes(vec![("a#1".into(), plane)]))
    }

    #[test]
    fn refinement_equals_the_library_on_the_same_inputs() {
        let (frame, mattes) = scene();
        let s = settings(RefineMode::Quality, 1, false);
        let got = edge_mattes(&frame, None, &mattes, &[0], &s, 1.0, &|l| (l > 0.0) as u8 as f32).unwrap();
        let Mattes::Planes(p) = &mattes else { unreachable!() };
        let coarse = Array2::from_shape_vec((40, 48), p[0].1.iter().map(|&l| refine::image::sigmoid(l)).collect()).unwrap();
        let want = refine::refine(guide_plate(&frame).view(), coarse.view(), &s.edge).unwrap().alpha;
        assert_eq!(got.alphas[0], want);
        // and refinement moved the edge (the logits' disc is off by a pixel and too large)
        let raw: Array2<f32> = coarse.mapv(|c| (c > 0.5) as u8 as f32);
        assert!(got.alphas[0].iter().zip(raw.iter()).any(|(a, b)| (a - b).abs() > 0.5));
        assert!(got.foreground.is_none());
    }

    #[test]
    fn off_gives_the_unrefined_matte_and_low_res_mattes_refine_like_planes() {
        let (frame, mattes) = scene();
        let step = |l: f32| (l > 0.0) as u8 as f32;
        let off = edge_mattes(&frame, None, &mattes, &[0], &settings(RefineMode::Off, 1, false), 1.0, &step).unwrap();
        let Mattes::Planes(p) = &mattes else { unreachable!() };
        assert_eq!(off.alphas[0].iter().copied().collect::<Vec<_>>(), p[0].1.iter().map(|&l| step(l)).collect::<Vec<_>>());
        // Low-res logits finish into planes the same way whatever the reader.
        let low = LowResFrame { side: 8, objects: vec![("b#1".into(), (0..64).map(|i| (i % 8) as f32 - 3.5).collect())] };
        let lowm = Mattes::Low { low: std::sync::Arc::new(low), size: (48, 40), non_overlap: false };
        let planes = Mattes::Planes(lowm.planes());
        let s = settings(RefineMode::Fast, 1, false);
        let a = edge_mattes(&frame, None, &lowm, &[0], &s, 1.0, &step).unwrap();
        let b = edge_mattes(&frame, None, &planes, &[0], &s, 1.0, &step).unwrap();
        assert_eq!(a.alphas[0], b.alphas[0]);
    }

    #[test]
    fn decontamination_keeps_the_core_and_scales_with_the_plate() {
        let (frame, mattes) = scene();
        let s = settings(RefineMode::Fast, super::super::params::OUTPUT_PREMULTIPLIED_FOREGROUND, true);
        // Brightest value exactly 1, so this plate is estimated as it is.
        let src = guide_plate(&frame);
        let src = src.mapv(|v| v / src.iter().copied().fold(0.0, f32::max));
        let step = |l: f32| (l > 0.0) as u8 as f32;
        let one = edge_mattes(&frame, Some(&src), &mattes, &[0], &s, 1.0, &step).unwrap();
        let fg = one.foreground.as_ref().expect("foreground asked for");
        for ((y, x), &a) in one.alphas[0].indexed_iter() {
            if a >= 1.0 {
                assert_eq!(fg.slice(ndarray::s![y, x, ..]), src.slice(ndarray::s![y, x, ..]), "core pixel {x},{y}");
            }
        }
        // A plate four times as bright (scene-linear highlights up to 4) gives four times
        // the foreground, where the estimator alone would clamp it to 1.
        let bright = src.mapv(|v| v * 4.0);
        let four = edge_mattes(&frame, Some(&bright), &mattes, &[0], &s, 1.0, &step).unwrap();
        let f4 = four.foreground.unwrap();
        let max_diff = f4.iter().zip(fg.iter()).map(|(a, b)| (a - 4.0 * b).abs()).fold(0.0f32, f32::max);
        assert!(max_diff < 1e-6, "foreground of the bright plate differs from 4× by {max_diff}");
        assert!(f4.iter().any(|&v| v > 1.5));
    }
}
