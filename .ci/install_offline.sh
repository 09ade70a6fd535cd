#!/usr/bin/env bash
# Install the course with no package registry, on a machine whose Python already holds the
# CUDA build of PyTorch (a GPU machine): a virtual environment that sees that Python's packages
# (--system-site-packages), the packages it lacks from a folder of wheels, then course_lib;
# then .ci/check_gpu_env.py checks the result. Nothing is downloaded (pip --no-index).
#
#   bash .ci/install_offline.sh WHEELS_DIR [VENV]      VENV defaults to .venv in the checkout
#   PYTHON=python3.12 bash .ci/install_offline.sh .whl  the Python that has torch (default: python3)
#
# Make WHEELS_DIR (wheels for the GPU machine's Python, e.g. 3.12 on x86-64 Linux) with pip download
# on a machine with internet: README.md, "On a GPU", shows the command. .ci/run_gpu --wheels DIR calls this.
set -euo pipefail

die() { echo "install_offline: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: bash .ci/install_offline.sh WHEELS_DIR [VENV]"
[ -d "$1" ] || die "no folder '$1': give a folder of wheels (README.md, \"On a GPU\")"
wheels=$(cd "$1" && pwd)
venv=${2:-}
[ -z "$venv" ] || case $venv in /*) ;; *) venv="$PWD/$venv" ;; esac
cd "$(dirname "$0")/.."
venv=${venv:-$PWD/.venv}
PYTHON=${PYTHON:-python3}

shopt -s nullglob
files=("$wheels"/*.whl)
[ ${#files[@]} -gt 0 ] || die "no .whl files in $wheels: make them with pip download on a machine with internet (README.md, \"On a GPU\")"
"$PYTHON" -c 'import torch' 2>/dev/null ||
  die "'$PYTHON' cannot import torch. This install builds on a Python that already has PyTorch (a GPU machine's);
elsewhere install from the registries: bash setup.sh. Or name that Python: PYTHON=/path/to/python3 bash $0 ..."

# 1. A virtual environment that sees the system's packages (torch, transformers, ...).
if [ -f "$venv/pyvenv.cfg" ]; then
  grep -Eq '^include-system-site-packages *= *true' "$venv/pyvenv.cfg" ||
    die "$venv exists but cannot see the system's packages (made by setup.sh?); remove it (rm -rf $venv) or choose another folder (the VENV argument; for run_gpu, COURSE_VENV=DIR)"
else
  # A Python without ensurepip (Debian without python3-venv) still makes one, using the system's pip.
  "$PYTHON" -m venv --system-site-packages "$venv" 2>/dev/null ||
    { rm -rf "$venv"; "$PYTHON" -m venv --system-site-packages --without-pip "$venv"; }
fi
py=$venv/bin/python
"$py" -m pip --version >/dev/null 2>&1 || die "no pip in $venv nor in '$PYTHON': install pip for that Python"
echo "venv $venv (Python $("$py" -c 'import platform; print(platform.python_version())'), sees the system's packages)"

# 2. The packages the system lacks: each wheel's name==version, so pip skips those already there.
specs=()
for file in "${files[@]}"; do
  IFS=- read -r name version _ <<<"${file##*/}"
  specs+=("$name==$version")
done
"$py" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --find-links "$wheels" "${specs[@]}" ||
  die "pip could not install the wheels of $wheels into Python $("$py" -c 'import platform; print(platform.python_version())');
download wheels for this Python (pip download --python-version X.Y), or run with PYTHON=python3.12"

# 3. course_lib itself, editable; without setuptools >= 68 offline, a .pth file does the same for imports.
if "$py" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null &&
  "$py" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-build-isolation -e .; then
  echo "course_lib installed (pip install -e .)"
else
  site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$PWD" >"$site/course_lib_checkout.pth"
  echo "course_lib linked with $site/course_lib_checkout.pth (pip install -e . offline needs setuptools >= 68)"
fi

# 4. Check: the system's CUDA torch, every module the notebooks import, the pinned versions.
"$py" .ci/check_gpu_env.py
