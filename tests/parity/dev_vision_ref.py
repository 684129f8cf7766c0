"""Dev parity fixture for the image encoder: random-init (perturbed) reference model,
image_encoder weights + trunk / encoder outputs on a real frame, saved as npz.
Usage: dev_vision_ref.py <t|s|b+|l> <image_size> <out_dir> [--no-trunk]"""
import sys, os
import numpy as np
import torch
from PIL import Image
from sam2.build_sam import build_sam2_video_predictor

size, image_size, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with_trunk = "--no-trunk" not in sys.argv
torch.set_num_threads(2)
torch.manual_seed(0)
m = build_sam2_video_predictor(f"configs/samurai/sam2.1_hiera_{size}.yaml", None, device="cpu",
                               hydra_overrides_extra=[f"++model.image_size={image_size}"])
m.eval()
torch.manual_seed(1)
with torch.no_grad():
    for p in m.image_encoder.parameters():
        p.add_(0.02 * torch.randn_like(p))
enc = m.image_encoder
sd = {f"image_encoder.{k}": v.detach().numpy() for k, v in enc.state_dict().items()}
tag = f"{size}_{image_size}"
os.makedirs(out_dir, exist_ok=True)
np.savez(os.path.join(out_dir, f"weights_{tag}.npz"), **sd)

here = os.path.dirname(os.path.abspath(__file__))
img = Image.open(os.path.join(here, "../../../shared/data/clips/bedroom/00000.jpg")).convert("RGB")
img = np.asarray(img.resize((image_size, image_size)), dtype=np.float32) / 255.0
mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
x = torch.from_numpy(((img - mean) / std).transpose(2, 0, 1)[None].copy())
out = {"input": x.numpy()}
with torch.no_grad():
    if with_trunk:
        for i, f in enumerate(enc.trunk(x)):
            out[f"trunk.{i}"] = f.numpy()
    o = enc(x)
out["vision_features"] = o["vision_features"].numpy()
for i, t in enumerate(o["vision_pos_enc"]):
    out[f"vision_pos_enc.{i}"] = t.numpy()
for i, t in enumerate(o["backbone_fpn"]):
    out[f"backbone_fpn.{i}"] = t.numpy()
np.savez(os.path.join(out_dir, f"out_{tag}.npz"), **out)
print(tag, {k: v.shape for k, v in out.items()}, len(sd), "keys")
