//! Counting the network's matrix-product work (issue 21: the share of the CPU's matrix rate
//! a tracked frame reaches). Every product the network runs (linears, convolutions,
//! transposed convolutions, attention, the few plain matmuls) reports its floating-point
//! operations here, two per multiply-add, as `torch.utils.flop_counter` counts them, so the
//! figure is our graph's own (Hiera's windows without their padding, the memory attention's
//! values weighted before their projection) and comparable with the reference's count.
//!
//! Counting is per thread and off unless [`count`] runs: the network runs on its caller's
//! thread (libtorch's own workers run inside each product), and a test counting one call
//! is not disturbed by others running beside it. When off, a product pays one
//! thread-local read.
use std::cell::Cell;
use tch::Tensor;

thread_local! {
    /// The operations counted so far on this thread, `None` while not counting.
    static COUNTED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Runs `f` and returns its result with the matrix-product FLOPs it ran on this thread.
/// Nested counts each see their own work; the outer one includes the inner's.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    /// Restores the outer count (plus what was counted inside) even if `f` unwinds.
    struct Scope(Option<u64>);
    impl Drop for Scope {
        fn drop(&mut self) {
            let inner = COUNTED.with(|c| c.get()).unwrap_or(0);
            COUNTED.with(|c| c.set(self.0.map(|outer| outer + inner)));
        }
    }
    let scope = Scope(COUNTED.with(|c| c.replace(Some(0))));
    let out = f();
    let flops = COUNTED.with(|c| c.get()).unwrap_or(0);
    drop(scope);
    (out, flops)
}

/// Adds `flops()` to this thread's count when one is running (the closure, which reads
/// tensor shapes, runs only then).
pub(crate) fn record(flops: impl FnOnce() -> u64) {
    COUNTED.with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + flops()));
        }
    });
}

fn product(dims: &[i64]) -> u64 {
    dims.iter().map(|&d| d as u64).product()
}

/// `x·wᵀ` with `x` `[..., k]` and `w` `[n, k]`: `2·rows·k·n`.
pub(crate) fn linear(x: &Tensor, w: &Tensor) -> u64 {
    2 * product(&x.size()) * w.size()[0] as u64
}

/// `a·b` (`torch.matmul`, batched over the leading dimensions of `a`): `2·(a's elements)·n`
/// for `b` `[..., k, n]`.
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> u64 {
    2 * product(&a.size()) * *b.size().last().expect("matmul operand has dimensions") as u64
}

/// A convolution with weight `[out, in/groups, kh, kw]` producing `out`:
/// `2·(output elements)·(in/groups)·kh·kw`.
pub(crate) fn conv(out: &Tensor, w: &Tensor) -> u64 {
    2 * product(&out.size()) * product(&w.size()[1..])
}

/// A transposed convolution with weight `[in, out, kh, kw]` on input `x` (stride = kernel:
/// each input pixel writes its own `kh×kw` block): `2·(input elements)·out·kh·kw`.
pub(crate) fn conv_transpose(x: &Tensor, w: &Tensor) -> u64 {
    2 * product(&x.size()) * product(&w.size()[1..])
}

