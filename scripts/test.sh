#!/usr/bin/env bash
# Install everything into .venv, then lint, type-check and run the whole test suite (real engines on a tiny local
# model). The fast lane without engines: scripts/test.sh -m "not engine".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
. .venv/bin/activate
# The grid and data-parallel tests run on a local Ray instance: the one extra the default install leaves out.
pip install --quiet -e ".[ray]"
ruff check longeval tests benchmarks scripts
mypy  # longeval/, configured in pyproject.toml
# A skipped fidelity test (its oracle in tests/fixtures missing or unreadable) fails the run instead of passing.
export LONGEVAL_NO_FIDELITY_SKIPS=1
python -m pytest -q "$@"
