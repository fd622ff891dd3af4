"""--model org/name[@revision] through huggingface_hub's cache, offline.

The hub cannot be reached here, so each test builds a Hugging Face cache by hand in the layout huggingface_hub
itself writes (models--org--name/{blobs,snapshots/<commit>,refs/<branch>}; files are links to blobs) and points
HF_HOME at it with HF_HUB_OFFLINE=1. Everything after that is the real huggingface_hub and the real commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_runner import make_data

COMMIT = "3f1c0ffee0000000000000000000000000000abc"
OTHER_COMMIT = "9e2d00000000000000000000000000000000beef"


def fake_hub_cache(home: Path, repo_id: str, model: Path, commit: str, branch: str = "main") -> Path:
    """Put `model`'s files in HF_HOME=home as a cached snapshot of repo_id at `commit`, branch pointing to it."""
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for source in model.iterdir():
        if source.is_file():
            blob = repo / "blobs" / hashlib.sha256(source.read_bytes()).hexdigest()
            if not blob.exists():
                shutil.copyfile(source, blob)
            (snapshot / source.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


def longeval(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    return subprocess.run([sys.executable, "-m", "longeval", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture
def hub(tmp_path, tiny_model) -> Path:
    home = tmp_path / "hf"
    fake_hub_cache(home, "org/tiny", tiny_model, COMMIT)
    return home


def test_resolve_model_reads_branch_and_commit_from_the_cache(hub, tmp_path, monkeypatch):
    from longeval.hub import resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    # huggingface_hub reads HF_HOME when imported, so the resolution runs in a fresh interpreter.
    probe = ("import json; from longeval.hub import resolve_model as r; m = r('org/tiny'); c = r('org/tiny@"
             f"{COMMIT}'); print(json.dumps([str(m.path), m.name, m.commit, c.commit, c.revision]))")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "HF_HOME": str(hub)},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    path, name, commit, pinned, revision = json.loads(out.stdout)
    assert Path(path) == hub / "hub" / "models--org--tiny" / "snapshots" / COMMIT
    assert (name, commit, pinned, revision) == ("tiny", COMMIT, COMMIT, COMMIT)
    # A local folder is taken as it is, even when its name looks like a hub id.
    (tmp_path / "org" / "tiny").mkdir(parents=True)
    local = resolve_model("org/tiny")
    assert local.repo_id is None and local.path == Path("org/tiny")


def test_offline_and_not_cached_is_one_line_exit_2(hub, tmp_path):
    data = make_data(tmp_path / "lb", n=1)
    for model, needle in (("org/absent", "org/absent is not in the Hugging Face cache"),
                          (f"org/tiny@{OTHER_COMMIT}", f"org/tiny@{OTHER_COMMIT} is not in the Hugging Face cache"),
                          ("org/tiny@v2", "hf download org/tiny --revision v2")):
        out = longeval(hub, "run", "--model", model, "--tasks", "hotpotqa", "--data", str(data), "--out", "runs",
                       "--backend", "hf", cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count("\n") == 1 and needle in out.stderr and "HF_HUB_OFFLINE" in out.stderr
        assert not (tmp_path / "runs").exists()


def test_run_on_a_hub_model_records_the_resolved_commit(hub, tmp_path, tiny_model):
    """The echo backend (no weights loaded): what is under test is the model's resolution and its record."""
    data = make_data(tmp_path / "lb", n=2)
    args = ["--tasks", "hotpotqa", "--data", str(data), "--out", "runs", "--backend", "echo", "--max-length", "120",
            "--method", "none", "--no-progress"]
    out = longeval(hub, "run", "--model", "org/tiny", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (folder,) = (tmp_path / "runs").glob("tiny-*_none_120")  # named by the repository, not the snapshot folder
    info = json.loads((folder / "run.json").read_text())
    assert info["status"] == "complete"
    model = info["model"]
    assert (model["repo_id"], model["revision"], model["commit"], model["name"]) == ("org/tiny", "main", COMMIT, "tiny")
    assert Path(model["path"]) == hub / "hub" / "models--org--tiny" / "snapshots" / COMMIT
    # The same config as the local folder: the same checkpoint, whichever way it was named.
    assert info["model"]["config_sha256"] == hashlib.sha256((tiny_model / "config.json").read_bytes()).hexdigest()
    # The branch moves to another commit (same files): resuming into that folder is refused, not mixed.
    fake_hub_cache(hub, "org/tiny", tiny_model, OTHER_COMMIT)
    moved = longeval(hub, "run", "--model", "org/tiny", *args, cwd=tmp_path)
    assert moved.returncode == 2 and "model_commit" in moved.stderr, moved.stderr


def test_serve_dry_run_serves_the_cached_snapshot(hub, tmp_path):
    pytest.importorskip("vllm")
    out = longeval(hub, "serve", f"org/tiny@{COMMIT}", "--method", "none", "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert str(hub / "hub" / "models--org--tiny" / "snapshots" / COMMIT) in out.stdout
    assert "'tiny [longeval method=none" in out.stdout
