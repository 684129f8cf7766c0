//! Do no harm: the solved alpha is kept only where the plate's colours support it at least
//! as well as the coarse matte; elsewhere the band falls back smoothly to the coarse matte.
//!
//! Matting from a trimap assumes that a band pixel's colour is a mix of the colours of the
//! known foreground and background near it. On textured backgrounds, or where foreground and
//! background share colours, the solve (and fast mode's guided upsampling more so) can give
//! partial alpha to pixels that are plain background texture, or take alpha away from
//! foreground texture; the coarse matte, which comes from the network and not from colours,
//! does not make that mistake. So each band pixel is judged by what the known colours near it
//! say, with local colour models of each side as in GrabCut-style segmentation (Rother,
//! Kolmogorov & Blake, SIGGRAPH 2004), here non-parametric so that texture is modelled:
//!
//! - the plate is cut into tiles of `window × band_px` pixels; each tile holds a colour
//!   histogram (`bins`³ cells) of its known foreground pixels and one of its known background
//!   pixels (one pixel in four sampled), and a band pixel reads the sums over the 3 × 3 tiles
//!   around its own;
//! - the colours' verdict for the pixel is `q = p_F / (p_F + p_B)`, with `p_F`, `p_B` the
//!   shares of each side's known pixels that fall in the pixel's colour cell (plus one
//!   uniform pseudo-count): near 1 for a colour seen only in the foreground, near 0 for one
//!   seen only in the background, ½ for a colour both share or neither has (a mixed pixel);
//! - the solve wins where it is closer to `q` than the coarse matte, by how decisive the
//!   colour is: `(|q − c| − |q − s|) · |2q − 1|` (`s` solved, `c` coarse);
//! - a departure from a sure coarse matte costs `confidence · |2c − 1|^k · |s − c|`, scaled
//!   by how familiar the colour is (`min(1, samples in its cell / familiar)`): where the
//!   network is sure and the colour is one the known regions hold, the solve needs the
//!   colours' support to move the matte (fast mode's guided upsampling otherwise spreads
//!   small leaks through textured backgrounds); a colour neither region holds is a mix of
//!   the two, as on a blurred edge, and may move it;
//! - the weight of the solved alpha is the logistic of the difference over `temperature`,
//!   plus `bias`, averaged over a small box (`smooth`) of band pixels so the blend has no
//!   speckle; the result is `w · s + (1 − w) · c`.
//!
//! `bias` (log-odds) favours the solve where the colours cannot tell: there the solve's
//! edges, which follow the plate, are the better guess. Where a neighbourhood holds too few
//! known pixels of a side (`min_known`), the colours cannot tell either. The parameter values
//! were chosen on the tuned composites of `tools/matting-eval` at four sharpnesses of the
//! coarse input; its first held-out set was consulted while the design was chosen, its second
//! (`--set fresh`) only after (see its README). Every value is computed per pixel or per tile
//! in a fixed order: the same bits whatever the number of threads.
use super::band::{BG, FG, UNKNOWN};
use super::image::bounding_box;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters of the fit check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FitParams {
    /// Judge the solved alpha against the coarse matte (true), or keep it as solved.
    pub enabled: bool,
    /// Side of the colour models' tiles, in band widths (at least 8 pixels).
    pub window: f32,
    /// Cells per colour channel of the histograms.
    pub bins: usize,
    /// Alpha units by which the solve must be closer than the coarse matte to the colours'
    /// verdict (for a decisive colour) to move the weight by about a quarter.
    pub temperature: f32,
    /// Log-odds in favour of the solve where the colours cannot tell (0: an even blend).
    pub bias: f32,
    /// Weight κ of the coarse matte's own confidence: a deviation `|s − c|` from a coarse
    /// matte of confidence `|2c − 1|` costs `κ |2c − 1|^k |s − c|` in the margin.
    pub confidence: f32,
    /// Exponent `k` of that confidence (larger: only where the network is very sure).
    pub confidence_power: i32,
    /// Samples of a colour cell (both sides together) at which a colour counts as familiar:
    /// the confidence term is scaled by `min(1, samples / familiar)`, so a colour neither
    /// known region holds (a mix of the two, as on a blurred edge) may depart from a sure
    /// coarse matte; one they hold may not without colour evidence.
    pub familiar: f32,
    /// Radius in plate pixels of the box that averages the weights.
    pub smooth: usize,
    /// Known pixels of each side a neighbourhood needs before its colours can judge (as
    /// sampled: one pixel in four).
    pub min_known: usize,
}