/// Scaled dot-product attention of `q` `[..., Lq, c]` over `k` `[..., Lk, c]` and `v`
/// `[..., Lk, cv]`: `2·(q's rows)·Lk·(c + cv)` (the scores and the weighted values).
pub(crate) fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> u64 {
    let qs = q.size();
    let rows = product(&qs[..qs.len() - 1]);
    let lk = k.size()[k.dim() - 2] as u64;
    2 * rows * lk * (qs[qs.len() - 1] as u64 + *v.size().last().expect("attention values have dimensions") as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn counts_only_inside_count_and_nests() {
        record(|| panic!("not evaluated while not counting"));
        let ((inner, ()), outer) = count(|| {
            record(|| 5);
            let inner = count(|| record(|| 7)).1;
            record(|| 1);
            (inner, ())
        });
        assert_eq!((inner, outer), (7, 13));
        // A count ended by a panic leaves the thread's state as it was.
        let caught = std::panic::catch_unwind(|| count::<()>(|| panic!("inside")));
        assert!(caught.is_err());
        record(|| panic!("still not counting"));
    }

    #[test]
    fn formulas_match_the_shapes() {
        let f = (Kind::Float, Device::Cpu);
        assert_eq!(linear(&Tensor::zeros([2, 3, 8], f), &Tensor::zeros([16, 8], f)), 2 * 2 * 3 * 8 * 16);
        assert_eq!(matmul(&Tensor::zeros([2, 4, 32], f), &Tensor::zeros([2, 32, 100], f)), 2 * 2 * 4 * 32 * 100);
        // A 3×3 convolution 8 → 4 channels, groups 2, on a 5×6 output, batch 2.
        assert_eq!(conv(&Tensor::zeros([2, 4, 5, 6], f), &Tensor::zeros([4, 4, 3, 3], f)), 2 * (2 * 4 * 5 * 6) * 4 * 9);
        assert_eq!(conv_transpose(&Tensor::zeros([1, 8, 4, 4], f), &Tensor::zeros([8, 3, 2, 2], f)), 2 * (8 * 16) * 3 * 4);
        let (q, k, v) = (Tensor::zeros([2, 3, 10, 16], f), Tensor::zeros([2, 3, 7, 16], f), Tensor::zeros([2, 3, 7, 8], f));
        assert_eq!(attention(&q, &k, &v), 2 * (2 * 3 * 10) * 7 * (16 + 8));
    }

    /// The layers report their products: fp32 (oneDNN on the CPU) and bf16 (libtorch) linears,
    /// a fused linear, a convolution, a transposed one, attention and a plain matmul.
    #[test]
    fn layers_report_their_products() {
        use crate::model::layers::{self, Conv2d, ConvTranspose2d, Linear, PostOp};
        for kind in [Kind::Float, Kind::BFloat16] {
            let f = (kind, Device::Cpu);
            let lin = Linear { weight: Tensor::ones([16, 8], f), bias: Some(Tensor::zeros([16], f)) };
            let x = Tensor::ones([2, 3, 8], f);
            assert_eq!(count(|| lin.forward(&x)).1, 2 * 6 * 8 * 16);
            assert_eq!(count(|| lin.forward_post(&x, PostOp::Gelu)).1, 2 * 6 * 8 * 16);
            let conv = Conv2d { weight: Tensor::ones([4, 2, 3, 3], f), bias: None, stride: 1, padding: 1, groups: 1 };
            assert_eq!(count(|| conv.forward(&Tensor::ones([1, 2, 5, 6], f))).1, 2 * (4 * 5 * 6) * 2 * 9);
            let up = ConvTranspose2d { weight: Tensor::ones([4, 3, 2, 2], f), bias: Some(Tensor::zeros([3], f)), stride: 2 };
            assert_eq!(count(|| up.forward(&Tensor::ones([1, 4, 5, 6], f))).1, 2 * (4 * 5 * 6) * 3 * 4);
            let (q, k) = (Tensor::ones([1, 2, 10, 16], f), Tensor::ones([1, 2, 7, 16], f));
            assert_eq!(count(|| layers::attention(&q, &k, &k)).1, 2 * 20 * 7 * 32);
            assert_eq!(count(|| layers::matmul(&x, &Tensor::ones([8, 5], f))).1, 2 * 6 * 8 * 5);
        }
        let (q, k) = (Tensor::ones([10, 16], (Kind::Float, Device::Cpu)), Tensor::ones([7, 16], (Kind::Float, Device::Cpu)));
        assert_eq!(count(|| layers::attention_probs(&q, &k, 0.25)).1, 2 * 10 * 16 * 7);
    }
}
