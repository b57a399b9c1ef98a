"""`python -m benchmark COMMAND ...`: one subcommand a module.

Each subcommand module offers add_parser(subparsers), which registers its parser and sets
`run` (args -> exit code) as a default; adding a command is adding its module to SUBCOMMANDS.
Modules keep heavy imports inside `run` so that every command starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmark import score

SUBCOMMANDS = (score,)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="Benchmark exported VQA bundles and score their predictions.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
