//! Matte finishing without libtorch: the tracker's low-resolution logits turned into
//! logits at the frame's resolution, bit for bit what the libtorch path gives.
//!
//! Ports:
//! - libtorch's CPU kernel for `upsample_bilinear2d` (`aten/src/ATen/native/cpu/
//!   UpSampleKernel.cpp` with `UpSample.h`) on a `[1, 1, h, w]` float32 tensor,
//!   `align_corners = false`, no scale factors: the reference's
//!   `F.interpolate(..., mode="bilinear", align_corners=False)` in sam2's video
//!   predictor (`_get_orig_video_res_output`);
//! - the non-overlap constraint of sam2_base's `_apply_non_overlapping_constraints`: at
//!   each pixel the object with the highest logit keeps it (ties go to the first object,
//!   as `argmax`), the others are clamped to at most -10.
//!
//! Arithmetic matched (established against libtorch 2.11's CPU kernels):
//! - scale `in as f32 / out as f32`; source coordinate `fma(scale, i + 0.5, -0.5)`,
//!   clamped at 0; index `min(floor(x), in - 1)`, second index `+1` unless at the edge;
//!   `λ1 = clamp(x - index, 0, 1)`, `λ0 = 1 - λ1`; an axis whose size is kept copies
//!   (`λ0 = 1`, `λ1 = 0`);
//! - libtorch's x86 kernels are built with `-mfma` (AVX2 and AVX512 capabilities) and GCC
//!   contracts `a * b + c * d` into `fma(a, b, c * d)`: that is what runs on every x86-64
//!   CPU with AVX2, and what is reproduced here with [`f32::mul_add`] (the generic
//!   `DEFAULT` build, forced by `ATEN_CPU_CAPABILITY=default`, differs in the last bit);
//! - outputs with `height + width > 128` take the generic kernel: per row
//!   `t = fma(s[w0], λw0, s[w1] * λw1)`, then `fma(t_h0, λh0, t_h1 * λh1)`;
//! - smaller outputs take libtorch's channels-last kernel: weights `λh * λw`, summed as
//!   `fma(s11, w11, fma(s10, w10, fma(s00, w00, s01 * w01)))`;
//! - an output of the input's size is the input unchanged (as `to_video_resolution`).
use crate::lowres::LowResFrame;
use rayon::prelude::*;

/// Output size (height + width) up to which libtorch takes its channels-last kernel
/// (`_use_vectorized_kernel_cond_2d`).
const SMALL_OUTPUT_SUM: usize = 128;

/// Value the losing objects are clamped to (at most) by the non-overlap constraint.
const LOSER_CLAMP: f32 = -10.0;

/// Pixels per parallel task in the non-overlap pass.
const NON_OVERLAP_CHUNK: usize = 1 << 14;

/// One output coordinate's two source indices and their weights along one axis.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    i0: usize,
    i1: usize,
    l0: f32,
    l1: f32,
}

/// libtorch's `compute_source_index_and_lambda` for every output index of one axis
/// (`align_corners = false`, no scale factor given).
fn axis_taps(input: usize, output: usize) -> Vec<Tap> {
    if input == output {
        return (0..output).map(|i| Tap { i0: i, i1: i, l0: 1.0, l1: 0.0 }).collect();
    }
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|i| {
            let real = scale.mul_add(i as f32 + 0.5, -0.5);
            let real = if real < 0.0 { 0.0 } else { real };
            let i0 = (real.floor() as usize).min(input - 1);
            let l1 = (real - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
            Tap { i0, i1, l0: 1.0 - l1, l1 }
        })
        .collect()
}

