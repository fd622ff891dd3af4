"""Served models: `longeval serve` (a real `vllm serve` on 127.0.0.1) and `longeval run --backend openai`.

The engine tests start the real server with the tiny Llama on vLLM's CPU build and compare the served run's
predictions with an offline vLLM run of the same command, for `none` and `eabf` (EABF reaches the server through
longeval's vLLM plugin). The fault test kills the server in the middle of a run, restarts it, and checks the
resumed run lost and duplicated nothing. Only the retry test uses a stand-in server (a few lines of http.server):
a real vLLM cannot be made to answer 429/503 on demand.
"""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import vllm_cache_root
from test_runner import make_data, preds_by_id

from longeval.backends import served as served_backend
from longeval.backends.served import Client
from longeval.cli import main
from longeval.errors import UserError

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")

SERVER_START_TIMEOUT_S = 600  # a cold vLLM start on a loaded 2-core machine takes 20-90 s
TASKS = "hotpotqa,samsum"  # samsum: the newline stop id and the at-least-one-token rule
LENGTHS = {"none": "60", "eabf": "600"}  # none covers the tiny model's 256 positions; eabf is served 1024
SERVED_POSITIONS = {"none": None, "eabf": "1024"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal the server's whole process group (API server and engine core) and wait for it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def served(model: Path, method: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`longeval serve` on a free loopback port; yields its base URL once /health answers; always stopped."""
    port = free_port()
    command = [sys.executable, "-m", "longeval", "serve", str(model), "--method", method,
               "--host", "127.0.0.1", "--port", str(port)]
    if SERVED_POSITIONS[method]:
        command[5:5] = ["--max-model-len", SERVED_POSITIONS[method]]
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"longeval serve exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no /health after {SERVER_START_TIMEOUT_S} s"
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                if answer.status == 200:
                    break
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", process
    finally:
        stop(process)


def run_args(model: Path, data: Path, out: Path, method: str, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--method", method, "--tasks", TASKS, "--data", str(data),
            "--out", str(out), "--max-length", LENGTHS[method], "--run-name", "r", "--no-progress", *extra]


def all_preds(folder: Path) -> dict[str, dict]:
    return {**preds_by_id(folder / "r" / "pred" / "hotpotqa.jsonl"),
            **preds_by_id(folder / "r" / "pred" / "samsum.jsonl")}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lb")
    make_data(folder, "hotpotqa", n=8, words=60)
    make_data(folder, "samsum", n=4, words=60)
    return folder


vllm_cache = pytest.fixture(scope="module", autouse=True)(vllm_cache_root)


@pytest.fixture(scope="module")
def offline(tmp_path_factory, tiny_model, data) -> dict[str, dict[str, dict]]:
    """Predictions of the offline vLLM engine, the reference every served run must equal."""
    preds = {}
    for method in LENGTHS:
        out = tmp_path_factory.mktemp(f"offline-{method}")
        assert main(run_args(tiny_model, data, out, method, "--backend", "vllm")) == 0
        preds[method] = all_preds(out)
    return preds


# ------------------------------------------------------------------------------------------ no engine needed

def test_serve_refuses_options_it_sets_and_a_bare_dynamic_ntk(tiny_model, capsys):
    for argv, needle in [
        (["serve", str(tiny_model), "--served-model-name", "x"], "--served-model-name is set by longeval serve"),
        (["serve", str(tiny_model), "--method", "dynamic-ntk"], "dynamic-ntk:length=N"),
        (["run", "--model", str(tiny_model), "--tasks", "trec", "--port", "1"], "unrecognized arguments: --port"),
    ]:
        with pytest.raises(SystemExit) if argv[0] == "run" else contextlib.nullcontext():
            assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert needle in lines[-1]


def test_base_url_belongs_to_the_openai_backend(tiny_model, tmp_path, capsys):
    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(tmp_path),
            "--backend", "hf", "--base-url", "http://127.0.0.1:1/v1"]
    assert main(argv) == 2
    assert "--backend openai" in capsys.readouterr().err


