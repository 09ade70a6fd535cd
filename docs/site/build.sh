#!/usr/bin/env bash
# Build the course site from the stored notebooks (nothing is executed, nothing is fetched),
# then check every internal link, anchor and embedded file of the result.
#   bash docs/site/build.sh            builds into docs/site/_build/html
#   bash docs/site/build.sh OUTDIR     builds into OUTDIR/html
# Any Sphinx warning (a broken link or reference, a missing page) fails the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
out=${1:-docs/site/_build}

rm -rf "$out/html" "$out/doctrees"   # a clean build, so that no warning hides in a cached page
start=$SECONDS
"$python" -m sphinx -b html -c docs/site -d "$out/doctrees" -W --keep-going -q . "$out/html"
"$python" docs/site/check_site.py "$out/html"
echo "site built in $((SECONDS - start)) s: $out/html/index.html"
