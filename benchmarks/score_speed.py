"""Scoring speed: longeval vs the official LongBench procedure on the real prediction folders, same process.

The official side is eval.py's per-sample loop re-stated here over the libraries the official metrics.py calls:
the `rouge` 1.0.1 package, jieba and fuzzywuzzy (difflib backend, i.e. without python-Levenshtein, as the
official requirements install it). Both sides score the four folders of ../shared/reference/real-preds; the
script checks that every task score is identical, then prints both times and the ratio.

    python benchmarks/score_speed.py [--repeat N] [--preds DIR]

Needs the test extra (rouge==1.0.1, fuzzywuzzy==0.18.0).
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

DEFAULT_PREDS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "real-preds"
FIRST_LINE_TASKS = {"trec", "triviaqa", "samsum", "lsht"}  # eval.py's list


# --- the official procedure, over the official libraries ------------------------------------------------------

def official_metrics():
    """Metric name -> function calling rouge / jieba / fuzzywuzzy the way the official metrics.py does."""
    import difflib

    import jieba
    from rouge import Rouge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Using slow pure-python SequenceMatcher": that is the point
        from fuzzywuzzy import fuzz
    if getattr(fuzz, "SequenceMatcher", None) is not difflib.SequenceMatcher:
        sys.exit("python-Levenshtein is installed: fuzzywuzzy would not use difflib as the official setup does")

    zh_punct = set(string.punctuation + "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》"
                   "「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.")
    en_punct = set(string.punctuation)

    def norm_en(text):
        text = "".join(c for c in text.lower() if c not in en_punct)
        return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())

    def norm_zh(text):
        return "".join("".join(c for c in text.lower() if c not in zh_punct).split())

    def f1(pred_tokens, gold_tokens):
        same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if same == 0:
            return 0
        p, r = same / len(pred_tokens), same / len(gold_tokens)
        return 2 * p * r / (p + r)

    def zh_tokens(text):
        return [t for t in (norm_zh(t) for t in jieba.cut(text, cut_all=False)) if t]

    def rouge_l(pred, gold):
        try:
            return Rouge().get_scores([pred], [gold], avg=True)["rouge-l"]["f"]
        except Exception:  # the official code's bare except
            return 0.0

    def classification(pred, gold, all_classes):
        found = [c for c in all_classes if c in pred]
        for term in found:  # mutating while iterating, as the official code does
            if term in gold and term != gold:
                found.remove(term)
        return 1.0 / len(found) if gold in found else 0.0

    def share(pred, target):
        numbers = re.findall(r"\d+", pred)
        return 0.0 if not numbers else float(sum(n == target for n in numbers) / len(numbers))

    def code_sim(pred, gold):
        line = next((x for x in pred.lstrip("\n").split("\n") if "`" not in x and "#" not in x and "//" not in x), "")
        return fuzz.ratio(line, gold) / 100

    return {
        "qa_f1": lambda p, g, c: f1(norm_en(p).split(), norm_en(g).split()),
        "qa_f1_zh": lambda p, g, c: f1(zh_tokens(p), zh_tokens(g)),
        "rouge": lambda p, g, c: rouge_l(p, g),
        "rouge_zh": lambda p, g, c: rouge_l(" ".join(jieba.cut(p, cut_all=False)),
                                            " ".join(jieba.cut(g, cut_all=False))),
        "classification": classification,
        "retrieval": lambda p, g, c: share(p, re.findall(r"Paragraph (\d+)", g)[0]),
        "retrieval_zh": lambda p, g, c: share(p, re.findall(r"段落(\d+)", g)[0]),
        "count": lambda p, g, c: share(p, str(g)),
        "code_sim": lambda p, g, c: code_sim(p, g),
    }


def official_score_folder(folder: Path, metrics) -> dict[str, float]:
    from longeval.tasks import get_task

    result = {}
    for path in sorted(folder.glob("*.jsonl")):
        task = get_task(path.stem)
        records = [json.loads(line) for line in path.open(encoding="utf-8")]
        all_classes = records[-1]["all_classes"]
        total = 0.0
        for record in records:
            pred = record["pred"]
            if path.stem in FIRST_LINE_TASKS:
                pred = pred.lstrip("\n").split("\n")[0]
            score = 0.0
            for gold in record["answers"]:
                score = max(score, metrics[task.metric](pred, gold, all_classes))
            total += score
        result[path.stem] = round(100 * total / len(records), 2)
    return result


# --- longeval ------------------------------------------------------------------------------------------------

def longeval_score_folder(folder: Path) -> dict[str, float]:
    from longeval.scoring import read_prediction_folder, score_loaded_folder

    return score_loaded_folder(read_prediction_folder(folder))


def clear_longeval_caches() -> None:
    from longeval.benchmarks.longbench.metrics import clear_caches

    clear_caches()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preds", type=Path, default=DEFAULT_PREDS, help="folder of prediction folders")
    parser.add_argument("--repeat", type=int, default=1, help="time each side N times, report the best")
    args = parser.parse_args()
    folders = sorted(p for p in args.preds.iterdir() if p.is_dir()) if args.preds.is_dir() else []
    if not folders:
        sys.exit(f"no prediction folders under {args.preds}")

    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()  # the dictionary load (~1 s) is paid once, outside both timings
    metrics = official_metrics()
    samples = sum(sum(1 for _ in p.open(encoding="utf-8")) for f in folders for p in f.glob("*.jsonl"))

    official_times, longeval_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        official = {f.name: official_score_folder(f, metrics) for f in folders}
        official_times.append(time.perf_counter() - start)

        clear_longeval_caches()
        start = time.perf_counter()
        ours = {f.name: longeval_score_folder(f) for f in folders}
        longeval_times.append(time.perf_counter() - start)

    mismatches = [(folder, task, score, ours[folder].get(task))
                  for folder, scores in official.items() for task, score in scores.items()
                  if score != ours[folder].get(task)]
    t_official, t_longeval = min(official_times), min(longeval_times)
    print(f"folders: {len(folders)}, tasks: {sum(len(r) for r in official.values())}, samples: {samples}")
    print(f"official procedure (rouge 1.0.1, jieba, fuzzywuzzy/difflib): {t_official:8.2f} s")
    print(f"longeval                                                   : {t_longeval:8.2f} s")
    print(f"speed-up: {t_official / t_longeval:.1f}x")
    if mismatches:
        for row in mismatches:
            print("MISMATCH", *row)
        return 1
    print("results identical: yes (every task score of every folder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
