"""Frame sources for ``simspine infer``: an image, a folder of images, a video file, a camera or a stream.

``open_source("0")`` opens camera 0; a string with ``://`` (``rtsp://``, ``http://``, ``file://`` ...) is
opened by OpenCV as a stream; anything else is a path. Cameras and streams are *live*: they run until the
stream ends, ``max_frames`` frames were read, or the user asks to stop (:class:`StopKey`: ``q`` then Enter
in the terminal; ``q`` in the preview window when one is shown).

A folder with unreadable images (corrupt or not really images) skips them with a warning and lists them
in :attr:`Source.skipped` (``run_inference`` reports the count); a single unreadable image, an empty folder or
a folder where no image can be read is an error.
"""

from __future__ import annotations

import logging
import os
import re
import select
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Source", "open_source", "StopKey", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: frame rate assumed when a video, camera or stream reports none
DEFAULT_FPS = 25.0


@dataclass
class Source:
    """frames: iterator of (name, RGB uint8 image (H, W, 3)); count: frames expected (None when live or
    unknown); fps: frames per second (None for images); name: a file-name stem for the outputs; kind: image,
    folder, video, camera or stream; skipped: names of unreadable images (filled while iterating)."""

    frames: Iterator[tuple[str, np.ndarray]]
    count: int | None
    fps: float | None
    name: str
    kind: str
    skipped: list[str] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.kind in ("camera", "stream")

    @property
    def is_video(self) -> bool:
        return self.fps is not None


def open_source(spec: str | os.PathLike, max_frames: int | None = None) -> Source:
    """Open ``spec`` (see the module docstring); ``max_frames`` caps the frames read from any source."""
    import cv2

    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames {max_frames}: give a positive number of frames")
    text = str(spec)
    if re.fullmatch(r"\d+", text) and not Path(text).exists():
        src = _capture(cv2.VideoCapture(int(text)), f"camera{text}", "camera", max_frames,
                       f"camera {text} will not open (no such camera, in use, or no permission); "
                       "list cameras with `v4l2-ctl --list-devices` (Linux)")
    elif "://" in text:
        src = _capture(cv2.VideoCapture(text), _stream_name(text), "stream", max_frames,
                       f"stream {text} will not open (wrong address, server down, or a codec OpenCV's FFmpeg "
                       "lacks); check it with `ffprobe URL`")
    else:
        src = _path_source(Path(text), max_frames)
    return src


def _stream_name(url: str) -> str:
    tail = url.split("://", 1)[1].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(tail).stem)[:60] or "stream"


def _path_source(path: Path, max_frames: int | None) -> Source:
    import cv2

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_frames]
        if not files:
            raise FileNotFoundError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        src = Source(iter(()), len(files), None, path.name, "folder")
        src.frames = _folder_frames(files, src.skipped)
        return src
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (give an image, a folder of images, a video, "
                                "a camera index such as 0, or a stream URL)")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = cv2.imread(str(path))
        if img is None:
            raise ValueError(f"{path}: cannot read this image (corrupt, or not a {path.suffix} file)")
        return Source(iter([(path.name, img[..., ::-1])]), 1, None, path.stem, "image")
    cap = cv2.VideoCapture(str(path))
    return _capture(cap, path.stem, "video", max_frames,
                    f"{path}: not an image, a folder of images or a readable video")


def _folder_frames(files: list[Path], skipped: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    import cv2

    for p in files:
        img = cv2.imread(str(p))
        if img is None or img.ndim != 3:
            log.warning("%s: cannot read this image (corrupt?); skipped", p)
            skipped.append(p.name)
            continue
        yield p.name, img[..., ::-1]
    if len(skipped) == len(files):
        raise ValueError(f"{files[0].parent}: none of its {len(files)} images can be read (corrupt?)")


def _capture(cap, name: str, kind: str, max_frames: int | None, error: str) -> Source:
    import cv2

    if not cap.isOpened():
        cap.release()
        raise (OSError if kind in ("camera", "stream") else FileNotFoundError)(error)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "video" else None
    if max_frames is not None:
        n = max_frames if n is None or n <= 0 else min(n, max_frames)
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if np.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS

    def gen():
        i = 0
        try:
            while max_frames is None or i < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield str(i), bgr[..., ::-1]
                i += 1
        finally:
            cap.release()

    return Source(gen(), n, fps, name, kind)


class StopKey:
    """Polls for a stop request without blocking: ``q`` + Enter on standard input (a terminal or a pipe,
    POSIX only), or ``q`` in an OpenCV preview window (:meth:`window_key`)."""

    def __init__(self):
        self.stdin = sys.stdin if os.name == "posix" and sys.stdin is not None and not sys.stdin.closed else None

    def pressed(self) -> bool:
        if self.stdin is None:
            return False
        try:
            ready, _, _ = select.select([self.stdin], [], [], 0)
        except (OSError, ValueError):        # not selectable (e.g. replaced by a test harness)
            self.stdin = None
            return False
        if not ready:
            return False
        line = self.stdin.readline()
        if line == "":                        # end of input (e.g. /dev/null): stop polling it
            self.stdin = None
            return False
        return line.strip().lower() == "q"

    @staticmethod
    def window_key() -> bool:
        import cv2

        return (cv2.waitKey(1) & 0xFF) == ord("q")
