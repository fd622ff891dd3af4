"""`longeval demo`: the whole pipeline offline, on the tiny local Llama and a small LongBench-format data set.

The model is random, so its scores are noise; the demo shows the mechanics end to end in a few minutes on a
laptop CPU: data in the official layout, official prompts with middle truncation (the records are longer than
every prompt budget), context extension beyond the model's 256 original positions, scoring, a comparison table.
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


def default_cache() -> Path:
    """Where the tiny model is built once: $LONGEVAL_CACHE, else ~/.cache/longeval."""
    return Path(os.environ.get("LONGEVAL_CACHE") or Path.home() / ".cache" / "longeval")


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
    echo(f"{'run':<22}{'positions':>10}{'budget':>8}{'truncated':>11}{'prompt tok':>12}{'new tok':>9}{'tok/s':>8}")
    for info in infos:
        truncated = sum(info["truncated"].values())
        total = sum(c["total"] for c in info.get("records", {}).values())
        speed = info["tokens_per_second"]
        echo(f"{info['run_name']:<22}{info['engine_max_length']:>10}{max(info['prompt_max_length'].values()):>8}"
             f"{f'{truncated}/{total}':>11}{info['tokens']['prompt']:>12}{info['tokens']['generated']:>9}"
             f"{f'{speed:.1f}' if speed is not None else '-':>8}")


def run_demo(out: Path, *, cache: Path | None = None, backend: str | None = None,
             methods: tuple[str, ...] = DEMO_METHODS, records: int = RECORDS_PER_TASK,
             progress: bool = True, echo: Callable[[str], None] = print) -> dict[str, float]:
    """Build/reuse the tiny model, write the data, run every method, print the table; returns timings (s)."""
    from longeval.tinymodel import build_tiny_model

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