def test_unreachable_server_ends_the_run_with_one_line(tiny_model, tmp_path, capsys):
    data = make_data(tmp_path / "lb", n=1)
    argv = ["run", "--model", str(tiny_model), "--tasks", "hotpotqa", "--data", str(data), "--out", str(tmp_path),
            "--backend", "openai", "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--retries", "1",
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kept failing" in err[0] and "2 tries" in err[0]


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the statuses queued in `server.script`, then 200 {"ok": n}; counts requests."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1  # type: ignore[attr-defined]
        script = self.server.script  # type: ignore[attr-defined]
        status = script.pop(0) if script else 200
        body = json.dumps({"ok": self.server.requests} if status == 200  # type: ignore[attr-defined]
                          else {"error": {"message": f"status {status}"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHandler)
    server.requests, server.script = 0, []  # type: ignore[attr-defined]
    # shutdown() waits for the serving loop's next poll: 0.05 s, not the default 0.5 s
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_client_retries_429_and_5xx_but_not_a_bad_request(flaky_server, monkeypatch):
    """The backoff waits are recorded, not slept (they were 4 s of this test): served.py's `time` is replaced by a
    stand-in whose sleep notes the delay."""
    waits: list[float] = []
    monkeypatch.setattr(served_backend, "time", types.SimpleNamespace(sleep=waits.append))
    url = f"http://127.0.0.1:{flaky_server.server_address[1]}"
    flaky_server.script = [503, 429, 502]
    assert Client(url, None, retries=3).request("/x", {}) == {"ok": 4}
    assert waits == [0.5, 1.0, 2.0]  # exponential backoff before each retry
    flaky_server.requests, flaky_server.script = 0, [503, 503]
    with pytest.raises(UserError, match="kept failing.*HTTP 503.*2 tries"):
        Client(url, None, retries=1).request("/x", {})
    assert flaky_server.requests == 2 and waits[3:] == [0.5]  # no wait after the last try
    flaky_server.requests, flaky_server.script = 0, [400]
    with pytest.raises(UserError, match="refused.*HTTP 400: status 400"):
        Client(url, None, retries=5).request("/x", {})
    assert flaky_server.requests == 1 and len(waits) == 4


# ------------------------------------------------------------------------------------------ real vllm serve

@pytest.mark.slow
@pytest.mark.vllm
@needs_vllm
@pytest.mark.parametrize("method", ["none", "eabf"])
def test_served_run_equals_offline_vllm_and_survives_a_server_kill(method, tiny_model, data, offline, tmp_path):
    """none: a plain served run. eabf: the server is SIGKILLed mid-run, restarted, and the run resumed."""
    out = tmp_path / "served"
    log = tmp_path / "server.log"
    if method == "none":
        with served(tiny_model, method, log) as (url, _):
            assert main(run_args(tiny_model, data, out, method, "--backend", "openai", "--base-url", url)) == 0
    else:
        with served(tiny_model, method, log) as (url, server):
            # One record per request and per durable write, so the kill lands between records.
            command = [sys.executable, "-m", "longeval",
                       *run_args(tiny_model, data, out, method, "--backend", "openai", "--base-url", url,
                                 "--batch-size", "1", "--concurrency", "1", "--retries", "1")]
            client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = out / "r" / "pred" / "hotpotqa.jsonl"
            deadline = time.monotonic() + 300
            while client.poll() is None and time.monotonic() < deadline:
                if first.is_file() and first.read_text(encoding="utf-8").strip():
                    break
                time.sleep(0.05)
            assert client.poll() is None, "the run finished before the server could be killed"
            stop(server, signal.SIGKILL)
            _, err = client.communicate(timeout=120)
        assert client.returncode == 2
        assert len(err.strip().splitlines()) == 1 and "kept failing" in err
        partial = all_preds(out) if (out / "r" / "pred" / "samsum.jsonl").is_file() else preds_by_id(first)
        assert 1 <= len(partial) < 12
        assert json.loads((out / "r" / "run.json").read_text())["status"] == "partial"
        with served(tiny_model, method, log) as (url, _):  # a new port: the address is not part of the run
            assert main(run_args(tiny_model, data, out, method, "--backend", "openai", "--base-url", url)) == 0
        assert {key: partial[key] for key in partial} == {key: all_preds(out)[key] for key in partial}
    served_preds = all_preds(out)  # preds_by_id asserts that no _id was written twice
    assert served_preds == offline[method]
    info = json.loads((out / "r" / "run.json").read_text())
    assert info["status"] == "complete" and info["backend"]["name"] == "openai"
    assert f"method={method}" in info["versions"]["served_model"] and info["backend"]["dtype_used"] == "float32"

