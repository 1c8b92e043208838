"""The paper's OpenSim model (Rajagopal + Beaucage-Gauvreau lumbar spine, via Pose2Sim) and its markers.

The model file ships inside the ``pose2sim`` wheel (BSD-3); the project's set-up installs that wheel with
``--no-deps`` so that only its data arrives. :func:`model_file` finds it without importing Pose2Sim.
:data:`POSE2SIM_VERSION` is the one pin of that wheel (``tools/run.sh`` reads it from this file).

:class:`SpineModel` reads the model's kinematics from the XML (:mod:`simspine_hub.osim.xml`): forward
kinematics, couplers and markers need no OpenSim. Scaling (OpenSim's ``Model.scale``) and the reference
forward kinematics through OpenSim need the ``opensim`` extra.

Units: OpenSim works in metres and radians, ground frame Y-up. Marker tables are (T, M, 3) metres.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import MappingProxyType

import numpy as np

from simspine_hub import skeleton
from simspine_hub.osim.fk import VectorizedFK
from simspine_hub.osim.xml import add_markers, read_osim

__all__ = ["model_file", "SIMSPINE_MARKERS", "H36M_MARKERS", "SpineModel", "ModelNotFoundError", "POSE2SIM_VERSION"]

POSE2SIM_VERSION = "0.10.49"   # the one pin: tools/run.sh reads this line


class ModelNotFoundError(FileNotFoundError):
    """The OpenSim model file could not be found."""


def model_file(name: str = "Model_Pose2Sim_muscles_flex.osim") -> Path:
    """Path of the paper's model inside the installed ``pose2sim`` package (not imported)."""
    env = os.environ.get("SIMSPINE_OSIM_MODEL")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("Pose2Sim")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "OpenSim_Setup" / name
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"OpenSim model {name} not found: install its data with "
        f"`pip install --no-deps pose2sim=={POSE2SIM_VERSION}` (tools/run.sh does this), "
        "or set SIMSPINE_OSIM_MODEL to an .osim file")


# The 33 SIMSPINE markers of dfki-av/simspine assets/OpenSim_Setup/Markers.xml: (body, location in the
# body frame, metres). Eyes and ears are not in that file; their places below are this project's own
# choice (a few cm from the nose on the head body), used by the synthetic twin only.
SIMSPINE_MARKERS = MappingProxyType({
    "Nose": ("head", (0.116266, 0.0126096, 0.000152885)),
    "Head": ("head", (0.0159224, 0.164131, 0.0)),
    "Neck": ("torso", (-0.042955836689862678, 0.41306099238722116, -0.00145)),
    "LShoulder": ("torso", (-0.012751615047454833, 0.36630706509036348, -0.20157419735588852)),
    "RShoulder": ("torso", (-0.012751615047454833, 0.36630706509036348, 0.20157419735588852)),
    "LElbow": ("humerus_l", (0.025, -0.29795454784749797, 0.0087376529932870692)),
    "RElbow": ("humerus_r", (0.025, -0.29795454784749797, -0.0087376529932870692)),
    "LWrist": ("radius_l", (-0.00017358908136026123, -0.23509597713454577, -0.0097437949950177141)),
    "RWrist": ("radius_r", (-0.00017358908136026123, -0.23509597713454577, 0.0097437949950177141)),
    "Hip": ("pelvis", (-0.15626184675237234, 0.0040884547675192383, 0.0)),
    "LHip": ("pelvis", (-0.063927444458007812, -0.081343112945556642, -0.10540640790244724)),
    "RHip": ("pelvis", (-0.063927444458007812, -0.081343112945556642, 0.10540640790244724)),
    "LKnee": ("femur_l", (-0.0054104845447782643, -0.38613215736805462, -0.0051106969426969557)),
    "RKnee": ("femur_r", (-0.0054104845447782643, -0.38613215736805462, 0.0051106969426969557)),
    "LAnkle": ("tibia_l", (-0.00028630976101194031, -0.37683977416422021, -0.014959548491229383)),
    "RAnkle": ("tibia_r", (-0.00028630976101194031, -0.37683977416422021, 0.014959548491229383)),
    "LBigToe": ("toes_l", (0.064664297458672193, 0.0098693355454698862, 0.014580254493150785)),
    "LSmallToe": ("toes_l", (0.027116648721891835, 0.0095716438829001865, -0.028780161392620865)),
    "LHeel": ("calcn_l", (0.013586029137032551, 0.023304361603446754, 0.0018867170601417895)),
    "RBigToe": ("toes_r", (0.064664297458672193, 0.0098693355454698862, -0.014580254493150785)),
    "RSmallToe": ("toes_r", (0.027116648721891835, 0.0095716438829001865, 0.028780161392620865)),
    "RHeel": ("calcn_r", (0.013586029137032551, 0.023304361603446754, -0.0018867170601417895)),
    "Neck_03": ("torso", (-0.0048616652487447282, 0.49995819639833305, -0.00145)),
    "Neck_02": ("torso", (-0.015141268685523257, 0.4599570658114549, -0.00145)),
    "LClavicle": ("torso", (0.029778360685760417, 0.37140938585620231, -0.025133317865096736)),
    "RClavicle": ("torso", (0.028295210687487242, 0.36989347341251461, 0.025133317865096736)),
    "LLatissimus": ("torso", (-0.075096938432185484, 0.27651893569588676, -0.094742433127717629)),
    "RLatissimus": ("torso", (-0.075096938432185484, 0.27651893569588676, 0.094742433127717629)),
    "Spine_05": ("torso", (-0.075034315620251674, 0.33851028875184008, -0.0006262520848567952)),
    "Spine_04": ("torso", (-0.080638722900547299, 0.21564421615695892, 0.00034848555720795105)),
    "Spine_03": ("lumbar1", (-0.04424201672367474, -0.0091006299269433839, 0.0)),
    "Spine_02": ("lumbar3", (-0.047699297197226057, -0.0041614658874436824, 0.0)),
    "Spine_01": ("lumbar5", (-0.036869565626109907, 0.014392640569310743, 0.0)),
    # project-defined (twin only)
    "LEye": ("head", (0.095, 0.045, -0.032)),
    "REye": ("head", (0.095, 0.045, 0.032)),
    "LEar": ("head", (0.005, 0.035, -0.075)),
    "REar": ("head", (0.005, 0.035, 0.075)),
})


