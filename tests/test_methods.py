"""Methods registry: formulas against the golden tables, the config mapping both engines read, spec parsing,
recognition of existing checkpoints' configs, and one-line errors."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING

import pytest
from helpers import GOLDEN_ROPE, assert_one_line_error
from hypothesis import given
from hypothesis import strategies as st

from longeval.cli import main
from longeval.errors import UserError
from longeval.methods import (
    ABF_BASE,
    UNBOUNDED,
    QueryScale,
    base_rope,
    list_methods,
    make_method,
    method_from_config,
    parse_method,
    rope,
)

if TYPE_CHECKING:
    import torch


def golden() -> dict:
    return json.loads(GOLDEN_ROPE.read_text())


def entry_ids() -> list[str]:
    return [e["name"] for e in golden()["entries"]]


def _entry(name: str) -> dict:
    return next(e for e in golden()["entries"] if e["name"] == name)


def formula_for(entry: dict) -> tuple[torch.Tensor, float]:
    """rope.py's inv_freq and attention factor for a golden entry, from its config alone."""
    cfg = entry["config"]
    rp = cfg["rope_parameters"]
    dim, theta = cfg["head_dim"], rp["rope_theta"]
    kind = rp["rope_type"]
    if kind == "default":
        return rope.default_inv_freq(theta, dim), 1.0
    if kind == "linear":
        return rope.linear_inv_freq(theta, dim, rp["factor"]), 1.0
    if kind == "dynamic":
        base = rope.dynamic_ntk_theta(theta, dim, rp["factor"], cfg["max_position_embeddings"], entry["seq_len_arg"])
        return rope.default_inv_freq(base, dim), 1.0
    if kind == "yarn":
        return (rope.yarn_inv_freq(theta, dim, rp["factor"], rp["original_max_position_embeddings"]),
                rope.yarn_attention_factor(rp["factor"]))
    if kind == "llama3":
        return rope.llama3_inv_freq(theta, dim, rp["factor"], rp["original_max_position_embeddings"],
                                    rp["low_freq_factor"], rp["high_freq_factor"]), 1.0
    raise AssertionError(kind)


@pytest.mark.engine
@pytest.mark.fidelity
@pytest.mark.parametrize("name", entry_ids())
def test_formulas_match_golden_tables(name: str) -> None:
    import torch

    entry = _entry(name)
    inv_freq, attention_factor = formula_for(entry)
    expected = torch.tensor(entry["inv_freq"], dtype=torch.float64)
    assert inv_freq.shape == expected.shape
    assert torch.allclose(inv_freq, expected, atol=1e-6, rtol=1e-6)
    assert attention_factor == pytest.approx(entry["attention_factor"], abs=1e-6)


@pytest.mark.fidelity
def test_ntk_and_dynamic_bases_match_golden_notes() -> None:
    # The notes state the effective bases in words; the formulas must give the same numbers.
    notes = {e["name"]: e["note"] for e in golden()["entries"]}
    for factor in (4, 8):
        stated = float(re.search(r"base' = ([0-9.]+)", notes[f"ntk_aware_factor{factor}"]).group(1))
        assert rope.ntk_aware_theta(10000.0, 128, factor) == pytest.approx(stated, rel=1e-12)
    for factor, seq_len in ((4, 16384), (8, 16384), (8, 32768)):
        stated = float(notes[f"dynamic_factor{factor}_seqlen{seq_len}"].rsplit("= ", 1)[1])
        assert rope.dynamic_ntk_theta(10000.0, 128, factor, 4096, seq_len) == pytest.approx(stated, rel=1e-12)


@pytest.mark.engine
@pytest.mark.fidelity
def test_eabf_query_scale_table() -> None:
    import torch

    table = golden()["eabf_query_scale"]["values"]
    positions = torch.tensor([int(p) for p in table])
    scale = QueryScale(skip_layers=2, original_max_position_embeddings=4096).factors(positions)
    for p, value in zip(table, scale, strict=True):
        assert float(value) == pytest.approx(table[p]["float64"], abs=1e-12)
        assert float(value.to(torch.float32)) == pytest.approx(table[p]["float32_as_in_repo"], abs=1e-6)
        assert float(value.to(torch.bfloat16)) == table[p]["bfloat16_as_in_repo"]
    assert not QueryScale(2).applies_to(1) and QueryScale(2).applies_to(2) and QueryScale(0).applies_to(0)


