"""Read an OpenSim 4 model (``.osim`` XML) into its kinematic tree, without OpenSim.

What is read, and nothing else (muscles, geometry, contact and wrapping are skipped):

* bodies (name, mass kg);
* joints of kind ``WeldJoint``, ``PinJoint`` (about Z), ``UniversalJoint`` (X then Y) and ``CustomJoint``
  (a SpatialTransform of three rotation axes applied in sequence, body-fixed, then three translations
  in the parent offset frame), with their parent and child frames resolved to a body and a fixed
  offset (translation m, body-fixed X-Y-Z orientation rad) -- ``PhysicalOffsetFrame`` chains included;
* coordinates in OpenSim's order (joints in file order, then each joint's list): default value,
  range, ``clamped``, ``locked``;
* ``CoordinateCouplerConstraint`` s whose function is linear in one independent coordinate:
  ``q_dep = scale_factor * (slope * q_ind + intercept)``;
* markers (parent body, location m).

Files written by OpenSim >= 4.0 (``OpenSimDocument Version >= 30000``) are read, including the scaled
models ``Model.scale`` writes (translation functions wrapped in ``MultiplierFunction``).
Anything outside this list that would change the kinematics raises :class:`OsimFormatError`.

Units: metres, radians; OpenSim's ground frame is Y-up.
"""

from __future__ import annotations

import functools
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from simspine_hub.osim.functions import AxisFunction

__all__ = ["OsimFormatError", "Coordinate", "Joint", "Coupler", "KinematicTree", "read_osim", "add_markers"]


class OsimFormatError(ValueError):
    """The .osim file holds something this reader cannot turn into kinematics."""


@dataclass(frozen=True)
class Coordinate:
    name: str
    default: float                  # rad or m
    range: tuple[float, float]
    clamped: bool
    locked: bool


@dataclass(frozen=True)
class Joint:
    """One joint: child pose = parent pose * parent offset * joint transform * child offset^-1."""

    name: str
    kind: str                                        # WeldJoint, PinJoint, UniversalJoint, CustomJoint
    parent: str                                      # body name ("ground" for the ground)
    child: str
    parent_offset: tuple[np.ndarray, np.ndarray]     # R (3, 3), t (3,) m in the parent body
    child_offset: tuple[np.ndarray, np.ndarray]      # R (3, 3), t (3,) m in the child body
    coordinates: tuple[str, ...]
    axes: tuple[tuple[np.ndarray, str | None, AxisFunction], ...] = ()   # CustomJoint: 3 rotations, 3 translations


@dataclass(frozen=True)
class Coupler:
    name: str
    dependent: str
    independent: str
    slope: float                     # scale_factor already folded in
    intercept: float
    enforced: bool


@dataclass
class KinematicTree:
    """A model's kinematics: joints in parent-before-child order, coordinates in OpenSim's order."""

    name: str
    bodies: dict[str, float]                          # body -> mass (kg)
    joints: list[Joint]
    coordinates: list[Coordinate]
    couplers: list[Coupler]
    markers: dict[str, tuple[str, np.ndarray]]        # name -> (body, location (3,) m)

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.coordinates)

    @property
    def total_mass(self) -> float:
        return float(sum(self.bodies.values()))


def _vec(el: ET.Element | None, n: int, what: str) -> np.ndarray:
    if el is None or el.text is None:
        raise OsimFormatError(f"missing {what}")
    v = np.array(el.text.split(), dtype=np.float64)
    if v.shape != (n,):
        raise OsimFormatError(f"{what}: expected {n} numbers, got {el.text!r}")
    return v


def _flag(el: ET.Element | None, default: bool = False) -> bool:
    return default if el is None or el.text is None else el.text.strip().lower() == "true"


def _function(el: ET.Element, where: str) -> AxisFunction:
    """An OpenSim function element -> :class:`AxisFunction` (MultiplierFunctions folded into ``scale``)."""
    tag = el.tag
    if tag == "LinearFunction":
        slope, intercept = _vec(el.find("coefficients"), 2, f"{where} LinearFunction coefficients")
        return AxisFunction("linear", slope=float(slope), intercept=float(intercept))
    if tag == "Constant":
        return AxisFunction("constant", value=float(_vec(el.find("value"), 1, f"{where} Constant value")[0]))
    if tag == "SimmSpline":
        x, y = (np.array((el.findtext(k) or "").split(), dtype=np.float64) for k in ("x", "y"))
        if len(x) != len(y) or len(x) < 4:
            raise OsimFormatError(f"{where}: SimmSpline needs >= 4 knots with as many x as y")
        return AxisFunction("spline", x=tuple(x), y=tuple(y))
    if tag == "MultiplierFunction":
        inner = el.find("function")
        if inner is None or len(inner) != 1:
            raise OsimFormatError(f"{where}: MultiplierFunction without its function")
        return _function(inner[0], where).scaled(float(_vec(el.find("scale"), 1, f"{where} scale")[0]))
    raise OsimFormatError(f"{where}: transform-axis function {tag} is not supported")


