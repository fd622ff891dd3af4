"""Published numbers to read beside measured ones: the entropy-aware ABF paper's Tables 2 and 4 (package data)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from longeval.errors import UserError
from longeval.report.collect import RunResult

# --reference NAME -> table in published/paper_tables.yaml
REFERENCES = {"paper": "table2", "paper-lengths": "table4"}


@cache
def _paper_tables() -> dict[str, Any]:
    text = resources.files("longeval").joinpath("published", "paper_tables.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def reference_runs(name: str) -> list[RunResult]:
    """The rows of one published table as runs, marked with their source."""
    if name not in REFERENCES:
        raise UserError(f"unknown reference '{name}' (known: {', '.join(REFERENCES)})")
    return paper_table(REFERENCES[name])


def paper_table(key: str) -> list[RunResult]:
    doc = _paper_tables()
    table = doc["tables"][key]
    tag = key.replace("table", "T")
    runs = []
    for row in table["rows"]:
        scores = dict(zip(doc["columns"], (float(v) for v in row["scores"]), strict=True))
        runs.append(RunResult(
            name=f"paper {tag}: {row['label']}",
            scores=scores,
            model=row["model"],
            method=row["method"],
            max_length=row["max_length"],
            source=f"{doc['source']} {table['caption'].split(':')[0]}",
        ))
    return runs


def label_marks() -> dict[str, str]:
    """Marks that end some published row labels (e.g. '*') -> what they mean, as the paper's footnotes say."""
    return dict(_paper_tables().get("marks") or {})


def published_macros(key: str) -> dict[str, float]:
    """The Macro column as printed in the paper (one decimal), by row label — to check transcription."""
    return {row["label"]: float(row["macro"]) for row in _paper_tables()["tables"][key]["rows"]}