# The method (and run length) that should reproduce each golden entry through config_overrides.
GOLDEN_METHODS = {
    "default_base10000": ("none", None), "abf_base500000": ("abf", None), "linear_factor4": ("pi:factor=4", None),
    "linear_factor8": ("pi:factor=8", None), "dynamic_factor4_seqlen16384": ("dynamic-ntk:factor=4", 16384),
    "dynamic_factor8_seqlen16384": ("dynamic-ntk:factor=8", 16384),
    "dynamic_factor8_seqlen32768": ("dynamic-ntk:factor=8", 32768), "yarn_factor4": ("yarn:factor=4", None),
    "yarn_factor8": ("yarn:factor=8", None), "llama3_factor4_orig4096_base10000": ("llama3:factor=4", None),
    "llama3_factor8_orig4096_base10000": ("llama3:factor=8", None), "ntk_aware_factor4": ("ntk:factor=4", None),
    "ntk_aware_factor8": ("ntk:factor=8", None), "llama3_llama31_defaults": ("llama3", None),
}


def hf_rope(config_dict: dict) -> tuple[torch.Tensor, float]:
    """The inv_freq and attention scaling transformers' Llama rotary module builds for a config."""
    import torch
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    rotary = LlamaRotaryEmbedding(LlamaConfig(**config_dict))
    return rotary.inv_freq.to(torch.float64), float(rotary.attention_scaling)


@pytest.mark.engine
@pytest.mark.fidelity
@pytest.mark.parametrize("name", entry_ids())
def test_config_overrides_make_transformers_build_the_golden_frequencies(name: str) -> None:
    import torch

    entry = _entry(name)
    spec, max_length = GOLDEN_METHODS[name]
    rp = entry["config"]["rope_parameters"]
    original = rp.get("original_max_position_embeddings", 4096)
    base = {"hidden_size": 4096, "num_attention_heads": 32, "head_dim": 128, "max_position_embeddings": original,
            "rope_theta": 500000.0 if name == "llama3_llama31_defaults" else 10000.0}
    method = parse_method(spec)
    overrides = method.config_overrides(base, max_length or original * 4)
    assert overrides["rope_parameters"]["rope_type"] in ("default", "linear", "yarn", "llama3")
    assert isinstance(overrides["rope_parameters"]["rope_theta"], float)
    config = {k: v for k, v in {**base, **overrides}.items() if k != "rope_theta"}
    inv_freq, attention_factor = hf_rope(config)
    assert torch.allclose(inv_freq, torch.tensor(entry["inv_freq"], dtype=torch.float64), atol=1e-6, rtol=1e-6)
    assert attention_factor == pytest.approx(entry["attention_factor"], abs=1e-6)

@pytest.mark.engine

def test_every_method_maps_to_the_same_frequencies_in_transformers_as_its_formula() -> None:
    import torch

    base = {"hidden_size": 128, "num_attention_heads": 4, "head_dim": 32, "max_position_embeddings": 256,
            "rope_theta": 10000.0}
    expected = {
        "none": (rope.default_inv_freq(1e4, 32), 1.0),
        "pi:factor=3": (rope.linear_inv_freq(1e4, 32, 3.0), 1.0),
        "ntk:factor=3": (rope.default_inv_freq(rope.ntk_aware_theta(1e4, 32, 3.0), 32), 1.0),
        "dynamic-ntk:factor=2": (rope.default_inv_freq(rope.dynamic_ntk_theta(1e4, 32, 2.0, 256, 700), 32), 1.0),
        "ntk-by-parts:factor=4": (rope.yarn_inv_freq(1e4, 32, 4.0, 256), 1.0),
        "yarn:factor=4,beta_fast=16": (rope.yarn_inv_freq(1e4, 32, 4.0, 256, beta_fast=16.0),
                                       rope.yarn_attention_factor(4.0)),
        "yarn:factor=4,attention_factor=1.25": (rope.yarn_inv_freq(1e4, 32, 4.0, 256), 1.25),
        "llama3:factor=4": (rope.llama3_inv_freq(1e4, 32, 4.0, 256), 1.0),
        "abf": (rope.default_inv_freq(ABF_BASE, 32), 1.0),
        "eabf:skip_layers=0": (rope.default_inv_freq(ABF_BASE, 32), 1.0),
    }
    assert {parse_method(s).name for s in expected} == {info.name for info in list_methods()}
    for spec, (inv_freq, attention_factor) in expected.items():
        overrides = parse_method(spec).config_overrides(base, 700)
        got_freq, got_factor = hf_rope({k: v for k, v in {**base, **overrides}.items() if k != "rope_theta"})
        assert torch.allclose(got_freq, inv_freq, atol=1e-7, rtol=1e-6), spec
        assert got_factor == pytest.approx(attention_factor, abs=1e-9), spec


