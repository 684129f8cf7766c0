//! Position encodings. Reference: `sam2/modeling/position_encoding.py`
//! (`PositionEmbeddingSine`, `PositionEmbeddingRandom`, `compute_axial_cis`,
//! `apply_rotary_enc`). The SAM 2 paper's FPN/memory sine encodings, the prompt encoder's
//! random-Fourier encoding and the memory attention's axial 2-D RoPE.
use super::weights::Scope;
use tch::{Device, Kind, Tensor};

/// Tensors that depend only on a small key (a grid size, a device), computed once: the
/// position encodings and RoPE frequencies are the same for every frame. Callers get shallow
/// copies (views of the memoised storage) and must not write into them: each entry keeps the
/// version counter it had when stored, and a hit whose tensor was written in place since
/// (any in-place op on it or on a view of it) panics instead of handing out the altered
/// values. Cloning gives an empty memo.
#[derive(Debug, Default)]
pub struct Memo<K>(parking_lot::Mutex<Vec<(K, Tensor, i64)>>);

impl<K: PartialEq + std::fmt::Debug> Memo<K> {
    pub fn new() -> Self {
        Self(parking_lot::Mutex::new(Vec::new()))
    }

    /// The tensor of `key`, computing it with `f` the first time.
    pub fn get_or(&self, key: K, f: impl FnOnce() -> Tensor) -> Tensor {
        let mut memo = self.0.lock();
        if let Some((_, t, version)) = memo.iter().find(|(k, _, _)| *k == key) {
            let now = t.internal_version();
            assert_eq!(
                now, *version,
                "memoised tensor for {key:?} was written in place (version {version} -> {now}): callers must not write into memo tensors"
            );
            return t.shallow_clone();
        }
        let t = f();
        memo.push((key, t.shallow_clone(), t.internal_version()));
        t
    }
}

impl<K> Clone for Memo<K> {
    fn clone(&self) -> Self {
        Self(parking_lot::Mutex::new(Vec::new()))
    }
}

/// DETR-style 2-D sine encoding, normalised, scale 2π (`PositionEmbeddingSine`).
#[derive(Debug, Clone)]
pub struct PositionEmbeddingSine {
    /// Half the output channels (the reference stores `num_pos_feats // 2`).
    half_feats: i64,
    temperature: f64,
    /// `[1, C, h, w]` per grid and device (the reference caches per grid too).
    memo: Memo<(i64, i64, Device)>,
}

impl PositionEmbeddingSine {
    /// `num_pos_feats` is the number of output channels (256 for the neck, 64 for memory).
    pub fn new(num_pos_feats: i64, temperature: f64) -> Self {
        assert!(num_pos_feats % 2 == 0, "sine position encoding needs an even width");
        Self { half_feats: num_pos_feats / 2, temperature, memo: Memo::new() }
    }

    /// `1 / temperature^(2 * (i // 2) / half_feats)` factors, as `dim_t` in the reference.
    fn dim_t(&self, device: Device) -> Tensor {
        let i = Tensor::arange(self.half_feats, (Kind::Float, device));
        let expo = i.floor_divide_scalar(2).multiply_scalar(2.0).divide_scalar(self.half_feats as f64);
        Tensor::from(self.temperature).to_kind(Kind::Float).to_device(device).pow(&expo)
    }

    /// Interleaves sin of even and cos of odd channels: `stack((p[..,0::2].sin(), p[..,1::2].cos()), -1).flatten(-2)`.
    fn sin_cos(p: &Tensor) -> Tensor {
        let last = p.size().len() as i64 - 1;
        let n = *p.size().last().unwrap();
        let even = p.slice(last, 0, n, 2).sin();
        let odd = p.slice(last, 1, n, 2).cos();
        Tensor::stack(&[even, odd], last + 1).flatten(last, last + 1)
    }

    /// The encoding of an `h × w` grid: `[b, 2·half_feats, h, w]` (float32; the batch is an
    /// expanded view of one grid).
    pub fn forward(&self, b: i64, h: i64, w: i64, device: Device) -> Tensor {
        self.memo.get_or((h, w, device), || self.grid(h, w, device)).expand([b, -1, -1, -1], false)
    }

