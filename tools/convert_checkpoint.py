"""Convert a released checkpoint (mmpose ``.pth`` or spinepose ``.onnx``) into a ``from_pretrained`` folder.

    python tools/convert_checkpoint.py --model spinepose-m --checkpoint spinepose-m.pth --out models/spinepose-m
    python tools/convert_checkpoint.py --model spinepose-m --checkpoint spinepose-m.onnx --out models/spinepose-m

Writes ``config.json`` + ``model.safetensors`` (save_pretrained). Key mapping: simspine_hub/models/convert.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simspine_hub.models import create_model
from simspine_hub.models.convert import load_converted, load_mmpose_checkpoint, onnx_to_ours


def convert(model_name: str, checkpoint: Path, out: Path):
    model = create_model(model_name).eval()
    family = "hrnet" if model_name.startswith("hrnet") else "spinepose"
    if checkpoint.suffix == ".onnx":
        state = onnx_to_ours(checkpoint, model)
    else:
        state = load_mmpose_checkpoint(checkpoint, family)
    load_converted(model, state, str(checkpoint))
    model.save_pretrained(out)
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="variant name, e.g. spinepose-m, rtmpose-m, hrnet-w32")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    convert(args.model, args.checkpoint, args.out)
    print(f"wrote {args.out}/config.json and model.safetensors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
