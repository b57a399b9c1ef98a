"""`evaluate`: predictions of a checkpoint on a split; the metric table on labelled splits.

On val (or train) the official VizWiz metric is printed and written as JSON beside the
predictions; on test (no answers) the predictions file is the VizWiz submission format.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from train import distributed
from train.components import amp_dtype
from train.errors import TrainError
from train.predict import predict_logits, to_predictions
from vqa.checkpoint_model import load_checkpoint_model
from vqa.data import samples_to_annotations
from vqa.data.spec import DataSpec
from vqa.io import atomic_write_json
from vqa.metrics import score
from vqa.predictions import write_predictions


def format_metrics(metrics: dict[str, Any], title: str) -> str:
    lines = [f"{title} (official VizWiz metric, n={metrics['n']})"]
    lines.append(f"  {'overall':<14} {metrics['accuracy']['overall']:6.2f}")
    for answer_type, value in metrics["accuracy"]["per_answer_type"].items():
        lines.append(f"  {answer_type:<14} {value:6.2f}")
    ap, f1 = metrics["answerability"]["average_precision"], metrics["answerability"]["f1"]
    if ap is not None or f1 is not None:
        shown = [f"AP {ap:.2f}" if ap is not None else "AP n/a"]
        shown.append(f"F1 {f1:.2f}" if f1 is not None else "F1 n/a")
        lines.append(f"  {'answerability':<14} {'  '.join(shown)}")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> dict[str, Any] | None:
    ctx = distributed.setup(args.device)
    try:
        loaded = load_checkpoint_model(
            args.checkpoint, arch=args.arch, img_size=args.img_size, tokenizer=args.tokenizer,
            text_len=args.text_len, answers=args.answers, trust_checkpoint=args.trust_checkpoint,
        )
        model, tokenizer, answers = loaded.model, loaded.tokenizer, loaded.answers
        assert model is not None
        spec = DataSpec.parse(args.data)
        samples = list(spec.load(
            args.split, limit=args.limit, skip_bad=args.skip_bad,
            progress=args.progress and ctx.is_main,
        ))
        labelled = sum(1 for s in samples if s.answers)
        if 0 < labelled < len(samples):
            raise TrainError(
                f"{spec}: {len(samples) - labelled} of {len(samples)} {args.split} samples have "
                "no answers; cannot score a partly labelled split"
            )
        model.to(ctx.device)
        start = time.perf_counter()
        logits = predict_logits(
            model,
            samples,
            tokenizer,
            ctx,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            amp_dtype=amp_dtype(args.amp, ctx.device),
            progress=f"predicting ({args.split})" if args.progress else None,
        )
        seconds = time.perf_counter() - start
        if not ctx.is_main:
            return None
        predictions = to_predictions(logits, samples, answers)
        out = Path(args.out)
        write_predictions(out, predictions)
        print(
            f"{len(predictions)} predictions for {spec} {args.split} -> {out} "
            f"({len(samples) / seconds:.1f} samples/s on {ctx.device})"
        )
        if not labelled:
            print("no ground truth in this split: the file is in the VizWiz submission format")
            return None
        metrics = score(predictions, samples_to_annotations(samples))
        metrics_path = Path(args.metrics_json) if args.metrics_json else out.with_suffix(
            ".metrics.json"
        )
        atomic_write_json(
            metrics_path, {"checkpoint": str(loaded.checkpoint.path), "split": args.split,
                           **metrics}, indent=1,
        )
        print(format_metrics(metrics, f"{spec} {args.split}"))
        print(f"metrics -> {metrics_path}")
        return metrics
    finally:
        distributed.teardown()
