"""Result rows: the JSON Schema, the JSON-lines file, latency statistics and the roofline figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.probe import achieved, int8_run, machine_check, matmul_gflops
from benchmark.results import (
    ResultsError,
    ResultsFile,
    load_row_file,
    read_rows,
    results_schema,
    validate_row,
)
from benchmark.stats import summarize


def make_row(label: str = "onnx-int8", **changes) -> dict:
    row = {
        "schema_version": 1,
        "created": "2026-11-27T00:00:00+00:00",
        "status": "ok",
        "source": "host",
        "label": label,
        "format": "onnx",
        "precision": "int8",
        "device": {"kind": "host", "name": "AMD EPYC", "os": "Linux 6", "arch": "x86_64"},
        "threads": 2,
        "latency_ms": summarize([0.010, 0.012, 0.011], load_s=0.2, first_s=0.05, warmup=1),
        "memory": {"peak_rss_bytes": 10**8, "load_rss_bytes": 10**7,
                   "model_file_bytes": 10**6, "bundle_bytes": 2 * 10**6},
    }
    row.update(changes)
    return row


def test_summary_figures():
    times = [0.001 * t for t in range(1, 101)]  # 1 .. 100 ms
    s = summarize(times, load_s=1.5, first_s=0.25, warmup=3)
    assert s["runs"] == 100 and s["warmup"] == 3
    assert s["load"] == pytest.approx(1500) and s["first_inference"] == pytest.approx(250)
    assert s["mean"] == pytest.approx(50.5) and s["p50"] == pytest.approx(50.5)
    assert s["p90"] == pytest.approx(90.1) and s["p99"] == pytest.approx(99.01)
    assert s["std"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s["trimmed_mean"] == pytest.approx(np.mean(np.arange(11, 91)))  # middle 80 %
    assert s["min"] == pytest.approx(1) and s["max"] == pytest.approx(100)
    assert len(s["samples"]) == 100
    assert "samples" not in summarize([0.1], load_s=None, first_s=None, warmup=0,
                                      keep_samples=False)
    with pytest.raises(ValueError, match="no timed runs"):
        summarize([], load_s=None, first_s=None, warmup=0)


def test_trimmed_mean_ignores_outliers():
    times = [0.010] * 18 + [5.0, 9.0]
    s = summarize(times, load_s=None, first_s=None, warmup=0)
    assert s["trimmed_mean"] == pytest.approx(10.0) and s["mean"] > 500


def test_schema_accepts_rows_of_every_status():
    validate_row(make_row())
    validate_row(make_row(status="error", error="boom", latency_ms=None, memory=None,
                          format="unknown", precision="unknown"))
    validate_row(make_row(status="skipped", error="needs macOS", latency_ms=None))
    phone = make_row(source="android-app", device={"kind": "phone", "name": "Pixel 8",
                                                   "os": "Android 15"}, threads=4)
    validate_row(phone)
    assert results_schema()["$id"].endswith("/1")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "ok", "latency_ms": None}, "latency_ms"),
        ({"status": "error"}, "'error' is a required property"),
        ({"format": "tflite"}, "format: 'tflite' is not one of"),
        ({"schema_version": 2}, "results schema version 2 is not supported"),
        ({"threads": 0}, "threads: 0 is less than the minimum"),
        ({"surprise": 1}, "Additional properties are not allowed"),
    ],
)
def test_schema_rejects_bad_rows(change, message):
    with pytest.raises(ResultsError, match=message):
        validate_row(make_row(**change), "row 7")


def test_results_file_is_rewritten_whole_after_each_row(tmp_path):
    path = tmp_path / "out" / "results.jsonl"
    results = ResultsFile(path)
    assert path.read_text() == ""
    results.add(make_row("a"))
    results.add(make_row("b"))
    assert [r["label"] for r in read_rows(path)] == ["a", "b"]
    with pytest.raises(ResultsError):
        results.add(make_row("bad", status="weird"))
    assert [r["label"] for r in read_rows(path)] == ["a", "b"]
    assert not [p for p in path.parent.iterdir() if p.name != "results.jsonl"]
    ResultsFile(path, append=True).add(make_row("c"))
    assert [r["label"] for r in read_rows(path)] == ["a", "b", "c"]
    ResultsFile(path)  # not appending: starts afresh
    assert read_rows(path) == []


def test_read_rows_names_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(make_row()) + "\n{oops\n", "utf-8")
    with pytest.raises(ResultsError, match=r"r.jsonl, line 2: not valid JSON"):
        read_rows(path)
    with pytest.raises(ResultsError, match="results file not found"):
        read_rows(tmp_path / "absent.jsonl")


def test_row_files_in_three_shapes(tmp_path):
    one, many, lines = (tmp_path / n for n in ("one.json", "many.json", "lines.jsonl"))
    one.write_text(json.dumps(make_row("x")), "utf-8")
    many.write_text(json.dumps([make_row("x"), make_row("y")]), "utf-8")
    lines.write_text(json.dumps(make_row("x")) + "\n" + json.dumps(make_row("y")) + "\n")
    assert [len(load_row_file(p)) for p in (one, many, lines)] == [1, 2, 2]
    many.write_text(json.dumps([make_row("x"), {"label": "y"}]), "utf-8")
    with pytest.raises(ResultsError, match=r"many.json, row 1: does not follow"):
        load_row_file(many)


def test_roofline_fraction():
    ceiling = {"gflops": 100.0, "size": 2048}
    figure = achieved(macs=5 * 10**9, p50_ms=200.0, ceiling=ceiling)
    assert figure["achieved_gflops"] == pytest.approx(50.0)  # 2 * 5 GMAC / 0.2 s
    assert figure["fraction"] == pytest.approx(0.5)
    assert achieved(None, 200.0, ceiling) is None and achieved(10, 1.0, None) is None
    measured = matmul_gflops(threads=1, size=128, repeats=3)
    assert measured["gflops"] >= measured["gflops_median"] > 0


def _probe(gflops: float, reference_ms: float, int8_ms: float | None = None) -> dict:
    probe = {"gflops": gflops, "size": 2048, "reference": {"ms_median": reference_ms}}
    if int8_ms is not None:
        probe["int8"] = {"ms_median": int8_ms}
    return probe


@pytest.mark.parametrize(
    ("end", "disturbed", "moved"),
    [
        (_probe(95.0, 10.9), False, None),  # -5 % and +9 %: within the 15 % margin
        (_probe(80.0, 10.0), True, "matmul_gflops -20.0 %"),
        (_probe(100.0, 11.6), True, "reference_ms +16.0 %"),
        (None, None, None),  # no end probe: the run did not finish
    ],
)
def test_machine_check_margin(end, disturbed, moved):
    check = machine_check(_probe(100.0, 10.0), end, margin=0.15)
    assert check["disturbed"] is disturbed
    if moved:
        assert moved in check["reason"]


def test_a_slow_int8_phase_between_targets_marks_the_run_disturbed():
    """Start and end agree, but the probe taken between two targets ran int8 40 % slower (the
    host's slow int8 phases, which fp32 figures hardly show): disturbed, and that change is the
    one recorded."""
    start, end = _probe(100.0, 10.0, 7.0), _probe(99.0, 10.1, 7.1)
    between = [_probe(98.0, 10.2, 9.8), None, _probe(100.0, 10.0, 7.2)]
    check = machine_check(start, end, margin=0.15, between=between)
    assert check["disturbed"] is True
    assert check["changes"]["int8_ms"] == pytest.approx(0.4)
    assert "int8_ms +40.0 %" in check["reason"]
    assert len(check["between"]) == 2  # a failed probe (None) is left out
    steady = machine_check(start, end, margin=0.15, between=between[1:])
    assert steady["disturbed"] is False and "in all 3 probes" in steady["reason"]


@pytest.mark.parametrize(
    ("int8_ms", "status"), [((7.0, 7.3, 6.9, 7.1), 0), ((7.0, 7.2, 9.9, 7.1), 1)]
)
def test_watch_judges_back_to_back_probes_as_a_run(monkeypatch, int8_ms, status, tmp_path):
    """Probes a second apart (a scripted machine): the third one's int8 run is 41 % slower in
    the second case, so the watch says a run would be marked disturbed and exits with 1."""
    from benchmark import probe as roofline

    clock = {"now": 0.0}
    figures = iter(int8_ms)

    def scripted_probe(threads, size, repeats):
        clock["now"] += 1.0
        return _probe(100.0, 10.0, next(figures))

    monkeypatch.setattr(roofline, "probe", scripted_probe)
    monkeypatch.setattr(roofline.time, "perf_counter", lambda: clock["now"])
    lines = []
    check = roofline.watch(2, seconds=3.5, print_line=lines.append)
    assert len(lines) == 5 and lines[2].startswith("   3.0 s")
    assert check["disturbed"] is bool(status)
    assert lines[-1].startswith("4 probes in 4 s, 2 thread(s): ")
    assert ("DISTURBED" in lines[-1]) is bool(status)
    figures = iter(int8_ms)
    clock["now"] = 0.0
    out = tmp_path / "watch.json"
    assert roofline.main(["--threads", "2", "--watch", "3.5", "--out", str(out)]) == status
    assert json.loads(out.read_text())["disturbed"] is bool(status)


def test_int8_run_times_onnxruntimes_int8_kernel(monkeypatch):
    """What is timed is the int8 MLP: its output against numpy's float MLP on the same seeded
    weights (int8 values times the 1e-3 scale), within the rounding of int8 activations; the
    figure is the median of the timed calls (scripted here: 3, 1 and 2 ms)."""
    from benchmark import probe

    outputs = []

    def timed(run, repeats, warmup=3):
        outputs.append(run()[0])
        return [3.0, 1.0, 2.0]

    monkeypatch.setattr(probe, "_timed_ms", timed)
    measured = int8_run(threads=1, repeats=3)
    assert measured["ms_median"] == 2.0 and measured["mlp"] == [576, 768, 3072]
    tokens, width, hidden = 576, 768, 3072
    rng = np.random.default_rng(0)  # the probe's draws, in its order
    w1 = rng.integers(-127, 128, (width, hidden), dtype=np.int8).astype(np.float64) * 1e-3
    w2 = rng.integers(-127, 128, (hidden, width), dtype=np.int8).astype(np.float64) * 1e-3
    x = rng.standard_normal((tokens, width), dtype=np.float32).astype(np.float64)
    expected = np.maximum(x @ w1, 0.0) @ w2
    error = np.linalg.norm(outputs[0] - expected) / np.linalg.norm(expected)
    assert error < 0.05, error


def test_rows_of_one_run_get_the_end_verdict(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    results.add(make_row("a", run_id="run1"))
    results.add(make_row("b", run_id="run2"))
    check = machine_check(_probe(100.0, 10.0), _probe(50.0, 10.0))
    results.update_run("run1", {"machine_check": check})
    first, second = read_rows(results.path)
    assert first["machine_check"]["disturbed"] is True and "machine_check" not in second
    with pytest.raises(ResultsError, match="row 'a'"):
        results.update_run("run1", {"machine_check": {"disturbed": "maybe"}})
