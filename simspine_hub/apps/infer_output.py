"""What ``simspine infer`` writes: OpenPose-style JSON per frame, one JSON Lines file with track ids, the
overlay (PNG per image, MP4 per video or live source), an optional preview window, and the lifted 3D plot.

Files (``<name>`` is the image folder's, video's, camera's or stream's name):

- ``<out>/json/<image stem>.json`` (images) or ``<out>/<name>/<frame:06d>.json`` (videos, live sources):
  OpenPose's layout as spinepose writes it, ``{"version": 1.3, "people": [{"person_id": [track id or -1],
  "pose_keypoints_2d": [x0, y0, score0, x1, ...]}]}``, 37 SpineTrack keypoints in pixels.
- ``<out>/<name>.jsonl``: one JSON object per frame, ``{"frame": name, "people": [{"track_id": id or null,
  "box": [x, y, w, h], "keypoints": [[x, y, score], ...]}]}`` (pixels; ``keypoint_names`` on the first line).
- ``<out>/<image stem>_overlay.png`` or ``<out>/<name>_overlay.mp4``: skeletons with the spine regions
  coloured and, when tracking, each person's track id.

Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from simspine_hub import skeleton
from simspine_hub.io.files import atomic_path, save_png, write_text

__all__ = ["openpose_json", "draw_overlay", "FrameWriter", "lift_and_plot"]



def openpose_json(keypoints: np.ndarray, scores: np.ndarray, ids: np.ndarray | None = None) -> dict:
    """(n, 37, 2) px, (n, 37) scores and optional (n,) track ids -> an OpenPose-style dict."""
    ids = [-1] * len(keypoints) if ids is None else [int(i) for i in ids]
    people = [{"person_id": [pid], "pose_keypoints_2d": np.concatenate([k, s[:, None]], 1).ravel().round(3).tolist()}
              for k, s, pid in zip(keypoints, scores, ids)]
    return {"version": 1.3, "people": people}


def draw_overlay(image_rgb: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_score: float = 0.0,
                 ids: np.ndarray | None = None) -> np.ndarray:
    """Draw (n, 37, 2) skeletons (and track ids) on a copy of an RGB image -> BGR image for OpenCV writers."""
    import cv2

    img = np.ascontiguousarray(image_rgb[..., ::-1])
    for n, (kp, sc) in enumerate(zip(keypoints, scores)):
        for child, parent in skeleton.SKELETON_EDGES:
            if sc[child] >= min_score and sc[parent] >= min_score and np.isfinite(kp[[child, parent]]).all():
                cv2.line(img, tuple(int(v) for v in kp[child]), tuple(int(v) for v in kp[parent]),
                         skeleton.region_color_bgr(skeleton.KEYPOINT_REGION[child]), 2, cv2.LINE_AA)
        for i, p in enumerate(kp):
            if sc[i] >= min_score and np.isfinite(p).all():
                cv2.circle(img, (int(p[0]), int(p[1])), 3, skeleton.region_color_bgr(skeleton.KEYPOINT_REGION[i]), -1, cv2.LINE_AA)
        head = kp[skeleton.KEYPOINT_NAMES.index("Head")] if ids is not None else None
        if head is not None and np.isfinite(head).all():
            cv2.putText(img, f"#{int(ids[n])}", (int(head[0]) - 10, int(head[1]) - 12), cv2.FONT_HERSHEY_SIMPLEX,
                        0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return img


class FrameWriter:
    """Writes one frame's results in order (see the module docstring); :meth:`close` finishes the files.

    Args:
        out: output folder. name: the source's name. video_fps: frame rate for MP4 overlays (None: images).
        show: also show each overlay in a window (needs OpenCV with GUI support).
    """

    def __init__(self, out: Path, name: str, video_fps: float | None, show: bool = False):
        self.out, self.name, self.fps, self.show = Path(out), name, video_fps, show
        self.json_dir = self.out / (name if video_fps is not None else "json")
        self.json_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.out / f"{name}.jsonl"
        self._jsonl_tmp = self.out / f".{name}.part.jsonl"
        self._jsonl = open(self._jsonl_tmp, "w")  # noqa: SIM115  (closed in close())
        self.writer = self.tmp_video = self.last = None
        self.ids_seen: set[int] = set()
        self.summary = {"frames": 0, "people": 0, "json_dir": str(self.json_dir), "jsonl": str(self.jsonl_path)}
        if show:
            _open_window()

    def write(self, name: str, img: np.ndarray, boxes: np.ndarray, kp: np.ndarray, sc: np.ndarray,
              ids: np.ndarray | None = None) -> bool:
        """Write one frame; returns True when the user pressed q in the preview window."""
        import cv2

        stem = f"{int(name):06d}" if self.fps is not None else Path(name).stem
        write_text(self.json_dir / f"{stem}.json", json.dumps(openpose_json(kp, sc, ids)))
        line = {"frame": name, "people": [
            {"track_id": None if ids is None else int(ids[j]), "box": np.round(boxes[j], 2).tolist(),
             "keypoints": np.concatenate([kp[j], sc[j][:, None]], 1).round(3).tolist()} for j in range(len(kp))]}
        if self.summary["frames"] == 0:
            line["keypoint_names"] = list(skeleton.KEYPOINT_NAMES)
        self._jsonl.write(json.dumps(line) + "\n")
        overlay = draw_overlay(img, kp, sc, ids=ids)
        if self.fps is not None:
            if self.writer is None:
                h, w = img.shape[:2]
                self.tmp_video = self.out / f".{self.name}_overlay.part.mp4"
                self.writer = cv2.VideoWriter(str(self.tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            self.writer.write(overlay)
        else:
            with atomic_path(self.out / f"{Path(name).stem}_overlay.png") as tmp:
                cv2.imwrite(str(tmp), overlay)
        self.summary["frames"] += 1
        self.summary["people"] += len(kp)
        if ids is not None:
            self.ids_seen.update(int(i) for i in ids)
        self.last = (img, kp, sc)
        if self.show:
            cv2.imshow("simspine infer (q: stop)", overlay)
            return (cv2.waitKey(1) & 0xFF) == ord("q")
        return False

    def close(self) -> dict:
        """Finish every file (also after an interruption: what was written so far is kept)."""
        self._jsonl.close()
        os.replace(self._jsonl_tmp, self.jsonl_path)
        if self.writer is not None:
            self.writer.release()
            final = self.out / f"{self.name}_overlay.mp4"
            os.replace(self.tmp_video, final)
            self.summary["overlay"] = str(final)
        if self.ids_seen:
            self.summary["tracks"] = len(self.ids_seen)
        if self.show:
            import cv2

            cv2.destroyAllWindows()
        return self.summary


def _open_window() -> None:
    import cv2

    try:
        cv2.namedWindow("simspine infer (q: stop)", cv2.WINDOW_NORMAL)
    except cv2.error as exc:
        raise OSError("--show needs OpenCV with a GUI (pip install opencv-python in place of "
                      f"opencv-python-headless) and a display ({str(exc).strip().splitlines()[-1]})") from exc


def lift_and_plot(lifter, last, path: Path) -> Path:
    """Lift the first person of the last frame to 3D (root-relative mm, camera frame) and plot it as a PNG."""
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
    save_png(fig, path)
    return path
