"""Human3.6M on disk: cameras, CDF poses, videos, action names, VideoPose3D's npz.

Layout read (the official release, licensed; never shipped or downloaded here)::

    <root>/S1/MyPoseFeatures/D3_Positions/Walking 1.cdf            Pose: (1, N, 96) world mm, Z-up
    <root>/S1/MyPoseFeatures/D2_Positions/Walking 1.54138969.cdf   Pose: (1, N, 64) pixels
    <root>/S1/Videos/Walking 1.54138969.mp4
    <root>/camera-parameters.json                                  optional (karfly format)

Cameras come from ``<root>/camera-parameters.json`` when present (the widely used file derived from
``metadata.xml``: ``K``, ``[k1, k2, p1, p2, k3]``, ``R``, ``t = -R C`` in mm), otherwise from the built-in
published calibration (:mod:`simspine_hub.io.h36m_cameras`, re-exported here). Both use the Human3.6M distortion model (see :mod:`simspine_hub.geometry`).

Quirks handled: S1 names ``TakingPhoto*``/``WalkingDog*`` (normalised to ``Photo``/``WalkDog``),
irregular subaction suffixes (kept verbatim as ``subaction``), ``_ALL`` sequences (skipped), and the
broken S11 ``Directions`` video of camera 54138969: like VideoPose3D's ``prepare_data_h36m.py``, which
drops the sequence whose file stem is exactly ``Directions`` (not ``Directions 1``), we treat that one
view as missing (:data:`BROKEN_VIEWS`, :func:`usable_cameras`); the 3D sequence stays.

Extracted frames are named by convention (:data:`IMAGE_NAMINGS`, :func:`image_names`): the SIMSPINE
authors' converter and mmpose's Human3.6M extraction differ in the first index and in which frames exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simspine_hub.geometry import Camera
from simspine_hub.io.errors import H36MFormatError
from simspine_hub.io.files import atomic_path
from simspine_hub.io.h36m_cameras import (
    CAMERA_IDS,
    IMAGE_SIZES,
    builtin_cameras,
    read_camera_json,
    write_camera_json,
)
from simspine_hub.units import MM_PER_M

__all__ = [
    "CAMERA_IDS", "SUBJECTS", "TRAIN_SUBJECTS", "TEST_SUBJECTS", "ACTIONS", "FPS", "H36MFormatError",
    "Sequence", "Human36M", "builtin_cameras", "read_camera_json", "write_camera_json",
    "read_pose_cdf", "write_pose_cdf", "normalize_action", "parse_sequence_name",
    "read_videopose3d_npz", "read_h3wb_npz", "BROKEN_VIEWS", "usable_cameras", "IMAGE_NAMINGS", "image_names",
    "IMAGE_SIZES",
]

FPS = 50.0
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "WalkTogether", "Walking")
_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
#: (subject, sequence file stem, camera) views that are missing or corrupt in the official release. Matched
#: on the exact stem, as VideoPose3D's ``prepare_data_h36m.py`` does: ``S11/Directions 1`` keeps all views.
BROKEN_VIEWS = frozenset({("S11", "Directions", "54138969")})

#: Image-name conventions for frames extracted from the Human3.6M videos, named after who writes them:
#: {name: (file-name number of frame 0, every how many frames an image exists)}. Both write the relative
#: path ``<S>/<S>_<key>.<camera>/<S>_<key>.<camera>_<number:06d>.jpg`` (``<key>``: the stem, spaces as ``_``).
#:   ``simspine``: the SIMSPINE authors' converter (dfki-av/simspine ``tools/preprocess_simspine.py``):
#:                 0-based, every frame.
#:   ``mmpose``:   mmpose's extraction (``tools/dataset_converters/preprocess_h36m.py``): 1-based (frame i is
#:                 ``i + 1``), every 5th frame (its default ``sample_rate``); other frames have no image.
IMAGE_NAMINGS = {"simspine": (0, 1), "mmpose": (1, 5)}


# --- CDF poses -----------------------------------------------------------------------------------------
def read_pose_cdf(path: str | os.PathLike, dims: int, num_joints: int = 32) -> np.ndarray:
    """Read the ``Pose`` variable of a Human3.6M CDF -> (N, num_joints, dims) float32.

    Args:
        path: a ``D3_Positions`` (dims=3, world mm) or ``D2_Positions`` (dims=2, pixels) file.
        dims: 3 or 2.
        num_joints: expected joints per frame (32 in the release).
    """
    import cdflib

    path = Path(path)
    if not path.is_file():
        raise H36MFormatError(f"{path}: file not found; expected a Human3.6M Pose CDF here")
    try:
        pose = np.asarray(cdflib.CDF(str(path)).varget("Pose"))
    except Exception as exc:  # cdflib raises assorted errors on truncated files
        raise H36MFormatError(f"{path}: unreadable CDF ({type(exc).__name__}: {exc}); the file is "
                              "truncated or not a CDF; re-extract it from the Human3.6M archive") from exc
    width = num_joints * dims
    if pose.ndim < 2 or pose.shape[-1] != width:
        raise H36MFormatError(f"{path}: Pose has shape {pose.shape}; expected (1, N, {width}) "
                              f"= {num_joints} joints x {dims} coordinates")
    return pose.reshape(-1, num_joints, dims)


def write_pose_cdf(path: str | os.PathLike, pose: np.ndarray) -> None:
    """Write (N, J, D) as a Human3.6M-style CDF with variable ``Pose`` of shape (1, N, J*D), float32."""
    from cdflib.cdfwrite import CDF

    path = Path(path)
    pose = np.asarray(pose, dtype=np.float32)
    n = pose.shape[0]
    data = pose.reshape(1, n, -1)
    with atomic_path(path) as tmp, CDF(str(tmp), cdf_spec={"Compressed": False}, delete=True) as cdf:
        cdf.write_var({"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1,
                       "Rec_Vary": True, "Compress": 0, "Dim_Sizes": [n, data.shape[2]]}, var_attrs={}, var_data=data)


# --- names -----------------------------------------------------------------------------------------------
def normalize_action(name: str) -> str:
    """Map a raw action name (``TakingPhoto``, ``WalkingDog``...) to one of :data:`ACTIONS`."""
    base = _ACTION_ALIASES.get(name, name)
    if base not in ACTIONS:
        raise ValueError(f"unknown Human3.6M action {name!r}; expected one of {ACTIONS}")
    return base


def parse_sequence_name(stem: str) -> tuple[str, str]:
    """``"TakingPhoto 1"`` -> (``"Photo"``, ``"1"``); ``"Directions"`` -> (``"Directions"``, ``""``)."""
    m = re.fullmatch(r"([A-Za-z]+)(?:\s+(\S+))?", stem.strip())
    if not m:
        raise ValueError(f"cannot parse Human3.6M sequence name {stem!r}")
    return normalize_action(m.group(1)), m.group(2) or ""


def usable_cameras(subject: str, stem: str, cameras: tuple[str, ...] | list[str] = CAMERA_IDS) -> list[str]:
    """``cameras`` without the :data:`BROKEN_VIEWS` of sequence ``subject/stem`` (exact file stem)."""
    return [c for c in cameras if (subject, stem, c) not in BROKEN_VIEWS]


def image_names(subject: str, stem: str, camera: str, frames: np.ndarray,
                naming: str = "simspine") -> list[str | None]:
    """Relative image paths of 0-based Human3.6M ``frames`` under an :data:`IMAGE_NAMINGS` convention.

    A frame the convention does not extract (mmpose: ``i % 5 != 0``) gets None.
    """
    if naming not in IMAGE_NAMINGS:
        raise ValueError(f"image naming {naming!r} unknown; choose one of {sorted(IMAGE_NAMINGS)}")
    first, every = IMAGE_NAMINGS[naming]
    prefix = f"{subject}_{stem.replace(' ', '_')}.{camera}"
    folder = f"{subject}/{prefix}/{prefix}"
    return [f"{folder}_{int(i) + first:06d}.jpg" if int(i) % every == 0 else None for i in frames]


@dataclass(frozen=True)
class Sequence:
    """One Human3.6M recording: ``stem`` is the file name without extension (e.g. ``"Walking 1"``)."""

    subject: str
    stem: str
    action: str
    subaction: str


class Human36M:
    """Reader for an official-layout Human3.6M root (see module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise H36MFormatError(f"{self.root}: Human3.6M root not found; pass the folder that "
                                  "contains S1/, S5/, ... (h36m_root=...)")
        self._camera_json = None
        jpath = self.root / "camera-parameters.json"
        if jpath.is_file():
            self._camera_json = read_camera_json(jpath)

    def subjects(self) -> list[str]:
        """Subjects present under the root, in protocol order."""
        return [s for s in SUBJECTS if (self.root / s).is_dir()]

    def _subject_dir(self, subject: str) -> Path:
        d = self.root / subject / "MyPoseFeatures" / "D3_Positions"
        if not d.is_dir():
            raise H36MFormatError(f"{d}: subject folder not found; expected "
                                  f"<h36m_root>/{subject}/MyPoseFeatures/D3_Positions/*.cdf")
        return d

    def sequences(self, subject: str) -> list[Sequence]:
        """All usable sequences of ``subject`` (``_ALL`` files skipped), sorted by file name."""
        out = []
        for f in sorted(self._subject_dir(subject).glob("*.cdf")):
            if "_ALL" in f.stem:
                continue
            action, sub = parse_sequence_name(f.stem)
            out.append(Sequence(subject, f.stem, action, sub))
        return out

    def cameras(self, subject: str) -> dict[str, Camera]:
        """{camera id: Camera} for ``subject`` (root's camera-parameters.json, else built-in)."""
        if self._camera_json is not None and subject in self._camera_json:
            return self._camera_json[subject]
        return builtin_cameras(subject)

    def path_3d(self, subject: str, stem: str) -> Path:
        return self.root / subject / "MyPoseFeatures" / "D3_Positions" / f"{stem}.cdf"

    def path_2d(self, subject: str, stem: str, camera: str) -> Path:
        return self.root / subject / "MyPoseFeatures" / "D2_Positions" / f"{stem}.{camera}.cdf"

    def video_path(self, subject: str, stem: str, camera: str) -> Path:
        return self.root / subject / "Videos" / f"{stem}.{camera}.mp4"

    def read_3d(self, subject: str, stem: str) -> np.ndarray:
        """(N, 32, 3) float32 world joints, millimetres, Z-up."""
        self._subject_dir(subject)
        return read_pose_cdf(self.path_3d(subject, stem), dims=3)

    def read_2d(self, subject: str, stem: str, camera: str) -> np.ndarray:
        """(N, 32, 2) float32 pixel joints for ``camera``."""
        return read_pose_cdf(self.path_2d(subject, stem, camera), dims=2)

    def views(self, seq: Sequence) -> list[str]:
        """Camera ids usable for ``seq`` (excludes :data:`BROKEN_VIEWS`)."""
        return usable_cameras(seq.subject, seq.stem)

    def iter_frames(self, subject: str, stem: str, camera: str, stride: int = 1,
                    limit: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (frame index, (H, W, 3) uint8 RGB) from the sequence's video, every ``stride`` frames."""
        import cv2

        path = self.video_path(subject, stem, camera)
        if not path.is_file():
            raise H36MFormatError(f"{path}: video not found; expected <h36m_root>/{subject}/Videos/"
                                  f"{stem}.{camera}.mp4")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise H36MFormatError(f"{path}: cannot open video; the file is corrupt or truncated")
        try:
            i = 0
            while limit is None or i < limit:
                ok = cap.grab()
                if not ok:
                    break
                if i % stride == 0:
                    ok, bgr = cap.retrieve()
                    if not ok:
                        raise H36MFormatError(f"{path}: cannot decode frame {i}; the video is corrupt")
                    yield i, bgr[..., ::-1].copy()
                i += 1
        finally:
            cap.release()


def read_h3wb_npz(path: str | os.PathLike, allow_pickle: bool = False) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Read H3WB's ``h3wb_train.npz`` -> {subject: {action key: (frame ids (N,), global_3d (N, 133, 3) mm)}}.

    Layout (as the H3WB release describes it): ``train_data[subject][action]`` holds ``global_3d`` (N, 133, 3)
    world coordinates in COCO-WholeBody order and ``frame_id`` (N,) Human3.6M frame indices (a sparse subset).
    The file stores pickled dicts, so it is refused unless ``allow_pickle=True`` says you trust it.
    """
    path = Path(path)
    if not path.is_file():
        raise H36MFormatError(f"{path}: H3WB file not found; pass h3wb_root= the h3wb_train.npz file or its folder")
    if not allow_pickle:
        raise H36MFormatError(f"{path}: H3WB's npz holds pickled dicts; pass allow_pickle=True (h3wb_allow_pickle=True) "
                              "only if you trust the file")
    try:
        train = np.load(path, allow_pickle=True)["train_data"].item()
        out = {}
        for subject, actions in train.items():
            out[subject] = {}
            for action, d in actions.items():
                g = np.asarray(d["global_3d"], dtype=np.float64)
                if g.ndim != 3 or g.shape[1:] != (133, 3):
                    raise ValueError(f"{subject}/{action} global_3d has shape {g.shape}; expected (N, 133, 3)")
                out[subject][action] = (np.asarray(d["frame_id"]).astype(np.int64), g)
    except H36MFormatError:
        raise
    except Exception as exc:
        raise H36MFormatError(f"{path}: not an H3WB h3wb_train.npz ({exc})") from exc
    return out


def read_videopose3d_npz(path: str | os.PathLike, allow_pickle: bool = False) -> dict[str, dict[str, np.ndarray]]:
    """Read VideoPose3D's ``data_3d_h36m.npz`` -> {subject: {sequence stem: (N, 32, 3) world mm}}.

    The file stores a pickled dict (metres); unpickling runs code from the file, so it is refused unless
    ``allow_pickle=True`` says you trust the file. VideoPose3D dropped S11 ``Directions``.
    """
    path = Path(path)
    if not allow_pickle:
        raise H36MFormatError(f"{path}: this npz holds a pickled dict; pass allow_pickle=True only if "
                              "you trust the file (it was made by VideoPose3D's prepare_data_h36m.py)")
    try:
        data = np.load(path, allow_pickle=True)["positions_3d"].item()
    except Exception as exc:
        raise H36MFormatError(f"{path}: not a VideoPose3D data_3d_h36m.npz ({exc})") from exc
    out = {}
    for subject, actions in data.items():
        out[subject] = {}
        for stem, pos in actions.items():
            pos = np.asarray(pos)
            if pos.ndim != 3 or pos.shape[1:] != (32, 3):
                raise H36MFormatError(f"{path}: {subject}/{stem} has shape {pos.shape}; expected (N, 32, 3)")
            out[subject][stem] = (pos * MM_PER_M).astype(np.float32)
    return out