/// Bilinear resize of one `src_w × src_h` row-major plane to `out_w × out_h`
/// (`align_corners = false`), bit-identical to libtorch's CPU float32
/// `upsample_bilinear2d` on a `[1, 1, src_h, src_w]` tensor (see the module header).
/// Upsampling and downsampling alike; an unchanged size returns a copy of `src`.
///
/// # Panics
/// When `src.len() != src_w * src_h` or a size is zero.
pub fn upsample_bilinear(src: &[f32], src_w: usize, src_h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    assert_eq!(src.len(), src_w * src_h, "source plane is not {src_w}×{src_h}");
    assert!(src_w > 0 && src_h > 0 && out_w > 0 && out_h > 0, "empty plane");
    if (src_w, src_h) == (out_w, out_h) {
        return src.to_vec();
    }
    let xs = axis_taps(src_w, out_w);
    let ys = axis_taps(src_h, out_h);
    if out_w + out_h <= SMALL_OUTPUT_SUM {
        upsample_small(src, src_w, &xs, &ys)
    } else {
        upsample_generic(src, src_w, &xs, &ys)
    }
}

/// libtorch's generic (TensorIterator) kernel, in parallel over output rows.
fn upsample_generic(src: &[f32], src_w: usize, xs: &[Tap], ys: &[Tap]) -> Vec<f32> {
    let across = rows_across(src, src_w, xs, ys);
    let mut out = vec![0.0f32; ys.len() * xs.len()];
    out.par_chunks_mut(xs.len()).zip(ys.par_iter()).for_each(|(row, t)| blend_row(row, &across, t));
    out
}

/// The generic kernel's inner step on every source row that `ys` reads: the row
/// interpolated across to the output width (`fma(s[w0], λw0, s[w1] * λw1)`, the very
/// value libtorch computes for each output pixel of rows reading it), so that output
/// rows only blend two of them. Rows never read stay zero.
fn rows_across(src: &[f32], src_w: usize, xs: &[Tap], ys: &[Tap]) -> Vec<f32> {
    let (src_h, out_w) = (src.len() / src_w, xs.len());
    let mut needed = vec![false; src_h];
    for t in ys {
        needed[t.i0] = true;
        needed[t.i1] = true;
    }
    let mut across = vec![0.0f32; src_h * out_w];
    across
        .par_chunks_mut(out_w)
        .enumerate()
        .filter(|(r, _)| needed[*r])
        .for_each(|(r, row)| across_row(row, &src[r * src_w..(r + 1) * src_w], xs));
    across
}

/// One source row interpolated across: `fma(s[w0], λw0, s[w1] * λw1)`. Compiled for FMA
/// hardware too (chosen at run time): `mul_add` is the same correctly rounded operation
/// either way, only a call instead of an instruction without it.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn across_row(row: &mut [f32], s: &[f32], xs: &[Tap]) {
    for (o, t) in row.iter_mut().zip(xs) {
        *o = s[t.i0].mul_add(t.l0, s[t.i1] * t.l1);
    }
}

/// The generic kernel's outer step for one output row: `fma(a, λh0, b * λh1)` of the two
/// source rows `t` reads, as interpolated across by [`rows_across`].
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn blend_row(row: &mut [f32], across: &[f32], t: &Tap) {
    let w = row.len();
    let (r0, r1) = (&across[t.i0 * w..(t.i0 + 1) * w], &across[t.i1 * w..(t.i1 + 1) * w]);
    for ((o, &a), &b) in row.iter_mut().zip(r0).zip(r1) {
        *o = a.mul_add(t.l0, b * t.l1);
    }
}

/// libtorch's channels-last kernel (taken for outputs with `height + width ≤ 128`): four
/// weights `λh * λw` summed left to right, contracted into fused multiply-adds.
fn upsample_small(src: &[f32], src_w: usize, xs: &[Tap], ys: &[Tap]) -> Vec<f32> {
    let mut out = vec![0.0f32; xs.len() * ys.len()];
    for (row, y) in out.chunks_mut(xs.len()).zip(ys) {
        small_row(row, src, src_w, xs, y);
    }
    out
}

/// One output row of the channels-last kernel.
fn small_row(row: &mut [f32], src: &[f32], src_w: usize, xs: &[Tap], y: &Tap) {
    let (r0, r1) = (&src[y.i0 * src_w..], &src[y.i1 * src_w..]);
    for (o, x) in row.iter_mut().zip(xs) {
        let (w00, w01) = (y.l0 * x.l0, y.l0 * x.l1);
        let (w10, w11) = (y.l1 * x.l0, y.l1 * x.l1);
        let top = r0[x.i0].mul_add(w00, r0[x.i1] * w01);
        *o = r1[x.i1].mul_add(w11, r1[x.i0].mul_add(w10, top));
    }
}

