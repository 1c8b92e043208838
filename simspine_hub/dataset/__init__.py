"""The ``datasets`` builder of SIMSPINE (:mod:`.builder`, with ``load_dataset``): its options (:mod:`.config`),
features (:mod:`.features`), the joins of the 37 points (:mod:`.joins`), the 2D views (:mod:`.views`) and the
input fingerprint of its cache (:mod:`.inputs`). Imports io (and osim for forward kinematics) below it.
"""
