"""The light install: score, report and check work without torch, transformers, vLLM or huggingface_hub.

The fast test runs the three commands in a fresh interpreter of the test environment where importing any of
those libraries raises ImportError. The slow test builds the wheel and installs it into a second virtual
environment with the core dependencies only (from pyproject.toml), from this machine's local package sources
when pip has them configured (its file:// indexes and the wheels in pip's own cache), and runs the same commands
there with the installed `longeval` script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from test_runner import make_data

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "vllm", "huggingface_hub")
CLASSES = ["Entity", "Location", "Person", "Description"]
# `python -c` prelude: importing any heavy library fails, as it would in a core-only install.
BLOCK_HEAVY = f"""
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError("blocked: the light install has no " + name)
sys.meta_path.insert(0, Blocked())
from longeval.cli import main
sys.exit(main(sys.argv[1:]))
"""


def write_preds(folder: Path, trec_right: int) -> None:
    """Four trec lines (trec_right of them right) and two hotpotqa lines answered exactly."""
    folder.mkdir(parents=True)
    trec = [{"pred": "Entity" if i < trec_right else "Location", "answers": ["Entity"], "all_classes": CLASSES,
             "length": 100 + i, "_id": f"t{i}"} for i in range(4)]
    hotpot = [{"pred": answer, "answers": [answer], "all_classes": None, "length": 300, "_id": f"h{i}"}
              for i, answer in enumerate(["Paris", "river Thames"])]
    for name, lines in (("trec", trec), ("hotpotqa", hotpot)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def exercise(longeval: list[str], tmp: Path, env: dict[str, str] | None = None) -> None:
    """score -> report (md, csv, html, plots) -> check (pass and regression), through the given command."""
    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*longeval, *args], cwd=tmp, capture_output=True, text=True, timeout=600, env=env)

    write_preds(tmp / "base", trec_right=4)
    write_preds(tmp / "new", trec_right=2)
    scored = call("score", "base", "new")
    assert scored.returncode == 0, scored.stderr
    # trec: accuracy over 4 records (all right / half right); hotpotqa: exact answers, F1 100.
    assert json.loads((tmp / "base" / "result.json").read_text()) == {"trec": 100.0, "hotpotqa": 100.0}
    assert json.loads((tmp / "new" / "result.json").read_text()) == {"trec": 50.0, "hotpotqa": 100.0}
    reported = call("report", "base", "new", "--out", "board", "--plot")
    assert reported.returncode == 0, reported.stderr
    assert {"leaderboard.md", "leaderboard.csv", "leaderboard.html"} <= {p.name for p in (tmp / "board").iterdir()}
    assert list((tmp / "board").glob("*.png"))
    assert call("check", "base", "--baseline", "base").returncode == 0
    regression = call("check", "new", "--baseline", "base", "--max-drop", "1")
    assert regression.returncode == 1, regression.stdout + regression.stderr


def test_score_report_check_import_no_engine_library(tmp_path):
    exercise([sys.executable, "-c", BLOCK_HEAVY], tmp_path)


def test_run_without_the_engine_libraries_is_one_line_naming_the_extra(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    make_data(tmp_path, "trec", n=1)
    out = subprocess.run([sys.executable, "-c", BLOCK_HEAVY, "prompts", "--tasks", "trec", "--data", str(tmp_path),
                          "--tokenizer", str(model), "--max-length", "100", "--out", str(tmp_path / "p.jsonl")],
                         capture_output=True, text=True, cwd=tmp_path)
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
    exercise([str(venv / "bin" / "longeval")], work, env)
