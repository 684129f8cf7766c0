//! Pillow's bicubic `Image.resize` on 8-bit RGB, reproduced bit for bit.
//!
//! The SAM 2.1 video loader (`sam2/utils/misc.py`, `_load_img_as_tensor`) squashes every
//! frame to `S×S` with Pillow's default filter before the network sees it, so the exact
//! integers Pillow produces are part of the parity contract. Pillow (libImaging, Resample.c)
//! resamples in two separable passes — horizontal first, then vertical — each with its own
//! table of fixed-point weights:
//!
//! * the kernel is the bicubic convolution with `a = -0.5` and support 2, widened by the
//!   scale factor when shrinking (so downscaling averages over more source pixels);
//! * the weights of one output sample are normalised to sum to one in `f64`, then rounded
//!   half away from zero to fixed point with 22 fractional bits;
//! * each pass accumulates in `i32` starting from one half, shifts right by 22 and clamps
//!   to `0..=255`, so the intermediate image is 8-bit as well;
//! * Pillow 13 (the version the reference environment pins) runs the vertical pass first
//!   when the height shrinks much more than the width ([`horizontal_first`]); because of
//!   the 8-bit intermediate this changes the result, so the rule is reproduced.
use super::Rgb8Image;
use rayon::prelude::*;

/// Fractional bits of Pillow's fixed-point weights (32 − 8 bits of result − 2 guard bits).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Support (half-width in source pixels at scale 1) of the bicubic kernel.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Bicubic convolution kernel with `a = -0.5`, evaluated in the same operation order as
/// Pillow so the `f64` results agree to the last bit.
fn bicubic_kernel(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The fixed-point weights of one resampling axis: output sample `i` reads `counts[i]`
/// consecutive source samples starting at `starts[i]`, weighted by
/// `weights[i * ksize ..][.. counts[i]]`.
struct AxisWeights {
    ksize: usize,
    starts: Vec<usize>,
    counts: Vec<usize>,
    weights: Vec<i32>,
}

/// Rounds a normalised weight to fixed point, half away from zero, truncating like C.
fn to_fixed(w: f64) -> i32 {
    let scaled = w * f64::from(1u32 << PRECISION_BITS);
    if w < 0.0 {
        (scaled - 0.5) as i32
    } else {
        (scaled + 0.5) as i32
    }
}

/// Builds the weight table mapping `in_size` source samples onto `out_size` outputs over
/// the whole source extent (Pillow's default box `0..in_size`).
fn axis_weights(in_size: usize, out_size: usize) -> AxisWeights {
    // Pillow keeps the box in f32; whole sizes below 2^24 are exact there and in f64.
    let scale = (in_size as f32) as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv_filterscale = 1.0 / filterscale;

    let mut table = AxisWeights {
        ksize,
        starts: Vec::with_capacity(out_size),
        counts: Vec::with_capacity(out_size),
        weights: vec![0; out_size * ksize],
    };
    let mut raw = vec![0.0f64; ksize];
    for i in 0..out_size {
        let center = (i as f64 + 0.5) * scale;
        // `as i32` truncates toward zero, as the C cast does.
        let lo = ((center - support + 0.5) as i32).max(0);
        let hi = ((center + support + 0.5) as i32).min(in_size as i32);
        let count = (hi - lo).max(0) as usize;
        let mut total = 0.0;
        for (x, slot) in raw.iter_mut().enumerate().take(count) {
            let w = bicubic_kernel(((x as i32 + lo) as f64 - center + 0.5) * inv_filterscale);
            *slot = w;
            total += w;
        }
        let row = &mut table.weights[i * ksize..(i + 1) * ksize];
        for (dst, &w) in row.iter_mut().zip(raw.iter()).take(count) {
            *dst = to_fixed(if total != 0.0 { w / total } else { w });
        }
        table.starts.push(lo as usize);
        table.counts.push(count);
    }
    table
}

/// Converts an accumulator back to 8 bits: drop the fraction, clamp to `0..=255`.
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The accumulator's starting value: one half in fixed point, so the shift rounds.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Horizontal pass: every row of `src` (width `src_w`, RGB) resampled to `out_w` columns.
fn resample_rows(src: &[u8], src_w: usize, rows: usize, out_w: usize) -> Vec<u8> {
    let table = axis_weights(src_w, out_w);
    let mut out = vec![0u8; out_w * rows * 3];
    // Rows are independent: split them over threads (same integers either way).
    src.par_chunks_exact(src_w * 3).zip(out.par_chunks_exact_mut(out_w * 3)).take(rows).for_each(|(src_row, out_row)| {
        for (xx, out_px) in out_row.chunks_exact_mut(3).enumerate() {
            let start = table.starts[xx];
            let k = &table.weights[xx * table.ksize..][..table.counts[xx]];
            let mut acc = [HALF; 3];
            for (x, &w) in k.iter().enumerate() {
                let px = &src_row[(start + x) * 3..][..3];
                for c in 0..3 {
                    acc[c] += i32::from(px[c]) * w;
                }
            }
            for c in 0..3 {
                out_px[c] = clip8(acc[c]);
            }
        }
    });
    out
}

/// Vertical pass: `src` (height `src_h`, `row_len` bytes per row) resampled to `out_h` rows.
fn resample_columns(src: &[u8], row_len: usize, src_h: usize, out_h: usize) -> Vec<u8> {
    let table = axis_weights(src_h, out_h);
    let mut out = vec![0u8; row_len * out_h];
    out.par_chunks_exact_mut(row_len).enumerate().for_each(|(yy, out_row)| {
        let start = table.starts[yy];
        let k = &table.weights[yy * table.ksize..][..table.counts[yy]];
        // Accumulate source rows one after another (the same sum in the same order as
        // column by column, but reading memory in rows).
        let mut acc = vec![HALF; row_len];
        for (y, &w) in k.iter().enumerate() {
            let row = &src[(start + y) * row_len..][..row_len];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += i32::from(p) * w;
            }
        }
        for (dst, a) in out_row.iter_mut().zip(acc) {
            *dst = clip8(a);
        }
    });
    out
}

