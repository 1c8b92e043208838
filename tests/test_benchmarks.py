"""Every benchmark runs in its tiny ``--smoke`` mode, so a benchmark that breaks fails CI (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(p.name for p in (ROOT / "tools").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHES)
def test_benchmark_smoke_mode_runs(script, tmp_path):
    res = subprocess.run([sys.executable, f"tools/{script}", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**__import__("os").environ, "SIMSPINE_BENCH_TMP": str(tmp_path)})
    assert res.returncode == 0, f"{script} --smoke failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    assert "x" in res.stdout or "ratio" in res.stdout.lower(), f"{script} --smoke printed no ratio:\n{res.stdout}"
