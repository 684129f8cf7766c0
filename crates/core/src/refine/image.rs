//! Small image helpers of the refinement: the coarse matte from low-resolution logits
//! (bilinear upsampling and the sigmoid), premultiplication, tiling of the band, and
//! deterministic parallel reductions.
//!
//! The bilinear upsampling here is the refinement's own (PyTorch's `F.interpolate(...,
//! mode="bilinear", align_corners=False)` semantics, as SAM 2 upsamples its logits). A
//! shared one may later live in `samurai_core::finish`; until then this one is used.
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis, Zip};
use rayon::prelude::*;

/// The source coordinate of destination index `dst` for `align_corners=False`, with
/// PyTorch's clamping of negative coordinates to 0: returns `(i0, i1, w1)` where the value
/// is `(1 - w1) · src[i0] + w1 · src[i1]`.
fn source_taps(dst: usize, scale: f32, len: usize) -> (usize, usize, f32) {
    let src = (scale * (dst as f32 + 0.5) - 0.5).max(0.0);
    let i0 = (src as usize).min(len - 1);
    let i1 = if i0 + 1 < len { i0 + 1 } else { i0 };
    (i0, i1, src - i0 as f32)
}

/// Bilinear resize of a single-channel map to `height × width`
/// (`align_corners=False`, PyTorch semantics). Rows are computed in parallel.
///
/// This is the refinement's own upsampler (see the module header).
pub fn resize_bilinear(src: ArrayView2<f32>, height: usize, width: usize) -> Array2<f32> {
    let (sh, sw) = src.dim();
    assert!(sh > 0 && sw > 0 && height > 0 && width > 0, "resize_bilinear: empty image");
    let (sy, sx) = (sh as f32 / height as f32, sw as f32 / width as f32);
    let cols: Vec<(usize, usize, f32)> = (0..width).map(|x| source_taps(x, sx, sw)).collect();
    let mut out = Array2::<f32>::zeros((height, width));
    out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(y, mut row)| {
        let (y0, y1, wy) = source_taps(y, sy, sh);
        let (r0, r1) = (src.row(y0), src.row(y1));
        for (o, &(x0, x1, wx)) in row.iter_mut().zip(&cols) {
            let top = (1.0 - wx) * r0[x0] + wx * r0[x1];
            let bottom = (1.0 - wx) * r1[x0] + wx * r1[x1];
            *o = (1.0 - wy) * top + wy * bottom;
        }
    });
    out
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The coarse soft matte at plate resolution from the network's low-resolution logits
/// (any size, e.g. `side × side`): the sigmoid of the bilinearly upsampled logits.
pub fn coarse_alpha_from_logits(logits: ArrayView2<f32>, height: usize, width: usize) -> Array2<f32> {
    let mut up = resize_bilinear(logits, height, width);
    up.par_mapv_inplace(sigmoid);
    up
}

/// The premultiplied foreground `alpha · F` (`H × W × 3`).
pub fn premultiply(foreground: ArrayView3<f32>, alpha: ArrayView2<f32>) -> Array3<f32> {
    let mut out = foreground.to_owned();
    Zip::from(out.lanes_mut(Axis(2))).and(alpha).par_for_each(|mut px, &a| px.mapv_inplace(|v| v * a));
    out
}

/// Box-filter downsampling by an integer `factor` of an `H × W × C` image (blocks at the
/// right and bottom edges may be partial: they average the pixels they have).
pub fn downsample_box(src: ArrayView3<f32>, factor: usize) -> Array3<f32> {
    let (h, w, c) = src.dim();
    let (hl, wl) = (h.div_ceil(factor), w.div_ceil(factor));
    let src = src.as_standard_layout();
    let s = src.as_slice().expect("standard layout");
    let mut out = vec![0f32; hl * wl * c];
    out.par_chunks_mut(wl * c).enumerate().for_each(|(yl, row)| {
        let ys = yl * factor..((yl + 1) * factor).min(h);
        let rows = ys.len();
        for y in ys {
            for (x, px) in s[y * w * c..(y + 1) * w * c].chunks_exact(c).enumerate() {
                let o = &mut row[(x / factor) * c..(x / factor + 1) * c];
                o.iter_mut().zip(px).for_each(|(o, v)| *o += v);
            }
        }
        for (xl, o) in row.chunks_exact_mut(c).enumerate() {
            let n = (rows * (((xl + 1) * factor).min(w) - xl * factor)) as f32;
            o.iter_mut().for_each(|v| *v /= n);
        }
    });
    Array3::from_shape_vec((hl, wl, c), out).expect("shape")
}

/// [`downsample_box`] of a single-channel map.
pub fn downsample_box2(src: ArrayView2<f32>, factor: usize) -> Array2<f32> {
    downsample_box(src.insert_axis(Axis(2)), factor).remove_axis(Axis(2))
}

/// A rectangle of pixels, `[y0, y1) × [x0, x1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

