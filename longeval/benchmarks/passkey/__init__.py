"""Passkey retrieval as a family: records generated per run to fill the prompt budget (generate.py), a LongBench-style
prompt and prediction line, exact-match scores (0/1 per record), and its report figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from longeval.benchmarks import register
from longeval.benchmarks.base import ReportSection, RunView
from longeval.benchmarks.longbench import LongBench, LongBenchTask
from longeval.benchmarks.longbench.data import GENERATORS
from longeval.benchmarks.longbench.metrics import METRICS
from longeval.benchmarks.passkey.generate import generate_task, passkey_score
from longeval.tasks import Task

METRICS.setdefault("passkey", passkey_score)  # exact match of the first number with the key
GENERATORS.setdefault("passkey", generate_task)


@dataclass(frozen=True)
class PasskeyTask(LongBenchTask):
    """A passkey task: generated records (`generator_args`: depths, repeats, seed, lengths), exact-match metric."""

    metric: str = "passkey"
    source: str = "generated"
    generator: str | None = "passkey"
    generator_args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@register
class Passkey(LongBench):
    """Passkey retrieval (Mohtashami & Jaggi 2023): one key at a chosen depth in filler text."""

    name = "passkey"
    title = "Passkey retrieval"
    bucket_title = "Passkey by length bucket"  # `score --e` on a passkey file
    own_length_chart = True
    short_context_label = "passkey scores"
    task_class = PasskeyTask
    default_for_untagged = False
    result_buckets = ()

    def run_settings(self, tasks: Sequence[Task]) -> dict[str, Any]:
        """As LongBench's (never a variant): the settings, hence the fingerprints, of passkey folders written
        before the families were units stay the same."""
        return {"longbench_e": False}

    def run_name_suffix(self, tasks: Sequence[Task]) -> str:
        return ""

    def needs_data(self, task: Task) -> bool:
        return False

    def is_binary(self, task: Task) -> bool:
        return True

    def record_scores(self, task: Task, lines: Sequence[Mapping[str, Any]]) -> list[float]:
        return [max((passkey_score(str(line["pred"]), str(answer)) for answer in line["answers"]), default=0.0)
                for line in lines]

    def report_sections(self, runs: Sequence[RunView], options: Mapping[str, Any] | None = None
                        ) -> list[ReportSection]:
        """Accuracy against prompt length (when the runs have several lengths) and the depth x length maps."""
        from longeval.benchmarks.passkey.report import plot_passkey_depths, plot_passkey_vs_length

        stems = [self.pred_file_stem(task) for task in self.known_tasks().values()]
        if not any(stem in run.scores for run in runs for stem in stems):
            return []
        sections = []
        for file_name, plot, title in (
                ("passkey_vs_length.png", plot_passkey_vs_length, "Passkey accuracy vs prompt length"),
                ("passkey_depth_length.png", plot_passkey_depths, "Passkey accuracy by key depth and prompt length")):
            png = plot(runs, stems)
            if png is not None:
                sections.append(ReportSection(title, file_name, png))
        return sections

    def short_context_scores(self, run: RunView) -> dict[str, float]:
        """Passkey scores (runs made inside the original window, e.g. --max-length 3500 for a 4k model)."""
        from longeval.tasks import all_tasks

        known = all_tasks()
        return {task: value for task, value in run.scores.items()
                if task in known and known[task].benchmark == self.name}
