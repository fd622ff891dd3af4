"""The light install: score, report and check work without torch, transformers, vLLM or huggingface_hub.

The fast tests run the three commands, and `prompts` (which needs an engine extra), one after another in ONE fresh
interpreter of the test environment where importing any of those libraries raises ImportError (one launch instead
of one per command: interpreter start-up was most of these tests' time). The slow test builds the wheel and
installs it into a second virtual environment with the core dependencies only (from pyproject.toml), from this
machine's local package sources when pip has them configured (its file:// indexes and the wheels in pip's own
cache), and runs the same commands, each in a process of its own, there with the installed `longeval` script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_runner import make_data

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "vllm", "huggingface_hub")
CLASSES = ["Entity", "Location", "Person", "Description"]
# `python -c` program: importing any heavy library fails, as it would in a core-only install; then each longeval
# command line of the JSON list in argv[1] runs in turn, and a JSON list of [exit status, stdout, stderr] is printed.
# A command that raises is exit status 1 with its traceback on its stderr, as it would be in a process of its own.
RUN_BLOCKED = f"""
import contextlib, io, json, sys, traceback
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError("blocked: the light install has no " + name)
sys.meta_path.insert(0, Blocked())
from longeval.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, out.getvalue(), err.getvalue()])
sys.stdout.write(json.dumps(results))
"""


@dataclass(frozen=True)
class Outcome:
    """What one longeval command line ended with."""

    returncode: int
    stdout: str
    stderr: str


RunCommands = Callable[[list[list[str]]], list[Outcome]]


def write_preds(folder: Path, trec_right: int) -> None:
    """Four trec lines (trec_right of them right) and two hotpotqa lines answered exactly."""
    folder.mkdir(parents=True)
    trec = [{"pred": "Entity" if i < trec_right else "Location", "answers": ["Entity"], "all_classes": CLASSES,
             "length": 100 + i, "_id": f"t{i}"} for i in range(4)]
    hotpot = [{"pred": answer, "answers": [answer], "all_classes": None, "length": 300, "_id": f"h{i}"}
              for i, answer in enumerate(["Paris", "river Thames"])]
    for name, lines in (("trec", trec), ("hotpotqa", hotpot)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


# score -> report (md, csv, html, plots) -> check (pass and regression); run in the folder write_preds filled.
EXERCISE = [["score", "base", "new"], ["report", "base", "new", "--out", "board", "--plot"],
            ["check", "base", "--baseline", "base"], ["check", "new", "--baseline", "base", "--max-drop", "1"]]


def check_exercise(tmp: Path, outcomes: list[Outcome]) -> None:
    """The outcomes of EXERCISE run in `tmp` (report and check only read the prediction folders, so the result.json
    files checked here are those score wrote)."""
    scored, reported, passed, regression = outcomes
    assert scored.returncode == 0, scored.stderr
    # trec: accuracy over 4 records (all right / half right); hotpotqa: exact answers, F1 100.
    assert json.loads((tmp / "base" / "result.json").read_text()) == {"trec": 100.0, "hotpotqa": 100.0}
    assert json.loads((tmp / "new" / "result.json").read_text()) == {"trec": 50.0, "hotpotqa": 100.0}
    assert reported.returncode == 0, reported.stderr
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.html"} <= {p.name for p in (tmp / "board").iterdir()}
    assert list((tmp / "board").glob("*.png"))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert regression.returncode == 1, regression.stdout + regression.stderr


def exercise(run_commands: RunCommands, tmp: Path) -> None:
    """EXERCISE on two fresh prediction folders in `tmp`, through `run_commands`, checked."""
    write_preds(tmp / "base", trec_right=4)
    write_preds(tmp / "new", trec_right=2)
    check_exercise(tmp, run_commands(EXERCISE))


def one_process_per_command(longeval: list[str], cwd: Path, env: dict[str, str] | None = None) -> RunCommands:
    """Each command line in a process of its own, through the given command (an installed `longeval` script)."""
    def run_commands(commands: list[list[str]]) -> list[Outcome]:
        done = [subprocess.run([*longeval, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
                for args in commands]
        return [Outcome(out.returncode, out.stdout, out.stderr) for out in done]

    return run_commands


def run_blocked(commands: list[list[str]], cwd: Path) -> list[Outcome]:
    """The command lines in turn in one fresh interpreter of the test environment, heavy libraries blocked."""
    out = subprocess.run([sys.executable, "-c", RUN_BLOCKED, json.dumps(commands)], cwd=cwd, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return [Outcome(*outcome) for outcome in json.loads(out.stdout)]


def prompts_command(tmp: Path) -> list[str]:
    """`longeval prompts` on a one-record trec file with a tokenizer folder: it needs transformers (the hf extra)."""
    model = tmp / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    make_data(tmp, "trec", n=1)
    return ["prompts", "--tasks", "trec", "--data", str(tmp), "--tokenizer", str(model), "--max-length", "100",
            "--out", str(tmp / "p.jsonl")]


@pytest.fixture(scope="module")
def blocked_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Outcome]]:
    """EXERCISE, then the prompts command, in one interpreter with the heavy libraries blocked: (the EXERCISE
    folder, the outcomes in order)."""
    tmp = tmp_path_factory.mktemp("light")
    write_preds(tmp / "base", trec_right=4)
    write_preds(tmp / "new", trec_right=2)
    prompts = prompts_command(tmp_path_factory.mktemp("prompts"))
    return tmp, run_blocked([*EXERCISE, prompts], cwd=tmp)


def test_score_report_check_import_no_engine_library(blocked_session):
    tmp, outcomes = blocked_session
    check_exercise(tmp, outcomes[:len(EXERCISE)])


def test_run_without_the_engine_libraries_is_one_line_naming_the_extra(blocked_session):
    out = blocked_session[1][len(EXERCISE)]
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "longeval[hf]" in out.stderr, out.stderr


def local_pip_sources() -> list[str]:
    """pip options that install from this machine alone: pip's configured file:// indexes and find-links, plus
    the folders of the wheels pip built and cached (jieba ships only an sdist). Empty when pip has no local index
    configured: pip then uses its configuration as it is."""
    config = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    indexes, links = [], []
    for key, value in re.findall(r"^\S*?(index-url|find-links)='([^']*)'", config, flags=re.MULTILINE):
        for item in value.split():
            if key == "find-links":
                links.append(item)
            elif item.startswith("file:"):
                indexes.append(item)
    if not indexes:
        return []
    cached = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format", "abspath"],
                            capture_output=True, text=True).stdout.split()
    links += sorted({str(Path(wheel).parent) for wheel in cached})
    options = ["--index-url", indexes[0]]
    for index in indexes[1:]:
        options += ["--extra-index-url", index]
    for link in dict.fromkeys(links):
        options += ["--find-links", link]
    return options


@pytest.mark.slow
def test_core_only_virtualenv_scores_reports_and_checks(tmp_path):
    """A second venv with the wheel (--no-deps) and the core dependencies only: no torch there."""
    src = tmp_path / "src"  # a copy: the build writes nothing into the checkout
    for name in ("longeval", "tasks"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(src)], check=True, capture_output=True)
    wheel = next(dist.glob("longeval-*.whl"))
    venv = tmp_path / "core"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *local_pip_sources()]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for argv in ([*pip, "--no-deps", str(wheel)], [*pip, *core]):
        installed = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        assert installed.returncode == 0, installed.stderr[-2000:]
    # Only the venv's own packages: no PYTHONPATH pointing at a checkout or another environment.
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import longeval; print(longeval.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr
    for library in HEAVY:
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {library}"], capture_output=True,
                               env=env)
        assert probe.returncode != 0, f"{library} is importable in the core-only venv"
    work = tmp_path / "work"
    work.mkdir()
    exercise(one_process_per_command([str(venv / "bin" / "longeval")], work, env), work)
