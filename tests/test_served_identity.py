"""A served run belongs to the served model it began on: resumed against a server restarted with other weights
(the same address, method, dtype and config) it is refused, and `longeval serve` names the weights it serves.

The server here is a stand-in (a few lines of http.server answering /v1/models and /v1/completions as vLLM
does): what is under test is the client's comparison of what /v1/models says, and restarting a real vLLM server
twice with two checkpoints would cost minutes of the engine lane for no more coverage. The real `vllm serve` runs
in tests/test_served.py.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import json
import shlex
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_exit_2_one_line
from test_runner import make_data

from longeval.cli import main


class StandIn(http.server.BaseHTTPRequestHandler):
    """/v1/models lists `server.model_id` as vLLM would; a completion returns the prompt's last 3 token ids."""

    def _send(self, doc: dict) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.endswith("/models"):
            self._send({"data": [{"id": self.server.model_id, "owned_by": "vllm",  # type: ignore[attr-defined]
                                  "max_model_len": 4096}]})
        else:
            self._send({"version": "stand-in"})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self._send({"choices": [{"token_ids": request["prompt"][-3:], "text": ""}], "usage": {}})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def tag(model: Path, weights: str) -> str:
    config = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()[:12]
    return f"model [longeval method=none dtype=float32 config={config} weights={weights}]"


def test_a_served_run_resumed_on_a_server_with_other_weights_is_refused(tmp_path, capsys, echo_model, server):
    # The client holds the checkpoint's config and tokenizer only (the weights are on the server's machine).
    model = tmp_path / "client-model"
    shutil.copytree(echo_model, model, ignore=shutil.ignore_patterns("*.safetensors"))
    data = make_data(tmp_path / "lb", n=3)
    argv = ["run", "--model", str(model), "--method", "none", "--tasks", "hotpotqa", "--data", str(data),
            "--out", str(tmp_path / "runs"), "--run-name", "r", "--max-length", "200", "--no-progress",
            "--backend", "openai", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1"]
    server.model_id = tag(model, "a" * 12)
    assert main([*argv, "--limit", "1"]) == 0
    server.model_id = tag(model, "b" * 12)  # restarted on other weights, same address and config
    assert_exit_2_one_line(capsys, [*argv, "--limit", "2"], "served model", "a" * 12, "b" * 12, "r")
    pred = tmp_path / "runs" / "r" / "pred" / "hotpotqa.jsonl"
    assert len(pred.read_text().splitlines()) == 1  # nothing predicted on the other model
    server.model_id = tag(model, "a" * 12)  # the first model back: the run continues
    assert main([*argv, "--limit", "2"]) == 0
    assert len(pred.read_text().splitlines()) == 2


def test_a_server_on_other_weights_than_the_local_checkpoint_is_refused(tmp_path, capsys, echo_model, server):
    from longeval.runs.identity import weights_fingerprint

    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(echo_model), "--method", "none", "--tasks", "hotpotqa", "--data", str(data),
            "--out", str(tmp_path / "runs"), "--max-length", "200", "--no-progress",
            "--backend", "openai", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1"]
    server.model_id = tag(echo_model, "0" * 12)
    assert_exit_2_one_line(capsys, argv, "other weights", "0" * 12)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("run.json"))
    server.model_id = tag(echo_model, weights_fingerprint(echo_model)[:12])
    assert main(argv) == 0


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")
def test_serve_names_the_weights_it_serves(tmp_path, capsys, echo_model):
    from longeval.backends.served import parse_served_name
    from longeval.runs.identity import weights_fingerprint

    def served_name(model: Path) -> str:
        capsys.readouterr()
        assert main(["serve", str(model), "--method", "none", "--dry-run"]) == 0
        command = shlex.split(capsys.readouterr().out.strip())
        return command[command.index("--served-model-name") + 1]

    identity = parse_served_name(served_name(echo_model))
    assert identity is not None and identity.weights_sha256 == weights_fingerprint(echo_model)[:12]
    other = tmp_path / "other"
    shutil.copytree(echo_model, other)
    weights = other / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[::-1])  # same config, other weights
    assert parse_served_name(served_name(other)).weights_sha256 != identity.weights_sha256
