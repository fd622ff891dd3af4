"""Recompute the RULER scores of run folders with RULER's own code and compare them with result.json.

RULER's metric functions (scripts/eval/synthetic/constants.py) and its post-processing (postprocess_pred, taken
out of scripts/eval/evaluate.py by its AST: that module imports NeMo) are loaded from RULER's files in
../shared/reference/ruler; each pred/ruler_*.jsonl is scored as RULER's evaluate.py scores a prediction file, and
the result must equal the task's entry in pred/result.json exactly.

usage: python benchmarks/ruler_check_scores.py RUN_DIR [RUN_DIR ...] [--reference PATH]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import sys
from pathlib import Path


def find_reference() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "reference" / "ruler"
        if candidate.is_dir():
            return candidate
    return None


def load_oracle(reference: Path):
    spec = importlib.util.spec_from_file_location("ruler_eval_constants", reference / "eval__synthetic__constants.py")
    metrics = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(metrics)
    tree = ast.parse((reference / "eval__evaluate.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "postprocess_pred")
    namespace: dict = {"re": re}
    exec(compile(ast.Module([node], []), "evaluate.py", "exec"), namespace)
    return metrics, namespace["postprocess_pred"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--reference", type=Path, default=find_reference())
    args = parser.parse_args(argv)
    if args.reference is None:
        sys.exit("RULER's reference files were not found; pass --reference")
    metrics, postprocess = load_oracle(args.reference)
    from longeval.tasks import all_tasks

    tasks = all_tasks()
    checked = differ = 0
    for run in args.runs:
        result = json.loads((run / "pred" / "result.json").read_text())
        for path in sorted((run / "pred").glob("ruler_*.jsonl")):
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            metric = getattr(metrics, tasks[path.stem].metric)  # type: ignore[attr-defined]
            preds = [postprocess(line["pred"], {}) for line in lines]
            oracle = metric(preds, [line["outputs"] for line in lines])
            ours = result[path.stem]
            checked += 1
            differ += oracle != ours
            print(f"{run.name:28} {path.stem:24} records {len(lines):3}  RULER {oracle:6.2f}  longeval {ours:6.2f}"
                  f"  {'same' if oracle == ours else 'DIFFERENT'}")
    print(f"{checked} task scores checked, {differ} different")
    return 1 if differ or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
