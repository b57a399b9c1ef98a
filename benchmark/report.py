"""report.md and PNG plots from result rows (host and phone alike); `python -m benchmark report`.

One table (format, precision, size, load, p50, p90, the model's memory and the process's peak,
accuracy and the change against PyTorch fp32 of the same checkpoint), accuracy against size and
against p50 latency with the Pareto front marked, and the distribution of the timed runs.
With `--targets FILE` the command also prints the trade-off table and checks the targets
(benchmark.targets): exit status 1 when one is missed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.compare import accuracy_change, fp32_reference, speedup, throttled
from benchmark.compare import value_at as _get
from vqa.io import atomic_path, atomic_write_text

PLOTS = {
    "accuracy_vs_size": "accuracy_vs_size.png",
    "accuracy_vs_latency": "accuracy_vs_latency.png",
    "latency": "latency_distribution.png",
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `report` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write report.md and plots from results files",
        description="Merge JSON-lines results files (host runs, ingested phone rows) into one "
        "report: a Markdown table and PNG plots (--out), and check targets (--targets): "
        "exit status 1 when one is missed.",
    )
    parser.add_argument("results", type=Path, nargs="+", help="JSON-lines results files")
    parser.add_argument("--out", type=Path, metavar="DIR", help="report folder")
    parser.add_argument(
        "--targets", type=Path, metavar="FILE",
        help="targets file (TOML, e.g. recipes/easy_vqa_targets.toml): print the trade-off "
        "table and check the targets",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from benchmark.results import ResultsError, read_rows
    from benchmark.targets import print_verdict, read_targets

    if args.out is None and args.targets is None:
        print("error: give --out DIR (report), --targets FILE (checks), or both", file=sys.stderr)
        return 2
    targets = read_targets(args.targets) if args.targets else None
    try:
        rows = [row for path in args.results for row in read_rows(path)]
    except ResultsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not rows:
        print("error: no rows to report", file=sys.stderr)
        return 2
    if args.out is not None:
        print(write_report(rows, args.out))
    return print_verdict(rows, targets) if targets else 0


# figures --------------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: lower latency (x) and higher accuracy (y).

    Ordered by latency; of equal points the first is kept.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


# table ----------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "–" if value is None else f"{value / scale:.{digits}f}"


def _name(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    devices = {r["device"]["name"] for r in rows}
    return f"{row['label']} @ {row['device']['name']}" if len(devices) > 1 else row["label"]


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The one table of the report, a line a row; errors and skips say why in the last column."""
    header = (
        "| model | device | format | precision | size (MB) | load (ms) | p50 (ms) | p90 (ms) | "
        "model memory (MB) | process peak (MB) | accuracy | Δ acc vs PyTorch fp32 (pp) | "
        "agreement w/ fp32 (%) | speed-up vs fp32 | roofline | status |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        lat = row.get("latency_ms") or {}
        mem = row.get("memory") or {}
        change = accuracy_change(row, rows)
        up = speedup(row, rows)
        roof = _get(row, "roofline", "fraction")
        status = (
            row["status"]
            if row["status"] == "ok"
            else (f"{row['status']}: {(row.get('error') or '').splitlines()[0][:120]}")
        )
        cells = [
            row["label"],
            row["device"]["name"],
            row["format"],
            row["precision"],
            _num(mem.get("model_file_bytes"), 1, 1e6),
            _num(lat.get("load")),
            _num(lat.get("p50")),
            _num(lat.get("p90")),
            _num(mem.get("model_peak_rss_bytes"), 1, 1e6),
            _num(mem.get("peak_rss_bytes"), 0, 1e6),
            _num(_get(row, "accuracy", "overall"), 2),
            "–" if change is None else f"{change:+.2f}",
            _num(_get(row, "accuracy", "agreement_fp32"), 1),
            "–" if up is None else f"{up:.2f}x",
            "–" if roof is None else f"{100 * roof:.1f} %",
            status.replace("|", "/"),
        ]
        lines.append("| " + " | ".join(str(c).replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


# plots ----------------------------------------------------------------------------------------


def _scatter(ax, rows, xs, ys, names) -> None:
    formats = sorted({r["format"] for r in rows})
    markers = dict(zip(formats, "osD^vP*X", strict=False))
    for fmt in formats:
        idx = [i for i, r in enumerate(rows) if r["format"] == fmt]
        ax.scatter([xs[i] for i in idx], [ys[i] for i in idx], marker=markers[fmt], label=fmt, s=40)
    for x, y, text in label_groups(xs, ys, names):
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)


def label_groups(
    xs: Sequence[float], ys: Sequence[float], names: Sequence[str], near: float = 0.03
) -> list[tuple[float, float, str]]:
    """One label a cluster of points: names of points closer than `near` of the axis ranges
    (x on a log scale where `_log_if_wide` would set one) share one label, a line a name, so
    that labels of coinciding points are not printed over each other."""
    wide = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 20
    px = [math.log10(x) for x in xs] if wide else list(xs)

    def scaled(values: Sequence[float]) -> list[float]:
        span = (max(values) - min(values)) if values else 0.0
        return [(v - min(values)) / span if span else 0.0 for v in values]

    sx, sy = scaled(px), scaled(list(ys))
    groups: list[tuple[int, list[str]]] = []
    for i, name in enumerate(names):
        for anchor, members in groups:
            if abs(sx[i] - sx[anchor]) < near and abs(sy[i] - sy[anchor]) < near:
                members.append(name)
                break
        else:
            groups.append((i, [name]))
    return [(xs[i], ys[i], "\n".join(members)) for i, members in groups]


def _log_if_wide(ax, values: Sequence[float]) -> None:
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_xscale("log")


def _accuracy_scatter(rows, names, chosen, x_of, plt):
    """A figure of the chosen rows' accuracy against x_of(row), a marker a format; returns it
    with its axes, the rows and their coordinates."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sel = [rows[i] for i in chosen]
    xs = [x_of(r) for r in sel]
    ys = [r["accuracy"]["overall"] for r in sel]
    _scatter(ax, sel, xs, ys, [names[i] for i in chosen])
    return fig, ax, sel, xs, ys


def _label_accuracy_axes(ax, xs, xlabel: str, title: str, legend_size: int) -> None:
    _log_if_wide(ax, xs)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def _plot_accuracy_vs_size(rows, names, path: Path, plt) -> bool:
    chosen = [
        i
        for i, r in enumerate(rows)
        if _get(r, "accuracy", "overall") is not None and _get(r, "memory", "model_file_bytes")
    ]
    if not chosen:
        return False
    fig, ax, _, xs, _ = _accuracy_scatter(
        rows, names, chosen, lambda r: r["memory"]["model_file_bytes"] / 1e6, plt
    )
    _label_accuracy_axes(ax, xs, "model file size (MB)", "Accuracy vs size", 8)
    _save(fig, path, plt)
    return True


def _plot_accuracy_vs_latency(rows, names, path: Path, plt) -> bool:
    chosen = [
        i
        for i, r in enumerate(rows)
        if r["status"] == "ok" and _get(r, "accuracy", "overall") is not None
        and r.get("latency_ms")  # rows on emulated kernels have no latency
    ]
    if not chosen:
        return False
    fig, ax, sel, xs, ys = _accuracy_scatter(
        rows, names, chosen, lambda r: r["latency_ms"]["p50"], plt
    )
    for device in sorted({r["device"]["name"] for r in sel}):
        idx = [i for i, r in enumerate(sel) if r["device"]["name"] == device]
        front = [idx[j] for j in pareto_front([(xs[i], ys[i]) for i in idx])]
        ax.step(
            [xs[i] for i in front],
            [ys[i] for i in front],
            where="post",
            linestyle="--",
            color="gray",
            linewidth=1,
        )
        ax.scatter(
            [xs[i] for i in front],
            [ys[i] for i in front],
            s=160,
            facecolors="none",
            edgecolors="red",
            linewidths=1.2,
            label=f"Pareto front ({device})" if device else "Pareto front",
        )
    _label_accuracy_axes(
        ax, xs, "p50 latency, batch 1 (ms)", "Accuracy vs latency (circled: Pareto front)", 7
    )
    _save(fig, path, plt)
    return True


def _plot_latency(rows, names, path: Path, plt) -> bool:
    chosen = [i for i, r in enumerate(rows) if _get(r, "latency_ms", "samples")]
    if not chosen:
        return False
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(chosen) + 1.5))
    data = [rows[i]["latency_ms"]["samples"] for i in chosen]
    ax.boxplot(data, vert=False, whis=(1, 99), showmeans=True)
    ax.set_yticks(range(1, len(chosen) + 1), [names[i] for i in chosen], fontsize=8)
    ax.invert_yaxis()  # first row on top, as in the table
    _log_if_wide(ax, [min(d) for d in data] + [max(d) for d in data])
    ax.set_xlabel("latency per run, batch 1 (ms); whiskers p1-p99, triangle = mean")
    ax.set_title("Latency distributions")
    ax.grid(alpha=0.3, axis="x")
    _save(fig, path, plt)
    return True


def spread_labels(ax) -> None:
    """Move each point label up or down by whole label heights (0, +1, -1, +2, ...) until it
    overlaps no label placed before it: neighbouring points' labels stay readable."""
    renderer = ax.figure.canvas.get_renderer()
    placed = []
    for label in ax.texts:
        if not hasattr(label, "xyann"):
            continue
        x0, y0 = label.xyann
        height = label.get_window_extent(renderer).height * 72 / ax.figure.dpi + 1
        for k in range(60):
            label.xyann = (x0, y0 + (k + 1) // 2 * height * (1 if k % 2 else -1))
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(box)


def _save(fig, path: Path, plt) -> None:
    fig.tight_layout()
    for ax in fig.axes:
        spread_labels(ax)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)


def point_name(row: dict[str, Any], name: str, rows: Sequence[dict[str, Any]]) -> str:
    """A point's label on the accuracy plots: its name and its accuracy change against fp32, so
    int4 and cut-vocabulary bundles read beside fp32 and int8 ones."""
    change = accuracy_change(row, rows)
    if change is None or fp32_reference(row, rows) is row:
        return name
    return f"{name} ({change:+.2f} pp)"


def write_report(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> Path:
    """Write report.md and the plots into `out_dir`; returns the path of report.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    names = [_name(r, rows) for r in rows]
    points = [point_name(r, name, rows) for r, name in zip(rows, names, strict=True)]
    drawn = {
        "accuracy_vs_size": _plot_accuracy_vs_size(
            rows, points, out / PLOTS["accuracy_vs_size"], plt
        ),
        "accuracy_vs_latency": _plot_accuracy_vs_latency(
            rows, points, out / PLOTS["accuracy_vs_latency"], plt
        ),
        "latency": _plot_latency(rows, names, out / PLOTS["latency"], plt),
    }
    text = [_intro(rows), markdown_table(rows), ""]
    titles = {
        "accuracy_vs_size": "Accuracy vs size",
        "accuracy_vs_latency": "Accuracy vs p50 latency (Pareto front circled)",
        "latency": "Latency distributions",
    }
    for key, title in titles.items():
        text.append(f"## {title}\n")
        if drawn[key]:
            text.append(f"![{title}]({PLOTS[key]})\n")
        else:
            (out / PLOTS[key]).unlink(missing_ok=True)
            why = "timed runs" if key == "latency" else "accuracy (run with --data)"
            text.append(f"No plot: no row has {why}.\n")
    text.append(kernels_table(rows))
    text.append(_details(rows))
    report = out / "report.md"
    atomic_write_text(report, "\n".join(text))
    return report


def _intro(rows: Sequence[dict[str, Any]]) -> str:
    devices = sorted({f"{r['device']['name']} ({r['device']['os']})" for r in rows})
    threads = sorted({str(r["threads"]) for r in rows if r.get("threads")})
    data = sorted(
        {
            f"{r['accuracy']['data']} {r['accuracy']['split']} (n = {r['accuracy']['n']})"
            for r in rows
            if r.get("accuracy")
        }
    )
    ceiling = next((r["roofline"]["matmul_gflops"] for r in rows if r.get("roofline")), None)
    lines = [
        "# Benchmark report\n",
        f"- devices: {'; '.join(devices)}",
        f"- threads: {', '.join(threads) or '–'}; latency at batch 1, times in ms, sizes in MB "
        "(10^6 bytes)",
        f"- accuracy data: {'; '.join(data) or 'none (latency only)'}",
    ]
    lines.append(
        "- Δ acc vs PyTorch fp32: accuracy points against PyTorch fp32 of the same checkpoint on "
        "the same questions (on the same device where there is one); agreement w/ fp32: the "
        "share of questions answered as PyTorch fp32 answers them; speed-up vs fp32: PyTorch "
        "fp32 p50 / p50, on the same device and within one undisturbed run"
    )
    lines.append(
        "- model memory: the peak RSS the model adds to its measuring process, over a baseline "
        "taken in that process after the runtime is imported and before the model is loaded "
        "(Linux: the kernel's high-water mark reset at the baseline); process peak: the peak "
        "RSS of the whole process, runtime libraries included (torch alone is hundreds of MB)"
    )
    runs = {r.get("run_id"): r["machine_check"] for r in rows if r.get("machine_check")}
    interleaved = {r.get("run_id") for r in rows if r.get("per_round_ms")}
    for run_id, check in sorted(runs.items(), key=lambda item: str(item[0])):
        state = {True: "DISTURBED (rerun on a quiet machine; no speed-ups computed)",
                 False: "steady", None: "unknown (the run did not finish)"}[check["disturbed"]]
        if run_id in interleaved:
            state = (f"{'moved' if check['disturbed'] else 'steady'} (interleaved: a diagnostic; "
                     "speed-ups are medians of per-round ratios)")
        lines.append(f"- run {run_id}: machine {state}; {check.get('reason', '')}")
    if any(throttled(r) is not None for r in rows):
        hot = [r["label"] for r in rows if throttled(r)]
        lines.append(
            "- phone thermal state at the start and end of each measurement; throttled means "
            "anything but none (Android) or nominal (iOS): "
            + (f"throttled rows: {', '.join(hot)}" if hot else "no row throttled")
        )
    if ceiling:
        lines.append(
            f"- roofline: achieved GFLOP/s (2 x MACs / p50) as a fraction of the dense fp32 "
            f"matmul throughput measured in the same run ({ceiling:.1f} GFLOP/s); int8 rows "
            "can pass 100 %, since int8 arithmetic is faster than that fp32 ceiling"
        )
    return "\n".join(lines) + "\n"


def kernels_table(rows: Sequence[dict[str, Any]]) -> str:
    """arm64 bundles on the host's kernels beside the same bundles on emulated arm64 kernels
    (`--kernels arm64`), with the agreement of the two; empty without emulated rows."""
    emulated = [r for r in rows if r.get("kernels") and r["status"] == "ok"]
    if not emulated:
        return ""
    lines = [
        "## arm64 bundles: host kernels and emulated arm64 kernels\n",
        "Emulated rows run the same bundle, inputs and batches in the arm64 build of its "
        "runtime under qemu-user, whose CPU model decides the int8 kernels (dotprod, i8mm); "
        "they have no latency.\n",
        "| bundle | host kernels: accuracy | agreement w/ fp32 (%) | emulated CPU (features) | "
        "arm64 kernels: accuracy | agreement w/ fp32 (%) | arm64 vs host: same answers (%) | "
        "max logit diff |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in emulated:
        host = next((r for r in rows if r.get("run_id") == row.get("run_id")
                     and not r.get("kernels") and r.get("bundle") == row.get("bundle")), {})
        kernels = row["kernels"]
        cpu = f"{kernels['qemu_cpu']} ({', '.join(kernels.get('features') or []) or 'none'})"
        cells = [
            host.get("label", row["label"]),
            _num(_get(host, "accuracy", "overall"), 2),
            _num(_get(host, "accuracy", "agreement_fp32"), 1),
            cpu,
            _num(_get(row, "accuracy", "overall"), 2),
            _num(_get(row, "accuracy", "agreement_fp32"), 1),
            _num(_get(row, "accuracy", "agreement_host_kernels"), 1),
            _num(_get(row, "accuracy", "max_abs_logit_diff_host_kernels"), 3),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _details(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["## Notes\n"]
    for row in rows:
        notes = list(row.get("notes") or [])
        if row["status"] != "ok" and row.get("error"):
            notes.insert(0, f"{row['status']}: {row['error'].splitlines()[0]}")
        for note in notes:
            lines.append(f"- **{row['label']}**: {note}")
    return "\n".join(lines) + "\n" if len(lines) > 1 else ""
