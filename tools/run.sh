#!/usr/bin/env bash
# One entry point for newcomers and CI: set up .venv from the project's own files, then run a job.
#   bash tools/run.sh demo    the whole product on the synthetic twin
#   bash tools/run.sh test    the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# the paper's OpenSim model ships in this wheel (installed without its deps); the one pin is in osim/model.py
POSE2SIM_VERSION=$(sed -n 's/^POSE2SIM_VERSION = "\([^"]*\)".*/\1/p' simspine_hub/osim/model.py)
[ -n "$POSE2SIM_VERSION" ] || { echo "tools/run.sh: no POSE2SIM_VERSION in simspine_hub/osim/model.py" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.simspine-setup
want="$( (cat pyproject.toml tools/run.sh; echo "pose2sim $POSE2SIM_VERSION") | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  .venv/bin/python -m pip install -q --no-deps "pose2sim==${POSE2SIM_VERSION}"
  echo "$want" > "$stamp"
fi
job=${1:-demo}; shift || true
case "$job" in
  demo) exec .venv/bin/simspine demo "$@" ;;
  test) .venv/bin/ruff check simspine_hub tools tests loading_scripts && exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: bash tools/run.sh {demo|test} [args...]" >&2; exit 2 ;;
esac
