"""`longeval methods`: list the context-extension methods with their parameters."""

from __future__ import annotations

import argparse

HELP = "list context-extension methods with their parameters, types, defaults and a one-line description"
DESCRIPTION = HELP + """

A method is chosen with a spec NAME[:key=value,...], e.g. yarn:factor=8, eabf, eabf:skip_layers=0, abf:base=1e6.
Each method lists the model families it runs on (vLLM == transformers checked on a tiny checkpoint of each family
for none, pi, yarn, abf and eabf); families not listed are not refused, but untested.
Parameters left out take the defaults listed; run.json records every parameter of the method a run used.

examples:
  longeval methods
  longeval run --model ./ckpt --method yarn:factor=8 --tasks paper12 --data ./data.zip --max-length 15500
  longeval extend ./ckpt --method abf:base=1e6 --max-length 16384 --out ./ckpt-abf
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from longeval.methods import list_methods
    from longeval.methods.families import supported_families

    for info in list_methods():
        print(f"{info.name:<14}{info.description}")
        for param in info.params:
            default = "auto" if param.default is None else f"{param.default:g}"
            print(f"    {param.name:<18}{param.type_name():<7}default {default:<10}{param.description}")
        print(f"    families: {', '.join(supported_families(info))}")
        for model_type, reason in info.refused_families.items():
            print(f"    not on {model_type}: {reason}")
    return 0
