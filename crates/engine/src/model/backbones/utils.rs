//! Hiera helpers (SAM 2 paper, image encoder): non-overlapping window partitioning with
//! zero padding, its inverse, and the strided-convolution patch embedding.
//! Reference: `sam2/modeling/backbones/utils.py` (`window_partition`, `window_unpartition`,
//! `PatchEmbed`).
use crate::model::layers::Conv2d;
use crate::model::weights::Scope;
use tch::Tensor;

/// Zero padding needed to bring `len` up to a multiple of `window`.
pub fn pad_to_window(len: i64, window: i64) -> i64 {
    (window - len % window) % window
}

/// Splits channels-last tokens `[B, H, W, C]` into `window × window` tiles, padding the
/// bottom/right edges with zeros first. Returns `[B·nW, window, window, C]` and the padded
/// size `(Hp, Wp)`. Windows are ordered row-major per image.
pub fn window_partition(x: &Tensor, window: i64) -> (Tensor, (i64, i64)) {
    let (b, h, w, c) = x.size4().expect("window_partition expects [B, H, W, C]");
    let (pad_h, pad_w) = (pad_to_window(h, window), pad_to_window(w, window));
    let x = if pad_h > 0 || pad_w > 0 { x.constant_pad_nd([0, 0, 0, pad_w, 0, pad_h]) } else { x.shallow_clone() };
    let (hp, wp) = (h + pad_h, w + pad_w);
    let windows =
        x.view([b, hp / window, window, wp / window, window, c]).permute([0, 1, 3, 2, 4, 5]).contiguous().view([-1, window, window, c]);
    (windows, (hp, wp))
}

/// Inverse of [`window_partition`]: reassembles `[B·nW, window, window, C]` tiles into the
/// padded `(Hp, Wp)` grid and crops it back to `(H, W)`.
pub fn window_unpartition(windows: &Tensor, window: i64, padded: (i64, i64), hw: (i64, i64)) -> Tensor {
    let (hp, wp) = padded;
    let (h, w) = hw;
    let b = windows.size()[0] / (hp * wp / window / window);
    let x = windows.view([b, hp / window, wp / window, window, window, -1]).permute([0, 1, 3, 2, 4, 5]).contiguous().view([b, hp, wp, -1]);
    if hp > h || wp > w {
        x.slice(1, 0, h, 1).slice(2, 0, w, 1).contiguous()
    } else {
        x
    }
}

/// Patch embedding: 7×7 convolution, stride 4, padding 3, from RGB to `embed_dim`
/// channels, returned channels-last `[B, H/4, W/4, C]`.
#[derive(Debug)]
pub struct PatchEmbed {
    proj: Conv2d,
}

impl PatchEmbed {
    /// Loads `<scope>.proj.{weight,bias}`.
    pub fn load(s: &Scope, embed_dim: i64) -> Self {
        Self { proj: Conv2d::load(&s.sub("proj"), 3, embed_dim, 7, 4, 3, 1, true) }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.proj.forward(x).permute([0, 2, 3, 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn partition_round_trip_with_padding() {
        let x = Tensor::randn([2, 10, 13, 3], (Kind::Float, Device::Cpu));
        let (win, padded) = window_partition(&x, 4);
        assert_eq!(padded, (12, 16));
        assert_eq!(win.size(), vec![2 * 3 * 4, 4, 4, 3]);
        let back = window_unpartition(&win, 4, padded, (10, 13));
        assert_eq!(back.size(), x.size());
        assert_eq!((back - &x).abs().max().double_value(&[]), 0.0);
    }

    #[test]
    fn partition_orders_windows_row_major_and_pads_with_zeros() {
        // 1×3×3×1 grid 0..9, window 2 → padded 4×4, four windows.
        let x = Tensor::arange(9, (Kind::Float, Device::Cpu)).view([1, 3, 3, 1]) + 1.0;
        let (win, padded) = window_partition(&x, 2);
        assert_eq!(padded, (4, 4));
        let flat: Vec<f32> = Vec::try_from(win.flatten(0, -1)).unwrap();
        // window (0,0): 1 2 / 4 5; window (0,1): 3 0 / 6 0; window (1,0): 7 8 / 0 0; (1,1): 9 0 / 0 0
        let expect = [1., 2., 4., 5., 3., 0., 6., 0., 7., 8., 0., 0., 9., 0., 0., 0.];
        assert_eq!(flat, expect);
    }

    #[test]
    fn pad_amounts() {
        assert_eq!(pad_to_window(16, 14), 12);
        assert_eq!(pad_to_window(8, 7), 6);
        assert_eq!(pad_to_window(64, 8), 0);
    }
}
