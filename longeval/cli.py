"""The `longeval` command line: one subcommand per module in longeval/commands/ (parse, call, print)."""

from __future__ import annotations

import argparse
import errno
import functools
import importlib
import os
import sys
from typing import Any, TextIO

from longeval import __version__
from longeval.errors import UserError

# Subcommand name -> module in longeval.commands. Each module defines HELP (one line), add_arguments(parser)
# and run(args) -> exit code. Modules import heavy libraries (torch, vllm) inside run(), so --help stays fast.
COMMANDS = {
    "demo": "demo",
    "doctor": "doctor",
    "run": "run",
    "score": "score",
    "report": "report",
    "check": "check",
    "compare": "compare",
    "prompts": "prompts",
    "tasks": "tasks",
    "methods": "methods",
    "extend": "extend",
    "entropy": "entropy",
    "ppl": "ppl",
    "finetune": "finetune",
    "serve": "serve",
}
# OSError numbers of a full file system or an exhausted quota.
FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})
# A path the user named that cannot be used as given (a file where a folder must be, a folder where a file must be,
# no permission, a read-only file system): the user's to fix, so one line naming the path, never a traceback.
PATH_IN_THE_WAY = frozenset({errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS})
# Commands that name tasks: they take --tasks-path (user task folders, same format as the shipped tasks/).
TASK_COMMANDS = ("run", "score", "report", "check", "compare", "prompts", "tasks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="longeval",
        description="LongBench evaluation for context-extended LLMs: official prompts and metrics, "
        "vLLM or transformers backends, comparison tables across RoPE extension methods.",
    )
    parser.add_argument("--version", action="version", version=f"longeval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"longeval.commands.{module_name}")
        sub_parser = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub_parser)
        if name in TASK_COMMANDS:
            sub_parser.add_argument("--tasks-path", action="append", default=[], metavar="DIR",
                                    help="a folder of user task YAML files (format of the shipped tasks/) added "
                                    "to the built-in tasks; repeatable; also LONGEVAL_TASKS_PATH")
        sub_parser.set_defaults(_module=module)
    return parser


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """build_parser(), built once per process: main() runs many times in one process (scripts/results.py, the
    test suite: about 250 calls), and each build took about 4 ms. Parsing leaves the parser as it was (every
    default is a constant; the `append` action copies its default list), so one parser serves every call."""
    return build_parser()


class ClosedPipeTolerantStdout:
    """stdout that outlives its reader: once `| head` has gone, the rest of the output goes to /dev/null.

    A reader closing the pipe is not an error of the command, so it must neither print a traceback nor stop a run
    in the middle of a sweep (a SIGPIPE default would also kill the process on any closed socket it writes to).
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _reader_gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return self._stream.write(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    real_stdout = sys.stdout
    if sys.stdout is sys.__stdout__ and sys.stdout is not None:  # not when a test captures the output
        sys.stdout = ClosedPipeTolerantStdout(sys.stdout)
    try:
        return _main(argv)
    finally:
        if sys.stdout is not real_stdout:
            sys.stdout.flush()
            sys.stdout = real_stdout


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # only a command that hands them on (serve -> vllm serve) takes options longeval does not know
        if not getattr(getattr(args, "_module", None), "PASSES_UNKNOWN_OPTIONS", False):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.passthrough = unknown
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "tasks_path", None):
            from longeval.tasks import add_tasks_path

            for folder in args.tasks_path:
                add_tasks_path(folder)
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"longeval {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno in PATH_IN_THE_WAY and exc.filename:
            print(f"longeval {args.command}: error: {exc.filename}: {exc.strerror} (give a path that can be written "
                  "there, e.g. another --out)", file=sys.stderr)
            return 2
        if exc.errno not in FULL_DISK:
            raise
        # A full disk is the machine's state, not a bug: one line whatever wrote (a library's own file included).
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"longeval {args.command}: error: {exc.strerror or exc}{where}; make room and run the command again",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"longeval {args.command}: interrupted (finished work is kept; re-run to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
