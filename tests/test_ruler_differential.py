"""Differential test against RULER's own generators (niah.py, variable_tracking.py, common_words_extraction.py,
freq_words_extraction.py from ../shared/reference/ruler, run unchanged in a subprocess with the same tokenizer and
seed): longeval's records equal RULER's samples byte for byte (input, answer prefix, references, token length).

RULER's scripts import a few things this machine lacks; the test supplies stand-ins, none on a compared path:
`manifest_utils.write_manifest` (a JSON-lines writer, from NeMo), `tenacity` (retry decorators of the Gemini
tokenizer class, unused), an empty `json/english_words.json` (cwe reads it at import; it is drawn from only past
~8,000 words), and NLTK's `sent_tokenize`, which is longeval's `split_sentences` (punkt is a download): the essay
case therefore shows that the sentence splitter is the one difference on that haystack (see the package docs).
Needs ../shared; skips with the reason when it is absent. The tokenizer is the echo model's (transformers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longeval.benchmarks.ruler.definitions import builtin_tasks
from longeval.benchmarks.ruler.fill import Frame
from longeval.benchmarks.ruler.generate import generate_samples, token_counter
from longeval.benchmarks.ruler.inputs import RulerInputs
from tests.ruler_support import essays_folder, ruler_reference

# Not marked `fidelity`: it needs ../shared, and no fidelity test may (the golden fixtures carry the rest).
pytestmark = pytest.mark.engine

SCRIPTS = {"niah": "niah", "variable_tracking": "variable_tracking",
           "common_words_extraction": "common_words_extraction", "freq_words_extraction": "freq_words_extraction"}
# Each generator and haystack once; cwe also past 4096, where RULER switches its repeats and one-shot example
# (6144: the echo model's small vocabulary needs more than 4096 tokens for the 300-entry list and its example).
CASES = [("niah_single_1", 2048), ("niah_multikey_3", 2048), ("vt", 2048), ("cwe", 2048), ("fwe", 2048),
         ("cwe", 6144), ("niah_multikey_1", 4096)]
SAMPLES = 2


@pytest.fixture(scope="module")
def ruler_tree(tmp_path_factory):
    """RULER's scripts laid out as in its repository (scripts/data/synthetic/...), with the stand-ins above."""
    reference = ruler_reference()
    if reference is None:
        pytest.skip("RULER's scripts (../shared/reference/ruler) are not here: the differential test runs them")
    root = tmp_path_factory.mktemp("ruler")
    synthetic = root / "scripts" / "data" / "synthetic"
    (synthetic / "json").mkdir(parents=True)
    for name in [*SCRIPTS.values(), "constants"]:
        shutil.copy(reference / f"data__synthetic__{name}.py", synthetic / f"{name}.py")
    shutil.copy(reference / "data__tokenizer.py", root / "scripts" / "data" / "tokenizer.py")
    (root / "scripts" / "data" / "manifest_utils.py").write_text(
        "import json\n\ndef write_manifest(path, lines):\n    with open(path, 'w') as f:\n"
        "        for line in lines:\n            f.write(json.dumps(line) + '\\n')\n")
    shims = root / "shims"
    (shims / "nltk").mkdir(parents=True)
    (shims / "nltk" / "__init__.py").write_text("")
    (shims / "nltk" / "tokenize.py").write_text(
        "from longeval.benchmarks.ruler.haystacks import split_sentences as sent_tokenize  # noqa: F401\n")
    (shims / "tenacity.py").write_text("def retry(*a, **k):\n    return lambda f: f\n\n"
                                       "stop_after_attempt = wait_fixed = wait_random = lambda *a: 0\n")
    (synthetic / "json" / "english_words.json").write_text("{}")
    essays = essays_folder()
    if essays is not None:  # RULER's download script: the essay files concatenated in name order
        text = "".join(p.read_text(encoding="utf-8") for p in sorted(essays.glob("*.txt")))
        (synthetic / "json" / "PaulGrahamEssays.json").write_text(json.dumps({"text": text}))
    return root


def ruler_samples(root: Path, reference: Path, tokenizer_dir: Path, name: str, max_length: int) -> list[dict]:
    import yaml

    spec = importlib.util.spec_from_file_location("ruler_constants", reference / "data__synthetic__constants.py")
    constants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constants)
    config = yaml.safe_load((reference / "synthetic.yaml").read_text())[name]
    base = constants.TASKS[config["task"]]
    out = root / "out" / str(max_length)
    command = [sys.executable, f"{SCRIPTS[config['task']]}.py", "--save_dir", str(out), "--save_name", name,
               "--tokenizer_path", str(tokenizer_dir), "--tokenizer_type", "hf", "--max_seq_length",
               str(max_length), "--tokens_to_generate", str(base["tokens_to_generate"]), "--num_samples",
               str(SAMPLES), "--random_seed", "42", "--template", base["template"] + base["answer_prefix"]]
    for key, value in config["args"].items():
        command += [f"--{key}", str(value)]
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=f"{root / 'shims'}{os.pathsep}{repo}")
    done = subprocess.run(command, cwd=root / "scripts" / "data" / "synthetic", env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in (out / name / "validation.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("name", "max_length"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_records_equal_rulers_samples(ruler_tree, echo_model, name, max_length):
    from transformers import AutoTokenizer

    task = builtin_tasks()[f"ruler_{name}"]
    inputs = RulerInputs()
    if task.needs_essays:
        if essays_folder() is None:
            pytest.skip("the essays (../shared/reference/ruler/essays) are not here")
        inputs = RulerInputs.from_options(essays_folder(), None)
    tokenizer = AutoTokenizer.from_pretrained(echo_model)
    ours = generate_samples(task, token_counter(tokenizer), max_length, 42, SAMPLES, Frame(), inputs)
    theirs = ruler_samples(ruler_tree, ruler_reference(), echo_model, name, max_length)
    assert len(ours) == len(theirs) == SAMPLES
    for mine, official in zip(ours, theirs, strict=True):
        assert mine.input == official["input"]
        assert mine.answer_prefix == official["answer_prefix"]
        assert mine.outputs == official["outputs"]
        assert mine.length == official["length"] <= max_length