/// Resizes an 8-bit RGB image to `width × height` exactly as Pillow's
/// `Image.resize((width, height))` does with its default BICUBIC filter (aspect ratio is
/// not kept). A same-size request returns a copy, as Pillow does.
///
/// # Panics
/// If `width` or `height` is zero or the image's buffer does not match its size.
pub fn resize_bicubic_pil(img: &Rgb8Image, width: u32, height: u32) -> Rgb8Image {
    assert!(width > 0 && height > 0, "resize target must be non-empty, got {width}x{height}");
    let (in_w, in_h) = (img.width as usize, img.height as usize);
    assert_eq!(img.data.len(), in_w * in_h * 3, "RGB buffer does not match {in_w}x{in_h}");
    let (out_w, out_h) = (width as usize, height as usize);
    let mut data = img.data.clone();
    if horizontal_first(img.width, img.height, width, height) {
        if out_w != in_w {
            data = resample_rows(&data, in_w, in_h, out_w);
        }
        if out_h != in_h {
            data = resample_columns(&data, out_w * 3, in_h, out_h);
        }
    } else {
        if out_h != in_h {
            data = resample_columns(&data, in_w * 3, in_h, out_h);
        }
        if out_w != in_w {
            data = resample_rows(&data, in_w, out_h, out_w);
        }
    }
    Rgb8Image { width, height, data }
}

/// Pillow 13's choice of pass order (the 8-bit intermediate makes the order visible in the
/// result): the vertical pass goes first only when the height shrinks by more than twice as
/// many pixels as the width does; otherwise horizontal first, as in every earlier Pillow.
fn horizontal_first(in_w: u32, in_h: u32, out_w: u32, out_h: u32) -> bool {
    let shrink_h = i64::from(in_h) - i64::from(out_h);
    let shrink_w = i64::from(in_w) - i64::from(out_w);
    !(shrink_h > 0 && shrink_h > shrink_w * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_values() {
        assert_eq!(bicubic_kernel(0.0), 1.0);
        assert_eq!(bicubic_kernel(1.0), 0.0);
        assert_eq!(bicubic_kernel(-2.0), 0.0);
        assert_eq!(bicubic_kernel(0.5), 0.5625);
        assert_eq!(bicubic_kernel(1.5), -0.0625);
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(960, 256), (540, 1024), (7, 3), (3, 7), (1280, 1024)] {
            let t = axis_weights(i, o);
            for j in 0..o {
                let s: i32 = t.weights[j * t.ksize..][..t.counts[j]].iter().sum();
                assert!((s - (1 << PRECISION_BITS)).abs() <= t.ksize as i32, "{i}->{o} row {j}: {s}");
                assert!(t.starts[j] + t.counts[j] <= i);
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = Rgb8Image { width: 5, height: 4, data: [10u8, 200, 255].repeat(20) };
        for (w, h) in [(2, 3), (9, 11), (5, 1)] {
            let out = resize_bicubic_pil(&img, w, h);
            assert_eq!(out.data, [10u8, 200, 255].repeat((w * h) as usize));
        }
    }

    #[test]
    fn pass_order_rule() {
        assert!(horizontal_first(960, 540, 1024, 1024));
        assert!(horizontal_first(960, 540, 760, 140)); // 400 == 2 * 200: not more than twice
        assert!(!horizontal_first(960, 540, 761, 140));
        assert!(!horizontal_first(720, 1280, 1024, 1024)); // portrait footage
        assert!(horizontal_first(5, 5, 5, 5));
    }

    #[test]
    fn same_size_is_a_copy() {
        let img = Rgb8Image { width: 2, height: 1, data: vec![1, 2, 3, 4, 5, 6] };
        assert_eq!(resize_bicubic_pil(&img, 2, 1).data, img.data);
    }
}
