"""RULER records: prompts follow RULER's templates, hold their needles and fill the budget on the tokenizer;
generation is seeded, deterministic and prefix-stable; the cache serves repeats; missing inputs are refused in one
line. Runs on a real BPE tokenizer from the `tokenizers` library (tests/ruler_support.py), no transformers."""

from __future__ import annotations

import json
import re

import pytest

from longeval.benchmarks.ruler.cache import RecordCache
from longeval.benchmarks.ruler.definitions import builtin_tasks
from longeval.benchmarks.ruler.generate import task_records, token_counter
from longeval.benchmarks.ruler.haystacks import read_essays, split_sentences
from longeval.benchmarks.ruler.inputs import RulerInputs, parse_qa_option
from longeval.benchmarks.ruler.words import niah_words
from longeval.errors import UserError
from tests.helpers import FIXTURES, assert_one_line_error
from tests.ruler_support import bpe_tokenizer

TASKS = builtin_tasks()
OFFLINE = ["niah_single_1", "niah_multikey_2", "niah_multikey_3", "vt", "cwe", "fwe"]
ESSAY = ("It was a bright cold day in April. The clocks were striking thirteen! Startups grow fast; most die. "
         "Mr. Smith wrote an essay about it. Why do people write? Because they think. ") * 40


@pytest.fixture(scope="module")
def tok():
    return bpe_tokenizer()


def records(name, tok, max_length=1024, n=3, **kwargs):
    return task_records(TASKS[f"ruler_{name}"], tok, max_length, num_samples=n, **kwargs)


def head_of(template: str) -> str:
    """The template's fixed text before its first placeholder."""
    return template[:template.index("{")]


@pytest.mark.parametrize("name", OFFLINE)
def test_prompts_follow_the_template_hold_the_needles_and_fill_the_budget(name, tok):
    task = TASKS[f"ruler_{name}"]
    count = token_counter(tok)
    length = 2048 if name == "cwe" else 1024  # cwe's one-shot example alone is ~900 tokens on this small BPE
    made = records(name, tok, max_length=length)
    assert [r["_id"] for r in made] == [f"{name}-{length}-{i}" for i in range(3)]
    for record in made:
        prompt = record["input"] + record["answer_prefix"]
        head = head_of(task.template)
        if name.startswith("niah_single") or name == "niah_multikey_2" or name == "niah_multikey_3":
            head = head.replace("Some", "A")  # RULER's single-needle wording
        assert head in record["input"][:len(head) + 4000]
        assert record["answer_prefix"].startswith(task.answer_prefix[:10])
        tokens = count(prompt)
        assert record["length"] == tokens + task.tokens_to_generate <= length
        assert record["length"] > 0.8 * length, "the haystack does not fill the budget"
        body = record["input"]
        for answer in record["outputs"]:
            assert answer in body
        if name.startswith("niah"):
            for answer in record["outputs"]:
                assert re.search(rf"One of the special magic \w+ for [^\n]+ is: {re.escape(answer)}\.", body)
        if name == "vt":
            assert len(record["outputs"]) == 5 and f"VAR {record['outputs'][1]} = VAR {record['outputs'][0]}" in body
        if name == "cwe":  # below 4096 tokens each common word is listed 6 times, the others once
            listing = body.rsplit("\n", 2)[-2]
            assert all(len(re.findall(rf"\d+\. {re.escape(w)}(?= |$)", listing)) == 6 for w in record["outputs"])


def test_generation_is_deterministic_prefix_stable_and_seeded(tok):
    first = records("niah_multikey_3", tok, n=4)
    again = records("niah_multikey_3", tok, n=4)
    assert json.dumps(first) == json.dumps(again)
    assert records("niah_multikey_3", tok, n=2) == first[:2]
    other = records("niah_multikey_3", tok, n=2, seed=7)
    assert other[0]["outputs"] != first[0]["outputs"]
    assert records("vt", tok, n=2) == records("vt", tok, n=2)


