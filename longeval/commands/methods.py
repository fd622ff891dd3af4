"""`longeval methods`: list the context-extension methods with their parameters."""

from __future__ import annotations

import argparse

HELP = "list context-extension methods with their parameters, types, defaults and a one-line description"
DESCRIPTION = HELP + """

A method is chosen with a spec NAME[:key=value,...], e.g. yarn:factor=8, eabf, eabf:skip_layers=0, abf:base=1e6.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from longeval.methods import list_methods

    for info in list_methods():
        print(f"{info.name:<14}{info.description}")
        for param in info.params:
            default = "auto" if param.default is None else f"{param.default:g}"
            print(f"    {param.name:<18}{param.type_name():<7}default {default:<10}{param.description}")
    return 0