TINY = {"hidden_size": 128, "num_attention_heads": 4, "head_dim": 32, "max_position_embeddings": 256,
        "rope_theta": 10000.0}


def test_max_positions_and_coverage() -> None:
    def positions(spec: str, n: int) -> int:
        return parse_method(spec).config_overrides(TINY, n)["max_position_embeddings"]

    # vLLM multiplies linear's max positions by factor itself; YaRN/llama3 need L0*s written out.
    assert positions("pi:factor=4", 1024) == 256
    assert positions("yarn:factor=4", 1024) == positions("llama3:factor=4", 1024) == 1024
    assert positions("abf", 3000) == positions("eabf", 3000) == positions("dynamic-ntk", 3000) == 3000
    assert positions("none", 100) == 256
    assert parse_method("pi:factor=4").covered_length(TINY) == 1024
    assert parse_method("ntk:factor=2").covered_length(TINY) == 512
    assert parse_method("none").covered_length(TINY) == 256
    assert parse_method("eabf").covered_length(TINY) == UNBOUNDED
    eabf = parse_method("eabf:skip_layers=1").config_overrides(TINY, 1000)
    assert eabf["longeval_query_scale"] == {"skip_layers": 1, "original_max_position_embeddings": 256}
    assert parse_method("abf").config_overrides(TINY, 1000)["longeval_query_scale"] is None


def test_spec_parsing_defaults_aliases_and_canonical_form() -> None:
    assert parse_method("eabf").params == {"base": 500000.0, "skip_layers": 2}
    assert parse_method("eabf").query_scale == QueryScale(2)
    assert parse_method("abf").query_scale is None
    assert parse_method(" YaRN : factor = 8 ").spec == "yarn:factor=8"
    assert parse_method("linear:factor=2").name == "pi"
    assert parse_method("eabf:skip_layers=0,base=1e6").spec == "eabf:base=1000000,skip_layers=0"
    assert parse_method("yarn:factor=4").spec == "yarn"
    assert isinstance(parse_method("llama3:factor=8").params["factor"], float)
    assert isinstance(parse_method("eabf:skip_layers=3").params["skip_layers"], int)


@given(st.sampled_from(["pi", "ntk", "dynamic-ntk", "yarn", "ntk-by-parts", "llama3"]),
       st.floats(min_value=1.0, max_value=1e3, allow_nan=False))
def test_canonical_spec_round_trips(name: str, factor: float) -> None:
    method = make_method(name, {"factor": factor})
    assert parse_method(method.spec) == method


@pytest.mark.parametrize(("spec", "fragment"), [
    ("foo", "unknown method 'foo'"),
    ("yarn:factor=abc", "factor must be a number, got 'abc'"),
    ("pi:factor=0.5", "factor must be >= 1"),
    ("pi:scale=2", "has no parameter 'scale'"),
    ("eabf:skip_layers=1.5", "skip_layers must be an integer"),
    ("eabf:skip_layers=-1", "skip_layers must be >= 0"),
    ("yarn:factor", "expected key=value"),
    ("pi:factor=2,factor=3", "given twice"),
    ("", "bad method spec"),
    ("abf:base=nan", "finite"),
])
def test_bad_specs_raise_one_clear_line(spec: str, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        parse_method(spec)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_recognises_what_checkpoint_configs_carry() -> None:
    def from_config(**keys) -> str:
        return method_from_config({**TINY, **keys}).spec

    assert from_config() == "none"
    assert from_config(rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 8.0}) == "pi:factor=8"
    assert from_config(rope_scaling={"type": "linear", "factor": 2.0}) == "pi:factor=2"
    assert from_config(rope_scaling={"type": "dynamic", "factor": 2.0}) == "dynamic-ntk:factor=2"
    assert from_config(rope_theta=500000.0) == "abf"
    assert from_config(rope_parameters={"rope_type": "default", "rope_theta": 500000.0}) == "abf"
    # A YaRN fine-tune in the legacy format (Nous-style "finetuned" flag; L0 given explicitly).
    yarn = {"type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096, "finetuned": True}
    method = method_from_config({**TINY, "max_position_embeddings": 65536, "rope_scaling": yarn})
    assert method.spec == "yarn:factor=16"
    assert base_rope({**TINY, "max_position_embeddings": 65536, "rope_scaling": yarn}).original_max == 4096
    assert from_config(rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0,
                                        "original_max_position_embeddings": 256, "attention_factor": 1.0}) \
        == "ntk-by-parts"
    assert from_config(rope_parameters={"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0,
                                        "original_max_position_embeddings": 8192, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0}) == "llama3"


