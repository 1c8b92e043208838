"""The benchmark's tasks, one :class:`Task` object each, registered by name where defined.

=========  =========================================  ==========================================================
task       keys (one row each)                        values
=========  =========================================  ==========================================================
2d         subject, sequence, camera, frame           keypoints (N, 37, 2) px; optional scores (N,) or (N, 37)
multiview  subject, sequence, frame                   keypoints (N, 37, 3) world mm (Z-up)
lifting    subject, sequence, camera, frame           keypoints (N, 15 or 37, 3) camera frame mm, root-relative
angles     subject, sequence, frame                   kinematics (N, 62): deg (rotations), mm (translations)
=========  =========================================  ==========================================================

``sequence`` is the Human3.6M file stem (``"Walking 1"``), ``frame`` the 0-based frame index, 15-point arrays
follow :data:`simspine_hub.skeleton.SPINE15`, 37-point arrays the SpineTrack order. Each task module states its
metrics, conventions and table layout.
"""

from simspine_hub.benchmark.tasks import angles, lifting, multiview, pose2d  # noqa: F401  (register the tasks)
from simspine_hub.benchmark.tasks.base import (
    GroundTruth,
    Reference,
    RowKey,
    RowKeys,
    Task,
    get_task,
    per_action,
    register_task,
    task_names,
)

__all__ = ["Task", "Reference", "RowKey", "RowKeys", "GroundTruth", "get_task", "task_names", "register_task",
           "per_action", "TASK_ORDER"]

#: The tasks in the order tables and leaderboards show them.
TASK_ORDER = ("2d", "multiview", "lifting", "angles")
