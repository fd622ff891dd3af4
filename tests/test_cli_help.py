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
