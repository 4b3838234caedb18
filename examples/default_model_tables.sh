#!/usr/bin/env bash
# The README's "shipped default model" tables, regenerated: the default model against NLM and BM3D (BM3D if
# the optional bm3d package is installed, else it is left out) on the eight built-in test photos, with
# Gaussian noise at sigma 15, 25 and 50 (classical methods given the true sigma) and with camera noise at two
# strengths (classical methods given each photo's estimated level, as a user would). Extra arguments go to
# every compare call (e.g. --device cuda, or another checkpoint to add to the tables). About 10 minutes on
# 2 CPU cores, BM3D most of it.
set -euo pipefail
out=runs/default_tables
mkdir -p "$out"
methods=(default nlm)
if python -c "import bm3d" 2>/dev/null; then methods+=(bm3d); fi
cae-denoise compare "${methods[@]}" "$@" --sigma 15,25,50 --report "$out/gaussian.json" --overwrite
cae-denoise compare "${methods[@]}" "$@" --noise camera:low,camera:high --report "$out/camera.json" --overwrite
for report in gaussian camera; do
    python "$(dirname "$0")/results_tables.py" --levels "$out/$report.json"
    echo
done
