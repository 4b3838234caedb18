#!/usr/bin/env bash
# Default model v3 in one run on a GPU machine (issue 19): train the candidate architectures side by side for
# MINUTES each (examples/train_default_model.py), ship the one with the best validation score, score every
# candidate and the model it replaces on the built-in test photos, and leave what must come back in $OUT:
# the shipped weights and training report, summary.json, test_scores.json and the log (5 files).
#
#   OUT=/tmp/out bash examples/gpu_default_model.sh runs/training_photos_jpeg 4
#   OUT=/tmp/out bash examples/gpu_default_model.sh runs/training_photos 0.3 cpu "" --no-ship   # rehearsal
#
# Arguments: the corpus folder (examples/training_photos.py), minutes per candidate (default 4), the device
# (default cuda), the comma list of candidates (default below), then any options for train_default_model.py.
# Runs the project from src/ (no install needed).
set -euo pipefail
cd "$(dirname "$0")/.."
photos=${1:?the corpus folder from examples/training_photos.py}
minutes=${2:-4}
device=${3:-cuda}
candidates=${4:-unet-level-32-2,unet-estimate-32-2,unet-estimate-32-3}
shift $(($# < 4 ? $# : 4))
out=${OUT:-runs/gpu_out}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
amp=()
if [ "$device" = cuda ]; then amp=(--amp); fi
{
    python -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")'
    python examples/train_default_model.py --photos "$photos" --minutes "$minutes" --device "$device" "${amp[@]}" \
        --candidates "$candidates" --out runs/default_v3 "$@"
} 2>&1 | tee "$out/log.txt"
cp src/cae_denoise/assets/default_model.pt src/cae_denoise/assets/default_model_report.json "$out/"
cp runs/default_v3/summary.json runs/default_v3/test_scores.json "$out/"
ls -la "$out"
