"""The twin's video frames show people as shaded volumes: spine points inside the trunk, no keypoint dots."""

import numpy as np

from simspine_hub import skeleton
from simspine_hub.geometry import project
from simspine_hub.io import h36m
from simspine_hub.twin.render import _scene, render_frame

SPINE_CHAIN = [skeleton.index_of(n) for n in ("Spine_01", "Spine_02", "Spine_03", "Spine_04", "Spine_05")]


def test_spine_points_lie_inside_the_rendered_trunk_and_no_dot_is_drawn(ground_truth, twin_root):
    cams = h36m.Human36M(twin_root / "h36m").cameras("S9")
    pts = ground_truth["S9/Walking 1"]["keypoints37"]                       # (T, 37, 3) world mm
    for cam in cams.values():
        bg, _ = _scene(cam)
        img = render_frame(pts[10], cam, "S9", (bg, np.array([1.0, 0.0])))
        uv = np.round(project(pts[10], cam)).astype(int)
        changed = np.abs(img.astype(int) - bg.astype(int)).sum(-1) > 0
        # every vertebral point is covered by the body (it must be inferred from the trunk's shape) ...
        assert all(changed[v, u] for u, v in uv[SPINE_CHAIN])
        # ... the person is drawn, nothing far from the body is touched, and there are no white marker dots
        far = np.ones_like(changed)
        lo, hi = uv.min(0) - 150, uv.max(0) + 150
        far[max(lo[1], 0):hi[1], max(lo[0], 0):hi[0]] = False
        assert changed.sum() > 2000 and not changed[far].any()
        assert img[changed].max() < 250


def test_each_camera_has_its_own_background(twin_root):
    cams = list(h36m.Human36M(twin_root / "h36m").cameras("S9").values())
    backgrounds = [_scene(c)[0] for c in cams]
    assert all(b.shape == (c.size[1], c.size[0], 3) for b, c in zip(backgrounds, cams))
    assert len({b.tobytes() for b in backgrounds}) == len(cams)
