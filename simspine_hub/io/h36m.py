"""Human3.6M on disk: cameras, CDF poses, videos, action names, VideoPose3D's npz.

Layout read (the official release, licensed; never shipped or downloaded here)::

    <root>/S1/MyPoseFeatures/D3_Positions/Walking 1.cdf            Pose: (1, N, 96) world mm, Z-up
    <root>/S1/MyPoseFeatures/D2_Positions/Walking 1.54138969.cdf   Pose: (1, N, 64) pixels
    <root>/S1/Videos/Walking 1.54138969.mp4
    <root>/camera-parameters.json                                  optional (karfly format)

Cameras come from ``<root>/camera-parameters.json`` when present (the widely used file derived from
``metadata.xml``: ``K``, ``[k1, k2, p1, p2, k3]``, ``R``, ``t = -R C`` in mm), otherwise from the built-in
published calibration below. Both use the Human3.6M distortion model (see :mod:`simspine_hub.geometry`).

Quirks handled: S1 names ``TakingPhoto*``/``WalkingDog*`` (normalised to ``Photo``/``WalkDog``),
irregular subaction suffixes (kept verbatim as ``subaction``), ``_ALL`` sequences (skipped), and the
broken S11 ``Directions`` video of camera 54138969: like VideoPose3D's ``prepare_data_h36m.py``, which
drops the sequence whose file stem is exactly ``Directions`` (not ``Directions 1``), we treat that one
view as missing (:data:`BROKEN_VIEWS`, :func:`usable_cameras`); the 3D sequence stays.

Extracted frames are named by convention (:data:`IMAGE_NAMINGS`, :func:`image_names`): the SIMSPINE
authors' converter and mmpose's Human3.6M extraction differ in the first index and in which frames exist.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from simspine_hub.geometry import Camera
from simspine_hub.io.files import atomic_path, write_text
from simspine_hub.units import MM_PER_M

__all__ = [
    "CAMERA_IDS", "SUBJECTS", "TRAIN_SUBJECTS", "TEST_SUBJECTS", "ACTIONS", "FPS", "H36MFormatError",
    "Sequence", "Human36M", "builtin_cameras", "read_camera_json", "write_camera_json",
    "read_pose_cdf", "write_pose_cdf", "normalize_action", "parse_sequence_name",
    "read_videopose3d_npz", "read_h3wb_npz", "BROKEN_VIEWS", "usable_cameras", "IMAGE_NAMINGS", "image_names",
    "IMAGE_SIZES",
]

FPS = 50.0
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
IMAGE_SIZES = {"54138969": (1000, 1002), "55011271": (1000, 1000),
               "58860488": (1000, 1000), "60457274": (1000, 1002)}
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


class H36MFormatError(ValueError):
    """A Human3.6M file or folder is missing or malformed; the message names the path and the fix."""


# --- built-in calibration ---------------------------------------------------------------------------
# Intrinsics: karfly/human36m-camera-parameters camera-parameters.json (from metadata.xml);
# K as (fx, fy, cx, cy), distortion [k1, k2, p1, p2, k3].
_INTRINSICS = {
    "54138969": ((1145.04940458804, 1143.78109572365, 512.541504956548, 515.4514869776),
                 (-0.207098910824901, 0.247775183068982, -0.00142447157470321, -0.000975698859470499,
                  -0.00307515035078854)),
    "55011271": ((1149.67569986785, 1147.59161666764, 508.848621645943, 508.064917088557),
                 (-0.194213629607385, 0.240408539138292, -0.0027408943961907, -0.001619026613787,
                  0.00681997559022603)),
    "58860488": ((1149.14071676148, 1148.7989685676, 519.815837182153, 501.402658888552),
                 (-0.208338188251856, 0.255488007488945, -0.000759999321030303, 0.00148438698385668,
                  -0.00246049749891915)),
    "60457274": ((1145.51133842318, 1144.77392807652, 514.968197319863, 501.882018537695),
                 (-0.198384093827848, 0.218323676298049, -0.00181336200488089, -0.000587205583421232,
                  -0.00894780704152122)),
}
# Extrinsics: VideoPose3D common/h36m_dataset.py, per subject and camera (in CAMERA_IDS order):
# camera-to-world orientation quaternion (w, x, y, z) and camera centre in world mm.
_EXTRINSICS = {
    "S1": (((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088), (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
           ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205), (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
           ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696), (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
           ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435), (-1794.7896728515625, -3722.698974609375, 1574.8927001953125))),
    "S5": (((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332), (2097.3916015625, 4880.94482421875, 1605.732421875)),
           ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915), (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
           ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576), (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
           ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092), (-1637.1737060546875, -3867.3173828125, 1547.033203125))),
    "S6": (((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938), (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
           ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428), (1969.803955078125, -5128.73876953125, 1632.77880859375)),
           ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334), (-1769.596435546875, 5185.361328125, 1476.993408203125)),
           ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802), (-1721.668701171875, -3884.13134765625, 1540.4879150390625))),
    "S7": (((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778), (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
           ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508), (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
           ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278), (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
           ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523), (-1734.7105712890625, -3832.42138671875, 1548.5830078125))),
    "S8": (((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773), (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
           ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615), (2219.965576171875, -5148.453125, 1613.0440673828125)),
           ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755), (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
           ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708), (-1476.913330078125, -3896.7412109375, 1547.97216796875))),
    "S9": (((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243), (2044.45849609375, 4935.1171875, 1481.2275390625)),
           ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801), (1990.959716796875, -5123.810546875, 1568.8048095703125)),
           ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915), (-1670.9921875, 5211.98583984375, 1528.387939453125)),
           ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822), (-1696.04345703125, -3827.099853515625, 1591.4127197265625))),
    "S11": (((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467), (2098.440185546875, 4926.5546875, 1500.278564453125)),
            ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085), (2083.182373046875, -4912.1728515625, 1561.07861328125)),
            ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407), (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
            ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809), (-1590.738037109375, -3854.1689453125, 1578.017578125))),
}


def builtin_cameras(subject: str) -> dict[str, Camera]:
    """The published calibration of ``subject``'s four cameras (world mm, Human3.6M distortion)."""
    if subject not in _EXTRINSICS:
        raise KeyError(f"no built-in calibration for subject {subject!r}; known: {sorted(_EXTRINSICS)}")
    cams = {}
    for cam_id, (quat, centre) in zip(CAMERA_IDS, _EXTRINSICS[subject]):
        (fx, fy, cx, cy), dist = _INTRINSICS[cam_id]
        R = Rotation.from_quat(quat, scalar_first=True).as_matrix().T  # world -> camera
        t = -R @ np.asarray(centre)
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        cams[cam_id] = Camera(cam_id, K, dist, R, t, IMAGE_SIZES[cam_id], "h36m")
    return cams