def test_legacy_eabf_config_means_base_500000_not_10000() -> None:
    config = {**TINY, "rope_scaling": {"type": "eabf", "factor": 4}}
    method = method_from_config(config)
    assert method.name == "eabf" and method.params["base"] == 500000.0
    overrides = method.config_overrides(config, 1024)
    assert overrides["rope_parameters"] == {"rope_type": "default", "rope_theta": 500000.0}
    # The legacy factor must not reach vLLM's max-length logic or its rope factory.
    assert "factor" not in overrides["rope_parameters"]


@pytest.mark.parametrize("spec", ["none", "pi:factor=2", "ntk:factor=3", "dynamic-ntk", "ntk-by-parts",
                                  "yarn:factor=8,attention_factor=1.5", "llama3:factor=2", "abf:base=2e5",
                                  "eabf:skip_layers=0"])
def test_extended_config_is_recognised_and_reextends_from_the_original(spec: str) -> None:
    method = parse_method(spec)
    extended = {**TINY, **method.config_overrides(TINY, 900)}
    extended.pop("rope_theta")
    assert method_from_config(extended) == method
    # Applying a method to the extended config starts from the original base and L0 again.
    reextended = parse_method("ntk:factor=2").config_overrides(extended, 600)
    # ... and leaves an EABF checkpoint's model class for plain Llama (vLLM would otherwise keep scaling q).
    architectures = reextended.pop("architectures", None)
    assert architectures == (["LlamaForCausalLM"] if method.name == "eabf" else None)
    assert reextended == parse_method("ntk:factor=2").config_overrides(TINY, 600)


@pytest.mark.parametrize("config", [
    {**TINY, "rope_scaling": {"type": "longrope", "short_factor": [1.0], "long_factor": [2.0]}},
    {**TINY, "rope_parameters": {"rope_type": "su", "rope_theta": 1e4}},
    {**TINY, "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e4},
                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}},
])
def test_unknown_rope_types_are_refused(config: dict) -> None:
    with pytest.raises(UserError) as info:
        method_from_config(config)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError):
        parse_method("yarn").config_overrides(config, 1024)


@pytest.mark.parametrize("spec", ["foo", "yarn:factor=abc", "pi:factor=0.5", "yarn:fctor=2"])
def test_cli_bad_method_is_one_line_exit_2(tmp_path, capsys, spec: str) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text(json.dumps(TINY))
    code = main(["extend", str(tmp_path / "base"), "--method", spec, "--out", str(tmp_path / "out")])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err)


def test_cli_unknown_rope_type_in_config_is_one_line_exit_2(tmp_path, capsys) -> None:
    (tmp_path / "base").mkdir()
    config = {**TINY, "rope_scaling": {"type": "mystery", "factor": 4.0}}
    (tmp_path / "base" / "config.json").write_text(json.dumps(config))
    code = main(["extend", str(tmp_path / "base"), "--method", "yarn", "--out", str(tmp_path / "out")])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "mystery")


def test_methods_command_lists_every_method_with_parameters(capsys) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for info in list_methods():
        assert re.search(rf"^{re.escape(info.name)}\s", out, re.MULTILINE)
        for param in info.params:
            assert param.name in out
    assert re.search(r"skip_layers\s+int\s+default 2", out)
    assert re.search(r"base\s+float\s+default 500000", out)
    assert math.isfinite(parse_method("yarn").params["factor"])