def _same(name: str) -> tuple[str, tuple[float, float, float]]:
    return SIMSPINE_MARKERS[name]


# Human3.6M's 32 joints as virtual markers on the same model (project-defined, for the twin). The 12
# limb joints sit exactly on the SIMSPINE limb markers, so joining Human3.6M limbs with the released
# spine points reproduces the 37-point ground truth; the others are plausible anatomical places.
H36M_MARKERS = MappingProxyType({
    "Hips": ("pelvis", (-0.0639274, -0.0813431, 0.0)),
    "RightUpLeg": _same("RHip"), "RightLeg": _same("RKnee"), "RightFoot": _same("RAnkle"),
    "RightToeBase": ("toes_r", (0.0, 0.0, 0.0)), "RightToeSite": ("toes_r", (0.06, 0.005, 0.0)),
    "LeftUpLeg": _same("LHip"), "LeftLeg": _same("LKnee"), "LeftFoot": _same("LAnkle"),
    "LeftToeBase": ("toes_l", (0.0, 0.0, 0.0)), "LeftToeSite": ("toes_l", (0.06, 0.005, 0.0)),
    "Spine": ("pelvis", (-0.0639274, -0.0813431, 0.0)),
    "Spine1": ("torso", (-0.02, 0.25, 0.0)),
    "Neck": ("torso", (-0.01, 0.40, 0.0)),
    "Head": ("head", (0.07, 0.06, 0.0)),
    "HeadSite": ("head", (0.02, 0.18, 0.0)),
    "LeftShoulder": ("torso", (-0.01, 0.40, 0.0)),
    "LeftArm": _same("LShoulder"), "LeftForeArm": _same("LElbow"), "LeftHand": _same("LWrist"),
    "LeftHandThumb": ("hand_l", (0.0, -0.03, 0.0)), "LeftThumbSite": ("hand_l", (0.01, -0.06, -0.02)),
    "LeftWristEnd": ("hand_l", (0.0, -0.03, 0.0)), "LeftWristSite": ("hand_l", (0.0, -0.08, 0.0)),
    "RightShoulder": ("torso", (-0.01, 0.40, 0.0)),
    "RightArm": _same("RShoulder"), "RightForeArm": _same("RElbow"), "RightHand": _same("RWrist"),
    "RightHandThumb": ("hand_r", (0.0, -0.03, 0.0)), "RightThumbSite": ("hand_r", (0.01, -0.06, 0.02)),
    "RightWristEnd": ("hand_r", (0.0, -0.03, 0.0)), "RightWristSite": ("hand_r", (0.0, -0.08, 0.0)),
})
assert tuple(H36M_MARKERS) == skeleton.H36M_JOINT_NAMES


