"""What every command line shares: checked number types, one help style, the --debug flag.

Errors in flag values are argparse errors (usage line, then `error: ...`, exit code 2); later
user errors go through `vqa.errors.run_main` (one line, exit code 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from vqa.errors import (
    CHECK_FAILED_EXIT,
    DEBUG_ENV,
    DEBUG_FLAG,
    INTERRUPTED_EXIT,
    USER_ERROR_EXIT,
)

EXIT_STATUS = (
    f"exit status: 0 done; {USER_ERROR_EXIT} the input was bad (a flag, a file, a bundle, data, "
    "a full disk, an output that cannot be written): one 'error: ...' line on stderr naming "
    f"the culprit, nothing half-written; {CHECK_FAILED_EXIT} the run worked but a measured "
    "check failed: one 'failed: ...' line on stderr, the outputs kept and named; "
    f"{INTERRUPTED_EXIT} interrupted (Ctrl-C or SIGTERM). See docs/errors.md."
)


def number(
    kind: Callable[[str], Any], low: float, high: float | None = None, *, open_low: bool = False
) -> Callable[[str], Any]:
    """An argparse type: `kind(text)` within [low, high] (or (low, high] with `open_low`);
    never NaN or infinite, which no option means and which every comparison lets through."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_not_a(kind, text)) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if value < low or (open_low and value == low) or (high is not None and value > high):
            bound = f"> {low}" if open_low else f">= {low}"
            if high is not None:
                bound += f" and <= {high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def _not_a(kind: Callable[[str], Any], text: str) -> str:
    """Why `text` is no value of `kind`: a whole number is expected, or a number at all."""
    try:
        float(text)
    except ValueError:
        return f"expected a number, got {text!r}"
    return f"expected a whole number, got {text}"


POS_INT = number(int, 1)
NON_NEG_INT = number(int, 0)
POS_FLOAT = number(float, 0.0, open_low=True)
NON_NEG_FLOAT = number(float, 0.0)
UNIT_FLOAT = number(float, 0.0, 1.0)


class HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default, as `(default: X)`, wherever it has a meaningful one (not on
    switches, nor where the help text speaks of the default itself)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and action.nargs != 0  # a switch: its default is "off"
            and action.default is not None
            and action.default is not argparse.SUPPRESS
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """`--debug`: show the traceback of an error too (as VQA_DEBUG=1 does)."""
    parser.add_argument(
        DEBUG_FLAG, action="store_true", default=False,
        help=f"show the traceback of an error as well (or set {DEBUG_ENV}=1)",
    )
