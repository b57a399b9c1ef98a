"""Faults a user meets outside the happy path: runs at once, files that point outside, sizes the
machine cannot hold. Each test sets the fault up for real (processes, symlinks, limits)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from test_benchmark_results import make_row

from benchmark.results import ResultsFile, read_rows

WRITERS, ROWS_EACH = 4, 6


def _append_rows(path: Path, writer: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()  # every writer has started: their appends overlap
    results = ResultsFile(path, append=True)
    for i in range(ROWS_EACH):
        results.add(make_row(f"w{writer}-{i}"))


def test_runs_appending_to_one_results_file_at_once_keep_every_row(tmp_path):
    path = tmp_path / "same.jsonl"
    ResultsFile(path).add(make_row("before"))
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(WRITERS)
    writers = [spawn.Process(target=_append_rows, args=(path, w, start)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    labels = [row["label"] for row in read_rows(path)]
    expected = {"before"} | {f"w{w}-{i}" for w in range(WRITERS) for i in range(ROWS_EACH)}
    assert len(labels) == len(expected) and set(labels) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.jsonl"]  # no lock file, no temp
