"""LongBench data loading: folder and zip layouts, schema errors, checksums, the hub offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import assert_one_line_error

from longeval.benchmarks.longbench.data import open_source
from longeval.cli import main
from longeval.errors import UserError
from longeval.tasks import get_task


def record(i: int, **overrides) -> dict:
    base = {"input": f"question {i}", "context": f"context {i} " * 5, "answers": [f"answer {i}"], "length": 10 + i,
            "dataset": "hotpotqa", "language": "en", "all_classes": None, "_id": f"id{i:03d}"}
    base.update(overrides)
    return base


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("layout", ["data/{}.jsonl", "{}.jsonl"])
def test_folder_layouts(tmp_path, layout):
    write_jsonl(tmp_path / layout.format("hotpotqa"), [record(i) for i in range(3)])
    source = open_source(tmp_path)
    records = source.load(get_task("hotpotqa"))
    assert [r["_id"] for r in records] == ["id000", "id001", "id002"]
    assert source.load(get_task("hotpotqa"), limit=2)[-1]["_id"] == "id001"


def test_zip_and_folder_give_same_records_and_checksum(tmp_path):
    folder = tmp_path / "LongBench"
    write_jsonl(folder / "data" / "hotpotqa.jsonl", [record(i) for i in range(3)])
    write_jsonl(folder / "data" / "hotpotqa_e.jsonl", [record(i, length=5000 * i) for i in range(3)])
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # the official data.zip holds data/<task>.jsonl
        for path in (folder / "data").iterdir():
            zf.write(path, f"data/{path.name}")
    from_dir, from_zip = open_source(folder), open_source(archive)
    for name in ("hotpotqa", "hotpotqa_e"):
        assert from_dir.load(get_task(name)) == from_zip.load(get_task(name))
    assert from_dir.checksum() == from_zip.checksum()
    assert from_zip.kind == "zip" and from_dir.kind == "dir"


def test_checksum_changes_with_content(tmp_path):
    write_jsonl(tmp_path / "hotpotqa.jsonl", [record(0)])
    first = open_source(tmp_path)
    first.load(get_task("hotpotqa"))
    write_jsonl(tmp_path / "hotpotqa.jsonl", [record(0, answers=["other"])])
    second = open_source(tmp_path)
    second.load(get_task("hotpotqa"))
    assert first.checksum() != second.checksum()


def test_missing_task_file_names_folder(tmp_path):
    write_jsonl(tmp_path / "data" / "hotpotqa.jsonl", [record(0)])
    with pytest.raises(UserError, match="no trec.jsonl"):
        open_source(tmp_path).load(get_task("trec"))


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"context": None}, "context", "must be a string"),
    ({"answers": "Paris"}, "answers", "list of strings"),
    ({"answers": [1]}, "answers", "only strings"),
    ({"length": "12"}, "length", "integer"),
    ({"all_classes": "Food"}, "all_classes", "list of strings or null"),
])
def test_schema_errors_are_located(tmp_path, change, field, message):
    write_jsonl(tmp_path / "hotpotqa.jsonl", [record(0), record(1, **change)])
    with pytest.raises(UserError, match=message) as info:
        open_source(tmp_path).load(get_task("hotpotqa"))
    assert info.value.line == 2 and info.value.field == field and info.value.path.endswith("hotpotqa.jsonl")


def test_missing_context_via_cli_is_one_line_exit_2(tmp_path, capsys, tiny_model):
    broken = record(1)
    del broken["context"]
    write_jsonl(tmp_path / "data" / "hotpotqa.jsonl", [record(0), broken])
    code = main(["prompts", "--tasks", "hotpotqa", "--data", str(tmp_path), "--tokenizer", str(tiny_model),
                 "--max-length", "100", "--out", str(tmp_path / "p.jsonl")])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "hotpotqa.jsonl:2", "field 'context'", "missing")


def test_malformed_json_and_duplicate_ids(tmp_path):
    path = tmp_path / "hotpotqa.jsonl"
    path.write_text(json.dumps(record(0)) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(UserError, match="malformed JSON") as info:
        open_source(tmp_path).load(get_task("hotpotqa"))
    assert info.value.line == 2
    write_jsonl(path, [record(0), record(0)])
    with pytest.raises(UserError, match="duplicate _id"):
        open_source(tmp_path).load(get_task("hotpotqa"))


def test_bad_data_argument(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        open_source(tmp_path / "nowhere")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(UserError, match="not a zip"):
        open_source(text_file)


def _open_hub_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom longeval.benchmarks.longbench.data import open_source\n"
            "from longeval.errors import UserError\n"
            "try:\n    print(open_source('hub').describe)\nexcept UserError as exc:\n    print(exc)\n    sys.exit(2)\n")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _closed_local_endpoint() -> str:
    """An endpoint nothing listens on: the hub as it is from a machine without network (refused at once)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_hub_offline_is_one_clear_line(tmp_path):
    """With HF_HUB_OFFLINE=1 and an empty cache the download fails cleanly, naming the variable and the cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    done = _open_hub_in_subprocess(env)
    assert done.returncode == 2, done.stderr
    assert_one_line_error(done.stdout, "THUDM/LongBench", "--data", "HF_HUB_OFFLINE is set",
                          str(tmp_path / "hf-home" / "hub"))
    assert "Traceback" not in done.stderr


def test_unreachable_hub_fails_at_once_without_retries(tmp_path):
    """No HF_HUB_OFFLINE, no network: one connection attempt, then one line naming HF_HUB_OFFLINE and the cache —
    not huggingface_hub's retry loop (its 'thrown while requesting' / 'Retrying in' warnings, about 24 s)."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_ENDPOINT": _closed_local_endpoint()}
    env.pop("HF_HUB_OFFLINE", None)
    done = _open_hub_in_subprocess(env)
    assert done.returncode == 2, done.stderr
    message = done.stdout.strip()
    assert "\n" not in message and "cannot be reached" in message and "HF_HUB_OFFLINE" in message
    assert str(tmp_path / "hf-home" / "hub") in message
    assert "Retrying" not in done.stderr and "thrown while requesting" not in done.stderr, done.stderr


