"""Leaderboards -> markdown (the paper's layout), CSV (one row per run) and one self-contained HTML page."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from longeval import __version__
from longeval.report.collect import META_COLUMNS, RECORD_COLUMNS
from longeval.report.table import Group, Leaderboard, column_label, groups_for, task_order
from longeval.tasks import all_tasks

if TYPE_CHECKING:
    from longeval.report.intervals import Intervals

MISSING = "—"


@dataclass
class Report:
    main: Leaderboard
    buckets: Leaderboard
    notes: list[str] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, PNG) embedded in the HTML page
    main_title: str = "Leaderboard"
    bucket_title: str = "By bucket"  # the families' own heading for their bucket tables (report.build)
    intervals: Intervals | None = None  # report --ci: per-score intervals and marks against the baseline run

    def score_cell(self, board: Leaderboard, row: pd.Series, task: str) -> str:
        """A task score as shown in md/html: two decimals, then (--ci) its interval and significance mark."""
        text = fmt(row[task])
        if self.intervals is None or text == MISSING:
            return text
        return text + self.intervals.cell(str(row["run"]), _entry_key(board, row, task))

    def boards(self) -> list[tuple[str, Leaderboard]]:
        out = []
        if len(self.main.frame):
            out.append((self.main_title, self.main))
        if len(self.buckets.frame):
            out.append((self.bucket_title, self.buckets))
        return out


def fmt(value: Any) -> str:
    """Scores with two decimals (result.json precision); missing as a dash, never as 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return f"{float(value):.2f}"


def group_header(board: Leaderboard, group: Group) -> tuple[str, bool]:
    """Header text with coverage, and whether each cell must show its own (rows cover different task counts)."""
    counts = set(board.frame[f"{group.key}:count"].tolist())
    total = len(group.tasks)
    if len(counts) <= 1:
        count = counts.pop() if counts else 0
        return f"{group.label} ({count}/{total})", False
    return f"{group.label} (of {total})", True


def group_cell(row: pd.Series, group: Group, per_cell: bool) -> str:
    text = fmt(row[group.key])
    count, total = int(row[f"{group.key}:count"]), int(row[f"{group.key}:total"])
    if per_cell and count and count < total:
        text += f" ({count}/{total})"
    return text


def _text(value: object) -> str:
    return MISSING if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "" else str(value)


def _run_label(row: pd.Series) -> str:
    label = str(row["run"])
    if not pd.isna(row["limit"]):
        label += f" (first {int(row['limit'])} per task)"
    return label + " (partial)" if row["status"] == "partial" else label


def _meta_cells(row: pd.Series, with_bucket: bool) -> list[str]:
    cells = [_run_label(row), _text(row["model"]), _text(row["method"]),
             MISSING if pd.isna(row["max_length"]) else str(int(row["max_length"]))]
    if with_bucket:
        cells.append(row["bucket"])
    return [str(c) for c in cells]


def _meta_headers(with_bucket: bool) -> list[str]:
    return ["Run", "Model", "Method", "Max length"] + (["Bucket"] if with_bucket else [])


def _groups_line(board: Leaderboard) -> str:
    parts = [f"{g.label} = {', '.join(column_label(t) for t in g.tasks)}" for g in board.groups if g.key != "macro"]
    return "Averages: " + "; ".join(parts) + "; macro = mean of every task column a row has." if parts else ""


def _sources_line(board: Leaderboard) -> str:
    sources = sorted({s for s in board.frame["source"] if s != "measured"})
    if not sources:
        return ""
    return ("Rows in *italics* are published numbers, not measured here (" + "; ".join(sources) + ").")


def _marks_line(board: Leaderboard) -> str:
    """What the marks ending some published row labels mean (e.g. '*'), plain text; empty when none shows."""
    from longeval.report.reference import label_marks

    published = [str(name) for name, source in zip(board.frame["run"], board.frame["source"], strict=True)
                 if source != "measured"]
    return " ".join(f"{mark} = {meaning}." for mark, meaning in label_marks().items()
                    if any(name.endswith(mark) for name in published))


