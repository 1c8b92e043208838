"""SpineTrack-style COCO keypoint files: round trip, skips counted, one clear error per bad input."""

import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from simspine_hub import skeleton
from simspine_hub.io.coco import CocoFormatError, read_coco_keypoints, write_coco_keypoints

K = skeleton.NUM_KEYPOINTS


@pytest.fixture()
def coco(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"img_{i}.jpg" for i in range(3)]
    for n in names:
        cv2.imwrite(str(tmp_path / n), np.zeros((40, 60, 3), np.uint8))
    kp = rng.uniform(0, 40, (4, K, 2))
    vis = rng.integers(0, 3, (4, K))
    vis[3] = 0                                           # a person without a labelled keypoint
    boxes = np.array([[1, 2, 30, 35], [5, 5, 20, 20], [0, 0, 60, 40], [3, 3, 10, 10.0]])
    ann = write_coco_keypoints(tmp_path / "ann.json", names, [(60, 40)] * 3, np.array([0, 0, 2, 1]), boxes, kp, vis)
    data = json.loads(ann.read_text())
    data["annotations"][1]["iscrowd"] = 1                # a crowd region
    ann.write_text(json.dumps(data))
    return ann, kp, vis, boxes


def test_round_trip_skips_crowd_and_empty_persons_and_agrees_with_pycocotools(coco, tmp_path):
    ann, kp, vis, boxes = coco
    res = read_coco_keypoints(ann, tmp_path)
    assert len(res) == 2 and res.skipped == {"crowd": 1, "no_keypoints": 1}
    keep = [0, 2]
    assert np.allclose(res.keypoints[vis[keep] > 0], np.round(kp[keep], 2)[vis[keep] > 0])
    assert np.array_equal(res.visibility, vis[keep]) and np.allclose(res.boxes, boxes[keep])
    assert [p.name for p in res.image_files] == ["img_0.jpg", "img_2.jpg"]
    ref = COCO(str(ann))                                 # the reference reader sees the same persons
    ids = ref.getAnnIds(iscrowd=False)
    usable = [a for a in ref.loadAnns(ids) if a["num_keypoints"] > 0]
    assert sorted(a["id"] for a in usable) == sorted(res.annotation_ids.tolist())


def test_a_17_keypoint_file_a_missing_image_and_a_short_annotation_fail_clearly(coco, tmp_path):
    ann, *_ = coco
    data = json.loads(ann.read_text())
    body17 = dict(data, categories=[dict(data["categories"][0], keypoints=data["categories"][0]["keypoints"][:17])])
    (tmp_path / "coco17.json").write_text(json.dumps(body17))
    with pytest.raises(CocoFormatError, match="17 keypoints"):
        read_coco_keypoints(tmp_path / "coco17.json", tmp_path)
    short = json.loads(ann.read_text())
    short["annotations"][0]["keypoints"] = short["annotations"][0]["keypoints"][:51]
    (tmp_path / "short.json").write_text(json.dumps(short))
    with pytest.raises(CocoFormatError, match="annotation 1 has 17 keypoints"):
        read_coco_keypoints(tmp_path / "short.json", tmp_path)
    (tmp_path / "img_2.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="img_2.jpg"):
        read_coco_keypoints(ann, tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CocoFormatError, match="bad.json"):
        read_coco_keypoints(tmp_path / "bad.json", tmp_path)


def test_the_twin_writes_a_spinetrack_style_source_that_reads_back(twin_root, ground_truth, tmp_path):
    from simspine_hub.geometry import project
    from simspine_hub.io import h36m
    from simspine_hub.twin.coco import write_twin_coco

    ann = write_twin_coco(twin_root, tmp_path / "st", ("S1",), stride=12)
    res = read_coco_keypoints(ann, tmp_path / "st" / "images")
    assert len(res) > 0 and res.skipped == {"crowd": 0, "no_keypoints": 0}
    name = res.image_files[0].name                       # S1_<stem>.<camera>_<frame>.jpg
    stem, rest = name[3:].split(".", 1)
    cam_id, frame = rest[:-4].split("_")
    cam = h36m.Human36M(twin_root / "h36m").cameras("S1")[cam_id]
    truth = project(ground_truth[f"S1/{stem.replace('_', ' ')}"]["keypoints37"][int(frame)], cam)
    vis = res.visibility[0] > 0
    assert np.abs(res.keypoints[0][vis] - truth[vis]).max() < 0.01    # 2-decimal rounding of the file
    img = cv2.imread(str(res.image_files[0]))
    assert img.shape[:2] == (cam.size[1], cam.size[0])