impl Rect {
    /// The rectangle grown by `m` pixels on every side, clipped to `height × width`.
    pub fn grow(self, m: usize, height: usize, width: usize) -> Rect {
        Rect { y0: self.y0.saturating_sub(m), y1: (self.y1 + m).min(height), x0: self.x0.saturating_sub(m), x1: (self.x1 + m).min(width) }
    }

    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }
}

/// The standard deviation of the plate's noise (0..1 units), by Immerkær's operator
/// ("Fast Noise Variance Estimation", CVIU 1996) on the luminance: the response to the 3×3
/// kernel `[1 −2 1; −2 4 −2; 1 −2 1]` cancels smooth image content and is, for Gaussian
/// noise of deviation σ, normal with deviation 6σ. Its *median* absolute value over every
/// other row, divided by 6 · 0.6745 (the half-normal's median), is taken rather than
/// Immerkær's mean: texture and edges answer the kernel too, but on a minority of pixels,
/// so the median reads the noise and not the texture (on the harness's clean plates of
/// foliage the mean read 0.005, the median 0.0015; on a plate with σ 2/255 of added noise
/// both read it). A clean plate gives a few ten-thousandths.
pub fn estimate_noise(plate: ArrayView3<f32>) -> f64 {
    let (h, w, _) = plate.dim();
    if h < 3 || w < 3 {
        return 0.0;
    }
    let rows: Vec<usize> = (1..h - 1).step_by(2).collect();
    let n = rows.len() * (w - 2);
    // The median without sorting a million values: |response| ≥ 0, and a non-negative f32
    // orders as its bits, so a histogram of the top 12 bits (the exponent and 3 bits of the
    // mantissa: bins an eighth of an octave wide) finds the bin of the middle value, and only
    // that bin's values are then ordered. The same value as a sort's.
    const BINS: usize = 1 << 12;
    let bin = |v: f32| (v.to_bits() >> 20) as usize;
    // One histogram per block of rows, added in order.
    let block = rows.len().div_ceil(2 * rayon::current_num_threads()).max(1);
    let hists: Vec<Vec<u32>> = rows
        .par_chunks(block)
        .map(|ys| {
            let (mut hist, mut luma) = (vec![0u32; BINS], LumaRows::default());
            ys.iter().for_each(|&y| noise_responses(plate, y, &mut luma, |v| hist[bin(v)] += 1));
            hist
        })
        .collect();
    let counts: Vec<u32> = (0..BINS).map(|b| hists.iter().map(|h| h[b]).sum()).collect();
    let mid = n / 2;
    let (mut below, mut target) = (0usize, 0usize);
    for (b, &c) in counts.iter().enumerate() {
        if below + c as usize > mid {
            target = b;
            break;
        }
        below += c as usize;
    }
    let mut in_bin: Vec<f32> = rows
        .par_chunks(block)
        .flat_map_iter(|ys| {
            let (mut out, mut luma) = (Vec::new(), LumaRows::default());
            for &y in ys {
                noise_responses(plate, y, &mut luma, |v| {
                    if bin(v) == target {
                        out.push(v)
                    }
                });
            }
            out
        })
        .collect();
    let (_, median, _) = in_bin.select_nth_unstable_by(mid - below, f32::total_cmp);
    f64::from(*median) / (6.0 * 0.6745)
}

/// Three rows of luminance, reused from row to row.
#[derive(Default)]
struct LumaRows([Vec<f32>; 3]);

/// The absolute responses of [`estimate_noise`]'s kernel on row `y` of the luminance of
/// `plate` (columns 1 to `W − 2`, in order), passed to `each`. A row of a crop of a
/// row-major plate is read in place (copying a crop to a standard layout costs its pages).
fn noise_responses(plate: ArrayView3<f32>, y: usize, rows: &mut LumaRows, mut each: impl FnMut(f32)) {
    let w = plate.dim().1;
    let luma = |px: &[f32]| 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
    for (buf, y) in rows.0.iter_mut().zip([y - 1, y, y + 1]) {
        buf.clear();
        let row = plate.index_axis(Axis(0), y);
        match row.as_slice() {
            Some(px) => buf.extend(px.chunks_exact(3).map(luma)),
            None => buf.extend(row.outer_iter().map(|px| luma(&[px[0], px[1], px[2]]))),
        }
    }
    let [a, b, c] = &rows.0;
    for x in 1..w - 1 {
        let k = a[x - 1] - 2.0 * a[x] + a[x + 1] - 2.0 * (b[x - 1] - 2.0 * b[x] + b[x + 1]) + c[x - 1] - 2.0 * c[x] + c[x + 1];
        each(k.abs());
    }
}

