"""``simspine infer``: 2D spine keypoints (and optionally 3D) on images, folders, videos, cameras and streams.

Person boxes per frame come from a JSON file (``{"<image name or frame index>": [[x, y, w, h], ...]}``),
from a person detector (:func:`~simspine_hub.models.person_detector.load_person_detector`: ``hf:<hub id or
folder>`` for any transformers object detector, or ``module:callable``), or are the whole frame. On videos
and live sources people are tracked (:mod:`simspine_hub.apps.tracking`: IoU + Hungarian assignment, a track
lifetime, One-Euro smoothing per track); with ``detect_every=N`` the detector runs on every N-th frame and
the frames between reuse each track's box from its last keypoints. Frames go through the model
``batch_frames`` at a time (all their person crops in one batch), except where a frame's boxes come from
the previous frame's keypoints. Outputs: :mod:`simspine_hub.apps.infer_output`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub.apps.infer_output import FrameWriter, draw_overlay, lift_and_plot, openpose_json
from simspine_hub.apps.sources import IMAGE_SUFFIXES, Source, StopKey, open_source
from simspine_hub.apps.tracking import OneEuroFilter, Tracker
from simspine_hub.models.person_detector import PERSON_THRESHOLD, load_person_detector

__all__ = ["infer", "run_inference", "load_pose_model", "load_lifter", "load_boxes", "resolve_device", "load_person_detector",
           "OneEuroFilter", "openpose_json", "draw_overlay", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)


def resolve_device(name: str):
    """``--device`` value -> torch.device ("auto": the first CUDA GPU when torch sees one, else the CPU)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"--device {name!r}: not a torch device ({exc}); use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu")
    return dev


def _check_folder(path: str | None) -> None:
    if path and str(path).startswith((".", "/", "~")) and not Path(path).expanduser().is_dir():
        raise FileNotFoundError(f"{path}: model folder not found; expected config.json + model.safetensors "
                                "(save_pretrained or tools/convert_checkpoint.py output), or a hub id")


def load_pose_model(name_or_path: str, device="cpu", backend: str = "torch", compile: bool = False,
                    bf16: bool = False, threads: int | None = None):
    """A 2D model from a folder or hub id, ready for :func:`run_inference` on ``device``: plain (eager),
    :class:`~simspine_hub.models.InferenceModel` with ``compile`` / ``bf16`` (torch backend), or on
    ONNX Runtime (``backend="onnxruntime"``: export cached in ``<folder>/onnx/``, ``threads`` intra-op)."""
    from transformers import AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)
    from simspine_hub.models.inference import InferenceModel

    _check_folder(name_or_path)
    device = resolve_device(device) if isinstance(device, str) else device
    model = AutoModel.from_pretrained(name_or_path).eval()
    if backend == "onnxruntime":
        if compile or bf16:
            raise ValueError("--compile / --bf16 are torch options; with --backend onnxruntime leave them out")
        return InferenceModel(model, backend="onnxruntime", device=device.type, threads=threads)
    if backend != "torch":
        raise ValueError(f"--backend {backend!r}: choose torch or onnxruntime")
    model = model.to(device)
    return InferenceModel(model, compile=compile, bf16=bf16) if (compile or bf16) else model


def _check_lifter(config, what: str) -> None:
    """Refuse (ValueError naming ``what``) a model that is not a 3D keypoint lifter, e.g. an angle lifter."""
    from simspine_hub.models.lifter import AngleLifterConfig, LifterConfig

    kind = getattr(config, "model_type", None)
    if kind == LifterConfig.model_type:
        return
    use = (f"pass a 3D keypoint lifter folder instead (model_type {LifterConfig.model_type!r}: the output of "
           "`simspine train lifter --config full37` or `--config spine15`), or leave --lifter out")
    if kind == AngleLifterConfig.model_type:
        raise ValueError(f"{what}: an angle lifter (model_type {kind!r}: 2D keypoints -> the 62 kinematic axes), "
                         f"but infer lifts keypoints to 3D to plot them; {use}")
    raise ValueError(f"{what}: model_type {kind!r} is not a 3D keypoint lifter; {use}")


def load_lifter(name_or_path: str, device="cpu"):
    """A 3D keypoint lifter (:class:`~simspine_hub.models.lifter.SimpleBaseline3D`) from a folder or hub id, for
    ``--lifter``, in eval mode on ``device``. Its config is read first: an angle lifter or any other model is one
    ValueError naming ``--lifter`` and what to pass, before any weights load."""
    from transformers import AutoConfig, AutoModel

    import simspine_hub.models  # noqa: F401  (registers the Auto classes)

    _check_folder(name_or_path)
    config = AutoConfig.from_pretrained(name_or_path)
    _check_lifter(config, f"--lifter {name_or_path}")
    return AutoModel.from_pretrained(name_or_path, config=config).eval().to(device)


def load_boxes(path: str | os.PathLike) -> dict:
    """A boxes file -> {image name, image stem or frame index: [[x, y, w, h], ...]} (pixels)."""
    try:
        boxes = json.loads(Path(path).read_text())
        if not isinstance(boxes, dict):
            raise ValueError(f"top level is a {type(boxes).__name__}, not an object")
        for key, value in boxes.items():
            try:
                np.asarray(value, dtype=np.float64).reshape(-1, 4)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"entry {key!r} is not a list of [x, y, w, h] boxes ({exc})") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: boxes must be JSON {{image name or frame index: [[x, y, w, h], ...]}} ({exc})") from exc
    return boxes


