"""`longeval tasks`: list the LongBench tasks and suites."""

from __future__ import annotations

import argparse

HELP = "list LongBench tasks (name, version, language, metric, max new tokens, chat wrapper, first line) and suites"
DESCRIPTION = HELP + """

Columns: "ver" is the task definition's version (recorded in run.json); "max new" is the answer budget in
tokens (official dataset2maxlen); "chat" whether the prompt gets the chat wrapper; "first line" whether
eval.py scores only the first line of the prediction. A suite or a comma list of tasks and suites is what
--tasks of `run`, `prompts` and `report` take. Task definitions: tasks/README.md in the repository.

examples:
  longeval tasks                        # every task and variant, then the suites
  longeval tasks --suite paper12        # the 12 tasks of the paper's Table 2
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", help="only the tasks of this suite (or comma list of tasks/suites)")


def run(args: argparse.Namespace) -> int:
    from longeval.tasks import all_tasks, resolve_tasks, suites

    tasks = resolve_tasks(args.suite) if args.suite else list(all_tasks().values())
    header = (f"{'task':<24}{'ver':>4}  {'lang':<6}{'category':<15}{'metric':<16}{'max new':>8}  "
              f"{'chat':<5}{'first line':<11}")
    print(header)
    print("-" * len(header))
    for task in tasks:
        metric = getattr(task, "metric", None) or task.benchmark  # a family without metrics: its name
        first_line = getattr(task, "first_line", False)
        print(f"{task.name:<24}{task.version:>4}  {task.language:<6}{task.category:<15}{metric:<16}"
              f"{task.max_new_tokens:>8}  "
              f"{'yes' if task.chat else 'no':<5}{'yes' if first_line else 'no':<11}")
    if not args.suite:
        print()
        for name, members in suites().items():
            print(f"suite {name} ({len(members)}): {', '.join(members)}")
    return 0