    /// `[1, 2·half_feats, h, w]`.
    fn grid(&self, h: i64, w: i64, device: Device) -> Tensor {
        let scale = 2.0 * std::f64::consts::PI;
        let eps = 1e-6;
        let y = Tensor::arange_start(1, h + 1, (Kind::Float, device)).view([h, 1]).expand([h, w], true);
        let x = Tensor::arange_start(1, w + 1, (Kind::Float, device)).view([1, w]).expand([h, w], true);
        let y = y.divide_scalar(h as f64 + eps).multiply_scalar(scale);
        let x = x.divide_scalar(w as f64 + eps).multiply_scalar(scale);
        let dim_t = self.dim_t(device);
        let pos_x = Self::sin_cos(&x.unsqueeze(-1).divide(&dim_t));
        let pos_y = Self::sin_cos(&y.unsqueeze(-1).divide(&dim_t));
        Tensor::cat(&[pos_y, pos_x], 2).permute([2, 0, 1]).unsqueeze(0).contiguous()
    }
}

/// [`PositionEmbeddingSine`] with temperature 10000 (every SAM 2.1 use) of an `h × w` grid
/// with `feats` channels, evaluated in f64 straight from the reference's formula, channel-major
/// (`[feats, h, w]` flattened): sin on even and cos on odd channels of
/// `pos / (n + 1e-6) · 2π / 10000^(2·(k//2)/(feats/2))`, y channels first. An oracle for
/// tests: the float32 encoding must stay within rounding of it.
pub fn sine_formula_f64(feats: i64, h: i64, w: i64) -> Vec<f64> {
    let half = feats / 2;
    let mut out = Vec::with_capacity((feats * h * w) as usize);
    for c in 0..feats {
        let k = c % half;
        let dim_t = 10000f64.powf((2 * (k / 2)) as f64 / half as f64);
        for i in 0..h {
            for j in 0..w {
                let (pos, n) = if c < half { (i + 1, h) } else { (j + 1, w) };
                let arg = pos as f64 / (n as f64 + 1e-6) * 2.0 * std::f64::consts::PI / dim_t;
                out.push(if k % 2 == 0 { arg.sin() } else { arg.cos() });
            }
        }
    }
    out
}

/// Random-Fourier position encoding of the prompt encoder (`PositionEmbeddingRandom`); the
/// Gaussian matrix is a checkpoint buffer (`positional_encoding_gaussian_matrix`, `[2, F]`).
#[derive(Debug)]
pub struct PositionEmbeddingRandom {
    gaussian: Tensor,
}

impl PositionEmbeddingRandom {
    pub fn load(s: &Scope, num_pos_feats: i64) -> Self {
        Self { gaussian: s.tensor("positional_encoding_gaussian_matrix", &[2, num_pos_feats]) }
    }

    /// Encodes coordinates normalised to `[0, 1]`: `[..., 2] -> [..., 2F]`.
    fn pe_encoding(&self, coords: &Tensor) -> Tensor {
        let c = coords.multiply_scalar(2.0).subtract_scalar(1.0);
        let c = super::layers::matmul(&c, &self.gaussian).multiply_scalar(2.0 * std::f64::consts::PI);
        Tensor::cat(&[c.sin(), c.cos()], -1)
    }

    /// Dense encoding of an `h × w` grid: `[2F, h, w]`.
    pub fn forward(&self, h: i64, w: i64) -> Tensor {
        let device = self.gaussian.device();
        let kind = self.gaussian.kind();
        let grid = Tensor::ones([h, w], (kind, device));
        let y = grid.cumsum(0, kind).subtract_scalar(0.5).divide_scalar(h as f64);
        let x = grid.cumsum(1, kind).subtract_scalar(0.5).divide_scalar(w as f64);
        self.pe_encoding(&Tensor::stack(&[x, y], -1)).permute([2, 0, 1])
    }

    /// Encodes pixel coordinates `[B, N, 2]` (x, y) of an image of `(h, w)`: `[B, N, 2F]`.
    pub fn forward_with_coords(&self, coords: &Tensor, h: i64, w: i64) -> Tensor {
        let x = coords.select(2, 0).divide_scalar(w as f64);
        let y = coords.select(2, 1).divide_scalar(h as f64);
        self.pe_encoding(&Tensor::stack(&[x, y], 2).to_kind(self.gaussian.kind()))
    }
}

/// Axial 2-D rotary frequencies for an `end_x × end_y` grid (`compute_axial_cis`), stored as
/// real `(cos, sin)` pairs: `[end_x·end_y, dim/2, 2]` float32.
pub fn compute_axial_cis(dim: i64, end_x: i64, end_y: i64, theta: f64, device: Device) -> Tensor {
    let n = dim / 4;
    let exps = Tensor::arange_start_step(0, dim, 4, (Kind::Int64, device)).slice(0, 0, n, 1).to_kind(Kind::Float).divide_scalar(dim as f64);
    let freqs = Tensor::from(theta).to_kind(Kind::Float).to_device(device).pow(&exps).reciprocal();
    let t = Tensor::arange(end_x * end_y, (Kind::Float, device));
    let t_x = t.remainder(end_x as f64);
    let t_y = t.divide_scalar_mode(end_x as f64, "floor");
    let angles = Tensor::cat(&[t_x.outer(&freqs), t_y.outer(&freqs)], -1);
    Tensor::stack(&[angles.cos(), angles.sin()], -1)
}

