#!/usr/bin/env bash
# The transformers path on a GPU in bf16 (EABF vs the eager reference on every tiny family, entropy, one fine-tune
# step, a passkey sweep to 32k with --model): see scripts/gpu_check.py. Without CUDA it runs its CPU fallback.
# Needs torch and transformers (the device machines have both; no vLLM is used). Extra arguments go to the script,
# e.g. scripts/gpu-check.sh --model ./smollm2-hf --max-length 32768
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" scripts/gpu_check.py "$@"