def _offset_frame(el: ET.Element) -> tuple[str, np.ndarray, np.ndarray]:
    """PhysicalOffsetFrame -> (parent path, R, t)."""
    name = el.get("name")
    R = Rotation.from_euler("XYZ", _vec(el.find("orientation"), 3, f"frame {name} orientation")).as_matrix()
    return (el.findtext("socket_parent") or "").strip(), R, _vec(el.find("translation"), 3, f"frame {name} translation")


class _Frames:
    """Resolves a socket path to (body, R, t) of the frame in that body."""

    def __init__(self, root: ET.Element, bodies: set[str]) -> None:
        self.bodies = bodies
        self.body_frames: dict[tuple[str, str], ET.Element] = {}
        for body in root.iterfind("BodySet/objects/Body"):
            for f in body.iterfind("components/PhysicalOffsetFrame"):
                self.body_frames[(body.get("name"), f.get("name"))] = f

    def resolve(self, path: str, joint_frames: dict[str, ET.Element], where: str, depth: int = 0
                ) -> tuple[str, np.ndarray, np.ndarray]:
        parts = [p for p in path.strip().split("/") if p not in ("", ".")]
        while parts and parts[0] == "..":
            parts = parts[1:]
        el = None
        if parts == ["ground"]:
            return "ground", np.eye(3), np.zeros(3)
        if len(parts) == 2 and parts[0] == "bodyset" and parts[1] in self.bodies:
            return parts[1], np.eye(3), np.zeros(3)
        if len(parts) == 1 and parts[0] in joint_frames:
            el = joint_frames[parts[0]]
        elif len(parts) == 3 and parts[0] == "bodyset":
            el = self.body_frames.get((parts[1], parts[2]))
        if el is None or depth > 8:
            raise OsimFormatError(f"{where}: cannot resolve frame {path!r}")
        parent, R, t = _offset_frame(el)
        if parent == ".." and len(parts) == 3:               # a body's own frame
            parent = f"/bodyset/{parts[1]}"
        body, R0, t0 = self.resolve(parent, joint_frames, where, depth + 1)
        return body, R0 @ R, R0 @ t + t0


def _coordinate(el: ET.Element) -> Coordinate:
    name = el.get("name")
    lo, hi = _vec(el.find("range"), 2, f"coordinate {name} range")
    return Coordinate(name, float(_vec(el.find("default_value"), 1, f"coordinate {name} default_value")[0]),
                      (float(lo), float(hi)), _flag(el.find("clamped")), _flag(el.find("locked")))


def _joint(el: ET.Element, frames: _Frames) -> tuple[Joint, list[Coordinate]]:
    name, kind = el.get("name"), el.tag
    if kind not in ("WeldJoint", "PinJoint", "UniversalJoint", "CustomJoint"):
        raise OsimFormatError(f"joint {name}: type {kind} is not supported")
    coords = [_coordinate(c) for c in el.iterfind("coordinates/Coordinate")]
    own = {f.get("name"): f for f in el.iterfind("frames/PhysicalOffsetFrame")}
    pb, pR, pt = frames.resolve(el.findtext("socket_parent_frame") or "", own, f"joint {name} parent")
    cb, cR, ct = frames.resolve(el.findtext("socket_child_frame") or "", own, f"joint {name} child")
    axes = []
    if kind == "CustomJoint":
        known = {c.name for c in coords}
        for k, ta in enumerate(el.iterfind("SpatialTransform/TransformAxis")):
            where = f"joint {name} {ta.get('name')}"
            names = (ta.findtext("coordinates") or "").split()
            if len(names) > 1 or (names and names[0] not in known):
                raise OsimFormatError(f"{where}: coordinates {names} (one coordinate of the joint expected)")
            fn = [c for c in ta if c.tag not in ("coordinates", "axis")]
            if len(fn) != 1:
                raise OsimFormatError(f"{where}: expected exactly one function")
            axis = _vec(ta.find("axis"), 3, f"{where} axis")
            axes.append((axis / np.linalg.norm(axis), names[0] if names else None, _function(fn[0], where)))
            if k >= 6:
                raise OsimFormatError(f"joint {name}: more than six transform axes")
        if len(axes) != 6:
            raise OsimFormatError(f"joint {name}: a SpatialTransform needs six transform axes")
    expected = {"WeldJoint": 0, "PinJoint": 1, "UniversalJoint": 2}.get(kind)
    if expected is not None and len(coords) != expected:
        raise OsimFormatError(f"joint {name}: {kind} with {len(coords)} coordinates")
    joint = Joint(name, kind, pb, cb, (pR, pt), (cR, ct), tuple(c.name for c in coords), tuple(axes))
    return joint, coords


