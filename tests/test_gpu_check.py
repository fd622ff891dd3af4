"""scripts/gpu-check.sh: the GPU check of the transformers path. No GPU is lent to CI, so its CPU fallback runs here
(float32, small sizes): the same checks, so the script cannot rot between the sessions that have a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def test_the_shell_script_parses_and_the_help_explains() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0
    assert "--model" in done.stdout and "bf16" in done.stdout


@pytest.mark.slow
def test_cpu_fallback_runs_every_check_and_reports_each(tmp_path: Path) -> None:
    from longeval.tinymodel import build_tiny_model

    model = build_tiny_model(tmp_path / "work" / "tiny-llama")
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run([str(SCRIPT), "--work", str(tmp_path / "work"), "--model", str(model), "--methods",
                           "none", "--max-length", "256"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("device: no CUDA device")
    for family in ("llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3", "stablelm"):
        assert any(line.startswith(f"eabf {family} ") and line.endswith(": ok") for line in lines), family
    assert any(line.startswith("entropy ") and line.endswith(": ok") for line in lines)
    assert any(line.startswith("finetune ") and line.endswith(": ok") for line in lines)
    assert any(line.startswith("passkey sweep to 256 with none") and "passkey_sweep" in line for line in lines)
    assert lines[-1] == "all checks passed"
