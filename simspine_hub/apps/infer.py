"""``simspine infer``: 2D spine keypoints (and optionally 3D) on an image, a folder of images or a video.

Outputs per image / frame an OpenPose-style JSON (as spinepose writes: ``people[i].pose_keypoints_2d =
[x0, y0, score0, ...]`` for the 37 SpineTrack keypoints, pixels) and an overlay (PNG for images, MP4 for
videos) with the spine regions coloured. Person boxes come from a JSON file (``{"<image name or frame
index>": [[x, y, w, h], ...]}``), from a pluggable detector (any callable image -> (n, 4) boxes), or are
the whole frame. Video keypoints can be smoothed with the One-Euro filter.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from simspine_hub import skeleton
from simspine_hub.io.files import atomic_path, write_text

__all__ = ["OneEuroFilter", "run_inference", "openpose_json", "draw_overlay", "load_person_detector", "resolve_device", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_BGR = {"cervical": (180, 105, 255), "thoracic": (255, 140, 60), "lumbar": (75, 180, 60), "body": (200, 200, 200)}


class OneEuroFilter:
    """One-Euro low-pass (Casiez et al. 2012) on (K, 2) keypoints per frame, vectorised over keypoints.

    Args:
        fps: frame rate (Hz); min_cutoff (Hz) and beta trade jitter against lag; d_cutoff: derivative cutoff.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.dt, self.min_cutoff, self.beta, self.d_cutoff = 1.0 / fps, min_cutoff, beta, d_cutoff
        self.x = self.dx = None

    def _alpha(self, cutoff):
        r = 2 * np.pi * cutoff * self.dt
        return r / (r + 1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.x is None:
            self.x, self.dx = x.copy(), np.zeros_like(x)
            return x
        dx = (x - self.x) / self.dt
        self.dx = self.dx + self._alpha(self.d_cutoff) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff) * (x - self.x)
        return self.x


def openpose_json(keypoints: np.ndarray, scores: np.ndarray) -> dict:
    """(n, 37, 2) px and (n, 37) scores -> an OpenPose-style dict."""
    people = [{"person_id": [-1], "pose_keypoints_2d": np.concatenate([k, s[:, None]], 1).ravel().round(3).tolist()}
              for k, s in zip(keypoints, scores)]
    return {"version": 1.3, "people": people}


def draw_overlay(image_rgb: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_score: float = 0.0) -> np.ndarray:
    """Draw (n, 37, 2) skeletons on a copy of an RGB image -> BGR image for OpenCV writers."""
    import cv2

    img = np.ascontiguousarray(image_rgb[..., ::-1])
    for kp, sc in zip(keypoints, scores):
        for child, parent in skeleton.SKELETON_EDGES:
            if sc[child] >= min_score and sc[parent] >= min_score and np.isfinite(kp[[child, parent]]).all():
                cv2.line(img, tuple(int(v) for v in kp[child]), tuple(int(v) for v in kp[parent]),
                         _BGR[skeleton.KEYPOINT_REGION[child]], 2, cv2.LINE_AA)
        for i, p in enumerate(kp):
            if sc[i] >= min_score and np.isfinite(p).all():
                cv2.circle(img, (int(p[0]), int(p[1])), 3, _BGR[skeleton.KEYPOINT_REGION[i]], -1, cv2.LINE_AA)
    return img


def _frames(source: Path) -> tuple[Iterator[tuple[str, np.ndarray]], int, float | None]:
    """Yield (name, RGB image) for an image, a folder of images or a video; also a count and the fps."""
    import cv2

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return ((p.name, cv2.imread(str(p))[..., ::-1]) for p in files), len(files), None
    if source.suffix.lower() in IMAGE_SUFFIXES:
        img = cv2.imread(str(source))
        if img is None:
            raise FileNotFoundError(f"{source}: cannot read image")
        return iter([(source.name, img[..., ::-1])]), 1, None
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise FileNotFoundError(f"{source}: not an image, a folder of images or a readable video")
    n, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS) or 25.0

    def gen():
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield str(i), bgr[..., ::-1]
            i += 1
        cap.release()

    return gen(), n, fps


def load_person_detector(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    """``"package.module:name"`` -> the callable it names: (H, W, 3) uint8 RGB image -> (n, 4) person boxes
    [x, y, w, h] in pixels (the module must be importable, e.g. on ``PYTHONPATH``). A class is instantiated
    once without arguments and its instance called."""
    import importlib
    import inspect

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"--person-detector {spec!r}: expected 'package.module:callable', e.g. 'mydet:detect'")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--person-detector {spec!r}: cannot import it ({exc}); is the module on PYTHONPATH?") from exc
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"--person-detector {spec!r}: {name} is not callable")
    return obj


