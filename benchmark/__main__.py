"""`python -m benchmark COMMAND ...`: one subcommand a module.

Each subcommand module offers add_parser(subparsers), which registers its parser and sets
`run` (args -> exit code) as a default; adding a command is adding its module to SUBCOMMANDS.
Modules keep heavy imports inside `run` so that every command starts fast. Without a command
name, `run` is meant: `python -m benchmark BUNDLE...` benchmarks bundles on this host. A first
word that is neither a command nor an existing path (nor an option) is a mistyped command:
argparse says "invalid choice". Exit codes: 0 done, 2 bad input (one `error:` line), 1 a
measured target failed (one `failed:` line), 130 interrupted (vqa.errors, docs/errors.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmark import android, ingest, probe, report, run, samples, score
from vqa.cli import EXIT_STATUS, add_debug_flag
from vqa.errors import DEBUG_FLAG, run_main

SUBCOMMANDS = (run, score, ingest, report, android, samples, probe)
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="Benchmark exported VQA bundles and score their predictions. "
        "Without a command, 'run' is meant.",
        epilog=EXIT_STATUS,
    )
    add_debug_flag(parser)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        add_debug_flag(module.add_parser(subparsers))
    parser.set_defaults(commands=frozenset(subparsers.choices))
    return parser


def _means_run(word: str, commands: frozenset[str]) -> bool:
    """True when `word`, the first argument, starts `run`'s arguments (a bundle or an option)."""
    if word in commands or word in ("-h", "--help", DEBUG_FLAG):
        return False
    return word.startswith("-") or os.sep in word or Path(word).exists()


def _main(argv: list[str]) -> int:
    parser = build_parser()
    if argv and _means_run(argv[0], parser.get_default("commands")):
        argv.insert(0, DEFAULT_COMMAND)
    args = parser.parse_args(argv)
    return args.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand; returns the process exit code."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
