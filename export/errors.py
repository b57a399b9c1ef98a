"""The two ways an export stops: bad input (nothing was exported) and a failed check."""

from __future__ import annotations

from vqa.errors import UserError


class ExportError(UserError):
    """Bad input or an unusable artifact; the message names the file or format and the problem."""


class ParityError(RuntimeError):
    """An artifact whose outputs differ from the PyTorch fp32 model beyond the thresholds."""
