"""The inputs some RULER tasks need from the user, and the one-line refusal when they are missing.

--ruler-essays PATH: the essay haystack (niah_single_2/3, niah_multikey_1, niah_multivalue, niah_multiquery).
--ruler-qa squad=FILE,hotpotqa=FILE: the QA datasets (qa_1, qa_2). Everything else is generated from nothing.
Each input is read once (lazily, only when a task needs it) and named in run.json with its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longeval.benchmarks.ruler.definitions import QA_DATASETS, RulerTask
from longeval.benchmarks.ruler.haystacks import Essays, read_essays
from longeval.benchmarks.ruler.qa import READERS, QaData
from longeval.errors import UserError

QA_FLAGS = {"squad": "qa_1 (SQuAD v2 dev JSON)", "hotpotqa": "qa_2 (HotpotQA dev distractor JSON)"}


def parse_qa_option(text: str | None) -> dict[str, Path]:
    """--ruler-qa 'squad=FILE,hotpotqa=FILE' -> {dataset: path}; unknown names and missing '=' are errors."""
    paths: dict[str, Path] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise UserError(f"--ruler-qa: expected DATASET=FILE, got {item.strip()!r}")
        if name not in QA_DATASETS:
            raise UserError(f"--ruler-qa: unknown dataset {name!r} (choose from {', '.join(QA_DATASETS)})")
        paths[name] = Path(value.strip()).expanduser()
    return paths


@dataclass
class RulerInputs:
    """Paths given on the command line, read on first use."""

    essays_path: Path | None = None
    qa_paths: dict[str, Path] = field(default_factory=dict)
    _essays: Essays | None = None
    _qa: dict[str, QaData] = field(default_factory=dict)

    @classmethod
    def from_options(cls, essays: str | Path | None, qa: str | dict[str, Path] | None) -> RulerInputs:
        qa_paths = parse_qa_option(qa) if isinstance(qa, str) or qa is None else dict(qa)
        return cls(Path(essays).expanduser() if essays else None, qa_paths)

    def missing(self, task: RulerTask) -> str | None:
        """Why `task` cannot be generated with these inputs (one line saying what to pass), or None."""
        if task.needs_essays and self.essays_path is None:
            return (f"{task.name} hides its needles in an essay haystack: pass --ruler-essays PATH (a text file or a "
                    "folder of .txt essays, e.g. the Paul Graham essays RULER uses)")
        dataset = task.qa_dataset
        if dataset is not None and dataset not in self.qa_paths:
            return f"{task.name} needs {QA_FLAGS[dataset]}: pass --ruler-qa {dataset}=FILE"
        return None

    def essays(self) -> Essays:
        if self._essays is None:
            if self.essays_path is None:
                raise UserError("the essay haystack needs --ruler-essays PATH")
            self._essays = read_essays(self.essays_path)
        return self._essays

    def qa(self, dataset: str) -> QaData:
        if dataset not in self._qa:
            if dataset not in self.qa_paths:
                raise UserError(f"the {dataset} task needs --ruler-qa {dataset}=FILE")
            self._qa[dataset] = READERS[dataset](self.qa_paths[dataset])
        return self._qa[dataset]

    def identity(self, task: RulerTask) -> dict[str, Any]:
        """The haystack or dataset a task's records come from: kind, source path and sha256 (run.json, cache key)."""
        if task.needs_essays:
            essays = self.essays()
            return {"haystack": "essay", "source": essays.source, "sha256": essays.sha256}
        dataset = task.qa_dataset
        if dataset is not None:
            data = self.qa(dataset)
            return {"haystack": dataset, "source": data.source, "sha256": data.sha256}
        return {"haystack": task.haystack or "generated", "source": None, "sha256": None}
