"""The rules in tests/conftest.py that keep the lanes honest, checked on a throwaway test folder in a subprocess:
a skipped fidelity test fails under LONGEVAL_NO_FIDELITY_SKIPS=1, engine tests leave the fast lane, and the fast
lane fails when torch gets imported (a stand-in module named torch, so that no real engine loads here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
INI = """[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    slow: s
    vllm: v
    engine: e
    fidelity: f
"""


def pytest_in(folder: Path, files: dict[str, str], *args: str, strict: bool = False) -> subprocess.CompletedProcess:
    folder.mkdir()
    shutil.copy(CONFTEST, folder / "conftest.py")
    (folder / "pytest.ini").write_text(INI, encoding="utf-8")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "LONGEVAL_NO_FIDELITY_SKIPS"}
    if strict:
        env["LONGEVAL_NO_FIDELITY_SKIPS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=folder, env=env, capture_output=True,
                          text=True)


SKIPPING = {
    "test_oracle.py": "import pytest\n\n@pytest.mark.fidelity\ndef test_needs_oracle():\n"
                      "    pytest.skip('oracle file missing')\n\ndef test_other():\n    pytest.skip('fine')\n",
    "test_lib.py": "import pytest\npytestmark = pytest.mark.fidelity\n"
                   "pytest.importorskip('no_such_oracle_library')\n\ndef test_x():\n    pass\n",
}


def test_skipped_fidelity_tests_fail_only_under_the_flag(tmp_path):
    relaxed = pytest_in(tmp_path / "relaxed", SKIPPING)
    assert relaxed.returncode == 0, relaxed.stdout
    strict = pytest_in(tmp_path / "strict", SKIPPING, "test_oracle.py", strict=True)
    assert strict.returncode == 1, strict.stdout
    assert "fidelity test skipped (oracle file missing)" in strict.stdout
    assert "1 failed, 1 skipped" in strict.stdout  # the skip of a non-fidelity test stays a skip
    whole = pytest_in(tmp_path / "whole", SKIPPING, "test_lib.py", strict=True)
    assert whole.returncode == 2 and "test module skipped as a whole" in whole.stdout, whole.stdout


ENGINE = {
    "test_pure.py": "def test_pure():\n    pass\n",
    "test_engine_module.py": "import pytest\nimport torch_stand_in\npytestmark = pytest.mark.slow\n\n"
                             "def test_a():\n    pass\n",
    "test_fixture.py": "import pytest\n\n@pytest.fixture\ndef tiny_model():\n    return 1\n\n"
                       "def test_uses_model(tiny_model):\n    pass\n",
}


def test_fast_lane_deselects_engine_tests_without_importing_their_modules(tmp_path):
    result = pytest_in(tmp_path / "lane", ENGINE, "-m", "not engine", "-rA")
    # test_engine_module.py imports a module that does not exist: the lane never imported it.
    assert result.returncode == 0, result.stdout
    assert "PASSED test_pure.py::test_pure" in result.stdout and "1 passed, 1 deselected" in result.stdout
    everything = pytest_in(tmp_path / "all", ENGINE, "-m", "engine")
    assert everything.returncode == 2 and "torch_stand_in" in everything.stdout  # the full lane does import it


def test_fast_lane_fails_when_a_test_imports_torch(tmp_path):
    leaky = {"test_leak.py": "import sys, types\n\ndef test_leak():\n"
                             "    sys.modules['torch'] = types.ModuleType('torch')\n"}
    result = pytest_in(tmp_path / "leak", leaky, "-m", "not engine")
    assert result.returncode == 1
    assert "imported torch" in result.stdout + result.stderr
    assert pytest_in(tmp_path / "full", leaky).returncode == 0  # only the fast lane forbids it
