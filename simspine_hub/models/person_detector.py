"""Person detectors for top-down inference: any transformers object detector, or any callable you import.

A detector is a callable: (H, W, 3) uint8 RGB image -> (n, 4) person boxes ``[x, y, w, h]`` in pixels.

- ``hf:<hub id or folder>``: :class:`HFPersonDetector` loads any ``AutoModelForObjectDetection`` (DETR,
  RT-DETR, ...) with its image processor and keeps the boxes of the ``person`` class scoring at least
  ``threshold``. For in-the-wild video, ``hf:PekingU/rtdetr_r50vd`` (RT-DETR R50, COCO classes; the
  checkpoint transformers' RT-DETR documentation uses) is a good start.
- ``package.module:callable``: any importable callable (a class is instantiated once, without arguments).

Threshold: the default 0.5 is the one transformers' ``object-detection`` pipeline uses. Look at the overlay:
lower it (0.3) when people who are small, far or partly hidden get no skeleton; raise it (0.7) when boxes
appear on things that are not people. DETR-style detectors predict a set, so no non-maximum suppression is
needed; ``max_people`` keeps only the highest-scoring boxes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import numpy as np

__all__ = ["HFPersonDetector", "load_person_detector", "PERSON_THRESHOLD"]

#: default score threshold of a person box (transformers' object-detection pipeline default)
PERSON_THRESHOLD = 0.5


class HFPersonDetector:
    """A transformers object detector reduced to person boxes.

    Args:
        name_or_path: hub id or folder with ``config.json``, the weights and ``preprocessor_config.json``.
        threshold: minimum score of a kept box (0..1). label: the class name to keep (case-insensitive).
        device: torch device ("cpu", "cuda", ...). max_people: keep at most this many boxes per image.
    """

    def __init__(self, name_or_path: str, threshold: float = PERSON_THRESHOLD, device="cpu", label: str = "person",
                 max_people: int | None = None):
        import torch
        from transformers import AutoConfig, AutoImageProcessor, AutoModelForObjectDetection
        from transformers.models.auto.modeling_auto import MODEL_FOR_OBJECT_DETECTION_MAPPING

        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"person detector threshold {threshold}: give a score in [0, 1]")
        where = f"person detector hf:{name_or_path}"
        try:
            config = AutoConfig.from_pretrained(name_or_path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: not a transformers model folder or hub id ({exc})") from exc
        if type(config) not in MODEL_FOR_OBJECT_DETECTION_MAPPING:
            raise ValueError(f"{where}: a {config.model_type!r} model is not an object detector "
                             "(AutoModelForObjectDetection has no class for it); give a DETR / RT-DETR style "
                             "detector, e.g. hf:PekingU/rtdetr_r50vd")
        names = {int(i): str(n).lower() for i, n in (config.id2label or {}).items()}
        self.label_ids = sorted(i for i, n in names.items() if n == label.lower())
        if not self.label_ids:
            raise ValueError(f"{where}: no {label!r} class among its labels {sorted(set(names.values()))[:20]}")
        try:
            self.processor = AutoImageProcessor.from_pretrained(name_or_path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: no image processor (preprocessor_config.json) next to the model "
                             f"({exc}); save one with the model's image processor") from exc
        self.model = AutoModelForObjectDetection.from_pretrained(name_or_path).eval().to(torch.device(device))
        self.threshold, self.max_people = float(threshold), max_people

    def detect(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """RGB uint8 images (H, W, 3) -> per image (boxes (n, 4) xywh px, scores (n,)), best score first."""
        import torch

        images = [np.ascontiguousarray(img) for img in images]     # BGR->RGB views have negative strides
        inputs = self.processor(images=images, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        sizes = [img.shape[:2] for img in images]
        results = self.processor.post_process_object_detection(outputs, threshold=self.threshold, target_sizes=sizes)
        found = []
        for res in results:
            keep = np.isin(res["labels"].cpu().numpy(), self.label_ids)
            xyxy = res["boxes"].float().cpu().numpy()[keep].reshape(-1, 4)
            scores = res["scores"].float().cpu().numpy()[keep]
            order = np.argsort(-scores, kind="stable")[:self.max_people]
            xyxy, scores = xyxy[order], scores[order]
            found.append((np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1), scores))
        return found

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.detect([image])[0][0]


def load_person_detector(spec: str, device="cpu", threshold: float = PERSON_THRESHOLD) -> Callable[[np.ndarray], np.ndarray]:
    """``"hf:<hub id or folder>"`` -> :class:`HFPersonDetector`; ``"package.module:name"`` -> the callable it
    names (the module must be importable, e.g. on ``PYTHONPATH``; a class is instantiated once without
    arguments and its instance called)."""
    if spec.startswith("hf:"):
        if not spec[3:]:
            raise ValueError("--person-detector 'hf:': give a hub id or folder after hf:, e.g. hf:PekingU/rtdetr_r50vd")
        return HFPersonDetector(spec[3:], threshold=threshold, device=device)
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"--person-detector {spec!r}: expected 'hf:<hub id or folder>' or 'package.module:callable', "
                         "e.g. 'hf:PekingU/rtdetr_r50vd' or 'mydet:detect'")
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--person-detector {spec!r}: cannot import it ({exc}); is the module on PYTHONPATH?") from exc
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"--person-detector {spec!r}: {name} is not callable")
    return obj
