"""Grids of runs (models x methods x lengths): each cell the run folder a single run writes, sequentially or as
Ray tasks on a real local Ray instance, a failing cell reported without stopping the others, and data parallelism
over Ray actors giving the predictions of one engine. Engines are the real vLLM (CPU) on the tiny model."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from helpers import write_data

from longeval.cli import main
from longeval.errors import UserError
from longeval.grid import CellOutcome, exit_code, plan_cells, summary_table
from longeval.runner import RunRequest

MISSING = [name for name in ("vllm", "ray") if importlib.util.find_spec(name) is None]
needs_engines = pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}")
METHODS = ("none", "eabf")  # eabf needs longeval's vLLM plugin, so it checks that Ray workers load it
LENGTHS = (100, 150)


def test_cells_nest_model_method_length_and_name_what_varies(tmp_path):
    base = RunRequest(model="m", tasks="trec", data="hub", out=tmp_path, run_name="exp")
    cells = plan_cells(base, ["a/ckpt1", "b/ckpt2"], ["pi:factor=4", "yarn"], [100, 200])
    assert [(c.model, c.method, c.max_length) for c in cells[:3]] == [
        ("a/ckpt1", "pi:factor=4", 100), ("a/ckpt1", "pi:factor=4", 200), ("a/ckpt1", "yarn", 100)]
    assert len({c.run_name for c in cells}) == 8
    assert cells[0].run_name == "exp_ckpt1_pi-factor=4_100"
    # A single cell keeps the name it was given; a length sweep appends the length, as before grids.
    assert plan_cells(base, ["m"], ["yarn"], [100])[0].run_name == "exp"
    assert [c.run_name for c in plan_cells(base, ["m"], ["yarn"], [100, 200])] == ["exp_100", "exp_200"]
    with pytest.raises(UserError, match="--method names yarn more than once"):
        plan_cells(base, ["m"], ["yarn", "yarn"], [100])
    with pytest.raises(UserError, match="share the run folder exp_model"):
        plan_cells(base, ["exp1/model", "exp2/model"], ["yarn"], [100])


def test_summary_names_the_failed_cell_and_the_exit_code_says_what_failed(tmp_path):
    request = RunRequest(model="ckpt", tasks="trec", data="hub", out=tmp_path, method="yarn", max_length=300)
    ok = CellOutcome(request, "complete", folder=tmp_path / "ckpt_yarn_300", done=4, total=4)
    bad = CellOutcome(request, "failed", error="a max length of 354 positions is past", user_error=True)
    crash = CellOutcome(request, "failed", error="RuntimeError: engine died")
    table = summary_table([ok, bad])
    assert "ckpt_yarn_300" in table and "4/4" in table and "failed" in table and "354 positions" in table
    assert (exit_code([ok]), exit_code([ok, bad]), exit_code([ok, bad, crash])) == (0, 2, 1)


def test_a_bad_method_in_a_grid_is_refused_before_any_cell_runs(tmp_path, capsys, tiny_model):
    argv = ["run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(tmp_path), "--backend", "hf",
            "--method", "none", "--method", "yarn:factor=-1", "--out", str(tmp_path / "runs")]
    assert main(argv) == 2
    assert "factor" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def grid_args(model: Path, data: Path, out: Path, methods=METHODS, lengths=LENGTHS) -> list[str]:
    argv = ["run", "--model", str(model), "--tasks", "hotpotqa", "--data", str(data), "--backend", "vllm",
            "--max-length", ",".join(map(str, lengths)), "--out", str(out), "--no-progress"]
    for method in methods:
        argv += ["--method", method]
    return argv


def pred_lines(folder: Path) -> list[dict]:
    lines = [json.loads(line) for line in (folder / "pred" / "hotpotqa.jsonl").read_text().splitlines()]
    return sorted(lines, key=lambda line: line["_id"])


@pytest.fixture(scope="module")
def engines_env(tmp_path_factory):
    """vLLM settings for this module, set before Ray starts so its workers inherit them."""
    saved = {key: os.environ.get(key) for key in ("VLLM_CACHE_ROOT", "VLLM_CPU_KVCACHE_SPACE")}
    os.environ["VLLM_CACHE_ROOT"] = str(tmp_path_factory.mktemp("vllm-cache"))
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def local_ray(engines_env):
    """A real local Ray instance with 2 CPUs (a cell asks for one: two cells run at once), shut down after."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {key: os.environ[key] for key in ("VLLM_CACHE_ROOT", "VLLM_CPU_KVCACHE_SPACE",
                                                                         "PYTHONPATH") if key in os.environ}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, tiny_model, engines_env):
    """The 2 x 2 grid run cell after cell in this process: the reference for the Ray grid."""
    root = tmp_path_factory.mktemp("sequential")
    data = write_data(root / "lb")
    assert main(grid_args(tiny_model, data, root / "runs")) == 0
    return data, root / "runs"