def run_inference(model, source: str | os.PathLike, out: str | os.PathLike, boxes: dict | None = None,
                  detector: Callable[[np.ndarray], np.ndarray] | None = None, flip_test: bool = False,
                  smooth: bool = True, lifter=None, progress: bool = True, batch_frames: int = 8) -> dict:
    """Run a 2D model (and optionally a lifter) on ``source``; write JSON and overlays under ``out``.

    Frames go through the model ``batch_frames`` at a time (all their person crops in one batch), which is
    what keeps a CPU busy; smoothing and writing stay in frame order.
    Returns a summary {frames, people, json_dir, overlay, plot_3d}.
    """
    from simspine_hub.models.processing import PoseImageProcessor

    if boxes is not None and detector is not None:
        raise ValueError("boxes (--boxes) and detector (--person-detector): give one source of person boxes, not both")
    source, out = Path(source), Path(out)
    proc = PoseImageProcessor.from_config(model.config)
    frames, n, fps = _frames(source)
    is_video = fps is not None
    json_dir = out / (source.stem if is_video else "json")
    json_dir.mkdir(parents=True, exist_ok=True)
    sink = _Sink(out, source, json_dir, fps, OneEuroFilter(fps) if (is_video and smooth) else None)
    chunk: list[tuple[str, np.ndarray, np.ndarray]] = []
    bar = tqdm(total=n, desc="infer", unit="frame", disable=not progress)

    def flush():
        kp, sc, owner = proc.predict(model, [c[1] for c in chunk], [c[2] for c in chunk], flip_test=flip_test)
        for i, (name, img, _) in enumerate(chunk):
            sink.write(name, img, kp[owner == i], sc[owner == i])
        bar.update(len(chunk))
        chunk.clear()

    for name, img in frames:
        h, w = img.shape[:2]
        if boxes is not None:
            bx = np.asarray(boxes.get(name, boxes.get(Path(name).stem, [])), dtype=np.float64).reshape(-1, 4)
        elif detector is not None:
            bx = np.asarray(detector(img), dtype=np.float64).reshape(-1, 4)
        else:
            bx = np.array([[0.0, 0.0, w, h]])
        chunk.append((name, img, bx))
        if len(chunk) >= batch_frames:
            flush()
    if chunk:
        flush()
    bar.close()
    summary = sink.close()
    if lifter is not None and sink.last is not None and len(sink.last[1]):
        summary["plot_3d"] = str(_lift_and_plot(lifter, sink.last, out / "lifted_3d.png"))
    return summary


class _Sink:
    """Writes one frame's results in order: OpenPose JSON, overlay PNG or MP4 frame (atomic files)."""

    def __init__(self, out: Path, source: Path, json_dir: Path, fps: float | None, euro: OneEuroFilter | None):
        self.out, self.source, self.json_dir, self.fps, self.euro = out, source, json_dir, fps, euro
        self.writer, self.tmp_video, self.last = None, None, None
        self.summary = {"frames": 0, "people": 0, "json_dir": str(json_dir)}

    def write(self, name: str, img: np.ndarray, kp: np.ndarray, sc: np.ndarray) -> None:
        import cv2

        is_video = self.fps is not None
        if self.euro is not None and len(kp) == 1:
            kp = self.euro(kp[0])[None]
        stem = f"{int(name):06d}" if is_video else Path(name).stem
        write_text(self.json_dir / f"{stem}.json", json.dumps(openpose_json(kp, sc)))
        overlay = draw_overlay(img, kp, sc)
        if is_video:
            if self.writer is None:
                h, w = img.shape[:2]
                self.tmp_video = self.out / f".{self.source.stem}_overlay.part.mp4"
                self.writer = cv2.VideoWriter(str(self.tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            self.writer.write(overlay)
        else:
            with atomic_path(self.out / f"{Path(name).stem}_overlay.png") as tmp:
                cv2.imwrite(str(tmp), overlay)
        self.summary["frames"] += 1
        self.summary["people"] += len(kp)
        self.last = (img, kp, sc)

    def close(self) -> dict:
        if self.writer is not None:
            self.writer.release()
            final = self.out / f"{self.source.stem}_overlay.mp4"
            os.replace(self.tmp_video, final)
            self.summary["overlay"] = str(final)
        return self.summary


def _lift_and_plot(lifter, last, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from simspine_hub.models.lifter import normalize_screen

    img, kp, _ = last
    h, w = img.shape[:2]
    ids = list(lifter.config.keypoints)
    x = normalize_screen(torch.tensor(kp[:1, ids], dtype=torch.float32), w, h).to(lifter.device)
    with torch.no_grad():
        y = lifter.eval()(keypoints_2d=x).keypoints_3d[0].cpu().numpy()    # root-relative mm
    fig = plt.figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot(projection="3d")
    pos = {k: i for i, k in enumerate(ids)}
    for child, parent in skeleton.SKELETON_EDGES:
        if child in pos and parent in pos:
            a, b = y[pos[child]], y[pos[parent]]
            ax.plot([a[0], b[0]], [a[2], b[2]], [-a[1], -b[1]], color="tab:blue")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("z (mm)")
    ax.set_zlabel("-y (mm)")
    ax.set_title("lifted 3D (root-relative, camera frame)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


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
