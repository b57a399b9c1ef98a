"""User-facing errors: what the command line reports in one line, without a traceback."""

from __future__ import annotations

from vqa.answers import AnswerVocabError
from vqa.checkpoint import CheckpointError
from vqa.configs import UnknownArchError
from vqa.data import BadImageError, VizWizFormatError
from vqa.metrics import MetricInputError
from vqa.tokenizer import TokenizerError


class TrainError(ValueError):
    """A problem with the user's input or run folder; the message says what and where."""


class NonFiniteLossError(TrainError):
    """The loss became NaN or infinite; training stopped without saving that step."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    TrainError,
    CheckpointError,
    UnknownArchError,
    BadImageError,
    VizWizFormatError,
    MetricInputError,
    TokenizerError,
    AnswerVocabError,
    FileNotFoundError,
)


def one_line(err: BaseException) -> str:
    """The message of `err` on one line.

    DataLoader workers re-raise an error with the worker's traceback in its message; only the
    original message (its last line, without the exception's class name) matters to a user.
    """
    text = str(err).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        name, sep, message = last.partition(": ")
        text = message if sep and (name.endswith("Error") or "." in name) else last
    return " ".join(text.split())
