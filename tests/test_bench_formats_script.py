"""scripts/bench_formats.py: a rerun never reads or replaces an earlier run's rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "bench_formats.py"



def test_a_rerun_gets_paths_of_its_own(tmp_path: Path, load_script) -> None:
    script = load_script("bench_formats")
    assert script._new_run_paths(tmp_path) == (tmp_path / "results.jsonl", tmp_path / "report")
    (tmp_path / "results.jsonl").write_text('{"old": 1}\n')
    (tmp_path / "report").mkdir()
    (tmp_path / "report-2").mkdir()  # a report left without its rows is not reused either
    assert script._new_run_paths(tmp_path) == (
        tmp_path / "results-3.jsonl", tmp_path / "report-3"
    )
    assert (tmp_path / "results.jsonl").read_text() == '{"old": 1}\n'


def test_core_ml_size_target_is_the_same_bytes_a_weight(load_script) -> None:
    """Core ML's reference is fp16 (2 bytes a weight), the others' fp32 (4 bytes): the same int8
    bytes a weight are twice the share of fp16's size, whatever the fp32 target is."""
    script = load_script("bench_formats")
    for fmt in ("onnx", "torchscript", "executorch"):
        assert script._size_target("coreml") * 2 == script._size_target(fmt) * 4


def test_measure_only_without_an_earlier_run_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--measure-only", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "no earlier run in" in done.stderr and "Traceback" not in done.stderr


def test_threads_come_from_a_measured_row_not_a_skipped_one(load_script) -> None:
    script = load_script("bench_formats")
    rows = [{"label": "x-coreml-fp16", "status": "skipped", "threads": None},
            {"label": "pytorch-fp32 (x)", "status": "ok", "threads": 2}]
    assert script.run_threads(rows) == 2
    assert script.run_threads(rows[:1]) == 1


def test_a_bad_count_is_refused_before_any_export(tmp_path: Path) -> None:
    """--trials 0 would only fail in the benchmark step, after the exports' minutes."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--trials", "0", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument --trials: must be >= 1, got 0" in done.stderr
    assert not any(tmp_path.iterdir())  # nothing exported
