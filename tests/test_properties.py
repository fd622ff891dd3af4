"""Property-based checks of the bad-input contract (hypothesis; few examples, so the fast lane stays fast):
whatever a malformed method spec, score or task file holds, the answer is a UserError (one line, exit 2) or a
valid result, never another exception, and nothing is written."""

from __future__ import annotations

import json
import math

import yaml
from helpers import assert_exit_2_one_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longeval.cli import main
from longeval.errors import UserError

FAST = settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30))


@FAST
@given(name=st.sampled_from(["pi", "yarn", "ntk", "llama3", "abf", "eabf", "dynamic-ntk", "bogus"]),
       key=st.sampled_from(["factor", "base", "skip_layers", "length", "beta_fast", "x"]),
       value=st.one_of(st.text(max_size=8), numbers.map(str)))
def test_any_method_spec_parses_or_is_a_user_error(name, key, value):
    from longeval.methods import parse_method

    try:
        method = parse_method(f"{name}:{key}={value}")
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    for param in method.params.values():
        assert param is None or isinstance(param, str) or math.isfinite(param)


@FAST
@given(score=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6)))
def test_a_score_outside_0_100_is_refused_by_the_gate(tmp_path_factory, score):
    folder = tmp_path_factory.mktemp("gate")
    (folder / "run").mkdir()
    (folder / "base").mkdir()
    (folder / "base" / "result.json").write_text(json.dumps({"trec": 50.0}))
    (folder / "run" / "result.json").write_text(json.dumps({"trec": score}))
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", str(folder / "run"), "--baseline", str(folder / "base")])
    if isinstance(score, float) and not math.isfinite(score) or not 0 <= score <= 100:
        assert code == 2 and "trec" in err.getvalue() and err.getvalue().count("\n") == 1, err.getvalue()
    else:
        assert code in (0, 1)


@FAST
@given(doc=st.dictionaries(st.sampled_from(["name", "version", "language", "metric", "prompt", "data_file",
                                            "max_new_tokens", "chat", "category", "variant_of"]),
                           st.one_of(st.text(max_size=12), st.integers(-3, 3), st.booleans(), st.none()),
                           max_size=10))
def test_a_malformed_user_task_file_is_one_line_or_a_task(tmp_path_factory, doc):
    """main() returns (0, or 2 after one line): any other exception fails the test."""
    from longeval import tasks as tasks_module

    folder = tmp_path_factory.mktemp("tasks")
    (folder / "mytask.yaml").write_text(yaml.safe_dump({**doc, "name": "mytask"}))
    saved = list(tasks_module._user_dirs)
    try:
        tasks_module._user_dirs.clear()
        tasks_module.clear_cache()
        try:
            main(["tasks", "--tasks-path", str(folder)])
        except SystemExit:
            raise AssertionError("argparse exit") from None
    finally:
        tasks_module._user_dirs[:] = saved
        tasks_module.clear_cache()


def test_the_contract_helper_is_used(capsys):
    assert_exit_2_one_line(capsys, ["tasks", "--tasks-path", "/nonexistent-folder-i23"], "not a folder")