/// One plane's upsampling, prepared once and computed a row at a time (for writers that
/// stream rows into an image instead of holding whole planes): row `y` of
/// [`upsample_bilinear`]'s result, the same bits.
pub struct Upsampler<'a> {
    src: &'a [f32],
    src_w: usize,
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    kernel: Kernel,
}

enum Kernel {
    Copy,
    Small,
    /// Source rows interpolated across (see [`rows_across`]).
    Generic(Vec<f32>),
}

impl<'a> Upsampler<'a> {
    /// # Panics
    /// As [`upsample_bilinear`].
    pub fn new(src: &'a [f32], src_w: usize, src_h: usize, out_w: usize, out_h: usize) -> Self {
        assert_eq!(src.len(), src_w * src_h, "source plane is not {src_w}×{src_h}");
        assert!(src_w > 0 && src_h > 0 && out_w > 0 && out_h > 0, "empty plane");
        let (xs, ys) = (axis_taps(src_w, out_w), axis_taps(src_h, out_h));
        let kernel = if (src_w, src_h) == (out_w, out_h) {
            Kernel::Copy
        } else if out_w + out_h <= SMALL_OUTPUT_SUM {
            Kernel::Small
        } else {
            Kernel::Generic(rows_across(src, src_w, &xs, &ys))
        };
        Upsampler { src, src_w, xs, ys, kernel }
    }

    /// Output row `y` into `row` (`out_w` long).
    pub fn row(&self, y: usize, row: &mut [f32]) {
        let w = self.xs.len();
        match &self.kernel {
            Kernel::Copy => row.copy_from_slice(&self.src[y * w..(y + 1) * w]),
            Kernel::Small => small_row(row, self.src, self.src_w, &self.xs, &self.ys[y]),
            Kernel::Generic(across) => blend_row(row, across, &self.ys[y]),
        }
    }
}

/// A frame's finishing computed a row at a time: row `y` of every object's plane of
/// [`finish_frame`], non-overlap included, the same bits.
pub struct FrameRows<'a> {
    objects: Vec<Upsampler<'a>>,
    non_overlap: bool,
    width: usize,
}

impl<'a> FrameRows<'a> {
    /// # Panics
    /// As [`finish_frame`].
    pub fn new(low: &'a LowResFrame, frame_size: (u32, u32), non_overlap: bool) -> Self {
        if let Err(e) = low.validate() {
            panic!("finish_frame: {e}");
        }
        let side = low.side as usize;
        let (w, h) = (frame_size.0 as usize, frame_size.1 as usize);
        let objects = low.objects.iter().map(|(_, v)| Upsampler::new(v, side, side, w, h)).collect();
        FrameRows { objects, non_overlap, width: w }
    }

    /// Row `y` of every object into `rows` (one `width`-long buffer per object).
    pub fn row(&self, y: usize, rows: &mut [Vec<f32>]) {
        for (u, r) in self.objects.iter().zip(rows.iter_mut()) {
            r.resize(self.width, 0.0);
            u.row(y, r);
        }
        if self.non_overlap && rows.len() > 1 {
            let mut slices: Vec<&mut [f32]> = rows.iter_mut().map(|r| r.as_mut_slice()).collect();
            keep_strongest(&mut slices);
        }
    }
}

/// The non-overlap constraint, in place: at each pixel the object with the highest logit
/// keeps it (the first one on ties, as `argmax`), every other object's logit is clamped
/// to at most -10. Bit-identical to the libtorch path for finite logits (NaN aside).
///
/// # Panics
/// When the objects' planes differ in length.
pub fn non_overlapping(objects: &mut [Vec<f32>]) {
    let Some(len) = objects.first().map(Vec::len) else {
        return;
    };
    assert!(objects.iter().all(|o| o.len() == len), "objects' planes differ in size");
    if objects.len() < 2 {
        return;
    }
    let groups = transpose_chunks(objects, NON_OVERLAP_CHUNK);
    groups.into_par_iter().for_each(|mut chunks| keep_strongest(&mut chunks));
}