def to_markdown(report: Report) -> str:
    out = []
    for title, board in report.boards():
        with_bucket = board.kind == "e"
        headers = _meta_headers(with_bucket) + [column_label(t) for t in board.tasks]
        per_cell = {}
        for group in board.groups:
            text, per_cell[group.key] = group_header(board, group)
            headers.append(text)
        align = ["---"] * len(_meta_headers(with_bucket)) + ["---:"] * (len(headers) - len(_meta_headers(with_bucket)))
        lines = [f"## {title}", ""]
        if _groups_line(board):
            lines += [_groups_line(board), ""]
        lines += ["| " + " | ".join(_md(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
        for _, row in board.frame.iterrows():
            cells = _meta_cells(row, with_bucket)
            cells += [report.score_cell(board, row, t) for t in board.tasks]
            cells += [group_cell(row, g, per_cell[g.key]) for g in board.groups]
            cells = [_md(c) for c in cells]
            if row["source"] != "measured":
                cells[0] = f"*{cells[0]}*"
            lines.append("| " + " | ".join(cells) + " |")
        if _sources_line(board):
            lines += ["", " ".join(filter(None, [_sources_line(board), _md(_marks_line(board))]))]
        out.append("\n".join(lines))
    out += report.notes
    return "\n\n".join(out) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def to_csv(report: Report) -> str:
    """One row per run (per run and bucket for LongBench-E); task columns by task name; averages with coverage."""
    frames = [board.frame for _, board in report.boards()]
    if not frames:
        return ""
    tasks = task_order({t for _, board in report.boards() for t in board.tasks})
    columns = list(META_COLUMNS) + tasks
    for group in groups_for(tasks):
        columns += [group.key, f"{group.key}:count", f"{group.key}:total"]
    if report.intervals is not None:
        columns += [f"{task}:{end}" for task in tasks for end in ("ci_low", "ci_high")]
    columns += RECORD_COLUMNS  # last: what `check` reads to compare a CSV baseline's records with a run's
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame = frame.reindex(columns=columns)
    if report.intervals is not None:
        _fill_intervals(frame, tasks, report.intervals)
    for column in columns:
        if column.endswith(":count") or column.endswith(":total"):
            frame[column] = frame[column].astype("Int64")
    return frame.to_csv(index=False, lineterminator="\n")


def _entry_key(board: Leaderboard, row: pd.Series, task: str) -> str:
    """The key a score has in its run's entries: the task, or task[bucket] in the LongBench-E table."""
    return f"{task}[{row['bucket']}]" if board.kind == "e" else task


def _fill_intervals(frame: pd.DataFrame, tasks: list[str], intervals: Intervals) -> None:
    for index, row in frame.iterrows():
        bucket = row["bucket"]
        for task in tasks:
            key = task if not isinstance(bucket, str) or not bucket else f"{task}[{bucket}]"
            found = intervals.ci.get((str(row["run"]), key))
            if found is not None:
                frame.at[index, f"{task}:ci_low"], frame.at[index, f"{task}:ci_high"] = found


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem} h2{font-size:1.15rem;margin:2rem 0 .5rem}
p.meta,p.note{color:#59636e;font-size:.85rem;margin:.25rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;white-space:nowrap}
th{background:#f6f8fa;font-weight:600;text-align:center}
td.num{text-align:right} td.missing{color:#8c959f;text-align:center}
td.avg,th.avg{background:#f3f6fb} td.macro,th.macro{background:#e8effa;font-weight:600}
tr.reference td{font-style:italic;color:#59636e;background:#fbfaf5}
tr.reference td.run::after{content:" \\2020";color:#9a6700}
td.best{font-weight:700;color:#0b5cad}
td.run{position:sticky;left:0;background:#fff;z-index:1} tr.reference td.run{background:#fbfaf5}
thead th:first-child{position:sticky;left:0;z-index:2}
figure{margin:1.5rem 0} figure img{max-width:100%;border:1px solid #d1d9e0}
figcaption{color:#59636e;font-size:.85rem}
"""


def to_html(report: Report) -> str:
    parts = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>longeval leaderboard</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>{html.escape(report.main_title)} leaderboard</h1>",
             f'<p class="meta">Made by longeval {html.escape(__version__)}. Scores are official task '
             "scores (&times;100); &ldquo;&mdash;&rdquo; marks a task a run does not have. Averages show "
             "(tasks present / tasks in the group).</p>"]
    for title, board in report.boards():
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(_html_table(board, report))
        if _sources_line(board):
            sources = " ".join(filter(None, [_sources_line(board).replace("*italics*", "italics"), _marks_line(board)]))
            parts.append('<p class="note">&dagger; ' + html.escape(sources) + "</p>")
    for note in report.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for caption, png in report.images:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_table(board: Leaderboard, report: Report) -> str:
    with_bucket = board.kind == "e"
    meta = _meta_headers(with_bucket)
    first = [f'<th rowspan="2">{html.escape(h)}</th>' for h in meta]
    for label, span in _category_spans(board.tasks):
        first.append(f'<th colspan="{span}">{html.escape(label)}</th>')
    first.append(f'<th colspan="{len(board.groups)}" class="avg">averages</th>')
    second = [f'<th title="{html.escape(t)}">{html.escape(column_label(t))}</th>' for t in board.tasks]
    per_cell = {}
    for group in board.groups:
        text, per_cell[group.key] = group_header(board, group)
        css = "macro" if group.key == "macro" else "avg"
        second.append(f'<th class="{css}">{html.escape(text)}</th>')
    measured = board.frame[board.frame["source"] == "measured"]
    best = best_values(measured, board.tasks) if board.kind == "main" else {}
    rows = []
    for _, row in board.frame.iterrows():
        css = ' class="reference"' if row["source"] != "measured" else ""
        cells = [f'<td class="run">{html.escape(c)}</td>' if i == 0 else f"<td>{html.escape(c)}</td>"
                 for i, c in enumerate(_meta_cells(row, with_bucket))]
        for task in board.tasks:
            text = report.score_cell(board, row, task)
            kind = "missing" if text == MISSING else "num"
            if kind == "num" and row["source"] == "measured" and best.get(task) == row[task]:
                kind += " best"
            cells.append(f'<td class="{kind}">{text}</td>')
        for group in board.groups:
            text = group_cell(row, group, per_cell[group.key])
            kind = ("missing " if text == MISSING else "num ") + ("macro" if group.key == "macro" else "avg")
            cells.append(f'<td class="{kind}">{html.escape(text)}</td>')
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table><thead><tr>' + "".join(first) + "</tr><tr>" + "".join(second)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def best_values(measured: pd.DataFrame, tasks: list[str]) -> dict[str, float]:
    """Best measured score per task column, for columns where runs differ: when every run ties (all 0.00, say)
    no cell is better than another, so none is marked. Main table only: bucket rows of one run do not compete."""
    best = {}
    for task in tasks:
        values = measured[task].dropna()
        if len(values) > 1 and values.max() != values.min():
            best[task] = float(values.max())
    return best


def _category_spans(tasks: list[str]) -> list[tuple[str, int]]:
    """Consecutive task columns of one category share a header cell (as the paper groups its columns)."""
    spans: list[tuple[str, int]] = []
    for task in tasks:
        label = all_tasks()[task].category if task in all_tasks() else "other"
        if spans and spans[-1][0] == label:
            spans[-1] = (label, spans[-1][1] + 1)
        else:
            spans.append((label, 1))
    return spans
