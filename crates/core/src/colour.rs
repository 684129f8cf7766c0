//! Linear light to 8-bit sRGB, the one conversion the CLI (EXR frames) and the plugin
//! (host float frames with "Input colour = Linear") share, so identical pixels give
//! identical network input and identical mattes.
//!
//! The defining formula is [`srgb8_reference`]: the sRGB transfer curve in `f32`
//! (IEC 61966-2-1) on the value clamped to `[0, 1]`, times 255, rounded half away from
//! zero; NaN and negatives give 0, `+inf` and anything above 1 give 255. [`srgb8`]
//! computes exactly the same byte without a `powf` per channel: the curve is monotonic, so
//! the 255 smallest inputs that reach each code value (found once by bisection over the
//! `f32` bit patterns, which order like the values for non-negative floats) decide every
//! input by binary search. A 4K frame is 25 M channel conversions; this is several times
//! faster than the formula and bit-identical to it (tested over every half-float value and
//! a sweep of single-precision ones).
use std::sync::OnceLock;

/// The sRGB encoding curve on `[0, 1]` (input already clamped).
fn curve(v: f32) -> f32 {
    if v <= 0.003_130_8 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

/// The defining (slow) conversion of a linear value to an 8-bit sRGB code value.
pub fn srgb8_reference(v: f32) -> u8 {
    if v.is_nan() {
        return 0;
    }
    (curve(v.clamp(0.0, 1.0)) * 255.0).round().clamp(0.0, 255.0) as u8
}

/// `THRESHOLDS[k - 1]` is the smallest non-negative `f32` whose code value is at least `k`.
fn thresholds() -> &'static [f32; 255] {
    static TABLE: OnceLock<[f32; 255]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0f32; 255];
        let one = 1.0f32.to_bits();
        for (k, slot) in (1u8..=255).zip(t.iter_mut()) {
            // Bisection over bit patterns in [0, 1]: the code value at 1.0 is 255.
            let (mut lo, mut hi) = (0u32, one);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if srgb8_reference(f32::from_bits(mid)) >= k {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            *slot = f32::from_bits(lo);
        }
        t
    })
}

/// Linear value → 8-bit sRGB, bit-identical to [`srgb8_reference`].
#[inline]
pub fn srgb8(v: f32) -> u8 {
    // NaN is not greater than 0 either: it maps to 0 with the negatives.
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    if v >= 1.0 {
        return 255;
    }
    thresholds().partition_point(|&t| t <= v) as u8
}

/// Converts a run of linear values (any channel layout) to 8-bit sRGB.
pub fn srgb8_slice(src: &[f32], dst: &mut [u8]) {
    assert_eq!(src.len(), dst.len(), "source and destination lengths differ");
    let t = thresholds();
    for (d, &v) in dst.iter_mut().zip(src) {
        *d = if v.is_nan() || v <= 0.0 {
            0
        } else if v >= 1.0 {
            255
        } else {
            t.partition_point(|&x| x <= v) as u8
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        for (v, q) in [(f32::NAN, 0), (-1.0, 0), (0.0, 0), (f32::INFINITY, 255), (f32::NEG_INFINITY, 0), (1.0, 255), (7.5, 255)] {
            assert_eq!(srgb8(v), q, "{v}");
            assert_eq!(srgb8_reference(v), q, "{v}");
        }
        assert_eq!(srgb8(0.18), 118); // 18 % grey: sRGB 0.4614
    }

    #[test]
    fn equals_the_formula_on_every_half_float() {
        for bits in 0u16..=u16::MAX {
            let v = f16_to_f32(bits);
            assert_eq!(srgb8(v), srgb8_reference(v), "half bits {bits:#06x} = {v}");
        }
    }

    #[test]
    fn equals_the_formula_on_a_sweep_of_floats_and_at_every_threshold() {
        let one = 1.0f32.to_bits();
        let mut bits = 0u32;
        while bits <= one + 1000 {
            let v = f32::from_bits(bits);
            assert_eq!(srgb8(v), srgb8_reference(v), "bits {bits:#x} = {v}");
            bits += 1021;
        }
        let mut out = [0u8; 3];
        for &t in thresholds() {
            let below = f32::from_bits(t.to_bits() - 1);
            let row = [below, t, f32::from_bits(t.to_bits() + 1)];
            srgb8_slice(&row, &mut out);
            for (v, q) in row.iter().zip(out) {
                assert_eq!(q, srgb8_reference(*v), "around threshold {t}");
            }
        }
    }

    /// IEEE half → single, written out here so the test needs no crate.
    fn f16_to_f32(h: u16) -> f32 {
        let sign = u32::from(h >> 15) << 31;
        let exp = u32::from((h >> 10) & 0x1f);
        let man = u32::from(h & 0x3ff);
        let bits = match (exp, man) {
            (0, 0) => sign,
            (0, m) => {
                // Subnormal: normalise.
                let mut e = 127 - 15 + 1;
                let mut m = m;
                while m & 0x400 == 0 {
                    m <<= 1;
                    e -= 1;
                }
                sign | (e << 23) | ((m & 0x3ff) << 13)
            }
            (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
            (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
        };
        f32::from_bits(bits)
    }
}