def test_dynamic_ntk_base_is_fixed_at_the_run_length_not_the_engine_length() -> None:
    """The runner binds n to its prompt budget, so the answer tokens of the chosen tasks do not change the model."""
    config = {"hidden_size": 128, "num_attention_heads": 4, "head_dim": 32, "max_position_embeddings": 256,
              "rope_theta": 10000.0}
    bound = parse_method("dynamic-ntk:factor=2").for_run_length(700)
    assert bound.params["length"] == 700 and "length=700" in bound.spec
    expected = rope.dynamic_ntk_theta(1e4, 32, 2.0, 256, 700)
    for engine_length in (732, 1212):
        assert bound.config_overrides(config, engine_length)["rope_parameters"]["rope_theta"] == expected
    explicit = parse_method("dynamic-ntk:factor=2,length=500")
    assert explicit.for_run_length(700) == explicit
    assert parse_method("yarn").for_run_length(700) == parse_method("yarn")
    assert parse_method("dynamic-ntk:factor=2").config_overrides(config, 900)["rope_parameters"]["rope_theta"] == \
        rope.dynamic_ntk_theta(1e4, 32, 2.0, 256, 900)


@pytest.mark.parametrize(("spec", "fragment"), [
    ("yarn:beta_fast=1,beta_slow=1", "beta_fast (1) must be greater than beta_slow (1)"),
    ("ntk-by-parts:beta_fast=2,beta_slow=8", "beta_fast (2) must be greater than beta_slow (8)"),
    ("llama3:low_freq_factor=4,high_freq_factor=4", "low_freq_factor (4) must be below high_freq_factor (4)"),
    ("llama3:low_freq_factor=5", "low_freq_factor (5) must be below high_freq_factor (4)"),
])
def test_parameters_that_contradict_each_other_are_refused(spec: str, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        parse_method(spec)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    parse_method("yarn:beta_fast=2,beta_slow=1")  # the boundary the other way is fine
    parse_method("llama3:low_freq_factor=1,high_freq_factor=1.5")


def test_skip_layers_is_checked_against_the_models_layer_count(tmp_path, capsys) -> None:
    config = {**TINY, "num_hidden_layers": 4}
    parse_method("eabf:skip_layers=3").config_overrides(config, 1000)
    with pytest.raises(UserError, match="skip_layers 4 leaves none of this model's 4 layers"):
        parse_method("eabf:skip_layers=4").config_overrides(config, 1000)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text(json.dumps(config))
    code = main(["extend", str(tmp_path / "base"), "--method", "eabf:skip_layers=32", "--max-length", "1000",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "skip_layers 32" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("rope", [{"rope_type": "longrope", "short_factor": [1.0], "long_factor": [2.0]},
                                  {"type": "su", "short_factor": [1.0], "long_factor": [2.0]}])
def test_phi3_longrope_checkpoints_are_refused_saying_why(rope: dict) -> None:
    with pytest.raises(UserError) as info:
        method_from_config({**TINY, "rope_scaling": rope})
    message = str(info.value)
    assert "LongRoPE" in message and "per sequence" in message and "\n" not in message


def test_other_tools_checkpoints_are_recorded_as_written() -> None:
    from longeval.methods.config import checkpoint_rope

    # Plain RoPE at a non-default theta: method none, and the record keeps that theta (not the family default).
    plain = {**TINY, "rope_theta": 20000.0}
    assert method_from_config(plain).spec == "none"
    assert checkpoint_rope(plain)["rope_theta"] == 20000.0
    assert parse_method("none").config_overrides(plain, 256)["rope_parameters"]["rope_theta"] == 20000.0
    # A dynamic-NTK config (another tool's): dynamic-ntk with its factor, recorded as written.
    dynamic = {**TINY, "rope_scaling": {"type": "dynamic", "factor": 2.0}}
    assert method_from_config(dynamic).spec == "dynamic-ntk:factor=2"
    assert checkpoint_rope(dynamic)["rope_type"] == "dynamic" and checkpoint_rope(dynamic)["factor"] == 2.0
    # The YaRN repository's config: max_position_embeddings is already the extended length, L0 is in the settings.
    yarn = {**TINY, "max_position_embeddings": 65536,
            "rope_scaling": {"type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096,
                             "finetuned": True}}
    record = checkpoint_rope(yarn)
    assert record["original_max_position_embeddings"] == 4096 and record["max_position_embeddings"] == 65536
    assert record["rotary_dim"] == 32 and record["finetuned"] is True
    assert method_from_config(yarn).covered_length(yarn) == 65536
