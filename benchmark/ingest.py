"""`python -m benchmark ingest FILE.json`: add rows a demo app wrote on a phone to a results file.

The apps write rows in the same schema as the host harness (device = phone model and OS). Sizes
the app did not record are filled in from the bundle's manifest when --bundle is given. With
--predictions and --samples, the predictions file an app wrote in its accuracy mode (over a
folder from `benchmark samples`) is scored here with the official metric, and the figures go
into the row's `accuracy`, beside the host rows of the same data; --reference adds the agreement
with a PyTorch fp32 predictions file of the same samples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vqa.errors import UserError


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
        "--predictions",
        type=Path,
        help="predictions file the app wrote in its accuracy mode (needs --samples)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        metavar="DIR",
        help="the samples folder (from `benchmark samples`) the app predicted",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="PyTorch fp32 predictions of the same samples: adds agreement_fp32",
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


def _predictions_by_key(path: Path) -> dict[str, dict[str, Any]]:
    from vqa.metrics import MetricInputError, load_predictions

    by_key: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(load_predictions(path)):
        key = entry.get("image")
        if not isinstance(key, str) or not isinstance(entry.get("answer"), str):
            raise MetricInputError(f"{path}: entry {i} needs a string 'image' and 'answer'")
        if key in by_key:
            raise MetricInputError(f"{path}: duplicate prediction for image {key}")
        by_key[key] = entry
    return by_key


def score_app_predictions(
    predictions_path: Path, samples_dir: Path, reference_path: Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The row's `accuracy` for an app's predictions over a samples folder, and notes.

    Every sample of the folder must have exactly one prediction (the metric refuses missing,
    duplicate and unknown images). Agreement counts identical answer strings, as the host does.
    """
    from benchmark.samples import ANNOTATIONS_FILE, read_samples_index
    from benchmark.score import row_accuracy
    from vqa.metrics import MetricInputError, load_annotations, load_predictions

    index = read_samples_index(samples_dir)
    annotations_path = Path(samples_dir) / ANNOTATIONS_FILE
    annotations = load_annotations(annotations_path)
    predictions = load_predictions(predictions_path)
    keys = [entry["key"] for entry in index["samples"]]
    accuracy: dict[str, Any] = {
        "data": index["data"],
        "split": index["split"],
        "n": len(predictions),
        "overall": None,
        "predictions_file": str(predictions_path),
        "annotations_file": str(annotations_path),
        "batch_size": 1,
        "agreement_fp32": None,
    }
    notes: list[str] = []
    if all("answers" in entry for entry in annotations):
        try:
            fields, warned = row_accuracy(predictions, annotations)
        except MetricInputError as err:
            raise MetricInputError(
                f"cannot score {predictions_path} against {annotations_path}: {err}"
            ) from None
        accuracy.update(fields)
        notes.extend(warned)
    else:
        notes.append(f"{annotations_path} has no answers: predictions not scored")
    if reference_path is not None:
        ours = _predictions_by_key(predictions_path)
        theirs = _predictions_by_key(reference_path)
        missing = next((key for key in keys if key not in theirs or key not in ours), None)
        if missing is not None:
            where = reference_path if missing not in theirs else predictions_path
            raise MetricInputError(f"{where}: no prediction for sample {missing}")
        same = sum(ours[key]["answer"] == theirs[key]["answer"] for key in keys)
        accuracy["agreement_fp32"] = 100.0 * same / len(keys)
    return accuracy, notes


def ingest(
    files: list[Path],
    results_path: Path,
    bundle_path: Path | None = None,
    predictions: Path | None = None,
    samples: Path | None = None,
    reference: Path | None = None,
) -> list[dict]:
    """Validate the rows of `files`, complete them from the bundle, append them; returns them.

    With `predictions` (and `samples`), the one row read gets the accuracy of those predictions.
    """
    from benchmark.results import ResultsError, ResultsFile, load_row_file, validate_row
    from vqa.bundle import read_bundle

    bundle = read_bundle(bundle_path) if bundle_path else None
    scored = score_app_predictions(predictions, samples, reference) if predictions else None
    rows = []
    for path in files:
        for row in load_row_file(path):
            if bundle is not None:
                row = complete_from_bundle(row, bundle)
                validate_row(row, f"{path} (completed from {bundle_path})")
            rows.append(row)
    if scored is not None:
        if len(rows) != 1:
            raise ResultsError(
                f"--predictions {predictions}: scores one row, but {len(rows)} rows were given"
            )
        accuracy, notes = scored
        row = {**rows[0], "accuracy": accuracy, "notes": [*rows[0].get("notes", []), *notes]}
        validate_row(row, f"{files[0]} (with the accuracy of {predictions})")
        rows = [row]
    ResultsFile(results_path, append=True).extend(rows)
    return rows


def run(args: argparse.Namespace) -> int:
    from benchmark.report import write_report
    from benchmark.results import read_rows

    if (args.predictions is None) != (args.samples is None):
        raise UserError("--predictions and --samples go together")
    if args.reference is not None and args.predictions is None:
        raise UserError("--reference needs --predictions and --samples")
    rows = ingest(
        args.files, args.results, args.bundle, args.predictions, args.samples, args.reference
    )
    print(f"{len(rows)} rows added to {args.results}", file=sys.stderr)
    if args.report:
        print(f"report: {write_report(read_rows(args.results), args.report)}", file=sys.stderr)
    return 0
