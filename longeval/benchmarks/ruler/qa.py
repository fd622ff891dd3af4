"""RULER's QA generator (scripts/data/synthetic/qa.py): a SQuAD v2 or HotpotQA question with its gold documents
among distractor documents ("Document i:\\n..."), as many as fit; scored with string_match_part.

RULER downloads SQuAD v2 dev and HotpotQA dev (distractor); here the user passes the files
(--ruler-qa squad=FILE,hotpotqa=FILE): read as RULER reads them (unanswerable SQuAD questions dropped, documents
de-duplicated and sorted). Random draws follow RULER's order; question i is the i-th record.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks.ruler.definitions import RulerTask
from longeval.benchmarks.ruler.fill import Counter, Frame, Sample, fit_sample, largest_fitting, split_answer_prefix
from longeval.errors import UserError

DOCUMENT = "Document {i}:\n{document}"
STEP = 10


@dataclass(frozen=True)
class QaData:
    """One QA dataset as RULER reads it: questions (query, outputs, gold document ids, same-article ids), documents."""

    questions: list[dict[str, Any]]
    documents: list[str]
    source: str
    sha256: str
    extra: dict[str, Any] = field(default_factory=dict)


def _load(path: Path, dataset: str) -> Any:
    try:
        raw = path.read_bytes()
        return json.loads(raw), hashlib.sha256(raw).hexdigest()
    except OSError as exc:
        raise UserError(f"--ruler-qa {dataset}: cannot read the file ({exc.strerror})", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--ruler-qa {dataset}: not a JSON file ({exc})", path=path) from None


def read_squad(path: Path) -> QaData:
    """SQuAD v2 (dev) JSON: {"data": [{"paragraphs": [{"context", "qas": [...]}]}]}."""
    data, digest = _load(path, "squad")
    try:
        documents = sorted({p["context"] for d in data["data"] for p in d["paragraphs"]})
        index = {text: i for i, text in enumerate(documents)}
        questions = []
        for article in data["data"]:
            article_docs = [index[p["context"]] for p in article["paragraphs"]]
            for paragraph in article["paragraphs"]:
                here = index[paragraph["context"]]
                for qa in paragraph["qas"]:
                    if not qa["is_impossible"]:
                        questions.append({"query": qa["question"], "outputs": [a["text"] for a in qa["answers"]],
                                          "context": [here], "more_context": [i for i in article_docs if i != here]})
    except (KeyError, TypeError) as exc:
        raise UserError(f"--ruler-qa squad: not SQuAD v2 JSON (missing {exc})", path=path) from None
    return QaData(questions, documents, str(path), digest)


def read_hotpotqa(path: Path) -> QaData:
    """HotpotQA (dev, distractor) JSON: [{"question", "answer", "context": [[title, [sentences]], ...]}]."""
    data, digest = _load(path, "hotpotqa")
    try:
        documents = sorted({f"{t}\n{''.join(p)}" for d in data for t, p in d["context"]})
        index = {text: i for i, text in enumerate(documents)}
        questions = [{"query": d["question"], "outputs": [d["answer"]],
                      "context": [index[f"{t}\n{''.join(p)}"] for t, p in d["context"]]} for d in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--ruler-qa hotpotqa: not HotpotQA JSON ({exc})", path=path) from None
    return QaData(questions, documents, str(path), digest)


READERS = {"squad": read_squad, "hotpotqa": read_hotpotqa}


class QaMaker:
    """RULER's generate_input_output(index, num_docs) over one shared random state."""

    def __init__(self, task: RulerTask, frame: Frame, seed: int, data: QaData) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.template = frame.template(task.template, task.answer_prefix)
        self.data = data
        self.index = 0

    def __call__(self, num_docs: int) -> tuple[str, Any]:
        question = self.data.questions[self.index]
        documents = self.data.documents
        gold, more = question["context"], question.get("more_context", [])
        if num_docs < len(documents):
            if num_docs - len(gold) > len(more):
                taken = set(gold + more)
                others = [i for i in range(len(documents)) if i not in taken]
                chosen = gold + more + self.rng.sample(others, max(0, num_docs - len(gold) - len(more)))
            else:
                chosen = gold + self.rng.sample(more, num_docs - len(gold))
            texts = [documents[i] for i in chosen]
        else:
            repeats = (num_docs + len(documents) - 1) // len(documents)
            texts = (documents * repeats)[:num_docs]
        random.Random(self.seed).shuffle(texts)
        context = "\n\n".join(DOCUMENT.format(i=i + 1, document=d) for i, d in enumerate(texts))
        return self.template.format(context=context, query=question["query"]), question["outputs"]


def generate(task: RulerTask, count: Counter, max_length: int, seed: int, num_samples: int, frame: Frame,
             data: QaData) -> list[Sample]:
    """RULER's QA samples for one max length: question i for sample i (the search uses question 0)."""
    if num_samples > len(data.questions):
        raise UserError(f"{task.name}: {num_samples} records asked for, the file has {len(data.questions)} "
                        "answerable questions", path=data.source)
    make = QaMaker(task, frame, seed, data)
    limit = max_length - task.tokens_to_generate
    text, _ = make(STEP)
    per_doc = count(text) / STEP
    upper = max(int((max_length / per_doc) * 3), STEP * 2)
    size = largest_fitting(make, count, limit, STEP, upper) or STEP
    samples = []
    for index in range(num_samples):
        make.index = index
        text, outputs, tokens = fit_sample(make, count, limit, size, STEP, task.name)
        prompt, prefix = split_answer_prefix(text, task.answer_prefix)
        samples.append(Sample(prompt, prefix, list(outputs), tokens + task.tokens_to_generate))
    return samples
