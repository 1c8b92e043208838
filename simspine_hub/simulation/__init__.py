"""The paper's simulation stages: robust triangulation, filtering, IK stages, curvature proxies, QC, pipeline."""