/// Rotates `x` (`[B, heads, L, C]`, adjacent channel pairs as complex numbers) by the
/// frequencies `cis` (`[L', C/2, 2]`); when `L = r·L'` the frequencies are tiled `r` times
/// (`repeat_freqs_k`). Computed in float32 and cast back to `x`'s kind.
pub fn apply_rotary_enc(x: &Tensor, cis: &Tensor) -> Tensor {
    let size = x.size();
    let (l, c) = (size[size.len() - 2], size[size.len() - 1]);
    let pairs = x.to_kind(Kind::Float).reshape([size[0], size[1], l, c / 2, 2]);
    let base_len = cis.size()[0];
    let cis = if l == base_len { cis.shallow_clone() } else { cis.repeat([l / base_len, 1, 1]) };
    let (re, im) = (pairs.select(-1, 0), pairs.select(-1, 1));
    let (cos, sin) = (cis.select(-1, 0), cis.select(-1, 1));
    let out_re = &re * &cos - &im * &sin;
    let out_im = &re * &sin + &im * &cos;
    Tensor::stack(&[out_re, out_im], -1).flatten(3, 4).to_kind(x.kind())
}

/// 1-D sine encoding of positions (`get_1d_sine_pe` in `sam2_utils.py`): `[..., dim]`.
pub fn get_1d_sine_pe(pos: &Tensor, dim: i64, temperature: f64) -> Tensor {
    let pe_dim = dim / 2;
    let dim_t = Tensor::arange(pe_dim, (Kind::Float, pos.device()));
    let expo = dim_t.floor_divide_scalar(2).multiply_scalar(2.0).divide_scalar(pe_dim as f64);
    let dim_t = Tensor::from(temperature).to_kind(Kind::Float).to_device(pos.device()).pow(&expo);
    let pos_embed = pos.unsqueeze(-1).divide(&dim_t);
    Tensor::cat(&[pos_embed.sin(), pos_embed.cos()], -1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding is a pure function of the grid: a fresh instance, the memoised copy and
    /// the f64 formula agree (float32 rounding only), for the parity test's 64×64 grid and
    /// a non-square one.
    #[test]
    fn sine_encoding_is_the_formula_on_every_call() {
        for (feats, h, w) in [(256, 64, 64), (64, 5, 7)] {
            let pe = PositionEmbeddingSine::new(feats, 10000.0);
            let first = pe.forward(1, h, w, Device::Cpu);
            let again = pe.forward(2, h, w, Device::Cpu);
            assert_eq!(first.size(), vec![1, feats, h, w]);
            assert_eq!(again.size(), vec![2, feats, h, w]);
            let fresh = PositionEmbeddingSine::new(feats, 10000.0).forward(1, h, w, Device::Cpu);
            assert!(first.equal(&fresh) && again.get(1).equal(&fresh.get(0)), "{h}x{w}: memoised encoding differs from a fresh one");
            let want = Tensor::from_slice(&sine_formula_f64(feats, h, w)).view([1, feats, h, w]);
            let err = (first.to_kind(Kind::Double) - want).abs().max().double_value(&[]);
            assert!(err < 1e-5, "{h}x{w}: max |encoding - formula| = {err:e}");
        }
    }

    /// A caller that writes into a memoised encoding (here the `b = 1` view `forward`
    /// returns) is caught at the next lookup instead of every later frame silently getting
    /// the altered table.
    #[test]
    #[should_panic(expected = "was written in place")]
    fn memo_refuses_an_entry_written_in_place() {
        let pe = PositionEmbeddingSine::new(16, 10000.0);
        let mut t = pe.forward(1, 4, 4, Device::Cpu);
        let _ = t.fill_(0.0);
        let _ = pe.forward(1, 4, 4, Device::Cpu);
    }

    /// Reads and views of a memo entry leave it usable.
    #[test]
    fn memo_hits_after_reads_and_views() {
        let memo = Memo::new();
        let t = memo.get_or(3, || Tensor::arange(6, (Kind::Float, Device::Cpu)));
        let _ = (t.view([2, 3]).transpose(0, 1).contiguous() * 2.0).sum(Kind::Float);
        let again = memo.get_or(3, || panic!("recomputed"));
        assert!(again.equal(&Tensor::arange(6, (Kind::Float, Device::Cpu))));
    }
}
