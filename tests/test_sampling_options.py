"""--temperature/--seed (LongBench v2's official sampling setting, temperature 0.1): a vLLM option, part of the run's
identity, refused in one line by the other backends. (That vLLM samples with them: the LongBench v2 real-model
commands in the README.)"""

from __future__ import annotations

from longeval.backends.options import BY_KEY, fingerprinted
from tests.helpers import assert_exit_2_one_line


def test_sampling_enters_the_fingerprint_only_when_set():
    assert fingerprinted({"temperature": 0.1, "seed": 3}) == {"temperature": 0.1, "seed": 3}
    assert fingerprinted({"temperature": None, "tensor_parallel_size": 2}) == {}
    assert BY_KEY["temperature"].backends == ("vllm",) and BY_KEY["seed"].backends == ("vllm",)


def test_other_backends_refuse_sampling_in_one_line(tmp_path, capsys):
    for flag, value in (("--temperature", "0.1"), ("--seed", "7")):
        assert_exit_2_one_line(capsys, ["run", "--model", str(tmp_path), "--backend", "hf", "--tasks",
                                        "longbench_v2", "--data", str(tmp_path), "--out", str(tmp_path), flag, value],
                               f"{flag} is an option of --backend vllm")