def infer(source: str | os.PathLike, model: str, out: str | os.PathLike, *, boxes: str | os.PathLike | None = None,
          person_detector: str | None = None, detector_threshold: float = PERSON_THRESHOLD, device: str = "auto",
          backend: str = "torch", compile: bool = False, bf16: bool = False, threads: int | None = None,
          lifter: str | None = None, **options) -> dict:
    """Load everything named by the arguments (what ``simspine infer`` takes) and call :func:`run_inference`
    (``options``: its keyword arguments). Returns its summary plus the device."""
    dev = resolve_device(device)
    lift = load_lifter(lifter, dev) if lifter else None             # checked before the slower loads
    detector = load_person_detector(person_detector, device=dev, threshold=detector_threshold) \
        if person_detector else None
    box_table = load_boxes(boxes) if boxes is not None else None
    pose = load_pose_model(model, dev, backend=backend, compile=compile, bf16=bf16, threads=threads)
    summary = run_inference(pose, source, out, boxes=box_table, detector=detector, lifter=lift, **options)
    summary["device"] = str(dev) if backend == "torch" else f"onnxruntime ({dev.type})"
    return summary


def _frame_boxes(name: str, img: np.ndarray, boxes: dict | None, detector: Callable | None) -> np.ndarray:
    if boxes is not None:
        found = boxes.get(name, boxes.get(Path(name).stem, []))
        return np.asarray(found, dtype=np.float64).reshape(-1, 4)
    if detector is not None:
        return np.asarray(detector(img), dtype=np.float64).reshape(-1, 4)
    h, w = img.shape[:2]
    return np.array([[0.0, 0.0, w, h]])


def run_inference(model, source: str | os.PathLike | Source, out: str | os.PathLike, boxes: dict | None = None,
                  detector: Callable[[np.ndarray], np.ndarray] | None = None, flip_test: bool = False,
                  smooth: bool = True, track: bool = True, detect_every: int = 1, max_frames: int | None = None,
                  lifter=None, progress: bool = True, batch_frames: int = 8, show: bool = False,
                  tracker: Tracker | None = None) -> dict:
    """Run a 2D model (and optionally a lifter on the last frame) on ``source``; write the outputs under ``out``.

    Args:
        model: a 2D model or :class:`~simspine_hub.models.InferenceModel`. source: see
            :func:`~simspine_hub.apps.sources.open_source` (or an opened :class:`Source`).
        boxes / detector: one source of person boxes (default: the whole frame).
        track: track people on videos and live sources (ids in the JSON, smoothing per track when
            ``smooth``); ``tracker`` sets its options. detect_every: run the detector / read the boxes on
            every N-th frame only (tracking).
        max_frames: stop after this many frames. show: preview window (q stops).
    Returns a summary: frames, people, tracks, json_dir, jsonl, overlay, skipped (unreadable images),
    stopped ("q", "interrupt" or absent), plot_3d.
    """
    from simspine_hub.models.processing import PoseImageProcessor

    if boxes is not None and detector is not None:
        raise ValueError("boxes (--boxes) and detector (--person-detector): give one source of person boxes, not both")
    if detect_every < 1:
        raise ValueError(f"--detect-every {detect_every}: give 1 (every frame) or more")
    if lifter is not None:
        _check_lifter(lifter.config, "lifter")
    src = source if isinstance(source, Source) else open_source(source, max_frames)
    proc = PoseImageProcessor.from_config(model.config)
    if src.is_video and track:
        tracker = tracker or Tracker(fps=src.fps, smooth=smooth)
    else:
        tracker = None
    writer = FrameWriter(Path(out), src.name, src.fps, show=show)
    stop_key = StopKey() if src.live else None
    chunk: list[tuple[str, np.ndarray, np.ndarray]] = []
    state = {"stopped": None}
    bar = tqdm(total=src.count, desc="infer", unit="frame", disable=not progress)

    def flush():
        if not chunk:
            return
        kp, sc, owner = proc.predict(model, [c[1] for c in chunk], [c[2] for c in chunk], flip_test=flip_test)
        for i, (name, img, bx) in enumerate(chunk):
            k, s, ids = kp[owner == i], sc[owner == i], None
            if tracker is not None:
                ids, k = tracker.update(bx, k, s)
            if writer.write(name, img, bx, k, s, ids):
                state["stopped"] = "q"
        bar.update(len(chunk))
        chunk.clear()

    try:
        for i, (name, img) in enumerate(src.frames):
            if stop_key is not None and stop_key.pressed():
                state["stopped"] = "q"
                break
            bx = None
            if tracker is not None and i % detect_every:
                flush()                                  # this frame's boxes come from the last keypoints
                bx, _ = tracker.boxes()
            if bx is None or not len(bx):
                bx = _frame_boxes(name, img, boxes, detector)
            chunk.append((name, img, bx))
            if len(chunk) >= batch_frames or src.live:
                flush()
            if state["stopped"]:
                break
        flush()
    except KeyboardInterrupt:
        state["stopped"] = "interrupt"
    finally:
        bar.close()
        summary = writer.close()
    if src.skipped:
        summary["skipped"] = {"count": len(src.skipped), "images": src.skipped}
    if state["stopped"]:
        summary["stopped"] = state["stopped"]
    if lifter is not None and writer.last is not None and len(writer.last[1]):
        summary["plot_3d"] = str(lift_and_plot(lifter, writer.last, Path(out) / "lifted_3d.png"))
    return summary
