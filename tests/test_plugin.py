"""An out-of-tree benchmark family: a distribution with an entry point in the group `longeval.benchmarks`
(tests/fixtures/plugin) is installed into a temporary target with pip, its task YAML given with --tasks-path,
and runs through `longeval run --backend echo`, `score` and `report` in fresh interpreters, with no change to
longeval. The echo engine returns the prompt's last tokens, which end with the word to repeat: every record
scores 1."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).parent / "fixtures" / "plugin"


def longeval(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "longeval", *args], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def test_an_installed_plugin_family_runs_scores_and_reports(tmp_path, echo_model):
    src = tmp_path / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("__pycache__", "tasks"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    assert list(site.glob("longeval_echoes-*.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    tasks = str(PLUGIN / "tasks")
    runs = tmp_path / "runs"
    longeval(["run", "--model", str(echo_model), "--tasks", "echoes", "--tasks-path", tasks, "--backend", "echo",
              "--max-length", "200", "--out", str(runs), "--run-name", "toy", "--no-progress"], env)
    pred = runs / "toy" / "pred"
    lines = [json.loads(line) for line in (pred / "echoes.jsonl").read_text().splitlines()]
    assert sorted(line["answer"] for line in lines) == ["apple", "cloud", "river"]
    assert json.loads((pred / "result.json").read_text()) == {"echoes": 100.0}
    info = json.loads((runs / "toy" / "run.json").read_text())
    assert info["status"] == "complete" and "echoes.generated" in info["data"]["files"]

    (pred / "result.json").unlink()
    longeval(["score", str(pred), "--tasks-path", tasks], env)
    assert json.loads((pred / "result.json").read_text()) == {"echoes": 100.0}

    longeval(["report", str(runs), "--tasks-path", tasks, "--out", str(tmp_path / "board"), "--format", "csv"], env)
    with (tmp_path / "board" / "leaderboard.csv").open(encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["run"] == "toy" and float(row["echoes"]) == 100.0
