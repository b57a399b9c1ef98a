"""`python -m benchmark ingest FILE.json`: add rows a demo app wrote on a phone to a results file.

The apps write rows in the same schema as the host harness (device = phone model and OS). Sizes
the app did not record are filled in from the bundle's manifest when --bundle is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `ingest` subcommand."""
    parser = subparsers.add_parser(
        "ingest",
        help="add phone result rows (from the demo apps) to a results file",
        description="Validate rows written by the Android or iOS demo app's benchmark mode "
        "(one row, a JSON list of rows, or JSON lines) and append them to a results file.",
    )
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE", help="app result files")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("results.jsonl"),
        help="JSON-lines results file to append to (results.jsonl)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        help="the bundle the rows measured: fills in sizes and source checkpoint",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="then write report.md and plots from every row of --results",
    )
    parser.set_defaults(run=run)
    return parser


def complete_from_bundle(row: dict[str, Any], bundle) -> dict[str, Any]:
    """Fill what an app may leave out (sizes, bundle path, source checkpoint) from a Bundle."""
    row = dict(row)
    memory = dict(row.get("memory") or {})
    memory.setdefault("model_file_bytes", None)
    memory.setdefault("bundle_bytes", None)
    if memory["model_file_bytes"] is None:
        memory["model_file_bytes"] = bundle.model_bytes()
    if memory["bundle_bytes"] is None:
        memory["bundle_bytes"] = bundle.bundle_bytes()
    row["memory"] = memory
    manifest = bundle.manifest
    recorded = dict(row.get("bundle") or {})
    if recorded.get("path") and recorded["path"] != str(bundle.path):
        recorded["device_path"] = recorded["path"]
    row["bundle"] = {
        "model_file": manifest["model_file"],
        "target": manifest["target"],
        **recorded,
        "path": str(bundle.path),
    }
    model = dict(row.get("model") or {})
    source = manifest["source"]
    for key, value in (
        ("checkpoint", source["checkpoint"]),
        ("checkpoint_sha256", source["sha256"]),
        ("config", source.get("config", {}).get("name")),
        ("image_size", manifest["preprocessing"]["image_size"]),
        ("text_len", manifest["tokenizer"]["max_len"]),
        ("params", source.get("params")),
        ("macs", source.get("macs")),
    ):
        if model.get(key) is None:
            model[key] = value
    row["model"] = model
    return row


def ingest(files: list[Path], results_path: Path, bundle_path: Path | None = None) -> list[dict]:
    """Validate the rows of `files`, complete them from the bundle, append them; returns them."""
    from benchmark.results import ResultsFile, load_row_file, validate_row
    from vqa.bundle import read_bundle

    bundle = read_bundle(bundle_path) if bundle_path else None
    rows = []
    for path in files:
        for row in load_row_file(path):
            if bundle is not None:
                row = complete_from_bundle(row, bundle)
                validate_row(row, f"{path} (completed from {bundle_path})")
            rows.append(row)
    ResultsFile(results_path, append=True).extend(rows)
    return rows


def run(args: argparse.Namespace) -> int:
    from benchmark.report import write_report
    from benchmark.results import ResultsError, read_rows
    from vqa.bundle import BundleError

    try:
        rows = ingest(args.files, args.results, args.bundle)
    except (ResultsError, BundleError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(rows)} rows added to {args.results}", file=sys.stderr)
    if args.report:
        print(f"report: {write_report(read_rows(args.results), args.report)}", file=sys.stderr)
    return 0
