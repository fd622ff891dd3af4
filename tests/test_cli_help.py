"""`longeval COMMAND --help`: every subcommand explains itself with a runnable example."""

from __future__ import annotations

import pytest

from longeval.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_an_example_of_the_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    example_block = text.split("example", 1)[1] if "example" in text else ""
    assert f"longeval {command}" in example_block, f"`longeval {command} --help` shows no example"


def test_no_default_output_folder_is_inside_the_tracked_results_folder():
    """Defaults never write into results/ (the committed leaderboard and measurements): every command's default
    --out (and --cache) is a folder of its own in the working directory."""
    import argparse

    from longeval.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    defaults = {}
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if action.dest in ("out", "cache") and action.default is not None:
                defaults[f"{name} --{action.dest}"] = str(action.default)
    assert defaults, "no command has a default output folder"
    inside = {k: v for k, v in defaults.items() if v.replace("\\", "/").lstrip("./").split("/")[0] == "results"}
    assert not inside, inside