/// The smallest rectangle holding every pixel equal to `value`, if any.
pub fn bounding_box(map: ArrayView2<u8>, value: u8) -> Option<Rect> {
    let rows: Vec<Option<(usize, usize)>> = map
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|row| {
            let first = row.iter().position(|&v| v == value)?;
            let last = row.len() - 1 - row.iter().rev().position(|&v| v == value)?;
            Some((first, last))
        })
        .collect();
    let y0 = rows.iter().position(Option::is_some)?;
    let y1 = rows.iter().rposition(Option::is_some)? + 1;
    let x0 = rows.iter().flatten().map(|r| r.0).min()?;
    let x1 = rows.iter().flatten().map(|r| r.1).max()? + 1;
    Some(Rect { y0, y1, x0, x1 })
}

/// `Σ values` over the pixels where `map == value`, summed per row (in parallel) and then in
/// order: the same bits whatever the number of threads.
pub fn sum_where(values: ArrayView2<f32>, map: ArrayView2<u8>, value: u8) -> f64 {
    let rows: Vec<f64> = values
        .axis_iter(Axis(0))
        .into_par_iter()
        .zip(map.axis_iter(Axis(0)))
        .map(|(v, m)| v.iter().zip(m).filter(|(_, &m)| m == value).map(|(&v, _)| f64::from(v)).sum())
        .collect();
    rows.iter().sum()
}

/// Chunk length of the deterministic reductions below.
const CHUNK: usize = 4096;

/// `Σ a_i b_i`, summed in fixed chunks (in parallel) and then in order, so the result does
/// not depend on the number of threads or on scheduling.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let parts: Vec<f64> =
        a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)).map(|(x, y)| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>()).collect();
    parts.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn bilinear_matches_pytorch_align_corners_false() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [2., 3.]]]]),
        //     size=(4, 4), mode="bilinear", align_corners=False)
        let src = array![[0.0f32, 1.0], [2.0, 3.0]];
        let up = resize_bilinear(src.view(), 4, 4);
        let want = array![[0.0f32, 0.25, 0.75, 1.0], [0.5, 0.75, 1.25, 1.5], [1.5, 1.75, 2.25, 2.5], [2.0, 2.25, 2.75, 3.0]];
        for (a, b) in up.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-6, "{up:?}");
        }
    }

    #[test]
    fn coarse_alpha_is_sigmoid_of_logits() {
        let logits = array![[0.0f32, 0.0], [0.0, 0.0]];
        let a = coarse_alpha_from_logits(logits.view(), 3, 5);
        assert!(a.iter().all(|&v| (v - 0.5).abs() < 1e-7));
    }

    #[test]
    fn bounding_box_of_marked_pixels() {
        let mut m = Array2::<u8>::zeros((10, 12));
        m[[2, 7]] = 5;
        m[[6, 3]] = 5;
        assert_eq!(bounding_box(m.view(), 5), Some(Rect { y0: 2, y1: 7, x0: 3, x1: 8 }));
        assert_eq!(bounding_box(m.view(), 9), None);
    }

    #[test]
    fn box_downsampling_averages_blocks() {
        let a = Array2::from_shape_fn((5, 5), |(y, x)| (y * 5 + x) as f32);
        let d = downsample_box2(a.view(), 2);
        assert_eq!(d.dim(), (3, 3));
        assert_eq!(d[[0, 0]], (0.0 + 1.0 + 5.0 + 6.0) / 4.0);
        assert_eq!(d[[2, 2]], 24.0);
        assert_eq!(d[[0, 2]], (4.0 + 9.0) / 2.0);
    }

    #[test]
    fn noise_estimate_finds_gaussian_noise() {
        // A smooth ramp plus Gaussian-like noise of σ = 0.02 (sum of uniforms, seeded LCG).
        let mut state = 12345u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let img = Array3::from_shape_fn((200, 200, 3), |(y, x, _)| (x + y) as f32 / 400.0);
        let mut noisy = img.clone();
        for y in 0..200 {
            for x in 0..200 {
                let n = ((0..12).map(|_| uniform()).sum::<f64>() - 6.0) * 0.02;
                for c in 0..3 {
                    noisy[[y, x, c]] += n as f32;
                }
            }
        }
        assert!(estimate_noise(img.view()) < 1e-4);
        let s = estimate_noise(noisy.view());
        assert!((s - 0.02).abs() < 0.002, "{s}");
    }

    #[test]
    fn the_noise_median_is_the_sorted_median() {
        // A textured plate: the histogram's middle bin holds many values.
        let plate = Array3::from_shape_fn((41, 57, 3), |(y, x, c)| (((x * 31 + y * 17 + c * 7) % 23) as f32 / 23.0).powi(2));
        let mut all = Vec::new();
        for y in (1..40).step_by(2) {
            noise_responses(plate.view(), y, &mut LumaRows::default(), |v| all.push(v));
        }
        all.sort_by(f32::total_cmp);
        let want = f64::from(all[all.len() / 2]) / (6.0 * 0.6745);
        assert_eq!(estimate_noise(plate.view()), want);
        assert!(want > 0.0);
    }

    #[test]
    fn dot_is_exact_on_small_input() {
        let a: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let b = vec![1.0; 10_000];
        assert_eq!(dot(&a, &b), 49_995_000.0);
    }
}
