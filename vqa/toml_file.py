"""Flat TOML files of plain values (training recipes, benchmark targets), read with one set of
error messages that name the flag, the file and the problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from vqa.errors import UserError


def read_flat_toml(
    path: str | Path, flag: str, what: str, error: type[UserError] = UserError
) -> dict[str, Any]:
    """The key/value table of `path` given as `flag` (a `what`: "a recipe", "a targets file");
    a missing file, a folder, non-UTF-8 or bad TOML, or a nested table raises `error`."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            table = tomllib.load(stream)
    except FileNotFoundError:
        raise error(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{flag} {path}: is a folder, not {what} file") from None
    except UnicodeDecodeError:
        raise error(f"{flag} {path}: not {what} (TOML is UTF-8 text)") from None
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}") from None
    nested = [key for key, value in table.items() if isinstance(value, (dict, list))]
    if nested:
        raise error(f"{path}: {nested[0]}: {what} holds plain values only")
    return table