def test_the_cache_serves_repeats_and_keys_on_what_changes_records(tok, tmp_path, monkeypatch):
    cache = RecordCache(tmp_path / "ruler")
    made = records("fwe", tok, n=3, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    from longeval.benchmarks.ruler import generate

    def no_generation(*_, **__):
        raise AssertionError("generated again despite the cache")

    monkeypatch.setattr(generate, "generate_samples", no_generation)
    assert records("fwe", tok, n=3, cache=cache) == made
    assert records("fwe", tok, n=2, cache=cache) == made[:2]
    assert cache.hits == 2
    monkeypatch.undo()
    for changed in ({"max_length": 900}, {"seed": 1}, {"wrapper": "llama2"}):
        records("fwe", tok, n=1, cache=cache, **changed)
    assert cache.misses == 4 and len(list((tmp_path / "ruler").glob("*.jsonl"))) == 4
    bigger = records("fwe", tok, n=4, cache=cache)  # more than cached: generated, and the file grows
    assert bigger[:3] == made and cache.misses == 5


def test_chat_frames_put_the_answer_prefix_after_the_wrapper(tok):
    for wrapper, head, tail in (("llama2", "[INST] ", " [/INST]"), ("hf", "<|user|>\n", "<|end|>\n<|assistant|>\n")):
        record = records("niah_single_1", tok, n=1, wrapper=wrapper)[0]
        assert record["input"].startswith(head + "A special magic number is hidden")
        assert record["input"].endswith(tail)
        assert record["answer_prefix"] == " The special magic number for " + record["input"].split(
            "What is the special magic number for ")[1].split(" mentioned")[0] + " mentioned in the provided text is"
        assert token_counter(tok)(record["input"] + record["answer_prefix"]) + 128 == record["length"] <= 1024


def test_missing_inputs_are_refused_in_one_line(tok):
    with pytest.raises(UserError) as info:
        records("niah_single_2", tok)
    assert_one_line_error(str(info.value), "ruler_niah_single_2", "--ruler-essays PATH")
    with pytest.raises(UserError) as info:
        records("qa_2", tok)
    assert_one_line_error(str(info.value), "ruler_qa_2", "--ruler-qa hotpotqa=FILE")
    with pytest.raises(UserError, match="unknown dataset 'trivia'"):
        parse_qa_option("trivia=x.json")
    with pytest.raises(UserError, match="expected DATASET=FILE"):
        parse_qa_option("squad")
    with pytest.raises(UserError, match="no room"):
        records("niah_single_1", tok, max_length=100)


def test_essay_haystack_from_a_file_or_folder(tok, tmp_path):
    folder = tmp_path / "essays"
    folder.mkdir()
    (folder / "b.txt").write_text(ESSAY[len(ESSAY) // 2:])
    (folder / "a.txt").write_text(ESSAY[:len(ESSAY) // 2])
    single = tmp_path / "all.txt"
    single.write_text(ESSAY)
    assert read_essays(folder).words == read_essays(single).words
    assert read_essays(folder).sha256 == read_essays(single).sha256
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no \\*.txt"):
        read_essays(tmp_path / "empty")
    text = " ".join(ESSAY.split())
    sentences = split_sentences(text)
    assert " ".join(sentences) == text
    assert "Mr. Smith wrote an essay about it." in sentences and "The clocks were striking thirteen!" in sentences
    inputs = RulerInputs.from_options(single, None)
    made = records("niah_multivalue", tok, max_length=4096, n=2, inputs=inputs)  # essays go in steps of 500 words
    for record in made:
        assert len(record["outputs"]) == 4 and all(f"is: {v}." in record["input"] for v in record["outputs"])
        # needles go between sentences: each is preceded by a sentence end
        for value in record["outputs"]:
            before = record["input"].split("One of the special magic numbers for")[0]
            assert before.rstrip()[-1] in ".!?\n"
            assert value in record["input"]
    key_inputs = RulerInputs.from_options(folder, None)
    assert key_inputs.identity(TASKS["ruler_niah_multivalue"])["sha256"] == read_essays(single).sha256


@pytest.mark.fidelity
def test_word_needles_are_rulers_sorted_pairs():
    """niah's word list indexed here equals the 6.2 million strings RULER sorts (sample from make_fixtures.py)."""
    sample = json.loads((FIXTURES / "ruler" / "niah_words_sample.json").read_text())
    words = niah_words()
    assert len(words) == sample["length"]
    assert all(words[int(i)] == w for i, w in sample["words"].items())


def test_qa_from_squad_and_hotpotqa_files(tok, tmp_path):
    squad = {"data": [{"title": "T", "paragraphs": [
        {"context": f"Paragraph {i} says the answer to question {i} is river{i}.",
         "qas": [{"question": f"What is the answer to question {i}?", "is_impossible": False,
                  "answers": [{"text": f"river{i}"}, {"text": f"River{i}"}]},
                 {"question": "Unanswerable?", "is_impossible": True, "answers": []}]} for i in range(30)]}]}
    hotpot = [{"question": f"Which town {i}?", "answer": f"town{i}",
               "context": [[f"Title {i}", [f"Town{i} is ", "here."]], [f"Other {i}", ["Elsewhere."]]]}
              for i in range(30)]
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    (tmp_path / "hotpot.json").write_text(json.dumps(hotpot))
    inputs = RulerInputs.from_options(None, f"squad={tmp_path / 'squad.json'},hotpotqa={tmp_path / 'hotpot.json'}")
    for name, gold in (("qa_1", "Paragraph {i} says"), ("qa_2", "Title {i}\nTown{i} is here.")):
        made = records(name, tok, max_length=600, n=3, inputs=inputs)
        for i, record in enumerate(made):
            assert gold.format(i=i) in record["input"] and "Document 1:\n" in record["input"]
            assert record["answer_prefix"] == " Answer:" and record["length"] <= 600
        assert made[0]["outputs"] == (["river0", "River0"] if name == "qa_1" else ["town0"])
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not SQuAD v2 JSON"):
        records("qa_1", tok, inputs=RulerInputs.from_options(None, f"squad={tmp_path / 'bad.json'}"))
