"""Convert a released checkpoint (mmpose / ViTPose / lifter ``.pth``, or ``.onnx``) into a ``from_pretrained`` folder.

    python tools/convert_checkpoint.py --model spinepose-m --checkpoint spinepose-m.pth --out models/spinepose-m
    python tools/convert_checkpoint.py --model spinepose-m --checkpoint spinepose-m.onnx --out models/spinepose-m
    python tools/convert_checkpoint.py --model vitpose-b --checkpoint vitpose-b.pth --out models/vitpose-b
    python tools/convert_checkpoint.py --model lifter-full37 --checkpoint ckpt_best.pth.tar --stats stats.npz --out models/lifter

``.pth`` files are read with ``torch.load(weights_only=True)`` (tensors only; arbitrary pickles are refused).
A lifter's standardisation statistics (``--stats``: an ``.npz`` with mean_2d (K, 2), std_2d (K, 2), mean_3d
(K-1, 3), std_3d (K-1, 3), 3D in mm) are stored as buffers so the written model is self-contained.
Writes ``config.json`` + ``model.safetensors`` (save_pretrained). Key mapping: simspine_hub/models/convert.py
(mmpose / ViTPose / lifter names) and convert_onnx.py (ONNX).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from simspine_hub.models import create_model
from simspine_hub.models.convert import load_converted, load_mmpose_checkpoint
from simspine_hub.models.convert_onnx import onnx_to_ours

_FAMILY = {"hrnet": "hrnet", "vitpose": "vitpose", "lifter": "lifter"}
_STATS = ("mean_2d", "std_2d", "mean_3d", "std_3d")


def convert(model_name: str, checkpoint: Path, out: Path, stats: Path | None = None):
    model = create_model(model_name).eval()
    family = next((f for prefix, f in _FAMILY.items() if model_name.startswith(prefix)), "spinepose")
    if stats is not None and family != "lifter":
        raise ValueError("--stats applies to lifter-* models only")
    if checkpoint.suffix == ".onnx":
        state = onnx_to_ours(checkpoint, model)
    else:
        state = load_mmpose_checkpoint(checkpoint, family)
        if family == "lifter":          # statistics live outside the port's state dict
            state.update({k: v.clone() for k, v in model.state_dict().items() if k in _STATS})
    if stats is not None:
        with np.load(stats, allow_pickle=False) as z:
            missing = [k for k in _STATS if k not in z]
            if missing:
                raise ValueError(f"{stats}: missing arrays {missing}; expected {', '.join(_STATS)}")
            state.update({k: torch.as_tensor(z[k], dtype=torch.float32) for k in _STATS})
    load_converted(model, state, str(checkpoint))
    model.save_pretrained(out)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="variant name, e.g. spinepose-m, rtmpose-m, hrnet-w32, vitpose-b, lifter-full37")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--stats", type=Path, help="lifter only: .npz with mean_2d, std_2d, mean_3d, std_3d")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    convert(args.model, args.checkpoint, args.out, args.stats)
    print(f"wrote {args.out}/config.json and model.safetensors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