class SpineModel:
    """The paper's model (or any OpenSim 4 model) with markers, couplers and batched forward kinematics.

    Read from the .osim XML; OpenSim is only needed for :meth:`scale`, :meth:`marker_positions_opensim`
    and :attr:`model` (the ``opensim.Model``).

    Args:
        path: .osim file (default: the paper's model, :func:`model_file`).
        markers: {name: (body, (x, y, z) metres)} to attach; markers already in the file are kept.
    """

    def __init__(self, path: str | os.PathLike | None = None,
                 markers: dict[str, tuple[str, tuple[float, float, float]]] | None = None) -> None:
        self.path = Path(path) if path is not None else model_file()
        if not self.path.is_file():
            raise ModelNotFoundError(f"{self.path}: OpenSim model not found")
        self._load(self.path.read_bytes())
        new = {n: v for n, v in (markers or {}).items() if n not in self.tree.markers}
        unknown = sorted({b for b, _ in new.values() if b not in self.tree.bodies})
        if unknown:
            raise ValueError(f"{self.path}: markers name bodies the model lacks: {unknown}")
        if new:
            self._load(add_markers(self._xml, new))

    def _load(self, text: bytes) -> None:
        self._xml = text
        self.tree = read_osim(self.path, text)
        self.coordinate_names = self.tree.coordinate_names
        if self.coordinate_names != skeleton.KINEMATIC_AXES:
            raise ValueError(f"{self.path}: coordinates differ from the 62 SIMSPINE kinematic axes")
        # rotations (radians in OpenSim, degrees in .mot); coupled knee_angle_*_beta counts as a rotation
        self.rotational = skeleton.ROTATIONAL                 # coordinate_names == KINEMATIC_AXES (checked above)
        idx = {n: i for i, n in enumerate(self.coordinate_names)}
        #: enforced linear couplers as (dependent index, independent index, slope, intercept)
        self.couplers = [(idx[c.dependent], idx[c.independent], c.slope, c.intercept)
                         for c in self.tree.couplers if c.enforced]
        self.marker_names = tuple(self.tree.markers)
        self._fk = None
        self._osim = None

    @property
    def default_pose(self) -> np.ndarray:
        """(62,) default coordinate values (radians / metres)."""
        return np.array([c.default for c in self.tree.coordinates])

    @property
    def total_mass(self) -> float:
        """Sum of the body masses, kg."""
        return self.tree.total_mass

    def apply_couplers(self, q: np.ndarray) -> np.ndarray:
        """Return (T, 62) ``q`` with every coupled coordinate set from its independent one.

        Setting dependents from the linear coupler functions satisfies the constraints exactly.
        """
        q = np.array(q, dtype=np.float64, copy=True)
        for dep, ind, slope, icpt in self.couplers:
            q[..., dep] = slope * q[..., ind] + icpt
        return q

    @property
    def model(self):
        """This model as an ``opensim.Model``, initialised (needs the ``opensim`` extra)."""
        if self._osim is None:
            from simspine_hub.osim.scaling import load_opensim_model

            self._osim = load_opensim_model(self._xml)
        return self._osim[0]

    def scale(self, factor: float, mass: float | None = None) -> None:
        """Scale every body uniformly by ``factor`` with OpenSim's ``Model.scale`` (markers and joints follow);
        set the total mass (kg). Needs the ``opensim`` extra."""
        from simspine_hub.osim.scaling import scale_uniformly

        self._load(scale_uniformly(self._xml, factor, mass))

    def save(self, path: str | os.PathLike) -> None:
        """Write the (scaled) model with its markers as .osim (no OpenSim needed)."""
        from simspine_hub.io.files import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(self._xml)

    def marker_positions(self, q: np.ndarray, names: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
        """Forward kinematics: (T, 62) coordinates (rad / m) -> (T, M, 3) marker positions, metres, ground.

        Coupled coordinates in ``q`` are overwritten from their independent coordinates first. Vectorised
        over frames (:class:`~simspine_hub.osim.fk.VectorizedFK`, read from the .osim XML and equal to
        OpenSim's own forward kinematics to 1e-9 m; :meth:`marker_positions_opensim` is the frame-by-frame
        OpenSim reference).
        """
        q = self.apply_couplers(np.atleast_2d(q))
        names = self.marker_names if names is None else tuple(names)
        missing = [n for n in names if n not in self.tree.markers]
        if missing:
            raise KeyError(f"marker {missing[0]!r} is not on the model {self.path}")
        if self._fk is None:
            self._fk = VectorizedFK(self.tree, self.coordinate_names)
        return self._fk.marker_positions(q, names)

    @property
    def fk(self) -> VectorizedFK:
        """The model's :class:`~simspine_hub.osim.fk.VectorizedFK` (body poses, marker positions)."""
        if self._fk is None:
            self._fk = VectorizedFK(self.tree, self.coordinate_names)
        return self._fk

    def marker_positions_opensim(self, q: np.ndarray, names: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
        """Reference forward kinematics through OpenSim, one frame at a time (same contract as above)."""
        q = self.apply_couplers(np.atleast_2d(q))
        names = self.marker_names if names is None else tuple(names)
        model = self.model
        state = self._osim[1]
        ms = model.getMarkerSet()
        missing = [n for n in names if not ms.contains(n)]
        if missing:
            raise KeyError(f"marker {missing[0]!r} is not on the model {self.path}")
        markers = [ms.get(n) for n in names]
        cs = model.getCoordinateSet()
        coords = [cs.get(n) for n in self.coordinate_names]
        out = np.empty((len(q), len(markers), 3))
        for t, row in enumerate(q):
            for c, v in zip(coords, row):
                c.setValue(state, float(v), False)
            model.realizePosition(state)
            for j, m in enumerate(markers):
                out[t, j] = m.getLocationInGround(state).to_numpy()
        return out
