#!/usr/bin/env bash
# Run the course's tests: the unit tests of course_lib and data_scripts, then every
# notebook top to bottom in fast mode under nbval (any error in a cell fails the run, and so does
# an exercise check that its solution does not pass: COURSE_STRICT_CHECKS=1).
#   bash test.sh                 everything
#   bash test.sh tests/          only the unit tests (any pytest arguments work)
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || { echo "No .venv here: run 'bash setup.sh' first." >&2; exit 1; }

start=$SECONDS
status=0
COURSE_FAST=1 COURSE_STRICT_CHECKS=1 MPLBACKEND=Agg .venv/bin/python -m pytest --nbval-lax --durations=15 ${@:-tests notebooks} || status=$?
echo "tests took $((SECONDS - start)) s"
exit $status
