"""LongBench v2 records: the official data.json (a JSON array), JSON lines, a folder, the hub cache; located errors;
records streamed so that contexts are read again, not held."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longeval.benchmarks.longbench_v2 import source as v2source
from longeval.benchmarks.longbench_v2.source import (
    HUB_FILE,
    HUB_REPO,
    HUB_REVISION,
    iter_items,
    light_record,
    open_v2_source,
    read_item,
)
from longeval.benchmarks.longbench_v2.stream import iter_json_values
from longeval.errors import UserError


def item(i: int, **changes) -> dict:
    base = {"_id": f"r{i}", "domain": "Long-dialogue History Understanding", "sub_domain": "Agent history QA",
            "difficulty": ("easy", "hard")[i % 2], "length": ("short", "medium", "long")[i % 3],
            "question": f"Question {i}?", "choice_A": "a", "choice_B": "b", "choice_C": "c", "choice_D": "d",
            "answer": "ABCD"[i % 4], "context": f"context {i} ünï 漢字 " * (50 * i + 1)}
    return base | changes


def write_array(path: Path, items: list, indent: int | None = None) -> Path:
    path.write_text(json.dumps(items, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [None, 2])
def test_array_file_and_folder_give_the_records_in_order_with_their_context_read_back(tmp_path, indent):
    items = [item(i) for i in range(6)]
    write_array(tmp_path / "data.json", items, indent)
    for spec in (tmp_path / "data.json", tmp_path):
        source = open_v2_source(spec)
        light = [light_record(it) for _, it in iter_items(source)]
        assert [r["_id"] for r in light] == [it["_id"] for it in items]
        assert all("context" not in r for r in light)
        assert [{k: v for k, v in read_item(r).items()} for r in light] == items
        assert source.sha256 is not None and len(source.sha256) == 64


def test_json_lines_file_is_read_too(tmp_path):
    items = [item(i) for i in range(3)]
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    assert [read_item(light_record(it)) for _, it in iter_items(open_v2_source(path))] == items


def test_a_context_larger_than_the_read_chunk_is_parsed_whole(tmp_path, monkeypatch):
    from longeval.benchmarks.longbench_v2 import stream

    monkeypatch.setattr(stream, "CHUNK", 64)  # many partial reads per record
    items = [item(i, context="é漢" * 5000 + str(i)) for i in range(3)] + [item(9, context="tail")]
    write_array(tmp_path / "data.json", items)
    got = [read_item(light_record(it)) for _, it in iter_items(open_v2_source(tmp_path / "data.json"))]
    assert got == items


def test_the_sha256_is_that_of_the_file_bytes(tmp_path):
    import hashlib

    path = write_array(tmp_path / "data.json", [item(i) for i in range(4)], indent=1)
    source = open_v2_source(path)
    list(iter_items(source))
    assert source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("change", "field"), [
    ({"answer": "E"}, "answer"), ({"answer": "a"}, "answer"), ({"difficulty": "medium"}, "difficulty"),
    ({"length": 120000}, "length"), ({"choice_C": None}, "choice_C"), ({"context": ["x"]}, "context"),
    ({"_id": 3}, "_id"), ({"question": 1}, "question")])
def test_a_bad_field_names_file_line_and_field(tmp_path, change, field):
    items = [item(0), item(1, **change)]
    path = write_array(tmp_path / "data.json", items, indent=2)
    with pytest.raises(UserError) as err:
        list(iter_items(open_v2_source(path)))
    text = str(err.value)
    starts = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text == "  {"]
    line = starts[1]  # the second record's first line
    assert f"{path}:{line} field '{field}'" in text and "record 2" in text


def test_missing_field_duplicate_id_and_not_an_object(tmp_path):
    missing = {k: v for k, v in item(1).items() if k != "choice_B"}
    with pytest.raises(UserError, match="record 2: missing field") as err:
        list(iter_items(open_v2_source(write_array(tmp_path / "a.json", [item(0), missing]))))
    assert "'choice_B'" in str(err.value)
    with pytest.raises(UserError, match="duplicate _id"):
        list(iter_items(open_v2_source(write_array(tmp_path / "b.json", [item(0), item(0)]))))
    with pytest.raises(UserError, match="expected a JSON object"):
        list(iter_items(open_v2_source(write_array(tmp_path / "c.json", [item(0), [1, 2]]))))


def test_retrieved_context_is_optional_but_checked_and_required_for_rag(tmp_path):
    path = write_array(tmp_path / "data.json", [item(0)])
    with pytest.raises(UserError, match="retrieved_context"):
        list(iter_items(open_v2_source(path), need_retrieved=True))
    bad = write_array(tmp_path / "bad.json", [item(0, retrieved_context=[{"c_idx": "1", "content": "x"}])])
    with pytest.raises(UserError, match="chunk 0 must be an object with an integer c_idx"):
        list(iter_items(open_v2_source(bad)))
    good = write_array(tmp_path / "good.json", [item(0, retrieved_context=[{"c_idx": 1, "content": "x"}])])
    assert len(list(iter_items(open_v2_source(good), need_retrieved=True))) == 1


@pytest.mark.parametrize(("text", "message", "line"), [
    ('[{"_id": "a"}, \n{"_id": ', "malformed JSON", 2),
    ('[\n{"a": 1}\n{"b": 2}]', "expected ',' or ']'", 3),
    ('[{"a": 1},\n]', "a comma before ']'", 2),
    ('[{"a": 1}] x', "text after the closing", 1),
    ('[{"a": 1}', "not closed", 1),
])
def test_malformed_json_is_located(tmp_path, text, message, line):
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message) as err:
        list(iter_json_values(path))
    assert f"{path}:{line}" in str(err.value)


def test_not_utf8_and_missing_paths(tmp_path):
    path = tmp_path / "data.json"
    path.write_bytes(b'[{"a": "\xff"}]')
    with pytest.raises(UserError, match="not UTF-8"):
        list(iter_json_values(path))
    with pytest.raises(UserError, match="no such file or folder"):
        open_v2_source(tmp_path / "nope.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no data.json in this folder"):
        open_v2_source(tmp_path / "empty")


def _populate_hub_cache(cache: Path, revision: str, items: list) -> None:
    """The layout huggingface_hub's cache keeps for a downloaded dataset file (blob + snapshot link + ref)."""
    repo = cache / f"datasets--{HUB_REPO.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    blob = repo / "blobs" / "0123abcd"
    blob.write_text(json.dumps(items), encoding="utf-8")
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / HUB_FILE).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


