"""Compare our 2D models with mmpose 1.3.2 itself: conversion, crops, raw outputs, decoding, end to end.

    python tools/check_mmpose_parity.py --mmpose-python /path/to/mmpose-venv/bin/python
    SIMSPINE_MMPOSE_PYTHON=/path/to/python python tools/check_mmpose_parity.py --families hrnet-w32 vitpose-b

The other Python must have mmpose 1.3.2 (with mmengine, mmcv 2.1.0, mmdet 3.2.0, mmpretrain 1.2.0); this script
runs itself there (``--mmpose-side DIR``) and only uses numpy, torch and mmpose on that side. For every family
it builds mmpose's own config (``rtmpose-{s,m,l}_8xb256-420e_coco-256x192`` for SpinePose-s/m/l and RTMPose-m,
``td-hm_hrnet-w32_8xb64-210e_coco-256x192``, ``td-hm_ViTPose-base_8xb64-210e_coco-256x192``) with 37
keypoints and the SIMSPINE flip pairs, gives it random weights and BatchNorm statistics, saves the checkpoint as
mmpose does (``{"state_dict": ..., "meta": ...}``), and records on one synthetic image with three boxes:
the parameter count, the normalised crops, the raw head outputs, mmpose's decoding of them, and
``inference_topdown`` with and without flip test. It also encodes known crop keypoints with the family's mmpose
codec (and their mirror image for the flip test) and decodes them the mmpose way.

Building that environment (how it was built for the numbers in issue 17; Python 3.11, outside the repository):
    python -m venv /path/to/mmpose-venv   (torch / torchvision at this project's versions: installed, or
        symlinked from this project's venv together with nvidia*/triton*/cuda*)
    pip install "setuptools<70" wheel "numpy>=2" cython mmengine==0.10.7
    MMCV_WITH_OPS=0 pip install --no-build-isolation --no-deps <URL of PyPI's mmcv-2.1.0.tar.gz>
        (the sdist names itself mmcv-lite, so ``pip install mmcv==2.1.0`` refuses it: give the file or its URL)
    pip install --no-deps mmpose==1.3.2 mmdet==3.2.0 mmpretrain==1.2.0
    pip install json_tricks munkres scipy opencv-python matplotlib shapely terminaltables pycocotools einops
        mat4py modelindex six tqdm importlib_metadata
    pip install --no-build-isolation --no-binary xtcocotools --no-deps xtcocotools   (rebuilt against numpy 2)
    and replace site-packages/mmcv/ops by a stand-in package: an ``__init__.py`` whose module ``__getattr__``
    returns a placeholder class that raises when used, and one file per original ops module that re-exports
    that ``__getattr__`` (mmpose / mmdet import ops for heads these configs never build).

Here the checkpoint goes through our converter into our model, and every stage is compared. Numbers are
differences (ours - mmpose), in crop pixels unless stated. With random weights a raw-output difference of
float rounding can move an argmax between two nearly equal bins, and on the weak, near-flat heatmaps of an
untrained ViTPose the DARK-UDP Newton step amplifies it (the "same decoder" line shows that effect alone): the
end-to-end lines therefore count the keypoints that differ by more than 0.01 crop px; the decode lines (mmpose's
raw outputs, encoded known keypoints) are the exact decoding check.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# our name -> (mmpose config under configs/body_2d_keypoint, our family for the converter)
FAMILIES = {
    "spinepose-s": ("rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py", "spinepose"),
    "spinepose-m": ("rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py", "spinepose"),
    "spinepose-l": ("rtmpose/coco/rtmpose-l_8xb256-420e_coco-256x192.py", "spinepose"),
    "rtmpose-m": ("rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py", "spinepose"),
    "hrnet-w32": ("topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py", "hrnet"),
    "vitpose-b": ("topdown_heatmap/coco/td-hm_ViTPose-base_8xb64-210e_coco-256x192.py", "vitpose"),
}
W, H = 192, 256
BOXES = np.array([[210.0, 60.0, 170.0, 360.0], [-40.0, 250.0, 200.0, 260.0], [480.0, 30.0, 90.0, 110.0]])


def _image(seed: int) -> np.ndarray:
    """(480, 640, 3) uint8 RGB: smooth gradients, blobs and noise (edges and texture for the crops)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float64)
    img = np.stack([xx / 640 * 200, yy / 480 * 180, 128 + 100 * np.sin(xx / 37) * np.cos(yy / 23)], -1)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, 640), rng.uniform(0, 480), rng.uniform(15, 80)
        img += ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r)[..., None] * rng.uniform(-90, 90, 3)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def _known_keypoints(seed: int, k: int, flip: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) crop keypoints away from the border, and what a perfect model sees in the mirrored crop
    (channel j holds keypoint flip[j] at x' = W - 1 - x)."""
    rng = np.random.default_rng(seed + 1)
    kp = np.stack([rng.uniform(12, W - 12, k), rng.uniform(12, H - 12, k)], -1).astype(np.float32)
    mirrored = kp[flip].copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    return kp, mirrored


# --------------------------------------------------------------------------- the mmpose side (other Python)

def _randomise(model, torch) -> None:
    """Non-trivial BatchNorm statistics and affine terms, position embeddings (mmpose's init leaves some at 0)."""
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    for name, p in model.named_parameters():
        if name.endswith("pos_embed"):
            p.data.normal_(0, 0.02)


def _mmpose_family(name: str, cfg_root: Path, req: dict, image_bgr: np.ndarray, work: Path) -> dict:
    import torch
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model
    from mmpose.models.utils.tta import flip_heatmaps, flip_vectors

    cfg = Config.fromfile(str(cfg_root / FAMILIES[name][0]))
    cfg.model.head.out_channels = req["num_keypoints"]
    torch.manual_seed(req["seed"])
    model = init_model(cfg, checkpoint=None, device="cpu")
    flip = req["flip_indices"]
    model.dataset_meta = {**model.dataset_meta, "flip_indices": flip, "num_keypoints": len(flip)}
    _randomise(model, torch)
    model.eval()
    ckpt = work / f"{name}.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"mmpose_version": "1.3.2"}}, ckpt)
    out = {"params": np.array(sum(p.numel() for p in model.parameters()))}

    # crops and raw head outputs through mmpose's own pipeline and data preprocessor
    from mmengine.dataset import Compose, pseudo_collate

    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    xyxy = np.concatenate([BOXES[:, :2], BOXES[:, :2] + BOXES[:, 2:]], 1)
    batch = pseudo_collate([pipeline({"img": image_bgr, "bbox": b[None], "bbox_score": np.ones(1, np.float32),
                                      **model.dataset_meta}) for b in xyxy])
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        raw = model.head.forward(model.extract_feat(data["inputs"]))
        preds = model.head.decode(raw)
    out["crops"] = data["inputs"].numpy()
    raw = raw if isinstance(raw, tuple) else (raw,)
    for i, r in enumerate(raw):
        out[f"raw{i}"] = r.numpy()
    out["raw_kp"] = np.concatenate([p.keypoints for p in preds])
    out["raw_score"] = np.concatenate([p.keypoint_scores for p in preds])

    for flip_test in (False, True):
        model.test_cfg["flip_test"] = flip_test
        res = inference_topdown(model, image_bgr, BOXES, bbox_format="xywh")
        out[f"e2e_kp_{int(flip_test)}"] = np.concatenate([r.pred_instances.keypoints for r in res])
        out[f"e2e_score_{int(flip_test)}"] = np.concatenate([r.pred_instances.keypoint_scores for r in res])

    # encoded known keypoints, decoded by the codec, and the flip-test way (flip back, average, decode)
    codec, kp, mirrored = model.head.decoder, np.asarray(req["known"], np.float32), np.asarray(req["mirrored"], np.float32)
    shift = bool(cfg.model.test_cfg.get("shift_heatmap", False))
    if FAMILIES[name][1] == "spinepose":
        enc, encf = codec.encode(kp[None]), codec.encode(mirrored[None])
        px, py = enc["keypoint_x_labels"], enc["keypoint_y_labels"]
        fx, fy = flip_vectors(torch.from_numpy(encf["keypoint_x_labels"]), torch.from_numpy(encf["keypoint_y_labels"]), flip)
        ax, ay = (torch.from_numpy(px) + fx) * 0.5, (torch.from_numpy(py) + fy) * 0.5
        out.update(enc0=px, enc1=py, encf0=encf["keypoint_x_labels"], encf1=encf["keypoint_y_labels"])
        dec, decf = codec.decode(px, py), codec.decode(ax.numpy(), ay.numpy())
    else:
        hm, hmf = codec.encode(kp[None])["heatmaps"][None], codec.encode(mirrored[None])["heatmaps"][None]
        back = flip_heatmaps(torch.from_numpy(hmf), flip_indices=flip, flip_mode="heatmap", shift_heatmap=shift)
        avg = (torch.from_numpy(hm) + back) * 0.5
        out.update(enc0=hm, encf0=hmf)
        dec, decf = codec.decode(hm[0]), codec.decode(avg[0].numpy())
    out.update(known_kp_0=dec[0], known_score_0=dec[1], known_kp_1=decf[0], known_score_1=decf[1])
    return out


def mmpose_side(work: Path) -> int:
    import mmpose

    req = json.loads((work / "request.json").read_text())
    image_bgr = np.load(work / "image.npy")[..., ::-1].copy()
    cfg_root = Path(mmpose.__file__).parent / ".mim" / "configs" / "body_2d_keypoint"
    for name in req["families"]:
        print(f"[mmpose {mmpose.__version__}] {name}", flush=True)
        np.savez(work / f"{name}.mmpose.npz", **_mmpose_family(name, cfg_root, req, image_bgr, work))
    return 0


# --------------------------------------------------------------------------- our side

def _diff(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def _keypoint_line(label: str, ours, theirs, crop_px: np.ndarray | float = 1.0) -> str:
    """max / median |difference| in crop px and how many keypoints differ by more than 0.01 crop px."""
    d = np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)).max(-1) / crop_px
    return (f"  {label:<36} max {d.max():.2e}  median {np.median(d):.2e}  "
            f">0.01 px: {int((d > 0.01).sum())}/{d.size}")