@pytest.mark.slow
@pytest.mark.vllm
@needs_engines
def test_ray_grid_writes_the_folders_a_sequential_grid_writes(tmp_path, capsys, tiny_model, sequential, local_ray):
    data, sequential_out = sequential
    out = tmp_path / "runs"
    # One cell's folder already holds another configuration (an echo-engine run of the same name): that cell is
    # refused on its worker; the other cells run.
    echo = grid_args(tiny_model, data, out, methods=("none",), lengths=(400,))
    assert main([*echo[:echo.index("--backend") + 1], "echo", *echo[echo.index("--backend") + 2:]]) == 0
    capsys.readouterr()
    assert main(grid_args(tiny_model, data, out, lengths=(*LENGTHS, 400)) + ["--ray"]) == 2
    printed = capsys.readouterr().out
    failed = [line.split() for line in printed.splitlines() if "failed" in line.split()]  # the summary's rows
    assert len(failed) == 1 and {"none", "400", "other", "settings"} <= set(failed[0]), failed
    expected = sorted(p.name for p in sequential_out.iterdir())
    assert len(expected) == 4
    assert set(expected) <= {p.name for p in out.iterdir()}
    assert len(list(out.glob("*_eabf_400/pred/hotpotqa.jsonl"))) == 1
    [refused] = out.glob("*_none_400/run.json")
    assert json.loads(refused.read_text())["backend"]["name"] == "echo"  # left as it was
    for name in expected:
        assert pred_lines(out / name) == pred_lines(sequential_out / name), name
        ray_result = json.loads((out / name / "pred" / "result.json").read_text())
        assert ray_result == json.loads((sequential_out / name / "pred" / "result.json").read_text())
        info = json.loads((out / name / "run.json").read_text())
        assert info["status"] == "complete"
        assert info["fingerprint"] == json.loads((sequential_out / name / "run.json").read_text())["fingerprint"]
    # The same grid without Ray resumes those folders: nothing left to generate, nothing written twice.
    assert main(grid_args(tiny_model, data, out)) == 0
    for name in expected:
        assert pred_lines(out / name) == pred_lines(sequential_out / name)
        assert json.loads((out / name / "run.json").read_text())["sessions"] == 2


@pytest.mark.slow
@pytest.mark.vllm
@needs_engines
def test_data_parallel_engines_predict_what_one_engine_predicts(tmp_path, tiny_model, sequential, local_ray):
    data, sequential_out = sequential
    argv = grid_args(tiny_model, data, tmp_path / "runs", methods=("eabf",), lengths=(150,))
    assert main([*argv, "--data-parallel-size", "2"]) == 0
    [name] = [p.name for p in (tmp_path / "runs").iterdir()]
    assert name.endswith("_eabf_150") and (sequential_out / name).is_dir()
    assert pred_lines(tmp_path / "runs" / name) == pred_lines(sequential_out / name)
    info = json.loads((tmp_path / "runs" / name / "run.json").read_text())
    assert info["backend"]["options"] == {"data_parallel_size": 2} and info["status"] == "complete"


def test_sequential_grid_shares_an_engine_per_sweep_and_isolates_a_failing_cell(tmp_path, capsys, echo_model):
    """On the echo engine (no torch): the lengths of one method share one engine; a cell refused in the middle of
    its sweep (its folder holds another configuration) is reported, and the cells after it still run."""
    data = write_data(tmp_path / "lb")
    out = tmp_path / "runs"
    common = ["--model", str(echo_model), "--tasks", "hotpotqa", "--data", str(data), "--backend", "echo",
              "--out", str(out), "--no-progress"]
    assert main(["run", *common, "--method", "yarn", "--max-length", "160", "--run-name", "g_yarn_160",
                 "--chat-template", "none"]) == 0
    capsys.readouterr()
    assert main(["run", *common, "--method", "none", "--method", "yarn", "--max-length", "120,160,200",
                 "--run-name", "g"]) == 2
    printed = capsys.readouterr().out
    failed = [line for line in printed.splitlines() if "failed" in line.split()]  # the summary's rows
    assert len(failed) == 1 and failed[0].startswith("g_yarn_160 ") and "other settings" in failed[0], failed
    runs = {name: json.loads((out / name / "run.json").read_text()) for name in
            ("g_none_120", "g_none_160", "g_none_200", "g_yarn_120", "g_yarn_200")}
    assert all(info["status"] == "complete" for info in runs.values())
    assert [runs[f"g_none_{n}"]["backend"]["engine_reused"] for n in (120, 160, 200)] == [False, True, True]
    assert runs["g_yarn_120"]["backend"]["engine_reused"] is False
    # The refused cell's folder still holds the other configuration, untouched.
    assert json.loads((out / "g_yarn_160" / "run.json").read_text())["chat_wrapper"] == "none"
