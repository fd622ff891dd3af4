"""The rules in tests/conftest.py that keep the lanes honest, checked on throwaway test folders (pytester, in
process): a skipped fidelity test fails under LONGEVAL_NO_FIDELITY_SKIPS=1, engine tests leave the fast lane
without their modules being imported, and the fast lane fails when torch gets imported (a stand-in module named
torch, so that no real engine loads here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CONFTEST = (Path(__file__).resolve().parent / "conftest.py").read_text(encoding="utf-8")
INI = "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nmarkers =\n" + "".join(
    f"    {name}\n" for name in ("slow", "vllm", "engine", "fidelity"))


@pytest.fixture
def folder(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("LONGEVAL_NO_FIDELITY_SKIPS", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


SKIPS = """
import pytest

@pytest.mark.fidelity
def test_needs_oracle():
    pytest.skip("oracle file missing")

def test_other():
    pytest.skip("fine")
"""
MODULE_SKIP = """
import pytest
pytestmark = pytest.mark.fidelity
pytest.importorskip("no_such_oracle_library")

def test_x():
    pass
"""


def test_skipped_fidelity_tests_fail_only_under_the_flag(folder, monkeypatch):
    folder.makepyfile(test_oracle=SKIPS)
    folder.runpytest().assert_outcomes(skipped=2)
    monkeypatch.setenv("LONGEVAL_NO_FIDELITY_SKIPS", "1")
    strict = folder.runpytest()
    strict.assert_outcomes(failed=1, skipped=1)  # the skip of a non-fidelity test stays a skip
    strict.stdout.fnmatch_lines(["*fidelity test skipped (oracle file missing)*"])


def test_a_module_skipped_as_a_whole_fails_under_the_flag(folder, monkeypatch):
    folder.makepyfile(test_lib=MODULE_SKIP)
    assert folder.runpytest().ret == pytest.ExitCode.NO_TESTS_COLLECTED
    monkeypatch.setenv("LONGEVAL_NO_FIDELITY_SKIPS", "1")
    strict = folder.runpytest()
    assert strict.ret == pytest.ExitCode.INTERRUPTED
    strict.stdout.fnmatch_lines(["*test module skipped as a whole*no_such_oracle_library*"])


def test_fast_lane_deselects_engine_tests_without_importing_their_modules(folder):
    folder.makepyfile(
        test_pure="def test_pure():\n    pass\n",
        test_engine_module="import pytest\nimport torch_stand_in\npytestmark = pytest.mark.slow\n\n"
                           "def test_a():\n    pass\n",
        test_fixture="import pytest\n\n@pytest.fixture\ndef tiny_model():\n    return 1\n\n"
                     "def test_uses_model(tiny_model):\n    pass\n",
    )
    # test_engine_module imports a module that does not exist: the fast lane never imported it.
    folder.runpytest("-m", "not engine").assert_outcomes(passed=1, deselected=1)
    folder.runpytest("-m", "engine").assert_outcomes(errors=1)  # the engine lane does import it


def test_fast_lane_fails_when_a_test_imports_torch(folder, capsys):
    assert "torch" not in sys.modules or pytest.skip("torch is loaded in this process already")
    folder.makepyfile(test_leak="import sys, types\n\ndef test_leak():\n"
                                "    sys.modules['torch'] = types.ModuleType('torch')\n")
    try:
        leaky = folder.runpytest("-m", "not engine")
        assert leaky.ret == pytest.ExitCode.TESTS_FAILED
        assert "imported torch" in leaky.stderr.str() + capsys.readouterr().err
        sys.modules.pop("torch", None)  # pytester restores sys.modules after each run; this is belt and braces
        assert folder.runpytest().ret == pytest.ExitCode.OK  # only the fast lane forbids it
    finally:
        sys.modules.pop("torch", None)
