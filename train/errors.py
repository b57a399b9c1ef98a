"""User-facing errors of `python -m train`: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

from vqa.errors import UserError


class TrainError(UserError):
    """A problem with the user's input or run folder; the message says what and where."""


class NonFiniteLossError(TrainError):
    """The loss became NaN or infinite; training stopped without saving that step."""