def test_hub_reads_the_pinned_revision_from_the_local_cache(tmp_path, monkeypatch):
    """The hub is unreachable here, so the hub is faked: a Hugging Face cache populated by hand, read by the real
    huggingface_hub with HF_HUB_OFFLINE set (no network call is made)."""
    from huggingface_hub import constants

    items = [item(i) for i in range(3)]
    _populate_hub_cache(tmp_path / "hub", HUB_REVISION, items)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = open_v2_source("hub")
    assert source.revision == HUB_REVISION and HUB_REVISION in source.describe
    assert [read_item(light_record(it)) for _, it in iter_items(source)] == items
    assert source.identity()["hub_revision"] == HUB_REVISION
    other = "f" * 40
    with pytest.raises(UserError, match=f"HF_HUB_OFFLINE is set and data.json of dataset {HUB_REPO}@ffffffffffff "
                                        "is not in the Hugging Face cache"):
        open_v2_source(f"hub@{other}")


def test_hub_unreachable_and_not_cached_is_one_line(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(v2source, "hub_data_file", v2source.hub_data_file)  # the real function
    monkeypatch.setattr("longeval.data.hub_unreachable", lambda endpoint: "no route (test)")
    with pytest.raises(UserError) as err:
        open_v2_source("hub")
    assert "\n" not in str(err.value) and "cannot be reached" in str(err.value) and "--data" in str(err.value)