def read_camera_json(path: str | os.PathLike) -> dict[str, dict[str, Camera]]:
    """Read a karfly-format ``camera-parameters.json`` -> {subject: {camera id: Camera}} (mm)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        intr, extr = data["intrinsics"], data["extrinsics"]
        out: dict[str, dict[str, Camera]] = {}
        for subject, cams in extr.items():
            out[subject] = {}
            for cam_id, e in cams.items():
                if not e:
                    continue
                out[subject][cam_id] = Camera(
                    cam_id, intr[cam_id]["calibration_matrix"], intr[cam_id]["distortion"],
                    e["R"], np.asarray(e["t"]).reshape(3), IMAGE_SIZES.get(cam_id, (1000, 1000)), "h36m")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise H36MFormatError(
            f"{path}: cannot read camera parameters ({exc!s}); expected the karfly camera-parameters.json "
            "layout {intrinsics: {cam: {calibration_matrix, distortion}}, extrinsics: {S: {cam: {R, t}}}}"
        ) from exc
    return out


def write_camera_json(path: str | os.PathLike, cameras: dict[str, dict[str, Camera]]) -> None:
    """Write {subject: {camera id: Camera}} in the karfly ``camera-parameters.json`` layout."""
    intr, extr = {}, {}
    for subject, cams in cameras.items():
        extr[subject] = {}
        for cam_id, c in cams.items():
            intr[cam_id] = {"calibration_matrix": c.K.tolist(), "distortion": c.dist.tolist()}
            extr[subject][cam_id] = {"R": c.R.tolist(), "t": c.t.reshape(3, 1).tolist()}
    write_text(path, json.dumps({"intrinsics": intr, "extrinsics": extr}, indent=2))


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
