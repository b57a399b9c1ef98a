"""`python -m benchmark score`: the official VizWiz-VQA figures of a prediction file."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from vqa.cli import NON_NEG_INT, HelpFormatter


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `score` subcommand."""
    parser = subparsers.add_parser(
        "score",
        help="score a prediction file against VizWiz annotations",
        description="Accuracy (overall and per answer type) and answerability (average "
        "precision and F1 of the unanswerable class), in percent, computed as the official "
        "VizWiz-VQA evaluator computes them.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "predictions", type=Path, help='JSON list of {"image", "answer", "answerable"?}'
    )
    parser.add_argument(
        "--annotations", type=Path, required=True, help="VizWiz annotation JSON (with answers)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    parser.add_argument("--digits", type=NON_NEG_INT, default=2, help="decimals in the table")
    parser.add_argument(
        "--by-quality", type=Path, metavar="IMAGES",
        help="also score each image-quality verdict apart (too_dark, too_bright, blurred, ok: "
        "the check the phone apps run before the model), judging the annotated images found "
        "by name in the folder IMAGES",
    )
    parser.set_defaults(run=run)
    return parser


def format_table(result: dict, *, digits: int = 2, missing: str = "n/a") -> str:
    """A readable table of a score() result; `missing` stands in for figures that are None."""

    def cell(value: float | None) -> str:
        return missing if value is None else f"{value:.{digits}f}"

    accuracy, answerability = result["accuracy"], result["answerability"]
    rows = [("accuracy, overall", cell(accuracy["overall"]))]
    rows += [(f"accuracy, {t}", cell(v)) for t, v in accuracy["per_answer_type"].items()]
    rows += [
        ("unanswerable, average precision", cell(answerability["average_precision"])),
        ("unanswerable, F1", cell(answerability["f1"])),
        ("questions", str(result["n"])),
    ]
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    lines = [f"{'VizWiz-VQA (percent)':<{label_width}}  {'value':>{value_width}}"]
    lines += [f"{label:<{label_width}}  {value:>{value_width}}" for label, value in rows]
    return "\n".join(lines)


def row_accuracy(
    predictions: list[dict[str, Any]], annotations: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The official figures as a result row's `accuracy` fields, and the metric's warnings.

    Shared by the host harness and the ingest of phone rows, so both rows hold the same figures
    under the same names. Raises vqa.metrics.MetricInputError on predictions it cannot score.
    """
    from vqa.metrics import score

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = score(predictions, annotations)
    fields = {
        "overall": scored["accuracy"]["overall"],
        "per_answer_type": scored["accuracy"]["per_answer_type"],
        "answerability_ap": scored["answerability"]["average_precision"],
        "answerability_f1": scored["answerability"]["f1"],
    }
    return fields, [str(w.message) for w in caught]


def run(args: argparse.Namespace) -> int:
    """Score, print a table or JSON on stdout; errors on stderr with exit code 2."""
    from vqa.metrics import MetricInputError, load_annotations, load_predictions, score

    try:
        predictions = load_predictions(args.predictions)
        annotations = load_annotations(args.annotations)
    except MetricInputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = score(predictions, annotations)
    except MetricInputError as e:
        print(
            f"error: cannot score {args.predictions} against {args.annotations}: {e}",
            file=sys.stderr,
        )
        return 2
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    by_quality = None
    if args.by_quality is not None:
        by_quality = _score_by_quality(predictions, annotations, args.by_quality)
    if args.json:
        print(json.dumps(result if by_quality is None else {**result, "by_quality": by_quality}))
        return 0
    if any("answerable" in p for p in predictions):
        missing = "n/a (undefined, see warning)"
    else:
        missing = "n/a (no 'answerable' in predictions)"
    print(format_table(result, digits=args.digits, missing=missing))
    if by_quality is not None:
        print()
        print(format_quality_table(by_quality, digits=args.digits))
    return 0


def _score_by_quality(
    predictions: list[dict[str, Any]], annotations: list[dict[str, Any]], images: Path
) -> dict[str, dict[str, Any]]:
    """The figures of each quality verdict; the metric's warnings on small groups are dropped."""
    from vqa.errors import UserError
    from vqa.quality_scores import score_by_verdict, verdicts_of

    if not images.is_dir():
        raise UserError(f"--by-quality {images}: not a folder of images")
    verdicts = verdicts_of({a["image"]: images / a["image"] for a in annotations})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return score_by_verdict(predictions, annotations, verdicts)


def format_quality_table(by_quality: dict[str, dict[str, Any]], *, digits: int = 2) -> str:
    """One line a verdict: questions, accuracy and unanswerable AP, in percent."""

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [f"{'quality verdict':<15}  {'questions':>9}  {'accuracy':>8}  {'unans. AP':>9}"]
    for verdict, scored in by_quality.items():
        lines.append(
            f"{verdict:<15}  {scored['n']:>9}  {cell(scored['accuracy']['overall']):>8}  "
            f"{cell(scored['answerability']['average_precision']):>9}"
        )
    return "\n".join(lines)
