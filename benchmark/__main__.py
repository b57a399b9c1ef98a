"""`python -m benchmark COMMAND ...`: one subcommand a module.

Each subcommand module offers add_parser(subparsers), which registers its parser and sets
`run` (args -> exit code) as a default; adding a command is adding its module to SUBCOMMANDS.
Modules keep heavy imports inside `run` so that every command starts fast. Without a command
name, `run` is meant: `python -m benchmark BUNDLE...` benchmarks bundles on this host.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmark import android, ingest, report, run, samples, score

SUBCOMMANDS = (run, score, ingest, report, android, samples)
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="Benchmark exported VQA bundles and score their predictions. "
        "Without a command, 'run' is meant.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    parser.set_defaults(commands=frozenset(subparsers.choices))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] not in parser.get_default("commands") | {"-h", "--help"}:
        argv.insert(0, DEFAULT_COMMAND)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