def _coupler(el: ET.Element) -> Coupler:
    name = el.get("name")
    ind = (el.findtext("independent_coordinate_names") or "").split()
    fn = el.find("coupled_coordinates_function")
    inner = list(fn) if fn is not None else []
    if len(ind) != 1 or len(inner) != 1 or inner[0].tag != "LinearFunction":
        raise OsimFormatError(f"coupler {name}: only a linear function of one coordinate is supported")
    slope, intercept = _vec(inner[0].find("coefficients"), 2, f"coupler {name} coefficients")
    scale = float(el.findtext("scale_factor") or 1.0)
    return Coupler(name, (el.findtext("dependent_coordinate_name") or "").strip(), ind[0], scale * float(slope),
                   scale * float(intercept), _flag(el.find("isEnforced"), default=True))


def _order(joints: list[Joint], path: Path) -> list[Joint]:
    """Parents before children (OpenSim's file order need not be)."""
    known, out, todo = {"ground"}, [], list(joints)
    while todo:
        ready = [j for j in todo if j.parent in known]
        if not ready:
            raise OsimFormatError(f"{path}: joints {[j.name for j in todo]} are not connected to the ground")
        for j in ready:
            out.append(j)
            known.add(j.child)
            todo.remove(j)
    return out


def read_osim(path: str | os.PathLike, text: bytes | None = None) -> KinematicTree:
    """Parse ``path`` (.osim, OpenSim >= 4.0 format) into a :class:`KinematicTree` (``text``: its bytes,
    when already in memory; ``path`` then only names it in messages). The last few models read are kept
    (keyed by their bytes), so reading the same file again is free; treat the tree as read-only."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise OsimFormatError(f"{path}: not a readable .osim XML file ({exc})") from exc
    return _parse(str(path), bytes(text))


@functools.lru_cache(maxsize=8)
def _parse(name: str, text: bytes) -> KinematicTree:
    path = Path(name)
    try:
        doc = ET.fromstring(text)
    except ET.ParseError as exc:
        raise OsimFormatError(f"{path}: not a readable .osim XML file ({exc})") from exc
    if doc.tag != "OpenSimDocument" or int(doc.get("Version", "0")) < 30000:
        raise OsimFormatError(f"{path}: not an OpenSim 4 model file (OpenSimDocument Version >= 30000); "
                              "open and re-save it with OpenSim 4 first")
    root = doc.find("Model")
    if root is None:
        raise OsimFormatError(f"{path}: no <Model> element")
    bodies = {b.get("name"): float(b.findtext("mass") or 0.0) for b in root.iterfind("BodySet/objects/Body")}
    frames = _Frames(root, set(bodies))
    joints, coords = [], []
    for el in root.find("JointSet/objects") if root.find("JointSet/objects") is not None else []:
        try:
            joint, jc = _joint(el, frames)
        except OsimFormatError as exc:
            raise OsimFormatError(f"{path}: {exc}") from None
        joints.append(joint)
        coords += jc
    couplers = []
    for el in root.iterfind("ConstraintSet/objects/*"):
        if el.tag != "CoordinateCouplerConstraint":
            if _flag(el.find("isEnforced"), default=True):
                raise OsimFormatError(f"{path}: constraint {el.tag} {el.get('name')} is not supported")
            continue
        couplers.append(_coupler(el))
    names = {c.name for c in coords}
    for c in couplers:
        if c.dependent not in names or c.independent not in names:
            raise OsimFormatError(f"{path}: coupler {c.name} names an unknown coordinate")
    markers = {}
    for m in root.iterfind("MarkerSet/objects/Marker"):
        body, R, t = frames.resolve(m.findtext("socket_parent_frame") or "", {}, f"{path}: marker {m.get('name')}")
        markers[m.get("name")] = (body, R @ _vec(m.find("location"), 3, f"marker {m.get('name')} location") + t)
    return KinematicTree(root.get("name", path.stem), bodies, _order(joints, path), coords, couplers, markers)


def add_markers(text: bytes, markers: dict[str, tuple[str, tuple[float, float, float]]]) -> bytes:
    """The .osim ``text`` with ``markers`` ({name: (body, location m)}) appended to its MarkerSet."""
    doc = ET.fromstring(text)
    model = doc.find("Model")
    mset = model.find("MarkerSet")
    if mset is None:
        mset = ET.SubElement(model, "MarkerSet", name="markerset")
    objects = mset.find("objects")
    if objects is None:
        objects = ET.SubElement(mset, "objects")
    for name, (body, loc) in markers.items():
        m = ET.SubElement(objects, "Marker", name=name)
        ET.SubElement(m, "socket_parent_frame").text = f"/bodyset/{body}"
        ET.SubElement(m, "location").text = " ".join(repr(float(v)) for v in loc)
    return ET.tostring(doc, encoding="UTF-8", xml_declaration=True)
