"""`check --significance ALPHA`: the paired test behind a gate, so that a drop within noise does not fail CI.

A drop beyond the allowance fails only when the paired test also rejects at ALPHA: per task after Holm's
adjustment over the gated tasks, the macro on its own stratified p. Both runs need their prediction files (a CSV
row or a published table has no records to pair), and the records must pair (see report/pairing.py); otherwise
significance cannot be judged and the gate refuses in one line rather than fall back silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longeval.errors import UserError
from longeval.report.collect import RunResult
from longeval.report.pairing import pair_runs
from longeval.report.records import read_run
from longeval.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, Comparison, compare_paired


@dataclass(frozen=True)
class Significance:
    alpha: float
    comparison: Comparison  # baseline -> run: deltas are run - baseline

    def task_significant(self, key: str) -> bool:
        return self.comparison.p_holm[key] < self.alpha

    @property
    def macro_significant(self) -> bool:
        return self.comparison.macro.p < self.alpha


def paired_significance(current: RunResult, baseline: RunResult, keys: list[str], alpha: float, *,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Significance:
    """Paired statistics of the gated entries (task or task[bucket] keys), baseline as base, run as candidate."""
    if not 0 < alpha < 1:
        raise UserError(f"--significance must be a level in (0, 1), got {alpha:g}")
    for run, role in ((baseline, "baseline"), (current, "run")):
        if run.pred_dir is None or not Path(run.pred_dir).is_dir():
            raise UserError(f"--significance needs the per-record predictions of both runs, and the {role} "
                            f"'{run.name}' has none (a report CSV or published scores); gate without --significance "
                            "or give the run folder", path=run.path)
    tasks = list(dict.fromkeys(key.split("[", 1)[0] for key in keys))
    try:
        base = read_run(Path(baseline.pred_dir or ""), tasks)
        candidate = read_run(Path(current.pred_dir or ""), tasks)
        base.name, candidate.name = baseline.name, current.name
        pairs = pair_runs(base, candidate, keys)
    except UserError as exc:
        raise UserError(f"--significance cannot pair the records of run '{current.name}' and baseline "
                        f"'{baseline.name}': {exc}") from None
    comparison = compare_paired({key: (p.base, p.candidate, p.binary) for key, p in pairs.items()},
                                resamples=resamples, seed=seed, alpha=alpha)
    return Significance(alpha, comparison)
