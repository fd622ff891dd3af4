"""`longeval compare` as a function: runs -> paired statistics -> compare.json and md/csv/html tables.

compare.json (read by tests and other tools) has exactly this shape:
{"base": name, "comparisons": [{"candidate": name, "tasks": {task: {"n", "base", "candidate", "delta", "ci_low",
"ci_high", "p", "p_holm", "test", "wins", "losses", "mde"}}, "macro": {"delta", "ci_low", "ci_high", "p"}}],
"resamples", "seed", "alpha"}. Scores and deltas are in the task's points (0-100); base/candidate are the official
task scores (as result.json); delta is the mean per-record difference, unrounded.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from typing import Any

from longeval.benchmarks import result_buckets
from longeval.report.pairing import Pair, pair_runs
from longeval.report.records import RunRecords
from longeval.report.stats import Comparison, compare_paired
from longeval.report.table import column_label, task_order

FORMATS = ("md", "csv", "json", "html")
FILE_NAMES = {"md": "compare.md", "csv": "compare.csv", "json": "compare.json", "html": "compare.html"}
TASK_FIELDS = ("n", "base", "candidate", "delta", "ci_low", "ci_high", "p", "p_holm", "test", "wins", "losses", "mde")


def order_keys(keys: Sequence[str]) -> list[str]:
    """Tasks in the report's column order; buckets after their task, in their family's order."""
    by_task: dict[str, list[str]] = {}
    for key in keys:
        by_task.setdefault(key.split("[", 1)[0], []).append(key)
    rank = {f"[{bucket}]": i for i, bucket in enumerate(result_buckets())}
    return [key for task in task_order(by_task)
            for key in sorted(by_task[task], key=lambda k: rank.get(k[len(task):], -1))]


def label(key: str) -> str:
    task, _, bucket = key.partition("[")
    return column_label(task) + (f"[{bucket}" if bucket else "")


def compare_two(base: RunRecords, candidate: RunRecords, *, resamples: int, seed: int,
                alpha: float) -> tuple[dict[str, Pair], Comparison]:
    pairs = pair_runs(base, candidate)
    pairs = {key: pairs[key] for key in order_keys(list(pairs))}
    stats = compare_paired({key: (p.base, p.candidate, p.binary) for key, p in pairs.items()},
                           resamples=resamples, seed=seed, alpha=alpha)
    return pairs, stats


def comparison_entry(candidate: str, pairs: dict[str, Pair], stats: Comparison) -> dict[str, Any]:
    tasks = {}
    for key, pair in pairs.items():
        s = stats.tasks[key]
        tasks[key] = {"n": s.n, "base": pair.base_score, "candidate": pair.candidate_score, "delta": s.delta,
                      "ci_low": s.ci_low, "ci_high": s.ci_high, "p": s.p, "p_holm": stats.p_holm[key],
                      "test": s.test, "wins": s.wins, "losses": s.losses, "mde": s.mde}
    macro = stats.macro
    return {"candidate": candidate, "tasks": tasks,
            "macro": {"delta": macro.delta, "ci_low": macro.ci_low, "ci_high": macro.ci_high, "p": macro.p}}


def build_document(base: RunRecords, candidates: Sequence[RunRecords], *, resamples: int, seed: int,
                   alpha: float) -> dict[str, Any]:
    """The compare.json content: base against each candidate."""
    comparisons = []
    for candidate in candidates:
        pairs, stats = compare_two(base, candidate, resamples=resamples, seed=seed, alpha=alpha)
        comparisons.append(comparison_entry(candidate.name, pairs, stats))
    return {"base": base.name, "comparisons": comparisons, "resamples": resamples, "seed": seed, "alpha": alpha}


# --- rendering -----------------------------------------------------------------------------------------------

def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 0.0001 else f"{value:.1e}"


def _macro_scores(comparison: dict[str, Any]) -> tuple[float, float]:
    tasks = comparison["tasks"].values()
    return (sum(t["base"] for t in tasks) / len(tasks), sum(t["candidate"] for t in tasks) / len(tasks))


def table_rows(doc: dict[str, Any], comparison: dict[str, Any]) -> list[list[str]]:
    """Display cells of one comparison: a row per task, then the macro row; '*' marks p_holm < alpha."""
    alpha = doc["alpha"]
    rows = []
    for key, t in comparison["tasks"].items():
        mark = " *" if t["p_holm"] < alpha else ""
        rows.append([label(key), str(t["n"]), _num(t["base"]), _num(t["candidate"]), _signed(t["delta"]) + mark,
                     f"[{_signed(t['ci_low'])}, {_signed(t['ci_high'])}]", _p(t["p"]), _p(t["p_holm"]), t["test"],
                     f"{t['wins']}/{t['losses']}", _num(t["mde"])])
    macro = comparison["macro"]
    base, cand = _macro_scores(comparison)
    mark = " *" if macro["p"] < alpha else ""
    rows.append([f"macro ({len(comparison['tasks'])} tasks)", "", _num(base), _num(cand),
                 _signed(macro["delta"]) + mark, f"[{_signed(macro['ci_low'])}, {_signed(macro['ci_high'])}]",
                 _p(macro["p"]), "", "stratified sign-flip", "", ""])
    return rows


HEADERS = ["Task", "n", "Base", "Candidate", "Δ", "CI", "p", "p (Holm)", "Test", "+/−", "MDE"]


def explanation(doc: dict[str, Any]) -> str:
    level = round(100 * (1 - doc["alpha"]))
    return (f"Δ = candidate − base in points; CI = {level}% paired bootstrap interval of Δ ({doc['resamples']:,} "
            f"resamples of the records, seed {doc['seed']}); p = two-sided paired test (exact McNemar for 0/1 scores, "
            f"else sign flips), Holm-adjusted over the tasks; * = significant at {doc['alpha']:g} after Holm "
            "(macro: its own p); +/− = records the candidate scored higher/lower; MDE = smallest Δ detectable with "
            "80% power at this n and spread.")


def to_markdown(doc: dict[str, Any]) -> str:
    out = []
    for comparison in doc["comparisons"]:
        lines = [f"## {comparison['candidate']} vs {doc['base']}", "",
                 "| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
        for row in table_rows(doc, comparison):
            lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("*", "\\*") for cell in row) + " |")
        out.append("\n".join(lines))
    out.append(explanation(doc))
    return "\n\n".join(out) + "\n"


def to_csv(doc: dict[str, Any]) -> str:
    """One row per (candidate, task) and a macro row per candidate; full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["base", "candidate", "task", *TASK_FIELDS])
    for comparison in doc["comparisons"]:
        for key, t in comparison["tasks"].items():
            writer.writerow([doc["base"], comparison["candidate"], key, *("" if t[f] is None else t[f]
                                                                           for f in TASK_FIELDS)])
        macro = comparison["macro"]
        base, cand = _macro_scores(comparison)
        writer.writerow([doc["base"], comparison["candidate"], "macro", "", base, cand, macro["delta"],
                         macro["ci_low"], macro["ci_high"], macro["p"], "", "stratified sign-flip", "", "", ""])
    return buffer.getvalue()


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_html(doc: dict[str, Any]) -> str:
    from longeval.report.render import CSS

    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>longeval compare</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>Paired comparison with {html.escape(doc['base'])}</h1>"]
    for comparison in doc["comparisons"]:
        parts.append(f"<h2>{html.escape(comparison['candidate'])} vs {html.escape(doc['base'])}</h2>")
        head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
        body = []
        for row in table_rows(doc, comparison):
            cells = [f'<td class="run">{html.escape(row[0])}</td>']
            cells += [f'<td class="num">{html.escape(cell)}</td>' for cell in row[1:]]
            css = ' class="macro"' if row[0].startswith("macro") else ""
            body.append(f"<tr{css}>" + "".join(cells) + "</tr>")
        parts.append(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
                     "</tbody></table></div>")
    parts.append(f'<p class="note">{html.escape(explanation(doc))}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}
