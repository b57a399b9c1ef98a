"""Result rows: one versioned JSON Schema for host and phone, stored as JSON lines.

Rows are validated before they are written, and the file is rewritten atomically after every row,
so an interrupted run leaves a readable file holding every row finished so far. Several runs may
add to one file at once (`--append`): each change is made under a lock, to the rows on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vqa.errors import UserError
from vqa.io import atomic_write_text, folder_lock
from vqa.schema import load_schema, schema_problems

RESULTS_VERSION = 1


class ResultsError(UserError):
    """A row or results file that does not follow the schema; the message names where."""


def results_schema() -> dict[str, Any]:
    return load_schema("benchmark", "results.schema.json")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_row(row: Any, where: str = "row") -> None:
    """Raise ResultsError naming the first problems when `row` breaks the schema."""
    if isinstance(row, dict) and row.get("schema_version") not in (None, RESULTS_VERSION):
        raise ResultsError(
            f"{where}: results schema version {row.get('schema_version')!r} is not supported "
            f"(this toolkit reads version {RESULTS_VERSION})"
        )
    details = schema_problems(row, results_schema())
    if details:
        raise ResultsError(f"{where}: does not follow the results schema: {details}")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSON-lines results file, validated."""
    path = Path(path)
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        raise ResultsError(f"{path}: results file not found") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ResultsError(f"{path}, line {number}: not valid JSON ({err})") from None
        validate_row(row, f"{path}, line {number}")
        rows.append(row)
    return rows


def load_row_file(path: str | Path) -> list[dict[str, Any]]:
    """Rows from a file an app wrote: one row object, a JSON list of rows, or JSON lines."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not UTF-8 text ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return read_rows(path)
    rows = data if isinstance(data, list) else [data]
    if not rows:
        raise ResultsError(f"{path}: holds no rows")
    for i, row in enumerate(rows):
        validate_row(row, f"{path}, row {i}")
    return rows


class ResultsFile:
    """A JSON-lines file that gains one validated row at a time, each write atomic.

    Every change holds the lock of the file's folder, reads the rows on disk, changes them and
    writes the file back, so that processes appending to one file at once keep each other's rows.
    `rows` is the file as this process last wrote it; `added` holds the rows this object added.
    """

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = Path(path)
        self.added: list[dict[str, Any]] = []
        with folder_lock(self.path.parent):
            if append and self.path.exists():
                self.rows = read_rows(self.path)
            else:
                self.rows = []
                self._write()

    def add(self, row: dict[str, Any]) -> None:
        validate_row(row, f"new row {row.get('label')!r} for {self.path}")
        with folder_lock(self.path.parent):
            self._reread()
            self.rows.append(row)
            self._write()
        self.added.append(row)

    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Set `fields` on every row of run `run_id` (what is known only when the run ends)."""
        with folder_lock(self.path.parent):
            self._reread()
            updated = [
                {**row, **fields} if row.get("run_id") == run_id else row for row in self.rows
            ]
            for row in updated:
                if row.get("run_id") == run_id:
                    validate_row(row, f"row {row.get('label')!r} of {self.path}")
            self.rows = updated
            self._write()
        self.added = [
            {**row, **fields} if row.get("run_id") == run_id else row for row in self.added
        ]

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.add(row)

    def _reread(self) -> None:
        """The rows on disk now: other processes may have added theirs since the last write."""
        self.rows = read_rows(self.path) if self.path.exists() else []

    def _write(self) -> None:
        atomic_write_text(
            self.path,
            "".join(
                json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in self.rows
            ),
        )
