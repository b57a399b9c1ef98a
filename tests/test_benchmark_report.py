"""report.md and plots from rows: the table, changes against fp32, the Pareto front."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_benchmark_results import make_row

from benchmark.__main__ import main
from benchmark.report import (
    accuracy_change,
    markdown_table,
    pareto_front,
    speedup,
    write_report,
)
from benchmark.stats import summarize

SHA = "a" * 64
PNG = b"\x89PNG\r\n\x1a\n"


def _row(label, fmt, precision, p50_ms, accuracy, size, **changes):
    times = [p50_ms / 1e3 * f for f in (0.9, 1.0, 1.0, 1.1, 1.3)]
    fields = {
        "format": fmt,
        "precision": precision,
        "role": "baseline" if fmt == "pytorch" else "bundle",
        "run_id": "run1",
        "model": {"checkpoint_sha256": SHA},
        "latency_ms": summarize(times, load_s=0.1, first_s=0.2, warmup=1),
        "memory": {"peak_rss_bytes": 5 * 10**8, "model_file_bytes": size, "bundle_bytes": size},
        "accuracy": {"data": "vizwiz:/d", "split": "val", "n": 10, "overall": accuracy},
    }
    return make_row(label, **{**fields, **changes})


@pytest.fixture()
def rows():
    phone = {"kind": "phone", "name": "Pixel 8", "os": "Android 15"}
    return [
        _row("pytorch-fp32", "pytorch", "fp32", 100.0, 50.0, 4 * 10**8),
        _row("onnx-fp32", "onnx", "fp32", 60.0, 50.0, 4 * 10**8),
        _row("onnx-int8", "onnx", "int8", 30.0, 48.5, 10**8),
        _row("executorch-int8", "executorch", "int8", 45.0, 47.0, 10**8),
        _row("ptl-int8-phone", "torchscript", "int8", 80.0, 48.0, 10**8, device=phone,
             source="android-app", run_id="app"),
        make_row("coreml-fp16", format="coreml", precision="fp16", status="skipped",
                 error="Core ML predictions need macOS", latency_ms=None),
        make_row("broken", format="unknown", precision="unknown", status="error",
                 error="x: no such bundle folder\nmore", latency_ms=None, memory=None),
    ]


@pytest.mark.parametrize(
    ("points", "front"),
    [
        ([(1, 1)], [0]),
        ([(10, 50), (5, 48), (20, 49), (3, 40), (30, 60)], [3, 1, 0, 4]),
        ([(5, 50), (5, 50), (6, 50)], [0]),
        ([(5, 40), (5, 50)], [1]),
        ([], []),
    ],
)
def test_pareto_front(points, front):
    assert pareto_front(points) == front


def test_changes_against_fp32(rows):
    fp32, onnx32, onnx8, _, phone = rows[:5]
    assert accuracy_change(onnx8, rows) == pytest.approx(-1.5)
    assert accuracy_change(phone, rows) == pytest.approx(-2.0)  # accuracy is device-free
    assert speedup(onnx8, rows) == pytest.approx(100 / 30)
    assert speedup(phone, rows) is None  # no PyTorch fp32 row on that phone
    assert speedup(fp32, rows) == pytest.approx(1.0)
    other_data = {**onnx32, "accuracy": {**onnx32["accuracy"], "n": 9}}
    assert accuracy_change(other_data, rows) is None
    assert accuracy_change(rows[0], rows[1:]) is None  # no reference


def test_table_has_every_row_and_why(rows):
    table = markdown_table(rows)
    lines = table.splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    onnx8 = next(line for line in lines if line.startswith("| onnx-int8 |"))
    assert "| -1.50 |" in onnx8 and "| 3.33x |" in onnx8 and "| 100.0 |" in onnx8
    assert "skipped: Core ML predictions need macOS" in table
    assert "error: x: no such bundle folder |" in table  # first line of the error only


def test_report_files(rows, tmp_path):
    report = write_report(rows, tmp_path / "rep")
    text = report.read_text("utf-8")
    assert "Pixel 8 (Android 15)" in text and "AMD EPYC (Linux 6)" in text
    for name in ("accuracy_vs_size.png", "accuracy_vs_latency.png", "latency_distribution.png"):
        assert (tmp_path / "rep" / name).read_bytes()[:8] == PNG
        assert f"]({name})" in text
    assert not [p for p in (tmp_path / "rep").iterdir() if p.name.startswith(".")]


def test_report_without_accuracy_says_so(rows, tmp_path):
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "accuracy_vs_size.png").write_bytes(b"stale")
    latency_only = [{**row, "accuracy": None} for row in rows]
    text = write_report(latency_only, tmp_path / "rep").read_text("utf-8")
    assert text.count("No plot: no row has accuracy (run with --data)") == 2
    assert not (tmp_path / "rep" / "accuracy_vs_size.png").exists()
    assert (tmp_path / "rep" / "latency_distribution.png").is_file()


def test_report_command_merges_files(rows, tmp_path, capsys):
    host, phone = tmp_path / "host.jsonl", tmp_path / "phone.jsonl"
    host.write_text("".join(json.dumps(r) + "\n" for r in rows[:4]), "utf-8")
    phone.write_text(json.dumps(rows[4]) + "\n", "utf-8")
    assert main(["report", str(host), str(phone), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text("utf-8")
    assert "| ptl-int8-phone |" in text and "| pytorch-fp32 |" in text
    phone.write_text("{}\n", "utf-8")
    assert main(["report", str(phone), "--out", str(tmp_path / "rep2")]) == 2
    assert "does not follow the results schema" in capsys.readouterr().err


def _checked(row, disturbed, run="run1"):
    check = {"start": {"gflops": 50.0}, "end": {"gflops": 50.0}, "margin": 0.15,
             "disturbed": disturbed, "reason": "-"}
    return {**row, "run_id": run, "machine_check": check}


def test_speedups_only_within_one_undisturbed_run(rows):
    fp32, onnx8 = rows[0], rows[2]
    steady = [_checked(fp32, False), _checked(onnx8, False)]
    assert speedup(steady[1], steady) == pytest.approx(100 / 30)
    for state in (True, None):  # disturbed, or unknown (the run did not finish)
        unsure = [_checked(fp32, state), _checked(onnx8, state)]
        assert speedup(unsure[1], unsure) is None
        assert "3.33x" not in markdown_table(unsure)
    across_runs = [_checked(fp32, False, run="run0"), _checked(onnx8, False)]
    assert speedup(across_runs[1], across_runs) is None


def test_model_memory_is_the_headline_memory_column(rows, tmp_path):
    memory = {**rows[2]["memory"], "baseline_rss_bytes": 7 * 10**8,
              "model_peak_rss_bytes": 123_400_000}
    row = _checked({**rows[2], "memory": memory}, True)
    header, _, line = markdown_table([row]).splitlines()
    cells = dict(zip(header.split("|"), line.split("|"), strict=True))
    assert cells[" model memory (MB) "].strip() == "123.4"
    assert cells[" process peak (MB) "].strip() == "500"
    text = write_report([row], tmp_path / "rep").read_text("utf-8")
    assert "over a baseline taken in that process after the runtime is imported" in text
    assert "machine DISTURBED (rerun on a quiet machine" in text


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _has_colour(pixels, rgb, tolerance=8):
    return bool((np.abs(pixels.astype(int) - rgb).max(axis=2) <= tolerance).any())


def test_plots_read_back_show_their_series(rows, tmp_path):
    """The PNGs decoded: the size the figures ask for (7 x 4.5 inches at 120 dpi), a marker of
    each format in matplotlib's colour cycle (C0-C3 by format name), the Pareto front's red
    rings on the latency plot, and one box a timed row on the latency distribution."""
    from matplotlib import colors

    write_report(rows, tmp_path)
    cycle = [tuple(round(255 * c) for c in colors.to_rgb(f"C{i}")) for i in range(4)]
    size = _pixels(tmp_path / "accuracy_vs_size.png")
    assert size.shape == (540, 840, 3)
    # formats with accuracy and size: executorch, onnx, pytorch, torchscript (sorted): C0-C3
    assert all(_has_colour(size, rgb) for rgb in cycle)
    latency = _pixels(tmp_path / "accuracy_vs_latency.png")
    assert _has_colour(latency, (255, 0, 0), tolerance=40)
    assert not _has_colour(size, (255, 0, 0), tolerance=40)
    boxes = _pixels(tmp_path / "latency_distribution.png")
    timed = sum(1 for r in rows if (r.get("latency_ms") or {}).get("samples"))
    assert boxes.shape == (round(120 * (0.5 * timed + 1.5)), 840, 3)


def test_plot_labels_of_coinciding_points_share_one_label():
    from benchmark.report import label_groups

    # By hand: int8 ONNX and ExecuTorch bundles of 0.65 and 0.66 MB at 91.2 % sit 1 % of the
    # size range apart (0.65-1.65 MB) and at equal accuracy: one label, a line each; the fp32
    # bundle at 1.65 MB, 91.4 % is far from both.
    groups = label_groups([0.65, 0.66, 1.65], [91.2, 91.2, 91.4],
                          ["student-onnx-int8", "student-executorch-int8", "student-onnx-fp32"])
    assert groups == [(0.65, 91.2, "student-onnx-int8\nstudent-executorch-int8"),
                      (1.65, 91.4, "student-onnx-fp32")]
    # Sizes spanning more than 20x are compared on a log scale, as the plot draws them:
    # log10(1.1) - log10(1.0) = 0.041 of log10(100) = 2 is 2 % of the range: one label.
    assert len(label_groups([1.0, 1.1, 100.0], [90.0, 90.0, 90.0], ["a", "b", "c"])) == 2


def test_plot_labels_of_neighbouring_points_do_not_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.report import spread_labels

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    # Three labels whose texts start 0.2 apart on one line: as placed they overlap.
    labels = [ax.annotate(f"student-onnx-int8-{i}", (1 + 0.2 * i, 5), textcoords="offset points",
                          xytext=(4, 4), fontsize=7) for i in range(3)]
    renderer = fig.canvas.get_renderer()
    assert labels[0].get_window_extent(renderer).overlaps(labels[1].get_window_extent(renderer))
    spread_labels(ax)
    boxes = [label.get_window_extent(renderer) for label in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)
