"""What several test files share: the oracles carried in tests/fixtures (see PROVENANCE.md there) and the one
assertion for the one-line user-error contract."""

from __future__ import annotations

import atexit
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LONGBENCH = FIXTURES / "longbench"  # official config JSON, golden_public.json, samples/
GOLDEN_PUBLIC = LONGBENCH / "golden_public.json"
SAMPLES = LONGBENCH / "samples"
GOLDEN_ROPE = FIXTURES / "methods" / "golden_rope.json"
PAPER_TABLES = FIXTURES / "methods" / "paper_tables.md"
REAL_PREDS = FIXTURES / "real-preds"
REAL_PRED_MODELS = ("llama2-7b", "llama2-7b-chat", "llama3-8b", "llama3-8b-quest-128")


_EXTRACTED: dict[str, Path] = {}  # model -> a folder holding its archive's contents, extracted once per session


def _extracted(model: str) -> Path:
    """The model's archive extracted once per test session (xz decompression took most of each unpack; a dozen
    fixtures unpack the same four archives), into a private folder removed at exit."""
    if model not in _EXTRACTED:
        folder = Path(tempfile.mkdtemp(prefix=f"longeval-real-preds-{model}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        with tarfile.open(REAL_PREDS / f"{model}.tar.xz") as archive:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                archive.extractall(folder, filter="data")
            else:
                archive.extractall(folder)
        _EXTRACTED[model] = folder
    return _EXTRACTED[model]


def unpack_real_preds(dest: Path, models: tuple[str, ...] = REAL_PRED_MODELS) -> Path:
    """Unpack real prediction sets into dest/<model>/ (writable copies: tests may change or delete files). Each
    call gets its own copy (times kept, as extraction keeps the archive's) of the once-extracted archive."""
    dest.mkdir(parents=True, exist_ok=True)
    for model in models:
        shutil.copytree(_extracted(model), dest, dirs_exist_ok=True)
    return dest


def assert_one_line_error(err: str, *needles: str) -> None:
    """The user-error contract: exactly one line on stderr, no traceback, and it says each of `needles`
    (typically the file, line or field it is about)."""
    text = err.strip()
    assert text, "nothing was printed on stderr"
    assert "\n" not in text and "Traceback" not in text, err
    for needle in needles:
        assert needle in text, f"{needle!r} not in: {text}"


def assert_exit_2_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run `longeval argv`; it must exit 2 with one stderr line holding each of `needles`. Returns that line."""
    from longeval.cli import main

    capsys.readouterr()  # drop what earlier commands printed
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, *needles)
    return err.strip()


def vllm_cache_root(tmp_path_factory: pytest.TempPathFactory):
    """A writable VLLM_CACHE_ROOT for one test module (vLLM caches model-class info there); the previous value is
    restored after. Modules use it as `vllm_cache = pytest.fixture(scope="module", autouse=True)(vllm_cache_root)`."""
    import os

    previous = os.environ.get("VLLM_CACHE_ROOT")
    os.environ["VLLM_CACHE_ROOT"] = str(tmp_path_factory.mktemp("vllm-cache"))
    yield
    if previous is None:
        os.environ.pop("VLLM_CACHE_ROOT", None)
    else:
        os.environ["VLLM_CACHE_ROOT"] = previous


def write_data(folder: Path, n: int = 3) -> Path:
    """n short hotpotqa records (ids h-0, h-1, ...) in the LongBench layout under folder/data."""
    import json

    lines = [{"input": f"Where is river{i}?", "context": " ".join(f"passage{j} river{i}" for j in range(60 + 9 * i)),
              "answers": [f"river{i}"], "length": 100, "dataset": "hotpotqa", "language": "en", "all_classes": None,
              "_id": f"h-{i}"} for i in range(n)]
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "hotpotqa.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder
