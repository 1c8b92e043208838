"""Files in, files out: Human3.6M (:mod:`.h36m`), the SIMSPINE release (:mod:`.release`, with its TRC/MOT/STO
tables in :mod:`.tables` and camera calibrations in :mod:`.calibration`), 2D detections (:mod:`.detections`),
atomic writes (:mod:`.files`) and the release format error (:mod:`.errors`). Imports only skeleton, units, geometry.
"""
