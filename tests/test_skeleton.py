import numpy as np

from simspine_hub import skeleton as sk


def test_parents_form_one_tree_rooted_at_hip():
    parents = sk.PARENTS
    assert len(parents) == sk.NUM_KEYPOINTS == len(sk.KEYPOINT_NAMES) == len(sk.KEYPOINT_REGION)
    roots = [i for i, p in enumerate(parents) if p < 0]
    assert roots == [sk.ROOT] and sk.KEYPOINT_NAMES[sk.ROOT] == "Hip"
    for i in range(sk.NUM_KEYPOINTS):  # every node reaches the root without a cycle
        seen, j = set(), i
        while j != sk.ROOT:
            assert j not in seen, f"cycle through {sk.KEYPOINT_NAMES[j]}"
            seen.add(j)
            j = parents[j]


def test_flip_is_an_involution_swapping_left_and_right_names():
    f = np.array(sk.FLIP_INDEX)
    assert (f[f] == np.arange(sk.NUM_KEYPOINTS)).all()
    for i, j in enumerate(f):
        a, b = sk.KEYPOINT_NAMES[i], sk.KEYPOINT_NAMES[j]
        if i == j:
            assert not (a[0] in "LR" and a[1].isupper()), f"{a} has a side but no partner"
        else:
            assert {a[0], b[0]} == {"L", "R"} and a[1:] == b[1:]
            assert sk.KEYPOINT_REGION[i] == sk.KEYPOINT_REGION[j]
            # a flipped pair's parents are themselves mirror images (or the same midline point)
            assert f[sk.PARENTS[i]] == sk.PARENTS[j]


def test_raw_maps_are_inverse_permutations_and_names_agree():
    r2s, s2r = np.array(sk.RAW_TO_SPINETRACK), np.array(sk.SPINETRACK_TO_RAW)
    assert sorted(r2s) == list(range(37))
    assert (r2s[s2r] == np.arange(37)).all() and (s2r[r2s] == np.arange(37)).all()
    for raw_pos, name in enumerate(sk.RAW_MARKER_NAMES):
        assert sk.KEYPOINT_NAMES[r2s[raw_pos]] == name


def test_regions_partition_as_stated():
    c, t, lumb = (set(sk.REGIONS[k]) for k in ("cervical", "thoracic", "lumbar"))
    assert not (c & t) and not (c & lumb) and not (t & lumb)
    assert c | t | lumb == set(sk.SPINE15) == set(sk.REGIONS["spine"])
    assert len(sk.SPINE15) == 15 and (len(c), len(t), len(lumb)) == (5, 6, 4)
    body, feet = set(sk.REGIONS["body"]), set(sk.REGIONS["feet"])
    assert (set(sk.SPINE15) - {0}) | body | feet == set(range(37))  # Nose is both body and cervical
    assert set(sk.LIMB_KEYPOINTS) | set(sk.FACE_FEET) | set(sk.SPINE15) == set(range(37))
    assert len(sk.LIMB_KEYPOINTS) == 12 and len(sk.FACE_FEET) == 10
    for i in sk.SPINE15:  # region table agrees with the index sets
        assert i in sk.REGIONS[sk.KEYPOINT_REGION[i]]
    assert set(sk.VERTEBRAL_CHAIN) <= set(sk.SPINE15)


def test_kinematic_axes_and_sigmas():
    assert len(sk.KINEMATIC_AXES) == 62 == len(set(sk.KINEMATIC_AXES))
    assert sk.TRANSLATION_AXES <= set(sk.KINEMATIC_AXES)
    assert sk.OKS_SIGMAS.shape == (37,) and (sk.OKS_SIGMAS > 0).all()
    for a, b in sk.FLIP_PAIRS:
        assert sk.OKS_SIGMAS[a] == sk.OKS_SIGMAS[b]


def test_h36m_maps():
    assert len(sk.H36M_JOINT_NAMES) == 32
    assert sorted(sk.H36M_TO_LIMB) == list(sk.LIMB_KEYPOINTS)
    for st, h in sk.H36M_TO_LIMB.items():  # side and limb part agree between the two namings
        name, joint = sk.KEYPOINT_NAMES[st], sk.H36M_JOINT_NAMES[h]
        assert joint.startswith("Left" if name[0] == "L" else "Right")
    assert set(sk.H36M_TO_LIMB.values()) <= set(sk.H36M17)
    assert not set(sk.H36M_TO_LIMB.values()) & set(sk.H36M_UNUSED)
    assert sorted(sk.H3WB_FEET) == list(sk.REGIONS["feet"])