/// The planes cut into `chunk`-long pieces, grouped by position: group `g` holds piece
/// `g` of every plane, in plane order (planes of equal length).
fn transpose_chunks(planes: &mut [Vec<f32>], chunk: usize) -> Vec<Vec<&mut [f32]>> {
    let mut groups: Vec<Vec<&mut [f32]>> = Vec::new();
    for plane in planes.iter_mut() {
        for (g, piece) in plane.chunks_mut(chunk).enumerate() {
            if g == groups.len() {
                groups.push(Vec::new());
            }
            groups[g].push(piece);
        }
    }
    groups
}

/// The non-overlap constraint on the same pixel range of every object: the highest
/// logit of each pixel first, then the first object holding it keeps it (ties go to the
/// first object, as `argmax`) and every other object's logit is clamped. Written as
/// whole-slice passes without conditional stores, so that they vectorise.
fn keep_strongest(chunks: &mut [&mut [f32]]) {
    let mut top = chunks[0].to_vec();
    for chunk in chunks.iter().skip(1) {
        for (t, &v) in top.iter_mut().zip(chunk.iter()) {
            *t = t.max(v);
        }
    }
    let mut claimed = vec![false; top.len()];
    for chunk in chunks.iter_mut() {
        for ((v, c), &t) in chunk.iter_mut().zip(claimed.iter_mut()).zip(&top) {
            let x = *v;
            let wins = !*c & (x == t);
            *c |= wins;
            *v = if wins { x } else { x.min(LOSER_CLAMP) };
        }
    }
}

