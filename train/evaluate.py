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
from train.predict import predict_logits, to_predictions, write_json
from vqa.checkpoint import model_from_checkpoint, read_checkpoint
from vqa.checkpoint_vocab import checkpoint_answers, checkpoint_tokenizer
from vqa.data import samples_to_annotations
from vqa.data.spec import DataSpec
from vqa.metrics import score


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
        ckpt = read_checkpoint(args.checkpoint, trust_pickle=args.trust_checkpoint)
        model = model_from_checkpoint(ckpt, arch=args.arch, img_size=args.img_size)
        tokenizer = checkpoint_tokenizer(
            ckpt, args.tokenizer, max_len=args.text_len if args.tokenizer else None
        )
        answers = checkpoint_answers(ckpt, args.answers)
        if len(answers) != model.config.num_answers:
            raise TrainError(
                f"{len(answers)} answers for a model with {model.config.num_answers} outputs"
            )
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
        write_json(out, predictions)
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
        write_json(metrics_path, {"checkpoint": str(ckpt.path), "split": args.split, **metrics})
        print(format_metrics(metrics, f"{spec} {args.split}"))
        print(f"metrics -> {metrics_path}")
        return metrics
    finally:
        distributed.teardown()
