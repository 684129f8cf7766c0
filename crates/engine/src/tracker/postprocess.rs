//! Mask post-processing: hole filling on low-resolution logits (the reference's
//! `fill_holes_in_mask_scores` in `sam2/utils/misc.py`, done natively here because the
//! reference needs a CUDA extension for it), the box of a mask (SAMURAI's
//! `argwhere(mask > 0)` min/max in `_forward_sam_heads`), upsampling to the frame's
//! resolution (`_get_orig_video_res_output`) and the non-overlap constraint
//! (`_apply_non_overlapping_constraints`).
use super::kalman::BoxXyxy;
use tch::{Device, Kind, Tensor};

/// Value written into filled holes (a small positive logit, as the reference).
const HOLE_FILL_LOGIT: f32 = 0.1;

/// Fills background components (logits ≤ 0, 8-connected) of at most `max_area` pixels in
/// `[B, 1, h, w]` logits.
pub fn fill_holes(logits: &Tensor, max_area: i64) -> Tensor {
    let size = logits.size();
    let (b, h, w) = (size[0], size[2] as usize, size[3] as usize);
    let device = logits.device();
    let mut out = Vec::with_capacity((b as usize) * h * w);
    for i in 0..b {
        let plane: Vec<f32> =
            Vec::try_from(logits.get(i).get(0).to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1)).expect("float mask");
        out.extend(fill_plane(plane, h, w, max_area as usize));
    }
    Tensor::from_slice(&out).view([b, 1, h as i64, w as i64]).to_device(device)
}

/// Hole filling on one `h × w` plane.
fn fill_plane(mut plane: Vec<f32>, h: usize, w: usize, max_area: usize) -> Vec<f32> {
    let mut label = vec![0u32; h * w];
    let mut next = 0u32;
    let mut stack = Vec::new();
    let mut members = Vec::new();
    for start in 0..h * w {
        if plane[start] > 0.0 || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        members.clear();
        while let Some(p) = stack.pop() {
            members.push(p);
            let (y, x) = ((p / w) as isize, (p % w) as isize);
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let (ny, nx) = (y + dy, x + dx);
                    if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    if label[q] == 0 && plane[q] <= 0.0 {
                        label[q] = next;
                        stack.push(q);
                    }
                }
            }
        }
        if members.len() <= max_area {
            for &p in &members {
                plane[p] = HOLE_FILL_LOGIT;
            }
        }
    }
    plane
}

/// Box `[x_min, y_min, x_max, y_max]` (inclusive pixel indices) of the `> 0` pixels of an
/// `[h, w]` mask, or `[0, 0, 0, 0]` when it is empty.
pub fn mask_bbox(mask: &Tensor) -> BoxXyxy {
    let m = mask.gt(0.0);
    let rows: Vec<bool> = Vec::try_from(m.any_dim(1, false).to_device(Device::Cpu)).expect("bool rows");
    let cols: Vec<bool> = Vec::try_from(m.any_dim(0, false).to_device(Device::Cpu)).expect("bool cols");
    let first = |v: &[bool]| v.iter().position(|&b| b);
    let last = |v: &[bool]| v.iter().rposition(|&b| b);
    match (first(&rows), last(&rows), first(&cols), last(&cols)) {
        (Some(y0), Some(y1), Some(x0), Some(x1)) => [x0 as f64, y0 as f64, x1 as f64, y1 as f64],
        _ => [0.0, 0.0, 0.0, 0.0],
    }
}

/// Bilinear (align_corners = false) resize of `[B, 1, h, w]` logits to the frame size.
pub fn to_video_resolution(low_res: &Tensor, height: i64, width: i64) -> Tensor {
    let s = low_res.size();
    if s[2] == height && s[3] == width {
        return low_res.shallow_clone();
    }
    low_res.upsample_bilinear2d([height, width], false, None, None)
}

/// Keeps, at each pixel, only the object with the highest logit; the others are clamped
/// to at most -10 (`[N, 1, H, W]`, one slice per object).
pub fn non_overlapping(logits: &Tensor) -> Tensor {
    if logits.size()[0] <= 1 {
        return logits.shallow_clone();
    }
    let winner = logits.argmax(0, true);
    let ids = Tensor::arange(logits.size()[0], (Kind::Int64, logits.device())).view([-1, 1, 1, 1]);
    let keep = winner.eq_tensor(&ids);
    logits.where_self(&keep, &logits.clamp_max(-10.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_holes_are_filled_large_ones_kept() {
        // 6x6 foreground with a 1-pixel hole and a 3x3 hole.
        let mut v = vec![1.0f32; 8 * 8];
        v[9] = -1.0; // (1,1): area 1
        for y in 4..7 {
            for x in 4..7 {
                v[y * 8 + x] = -2.0; // area 9
            }
        }
        let t = Tensor::from_slice(&v).view([1, 1, 8, 8]);
        let out: Vec<f32> = Vec::try_from(fill_holes(&t, 8).flatten(0, -1)).unwrap();
        assert_eq!(out[9], HOLE_FILL_LOGIT);
        assert_eq!(out[5 * 8 + 5], -2.0);
        assert_eq!(out[0], 1.0);
    }

    #[test]
    fn diagonal_background_pixels_are_one_component() {
        let mut v = vec![1.0f32; 16];
        v[0] = -1.0;
        v[5] = -1.0; // touches v[0] diagonally: one component of area 2
        let t = Tensor::from_slice(&v).view([1, 1, 4, 4]);
        let out: Vec<f32> = Vec::try_from(fill_holes(&t, 1).flatten(0, -1)).unwrap();
        assert_eq!((out[0], out[5]), (-1.0, -1.0));
    }

    #[test]
    fn bbox_of_mask() {
        let mut v = vec![-1.0f32; 10 * 10];
        v[2 * 10 + 3] = 1.0;
        v[7 * 10 + 5] = 1.0;
        let t = Tensor::from_slice(&v).view([10, 10]);
        assert_eq!(mask_bbox(&t), [3.0, 2.0, 5.0, 7.0]);
        assert_eq!(mask_bbox(&Tensor::zeros([4, 4], tch::kind::FLOAT_CPU)), [0.0; 4]);
    }

    #[test]
    fn overlap_goes_to_the_strongest_object() {
        let a = Tensor::from_slice(&[5.0f32, -1.0]).view([1, 1, 1, 2]);
        let b = Tensor::from_slice(&[3.0f32, 2.0]).view([1, 1, 1, 2]);
        let out = non_overlapping(&Tensor::cat(&[a, b], 0));
        let v: Vec<f32> = Vec::try_from(out.flatten(0, -1)).unwrap();
        assert_eq!(v, vec![5.0, -10.0, -10.0, 2.0]);
    }
}