def test_hub_data_in_the_cache_is_used_without_the_network(tmp_path):
    """The hub is unreachable here, so its cache is populated by hand in huggingface_hub's layout (a fake of the
    download only); the cached data.zip must be found without any request."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf-home" / "hub" / "datasets--THUDM--LongBench"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    with zipfile.ZipFile(repo / "snapshots" / commit / "data.zip", "w") as archive:
        archive.writestr("data/hotpotqa.jsonl", json.dumps(record(0)) + "\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_ENDPOINT": _closed_local_endpoint()}
    env.pop("HF_HUB_OFFLINE", None)
    done = _open_hub_in_subprocess(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"hf://datasets/THUDM/LongBench@{commit}/data.zip"
    assert "thrown while requesting" not in done.stderr, done.stderr


def test_an_empty_data_file_is_named_as_empty(tmp_path):
    """Not the misleading 'no LongBench prediction files' the scorer used to say after running nothing."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "hotpotqa.jsonl").write_text("\n")
    with pytest.raises(UserError, match="no records") as info:
        open_source(tmp_path).load(get_task("hotpotqa"))
    assert info.value.path == str(tmp_path / "data" / "hotpotqa.jsonl")


def test_unicode_line_separators_inside_strings_do_not_split_records(tmp_path):
    """json.dumps(ensure_ascii=False) leaves U+2028 raw; str.splitlines() would cut such a record in two."""
    from longeval.benchmarks.longbench.data import parse_records

    record = {"input": "q", "context": "a\u2028b\u0085c", "answers": ["x"], "length": 3, "dataset": "trec",
              "language": "en", "all_classes": None, "_id": "r1"}
    raw = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    assert parse_records(raw, "trec.jsonl") == [record]
