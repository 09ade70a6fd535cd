#!/usr/bin/env bash
# Set up the course: a virtual environment in .venv with every pinned dependency and
# course_lib, then open the course in JupyterLab.
#   bash setup.sh            install (or update) and open JupyterLab
#   bash setup.sh --no-lab   install only (CI does this implicitly: CI=true)
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 14)))'; then
  echo "The course needs Python 3.10 to 3.13; '$PYTHON' is $("$PYTHON" --version 2>&1)." >&2
  echo "Run with another interpreter, e.g.  PYTHON=python3.11 bash setup.sh" >&2
  exit 1
fi

start=$SECONDS
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
# The course's JupyterLab settings (no news pop-up), read from the environment's settings folder.
mkdir -p .venv/share/jupyter/lab/settings && cp jupyter/overrides.json .venv/share/jupyter/lab/settings/overrides.json
.venv/bin/python -c "import course_lib, torch; print(f'course_lib {course_lib.__version__} with torch {torch.__version__} is ready')"
echo "setup took $((SECONDS - start)) s"

if [ "${1:-}" != "--no-lab" ] && [ -z "${CI:-}" ] && [ -t 0 ]; then
  exec .venv/bin/jupyter lab notebooks/00_overview_and_setup.ipynb
fi