def _scored_lines(label: str, kp, sc, m_kp, m_sc, crop_px: np.ndarray | float = 1.0) -> list[str]:
    """Positions of the keypoints mmpose calls valid (maximum > 0), then validity and scores. Invalid ones
    have no position (mmpose's UDP refinement reads outside the map there; we keep the -1 cell)."""
    valid = m_sc > 0
    crop_px = np.broadcast_to(crop_px, valid.shape)
    return [_keypoint_line(label, kp[valid], m_kp[valid], crop_px[valid]),
            f"  {'  valid keypoints':<36} {int(valid.sum())}/{valid.size}, same set: "
            f"{'yes' if np.array_equal(sc > 0, valid) else 'NO'}; scores max |diff| {_diff(sc[valid], m_sc[valid]):.2g}"
            " (invalid: ours 0, mmpose its maximum)"]


def _ours(name: str, family: str, m: dict, work: Path, image: np.ndarray, req: dict) -> list[str]:
    import torch

    from simspine_hub.models import codecs, create_model
    from simspine_hub.models.convert import load_converted, load_mmpose_checkpoint
    from simspine_hub.models.processing import PoseImageProcessor

    model = load_converted(create_model(name).eval(), load_mmpose_checkpoint(work / f"{name}.pth", family), name)
    params = sum(p.numel() for p in model.parameters())
    proc = PoseImageProcessor.from_config(model.config)
    crops, info, _ = proc.crop([image], [BOXES])
    extra = params - int(m["params"])
    why = "equal" if extra == 0 else f"ours +{extra:,}" + (
        ": transformers' position table has a class-token row, zero after conversion"
        if family == "vitpose" and extra == model.config.backbone_config.hidden_size else "")
    lines = [f"{name}: converted from the mmpose checkpoint; parameters ours {params:,} / mmpose {int(m['params']):,}"
             f" ({why}); codec {proc.codec.name}",
             f"  {'crops (normalised)':<36} max |diff| {_diff(crops, m['crops']):.3g} "
             f"(range {float(m['crops'].max() - m['crops'].min()):.2f})"]
    raw = proc.raw_outputs(model, torch.from_numpy(m["crops"]))
    keys = ["simcc_x", "simcc_y"] if "simcc_x" in raw else ["heatmaps"]
    rel = max(_diff(raw[k], m[f"raw{i}"]) / float(np.abs(m[f"raw{i}"]).max()) for i, k in enumerate(keys))
    lines.append(f"  {'raw outputs':<36} max |diff| {max(_diff(raw[k], m[f'raw{i}']) for i, k in enumerate(keys)):.3g}"
                 f" ({rel:.2g} of the largest |output|)")
    theirs_raw = {k: m[f"raw{i}"] for i, k in enumerate(keys)}
    kp, sc = proc.decode(theirs_raw)
    lines += _scored_lines("decode of mmpose's raw outputs", kp, sc, m["raw_kp"], m["raw_score"])
    # how far the raw-output rounding alone moves decoded points: our decoder on our vs mmpose's raw outputs
    lines.append(_keypoint_line("  same decoder, ours vs mmpose raw", proc.decode(raw)[0][sc > 0], kp[sc > 0]))
    for flip in (0, 1):
        enc = {k: m[f"enc{i}"] for i, k in enumerate(keys)}
        if flip:
            back = codecs.flip_back(proc.codec, {k: m[f"encf{i}"] for i, k in enumerate(keys)}, req["flip_indices"])
            enc = {k: (v + back[k]) * np.float32(0.5) for k, v in enc.items()}
        kp, _ = proc.decode(enc)
        lines.append(_keypoint_line(f"encoded known keypoints, flip {'on' if flip else 'off'}", kp[0], m[f"known_kp_{flip}"][0]))
    px_per_crop = info.scale[:, 0] / W
    for flip in (0, 1):
        kp, sc, _ = proc.predict(model, [image], [BOXES], flip_test=bool(flip))
        lines += _scored_lines(f"end to end, flip {'on' if flip else 'off'}", kp, sc, m[f"e2e_kp_{flip}"],
                               m[f"e2e_score_{flip}"], px_per_crop[:, None])
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mmpose-python", default=os.environ.get("SIMSPINE_MMPOSE_PYTHON"),
                   help="python of an mmpose 1.3.2 environment (or set SIMSPINE_MMPOSE_PYTHON)")
    p.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=list(FAMILIES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, help="keep the checkpoints and recordings here (default: a temp folder)")
    p.add_argument("--mmpose-side", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mmpose_side:
        return mmpose_side(args.mmpose_side)
    if not args.mmpose_python or not Path(args.mmpose_python).is_file():
        p.error("--mmpose-python (or SIMSPINE_MMPOSE_PYTHON) must name the python of an mmpose 1.3.2 environment; "
                "see this script's docstring")
    from simspine_hub import skeleton

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        flip = [int(i) for i in skeleton.FLIP_INDEX]
        known, mirrored = _known_keypoints(args.seed, skeleton.NUM_KEYPOINTS, flip)
        req = {"families": args.families, "seed": args.seed, "num_keypoints": skeleton.NUM_KEYPOINTS,
               "flip_indices": flip, "known": known.tolist(), "mirrored": mirrored.tolist()}
        (work / "request.json").write_text(json.dumps(req))
        image = _image(args.seed)
        np.save(work / "image.npy", image)
        res = subprocess.run([args.mmpose_python, str(Path(__file__).resolve()), "--mmpose-side", str(work)],
                             stderr=subprocess.PIPE, text=True)
        if res.returncode != 0:
            print(res.stderr[-4000:], file=sys.stderr)
            print(f"the mmpose side failed (exit {res.returncode})", file=sys.stderr)
            return 1
        print("differences ours - mmpose 1.3.2 (crop px unless stated; random weights, synthetic image, 3 boxes)")
        for name in args.families:
            with np.load(work / f"{name}.mmpose.npz") as z:
                m = dict(z)
            print("\n".join(_ours(name, FAMILIES[name][1], m, work, image, req)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