impl Default for FitParams {
    /// Chosen on the tuned composites of `tools/matting-eval` (see the module header).
    fn default() -> Self {
        FitParams {
            enabled: true,
            window: 2.0,
            bins: 16,
            temperature: 0.1,
            bias: 2.0,
            confidence: 3.0,
            confidence_power: 8,
            familiar: 4.0,
            smooth: 2,
            min_known: 16,
        }
    }
}

/// The histograms sample every `SAMPLE`-th pixel of every `SAMPLE`-th row (a tile of 32 ×
/// 32 pixels still gives 256 samples).
const SAMPLE: usize = 2;

/// The colour cell of an RGB pixel.
#[inline]
fn cell(rgb: &[f32], bins: usize) -> usize {
    let q = |v: f32| ((v.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
    (q(rgb[0]) * bins + q(rgb[1])) * bins + q(rgb[2])
}

/// The weight (0..1) of the solved alpha on every band pixel of `trimap` (0 elsewhere).
pub fn solved_weight(
    plate: ArrayView3<f32>,
    trimap: ArrayView2<u8>,
    coarse: ArrayView2<f32>,
    solved: ArrayView2<f32>,
    band_px: f32,
    p: &FitParams,
) -> Array2<f32> {
    let (h, w) = trimap.dim();
    let mut weight = Array2::<f32>::zeros((h, w));
    let Some(rect) = bounding_box(trimap, UNKNOWN) else { return weight };
    let plate = plate.as_standard_layout();
    let px = plate.as_slice().expect("standard layout");
    let rgb = |y: usize, x: usize| &px[(y * w + x) * 3..(y * w + x) * 3 + 3];
    let bins = p.bins.clamp(2, 32); // cells < 2¹⁵: they fit a u16 beside the side bit
    let cells = bins * bins * bins;
    let tile = ((p.window * band_px).round() as usize).clamp(8, 255);
    let (th, tw) = (h.div_ceil(tile), w.div_ceil(tile));
    // Tiles that hold band pixels, and the tiles around them whose histograms they read.
    let mut wanted = vec![false; th * tw];
    for ty in rect.y0 / tile..rect.y1.div_ceil(tile) {
        for tx in rect.x0 / tile..rect.x1.div_ceil(tile) {
            for yy in ty.saturating_sub(1)..(ty + 2).min(th) {
                for xx in tx.saturating_sub(1)..(tx + 2).min(tw) {
                    wanted[yy * tw + xx] = true;
                }
            }
        }
    }
    // Per tile: its known samples as colour cells (the side in the top bit), and each side's
    // count. Sparse, so that no large histogram is allocated per frame.
    const SIDE: u16 = 1 << 15;
    let samples: Vec<Option<(Vec<u16>, [u32; 2])>> = (0..th * tw)
        .into_par_iter()
        .map(|k| {
            if !wanted[k] {
                return None;
            }
            let (ty, tx) = (k / tw, k % tw);
            let (mut list, mut n) = (Vec::new(), [0u32; 2]);
            for y in (ty * tile..((ty + 1) * tile).min(h)).step_by(SAMPLE) {
                let t = trimap.row(y);
                for x in (tx * tile..((tx + 1) * tile).min(w)).step_by(SAMPLE) {
                    let side = match t[x] {
                        FG => 0,
                        BG => 1,
                        _ => continue,
                    };
                    list.push(cell(rgb(y, x), bins) as u16 | if side == 1 { SIDE } else { 0 });
                    n[side] += 1;
                }
            }
            Some((list, n))
        })
        .collect();
    // Per tile holding band pixels: the histograms of its 3 × 3 neighbourhood (in a buffer
    // each thread reuses), then the per-pixel weights of its band pixels.
    let (t, bias, u) = (p.temperature.max(1e-3), p.bias, 1.0 / cells as f64);
    let band_tiles: Vec<usize> = (0..th * tw)
        .filter(|&k| {
            (k / tw) * tile < rect.y1 && (k / tw + 1) * tile > rect.y0 && (k % tw) * tile < rect.x1 && (k % tw + 1) * tile > rect.x0
        })
        .collect();
    let tiles: Vec<(usize, Vec<f32>)> = band_tiles
        .into_par_iter()
        .map_init(
            || vec![0u32; 2 * cells],
            |hist, k| {
                let (ty, tx) = (k / tw, k % tw);
                let neighbours: Vec<&(Vec<u16>, [u32; 2])> = (ty.saturating_sub(1)..(ty + 2).min(th))
                    .flat_map(|yy| (tx.saturating_sub(1)..(tx + 2).min(tw)).map(move |xx| yy * tw + xx))
                    .filter_map(|n| samples[n].as_ref())
                    .collect();
                let (nf, nb) = neighbours.iter().fold((0, 0), |(f, b), (_, n)| (f + n[0], b + n[1]));
                let judge = (nf.min(nb) as usize) >= p.min_known.max(1);
                if judge {
                    for &v in neighbours.iter().flat_map(|(l, _)| l) {
                        hist[if v & SIDE != 0 { cells + (v & !SIDE) as usize } else { v as usize }] += 1;
                    }
                }
                let (ys, xs) = (ty * tile..((ty + 1) * tile).min(h), tx * tile..((tx + 1) * tile).min(w));
                let mut out = vec![0f32; ys.len() * xs.len()];
                for (i, y) in ys.clone().enumerate() {
                    let (trow, srow, crow) = (trimap.row(y), solved.row(y), coarse.row(y));
                    for (j, x) in xs.clone().enumerate() {
                        if trow[x] != UNKNOWN {
                            continue;
                        }
                        let (s, c) = (srow[x], crow[x]);
                        // The colours' verdict q: the shares of each side's known pixels in
                        // this colour cell (one uniform pseudo-count per side), as
                        // p_F / (p_F + p_B).
                        let (colours, familiar) = if judge {
                            let k = cell(rgb(y, x), bins);
                            let pf = (f64::from(hist[k]) + u) / (f64::from(nf) + 1.0);
                            let pb = (f64::from(hist[cells + k]) + u) / (f64::from(nb) + 1.0);
                            let q = (pf / (pf + pb)) as f32;
                            let seen = (hist[k] + hist[cells + k]) as f32 / p.familiar.max(1e-3);
                            (((q - c).abs() - (q - s).abs()) * (2.0 * q - 1.0).abs(), seen.min(1.0))
                        } else {
                            (0.0, 1.0)
                        };
                        let network = familiar * p.confidence * (2.0 * c - 1.0).abs().powi(p.confidence_power) * (s - c).abs();
                        let margin = (colours - network) / t + bias;
                        out[i * xs.len() + j] = 1.0 / (1.0 + (-margin).exp());
                    }
                }
                if judge {
                    for &v in neighbours.iter().flat_map(|(l, _)| l) {
                        hist[if v & SIDE != 0 { cells + (v & !SIDE) as usize } else { v as usize }] = 0;
                    }
                }
                (k, out)
            },
        )
        .collect();
    for (k, out) in tiles {
        let (ty, tx) = (k / tw, k % tw);
        let (x0, x1) = (tx * tile, ((tx + 1) * tile).min(w));
        for (i, row) in out.chunks(x1 - x0).enumerate() {
            weight.slice_mut(ndarray::s![ty * tile + i, x0..x1]).iter_mut().zip(row).for_each(|(o, &v)| *o = v);
        }
    }
    // Box mean of the weights over band pixels: sums along rows (on the band's box grown
    // by the radius), then down columns, written back over the per-pixel weights.
    let k = p.smooth;
    let (y0, y1) = (rect.y0.saturating_sub(k), (rect.y1 + k).min(h));
    let rw = rect.width();
    let mut rows = vec![[0f32; 2]; (y1 - y0) * rw];
    rows.par_chunks_mut(rw).enumerate().for_each(|(i, out)| {
        let y = y0 + i;
        let (t, a) = (trimap.row(y), weight.row(y));
        for (j, o) in out.iter_mut().enumerate() {
            let x = rect.x0 + j;
            for xx in x.saturating_sub(k)..=(x + k).min(w - 1) {
                if t[xx] == UNKNOWN {
                    o[0] += a[xx];
                    o[1] += 1.0;
                }
            }
        }
    });
    weight.axis_iter_mut(Axis(0)).into_par_iter().enumerate().skip(rect.y0).take(rect.height()).for_each(|(y, mut out)| {
        let t = trimap.row(y);
        for j in 0..rw {
            if t[rect.x0 + j] != UNKNOWN {
                continue;
            }
            let mut acc = [0f32; 2];
            for yy in y.saturating_sub(k).max(y0)..=(y + k).min(y1 - 1) {
                let v = rows[(yy - y0) * rw + j];
                acc[0] += v[0];
                acc[1] += v[1];
            }
            out[rect.x0 + j] = acc[0] / acc[1];
        }
    });
    weight
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Plate: left half one colour (foreground), right half another (background); a trimap
    /// with a band in the middle.
    fn two_colours(h: usize, w: usize) -> (Array3<f32>, Array2<u8>) {
        let plate = Array3::from_shape_fn((h, w, 3), |(_, x, c)| if x < w / 2 { [0.8, 0.3, 0.2][c] } else { [0.1, 0.4, 0.7][c] });
        let trimap = Array2::from_shape_fn((h, w), |(_, x)| match x {
            x if x < w / 2 - 6 => FG,
            x if x >= w / 2 + 6 => BG,
            _ => UNKNOWN,
        });
        (plate, trimap)
    }

    #[test]
    fn an_alpha_that_explains_the_colours_is_kept_one_that_does_not_falls_back() {
        let (h, w) = (32, 64);
        let (plate, trimap) = two_colours(h, w);
        let truth = Array2::from_shape_fn((h, w), |(_, x)| if x < w / 2 { 1.0f32 } else { 0.0 });
        // A blurred ramp across the band (x 26..38): the step explains the two colours, the
        // ramp does not. (Band width 8: tiles of 16 pixels, so every neighbourhood holds
        // enough known pixels of both sides to judge.)
        let blurred = Array2::from_shape_fn((h, w), |(_, x)| (0.5 - (x as f32 - 31.5) / 12.0).clamp(0.0, 1.0));
        let p = FitParams { smooth: 0, ..FitParams::default() };
        let good = solved_weight(plate.view(), trimap.view(), blurred.view(), truth.view(), 8.0, &p);
        let bad = solved_weight(plate.view(), trimap.view(), truth.view(), blurred.view(), 8.0, &p);
        for x in 27..37 {
            assert!(good[[5, x]] > 0.85, "column {x}: {}", good[[5, x]]);
        }
        // Where the ramp is more than 0.2 from the step, it falls back (a sure coarse matte
        // and colours that contradict the solve).
        for x in 28..36 {
            assert!(bad[[5, x]] < 0.05, "column {x}: {}", bad[[5, x]]);
        }
        assert!(good.iter().zip(trimap.iter()).all(|(&g, &t)| t == UNKNOWN || g == 0.0), "known pixels carry no weight");
    }

    #[test]
    fn without_known_pixels_of_both_sides_nearby_the_colours_do_not_judge() {
        let (h, w) = (32, 64);
        let (plate, mut trimap) = two_colours(h, w);
        trimap.mapv_inplace(|t| if t == BG { UNKNOWN } else { t });
        // An unsure coarse matte (no confidence term): the weight is the bias's alone.
        let coarse = Array2::from_elem((h, w), 0.5f32);
        let solved = Array2::from_elem((h, w), 0.9f32);
        let p = FitParams::default();
        let wgt = solved_weight(plate.view(), trimap.view(), coarse.view(), solved.view(), 4.0, &p);
        let bias = 1.0 / (1.0 + (-p.bias).exp());
        for (&v, &t) in wgt.iter().zip(trimap.iter()) {
            assert!(t != UNKNOWN || (v - bias).abs() < 1e-6, "{v} against {bias}");
        }
    }
}