/// Every object's logits at the frame's resolution (`frame_size` is `(width, height)`;
/// each plane `height × width`, row-major), in object order: each object upsampled with
/// [`upsample_bilinear`], then, when `non_overlap` is set and there are several objects,
/// [`non_overlapping`]. What the libtorch path's `finish_frame` gives, bit for bit.
///
/// # Panics
/// When `low` is malformed (see [`LowResFrame::validate`]) or the frame is empty.
pub fn finish_frame(low: &LowResFrame, frame_size: (u32, u32), non_overlap: bool) -> Vec<(String, Vec<f32>)> {
    if let Err(e) = low.validate() {
        panic!("finish_frame: {e}");
    }
    let side = low.side as usize;
    let (w, h) = (frame_size.0 as usize, frame_size.1 as usize);
    let mut planes: Vec<Vec<f32>> = low.objects.iter().map(|(_, v)| upsample_bilinear(v, side, side, w, h)).collect();
    if non_overlap && planes.len() > 1 {
        non_overlapping(&mut planes);
    }
    low.objects.iter().map(|(name, _)| name.clone()).zip(planes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_to_four_by_four() {
        // scale 0.5: source coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (edge).
        let out = upsample_bilinear(&[0.0, 4.0, 8.0, 12.0], 2, 2, 4, 4);
        let want = [
            0.0, 1.0, 3.0, 4.0, //
            2.0, 3.0, 5.0, 6.0, //
            6.0, 7.0, 9.0, 10.0, //
            8.0, 9.0, 11.0, 12.0,
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn taps_of_an_upsampling_axis() {
        let t = axis_taps(2, 4);
        assert_eq!(t[0], Tap { i0: 0, i1: 1, l0: 1.0, l1: 0.0 });
        assert_eq!(t[1], Tap { i0: 0, i1: 1, l0: 0.75, l1: 0.25 });
        assert_eq!(t[3], Tap { i0: 1, i1: 1, l0: 0.75, l1: 0.25 });
    }

    #[test]
    fn downsampling_by_two_averages_pairs() {
        // scale 2: source coordinates 0.5 and 2.5.
        let src: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let out = upsample_bilinear(&src, 4, 4, 2, 2);
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
    }

    #[test]
    fn same_size_is_a_copy_and_one_kept_axis_copies_along_it() {
        let src = [1.5f32, -2.0, 3.25, 7.0, -0.0, 9.0];
        assert_eq!(upsample_bilinear(&src, 3, 2, 3, 2), src.to_vec());
        let wide = upsample_bilinear(&src, 3, 2, 3, 200);
        assert_eq!(&wide[..3], &src[..3]);
        assert_eq!(&wide[199 * 3..], &src[3..]);
    }

    #[test]
    fn large_outputs_match_the_small_kernel_on_exact_values() {
        // Both kernels agree whenever no rounding happens (dyadic values and weights).
        let src: Vec<f32> = (0..64).map(|v| (v % 7) as f32 - 3.0).collect();
        let big = upsample_bilinear(&src, 8, 8, 128, 16);
        let taps = (axis_taps(8, 128), axis_taps(8, 16));
        assert_eq!(big, upsample_small(&src, 8, &taps.0, &taps.1));
    }

    #[test]
    fn non_overlap_ties_go_to_the_first_object() {
        let mut o = vec![vec![5.0, -1.0, 2.0, -20.0], vec![3.0, 2.0, 2.0, -30.0], vec![5.0, 2.0, 1.0, -25.0]];
        non_overlapping(&mut o);
        assert_eq!(o[0], vec![5.0, -10.0, 2.0, -20.0]);
        assert_eq!(o[1], vec![-10.0, 2.0, -10.0, -30.0]);
        assert_eq!(o[2], vec![-10.0, -10.0, -10.0, -25.0]);
    }

    #[test]
    fn non_overlap_spans_chunks_and_keeps_a_single_object() {
        let n = NON_OVERLAP_CHUNK * 2 + 3;
        let mut o = vec![vec![1.0; n], (0..n).map(|i| if i % 2 == 0 { 2.0 } else { 0.0 }).collect()];
        non_overlapping(&mut o);
        assert_eq!((o[0][n - 1], o[1][n - 1]), (-10.0, 2.0));
        assert_eq!((o[0][n - 2], o[1][n - 2]), (1.0, -10.0));
        let mut single = vec![vec![3.0, -4.0]];
        non_overlapping(&mut single);
        assert_eq!(single[0], vec![3.0, -4.0]);
    }

    #[test]
    fn finish_frame_upsamples_then_separates() {
        let low = LowResFrame { side: 2, objects: vec![("a".into(), vec![0.0, 4.0, 8.0, 12.0]), ("b".into(), vec![6.0; 4])] };
        let out = finish_frame(&low, (4, 4), true);
        assert_eq!(out[0].0, "a");
        assert_eq!(out[0].1[..4], [-10.0, -10.0, -10.0, -10.0]);
        assert_eq!(out[0].1[15], 12.0);
        assert_eq!(out[1].1[..2], [6.0, 6.0]);
        assert_eq!(out[1].1[15], -10.0);
        let apart = finish_frame(&low, (4, 4), false);
        assert_eq!(apart[0].1[0], 0.0);
    }
}

#[cfg(test)]
mod row_tests {
    use super::*;

    #[test]
    fn rows_equal_whole_planes_for_every_kernel_and_non_overlap() {
        let mut seed = 1u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 20) as f32 - 8.0
        };
        let low = LowResFrame { side: 16, objects: (0..3).map(|i| (format!("o{i}"), (0..256).map(|_| next()).collect())).collect() };
        for size in [(16, 16), (40, 30), (200, 90), (7, 5)] {
            for non_overlap in [false, true] {
                let whole = finish_frame(&low, size, non_overlap);
                let rows = FrameRows::new(&low, size, non_overlap);
                let mut bufs = vec![Vec::new(); 3];
                for y in 0..size.1 as usize {
                    rows.row(y, &mut bufs);
                    for (b, (_, plane)) in bufs.iter().zip(&whole) {
                        let w = size.0 as usize;
                        assert!(b.iter().zip(&plane[y * w..(y + 1) * w]).all(|(a, b)| a.to_bits() == b.to_bits()), "{size:?} row {y}");
                    }
                }
            }
        }
    }
}
