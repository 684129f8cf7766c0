#!/usr/bin/env python3
"""The reference side of scripts/bench.sh: times the reference implementation
(absolutely-not-samurai==1.0.0, CPU) on the same checkpoint, frames and sizes as
`samurai-bench`, and prints one JSON object.

  reference_bench.py blocks --checkpoint C --size tiny --image F --image-size N [--repeat R]
  reference_bench.py track  --checkpoint C --size tiny --frames DIR --count N --image-size S --box x1,y1,x2,y2 [--device D]
                            [--autocast bf16]
(on CUDA, track also reports the peak device memory the caching allocator handed out;
--autocast bf16 runs the tracking under torch.autocast in bfloat16, as SAM 2 runs its video
predictor on GPUs: fp32 weights, products in bf16)
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
import make_block_fixtures as blocks  # noqa: E402  (version pins, config names)


def median_time(repeat, fn):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_image_model(args):
    from sam2.build_sam import build_sam2, _load_checkpoint

    model = build_sam2(blocks.CONFIGS[args.size], None, device="cpu", hydra_overrides_extra=[f"++model.image_size={args.image_size}"])
    _load_checkpoint(model, args.checkpoint)
    return model.eval()


def bench_blocks(args):
    import numpy as np
    import torch
    from PIL import Image
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = load_image_model(args)
    predictor = SAM2ImagePredictor(model)
    n = args.image_size  # the predictor hard-codes the grid sizes of a 1024 input
    predictor._bb_feat_sizes = [(n // 4, n // 4), (n // 8, n // 8), (n // 16, n // 16)]
    img = np.array(Image.open(args.image).convert("RGB"))
    h, w = img.shape[:2]
    box = np.array([w * 0.3, h * 0.2, w * 0.6, h * 0.8])
    out = {}
    with torch.inference_mode():
        x = predictor._transforms(img)[None]
        out["image_encoder"] = median_time(args.repeat, lambda: model.forward_image(x))
        predictor.set_image(img)
        out["prompt_and_mask_decoder"] = median_time(args.repeat, lambda: predictor.predict(box=box, multimask_output=False, return_logits=True))
        fwd = model.forward_image(x)
        _, feats, pos, sizes = model._prepare_backbone_features(fwd)
        hr = [f.permute(1, 2, 0).view(1, -1, *s) for f, s in zip(feats[:-1], sizes[:-1])]
        pix = (feats[-1] + model.no_mem_embed).permute(1, 2, 0).view(1, -1, *sizes[-1])
        heads = model._forward_sam_heads(pix, None, None, hr, False)
        enc = lambda: model._encode_new_memory(feats, sizes, heads[4], heads[6], False)
        out["memory_encoder"] = median_time(args.repeat, enc)
        mem, mem_pos = enc()
        hw = sizes[-1][0] * sizes[-1][1]
        memory = torch.cat([mem.flatten(2).permute(2, 0, 1)] * 7 + [torch.zeros(64, 1, 64)], 0)
        memory_pos = torch.cat([mem_pos[-1].flatten(2).permute(2, 0, 1)] * 7 + [torch.zeros(64, 1, 64)], 0)
        attn = lambda: model.memory_attention(curr=feats[-1:], curr_pos=pos[-1:], memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=64)
        out["memory_attention"] = median_time(args.repeat, attn)

        def total():
            im = np.array(Image.open(args.image).convert("RGB"))
            predictor.set_image(im)
            return predictor.predict(box=box, multimask_output=False, return_logits=True)

        out["single_frame_total"] = median_time(args.repeat, total)
    return out


def bench_track(args):
    import torch
    from sam2.build_sam import build_sam2_video_predictor, _load_checkpoint

    model = build_sam2_video_predictor(blocks.CONFIGS[args.size], None, device=args.device, hydra_overrides_extra=[f"++model.image_size={args.image_size}"])
    _load_checkpoint(model, args.checkpoint)
    model.eval()
    names = sorted(p for p in os.listdir(args.frames) if p.lower().endswith((".jpg", ".jpeg")))[: args.count]
    box = [float(v) for v in args.box.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            os.symlink(os.path.abspath(os.path.join(args.frames, n)), os.path.join(tmp, n))
        cuda = args.device.startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        dtype = {"bf16": torch.bfloat16}.get(args.autocast)
        autocast = torch.autocast(device_type="cuda" if cuda else "cpu", dtype=dtype) if dtype else contextlib.nullcontext()

        def run():
            with torch.inference_mode(), autocast:
                state = model.init_state(video_path=tmp)
                model.add_new_points_or_box(state, frame_idx=0, obj_id=0, box=box)
                for _ in model.propagate_in_video(state):
                    pass

        run()
        if cuda:
            torch.cuda.synchronize()
        secs = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        flops = None
        if args.count_flops:
            # A second, untimed run under torch's FLOP counter (products only: mm, addmm,
            # bmm, convolutions, scaled dot-product attention; two per multiply-add).
            # torch 2.11's counter has no formula for the CPU's fused attention kernel (the
            # one F.scaled_dot_product_attention runs here): give it the GPU kernels' own.
            from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

            cpu_sdpa = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(q, k, v)}
            counter = FlopCounterMode(display=False, custom_mapping=cpu_sdpa)
            with counter:
                run()
            flops = counter.get_total_flops()
    out = {"precision": f"autocast {args.autocast}" if args.autocast else "fp32", "frames": len(names), "seconds": secs, "seconds_per_frame": secs / len(names), "peak_rss_bytes": peak}
    if flops is not None:
        out["matmul_gflop_per_frame"] = flops / len(names) / 1e9
    if cuda:
        out["peak_device_allocated_bytes"] = torch.cuda.max_memory_allocated()
        out["peak_device_reserved_bytes"] = torch.cuda.max_memory_reserved()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["blocks", "track"])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--size", required=True, choices=sorted(blocks.CONFIGS))
    ap.add_argument("--image-size", type=int, required=True)
    ap.add_argument("--image")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames")
    ap.add_argument("--count", type=int)
    ap.add_argument("--box")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--autocast", choices=["bf16"], help="track under torch.autocast in this precision")
    ap.add_argument("--count-flops", action="store_true", help="track: also count the products' FLOPs per frame (a second, untimed run)")
    args = ap.parse_args()
    blocks.check_versions()
    import torch

    torch.set_num_threads(args.threads)
    # The reference prints banners on stdout; keep stdout for the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        out = bench_blocks(args) if args.mode == "blocks" else bench_track(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
