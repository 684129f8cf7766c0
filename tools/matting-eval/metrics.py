"""The standard alpha-matting errors, as defined by alphamatting.com (Rhemann et al.,
"A Perceptually Motivated Online Benchmark for Image Matting", CVPR 2009) and implemented
in the Deep Image Matting evaluation code:

- SAD: sum of absolute differences, / 1000;
- MSE: mean squared error over the evaluated pixels (reported x 1000 here);
- gradient: sum of squared differences of the gradient magnitudes (first-order Gaussian
  derivative filters, sigma 1.4), / 1000;
- connectivity: sum of |phi(pred) - phi(gt)| with phi from the largest 4-connected
  component of both mattes thresholded in steps of 0.1, / 1000.

Alphas are in 0..1. `region` (boolean mask) selects the evaluated pixels; the harness
evaluates the whole image, so every error of a matte counts wherever it is.
"""
import numpy as np
from scipy import ndimage


def sad(pred, gt, region):
    return float(np.abs(pred - gt)[region].sum() / 1000.0)


def mse(pred, gt, region):
    return float(((pred - gt) ** 2)[region].mean())


def _gradient_magnitude(a, sigma=1.4):
    gx = ndimage.gaussian_filter(a, sigma, order=(0, 1))
    gy = ndimage.gaussian_filter(a, sigma, order=(1, 0))
    return np.hypot(gx, gy)


def gradient(pred, gt, region, sigma=1.4):
    d = _gradient_magnitude(pred.astype(np.float64), sigma) - _gradient_magnitude(gt.astype(np.float64), sigma)
    return float((d ** 2)[region].sum() / 1000.0)


def _largest_component(mask):
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == counts.argmax()


def connectivity(pred, gt, region, step=0.1):
    pred = pred.astype(np.float64)
    gt = gt.astype(np.float64)
    steps = np.arange(0, 1 + step, step)
    level = np.full(pred.shape, -1.0)
    for i in range(1, len(steps)):
        omega = _largest_component((pred >= steps[i]) & (gt >= steps[i]))
        flag = (level == -1) & ~omega
        level[flag] = steps[i - 1]
    level[level == -1] = 1.0
    pred_d, gt_d = pred - level, gt - level
    pred_phi = 1 - pred_d * (pred_d >= 0.15)
    gt_phi = 1 - gt_d * (gt_d >= 0.15)
    return float(np.abs(pred_phi - gt_phi)[region].sum() / 1000.0)


def all_errors(pred, gt, region=None):
    if region is None:
        region = np.ones(gt.shape, dtype=bool)
    return {
        "SAD": sad(pred, gt, region),
        "MSE": mse(pred, gt, region),
        "Grad": gradient(pred, gt, region),
        "Conn": connectivity(pred, gt, region),
    }
