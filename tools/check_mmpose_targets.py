"""Compare our 2D training targets and losses (``simspine_hub/models/targets.py``) with mmpose 1.3.2 itself.

    python tools/check_mmpose_targets.py --mmpose-python /path/to/mmpose-venv/bin/python [--trials 300]

The other Python needs mmpose 1.3.2 and torch (see ``tools/check_mmpose_parity.py`` for how that environment was
built). ``targets.py`` imports only torch, so it is loaded there by file path. Per trial: 37 random crop keypoints
(some on half-pixel and quarter-pixel positions, some far outside the 192x256 crop) with random visibility, encoded
by ``SimCCLabel`` (sigma (4.9, 5.66) and (3.0, 2.5)), ``MSRAHeatmap`` and ``UDPHeatmap`` (sigma 2, 1.5 and 3,
heatmap 48x64) and by ours; and ``KLDiscretLoss(beta=10, label_softmax=True)`` / ``KeypointMSELoss`` against ours on
random logits, targets and weights. Prints the largest difference per codec (targets and weights) and per loss.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

TARGETS = Path(__file__).resolve().parents[1] / "simspine_hub" / "models" / "targets.py"

_SIDE = r'''
import importlib.util, json, sys
import numpy as np, torch
spec = importlib.util.spec_from_file_location("targets", sys.argv[1])
t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)
from mmpose.codecs import MSRAHeatmap, SimCCLabel, UDPHeatmap
from mmpose.models.losses import KeypointMSELoss, KLDiscretLoss
rng, worst = np.random.default_rng(0), {}
def note(key, value):
    worst[key] = max(worst.get(key, 0.0), float(value))
for trial in range(int(sys.argv[2])):
    kp = rng.uniform(-40, 260, (1, 37, 2)).astype(np.float32)
    kp[0, :5] = np.round(kp[0, :5] * 2) / 2 + rng.choice([0, 0.25, 0.5], (5, 2))
    vis = (rng.random((1, 37)) > 0.2).astype(np.float32)
    tk, tv = torch.from_numpy(kp), torch.from_numpy(vis)
    for sig in ((4.9, 5.66), (3.0, 2.5)):
        e = SimCCLabel(input_size=(192, 256), sigma=sig, simcc_split_ratio=2.0, normalize=False).encode(kp, vis)
        tx, ty, w = t.simcc_targets(tk, tv, (256, 192), 2.0, sig)
        note(f"SimCCLabel sigma {sig}", max(np.abs(tx.numpy() - e["keypoint_x_labels"]).max(),
                                            np.abs(ty.numpy() - e["keypoint_y_labels"]).max(),
                                            np.abs(w.numpy() - e["keypoint_weights"]).max()))
    for sigma in (2, 1.5, 3):
        for cls, udp in ((MSRAHeatmap, False), (UDPHeatmap, True)):
            e = cls(input_size=(192, 256), heatmap_size=(48, 64), sigma=sigma).encode(kp, vis)
            hm, w = t.heatmap_targets(tk, tv, (64, 48), (256, 192), sigma, udp)
            note(f"{cls.__name__} sigma {sigma}", max(np.abs(hm.numpy()[0] - e["heatmaps"]).max(),
                                                      np.abs(w.numpy() - e["keypoint_weights"]).max()))
g = torch.Generator().manual_seed(0)
for trial in range(20):
    px, py = torch.randn(4, 37, 384, generator=g), torch.randn(4, 37, 512, generator=g)
    tx, ty = torch.rand(4, 37, 384, generator=g), torch.rand(4, 37, 512, generator=g)
    w = (torch.rand(4, 37, generator=g) > 0.3).float()
    a = KLDiscretLoss(beta=10., label_softmax=True, use_target_weight=True)((px, py), (tx, ty), w)
    note("KLDiscretLoss (relative)", abs(float(a - t.kl_discret_loss(px, py, tx, ty, w))) / abs(float(a)))
    hm, th = torch.randn(4, 37, 64, 48, generator=g), torch.rand(4, 37, 64, 48, generator=g)
    c = KeypointMSELoss(use_target_weight=True)(hm, th, w)
    note("KeypointMSELoss (relative)", abs(float(c - t.keypoint_mse_loss(hm, th, w))) / abs(float(c)))
print(json.dumps(worst))
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mmpose-python", default=os.environ.get("SIMSPINE_MMPOSE_PYTHON"),
                    help="a Python with mmpose 1.3.2 (or SIMSPINE_MMPOSE_PYTHON)")
    ap.add_argument("--trials", type=int, default=300)
    args = ap.parse_args(argv)
    if not args.mmpose_python:
        ap.error("pass --mmpose-python (a Python with mmpose 1.3.2) or set SIMSPINE_MMPOSE_PYTHON")
    res = subprocess.run([args.mmpose_python, "-c", _SIDE, str(TARGETS), str(args.trials)], capture_output=True,
                         text=True)
    if res.returncode:
        print(res.stderr[-3000:], file=sys.stderr)
        return res.returncode
    worst = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"largest |ours - mmpose 1.3.2| over {args.trials} trials of 37 keypoints (targets in [0, 1]):")
    for key, value in worst.items():
        print(f"  {key:32s} {value:.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
