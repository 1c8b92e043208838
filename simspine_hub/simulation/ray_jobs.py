"""Run the simulation's per-sequence jobs (triangulation, IK) as Ray tasks (the ``ray`` extra), on a local or
existing cluster.

Each job is the same function the single-process run calls (``pipeline._triangulate_job``,
``pipeline._ik_job``), so the outputs are the same files, byte for byte; every task writes its sequence
atomically (the ``.mot`` last), so a cluster run resumes exactly as a local one does. IK tasks ask for a
share of a GPU where the cluster has GPUs (batched IK then runs on CUDA inside the task), else one CPU.
``--out`` (and the inputs) must be folders every node can reach (a shared filesystem).
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

from simspine_hub.osim.backend import MissingExtraError

__all__ = ["RayMissingError", "submit_on_ray", "collect_from_ray", "run_on_ray", "RAY_EXTRA"]

RAY_EXTRA = 'pip install "simspine-hub[ray]"'
GPU_SHARE = 0.25          # four IK tasks share one GPU (a sequence does not fill an H100)


class RayMissingError(MissingExtraError):
    """Ray is not installed (it is the ``ray`` extra)."""


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise RayMissingError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from exc
    return ray


def submit_on_ray(fn: Callable, jobs: list[tuple], address: str, gpu: bool = True) -> list:
    """Start ``fn(job) -> (key, value)`` for every job as a Ray task (returns at once) -> the task references.

    ``gpu``: the tasks ask for a share of a GPU where the cluster has GPUs (IK), else one CPU each
    (triangulation). ``address``: ``"local"`` starts (or reuses) a Ray on this machine; anything else is passed
    to ``ray.init`` (``"auto"``, ``"ray://head:10001"``, ...). A Ray already initialised by the caller is used
    as it is.
    """
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0.0)
    task = ray.remote(num_cpus=1, num_gpus=GPU_SHARE if gpu and gpus > 0 else 0)(fn)
    return [task.remote(job) for job in jobs]


def collect_from_ray(pending: list, desc: str = "IK", progress: bool = True) -> dict:
    """Wait for tasks of :func:`submit_on_ray` -> {key: value} (a task's error is raised here)."""
    ray = _ray()
    results = {}
    with tqdm(total=len(pending), desc=f"{desc} (ray)", unit="seq", disable=not progress) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            key, value = ray.get(done[0])
            results[key] = value
            bar.update(1)
    return results


def run_on_ray(fn: Callable, jobs: list[tuple], address: str, desc: str = "IK", progress: bool = True,
               gpu: bool = True) -> dict:
    """``fn(job) -> (key, value)`` for every job as a Ray task -> {key: value} (:func:`submit_on_ray`, then
    :func:`collect_from_ray`)."""
    return collect_from_ray(submit_on_ray(fn, jobs, address, gpu), desc, progress)
