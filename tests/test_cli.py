import subprocess
import sys


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "demo", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "bit-exact: True" in res.stdout
    png = out / "skeleton.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # a second run reuses the twin
    again = subprocess.run([sys.executable, "-m", "simspine_hub", "-q", "demo", "--out", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.splitlines()[1:] == res.stdout.splitlines()[1:]


def test_bad_twin_arguments_give_one_clear_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "simspine_hub", "twin", "--out", str(tmp_path / "t"),
                          "--subjects", "S2"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "S2" in res.stderr and "choose from" in res.stderr
    assert not (tmp_path / "t").exists()
