"""`longeval doctor`: engines, machine, vLLM plugin, caches and hub mode, each missing part with what to do."""

from __future__ import annotations

import argparse
import json

HELP = "what this machine has for longeval (engines, GPU, vLLM plugin, caches, hub): paste it into bug reports"
DESCRIPTION = HELP + """

One line per check: ok, missing (something a run or the demo needs; the line says what to do) or note (a
setting worth knowing). Imports and loads nothing heavy, so it answers in about a second. Exit 1 when
something is missing, else 0.

examples:
  longeval doctor
  longeval doctor --json > doctor.json      # for a bug report
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="the checks as a JSON list instead of lines")


def run(args: argparse.Namespace) -> int:
    from longeval.doctor import as_json, diagnose

    checks = diagnose()
    if args.json:
        print(json.dumps(as_json(checks), indent=1))
    else:
        area = None
        for check in checks:
            if check.area != area:
                area = check.area
                print(f"[{area}]")
            print("  " + check.line())
    return 1 if any(check.status == "missing" for check in checks) else 0
