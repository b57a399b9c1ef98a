"""Export a base-size model (random weights, 480 px) to every format, fp32 and int8, and print
per format: export time, model size, int8/fp32 size ratio (Core ML: int8/fp16) and parity.

Targets: the int8/fp32 ratio <= 0.3 for TorchScript, ONNX and ExecuTorch, <= 0.55 for Core ML.
The weights are random, so the logits are nearly flat and int8 top-1 agreement says little:
the int8 exports run with --min-top1 0 and their figures are reported, not judged;
fp32 exports keep the default thresholds. Takes 15-25 minutes and ~4 GB of memory on 2 cores.

    python scripts/bench_export.py [--arch beit3_base] [--img-size 480] [--parity-inputs 4]
                                   [--formats all] [--tokenizer SPM] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from export import ExportRequest, export_bundles
from export.inputs import QUESTIONS
from vqa.checkpoint import save_random_checkpoint
from vqa.model import count_parameters
from vqa.script_tokenizer import script_tokenizer

RATIO_TARGETS = {"torchscript": 0.3, "onnx": 0.3, "executorch": 0.3, "coreml": 0.55}


def _write_checkpoint(args: argparse.Namespace, folder: Path) -> Path:
    tokenizer = script_tokenizer(args.tokenizer, folder, QUESTIONS)
    path = folder / f"{args.arch}.pth"
    model = save_random_checkpoint(path, args.arch, tokenizer, img_size=args.img_size)
    print(f"{model.config.describe()} @ {args.img_size} px, {count_parameters(model) / 1e6:.1f} M "
          f"parameters, random weights; tokenizer: {tokenizer.vocab_size} ids", flush=True)
    return path


def _parity_status(result) -> str:
    if not result.ok:
        return f"failed: {result.message[:60]}"
    if result.precision == "int8" and result.status == "passed":
        return "reported"  # judged with --min-top1 0: random weights make top-1 meaningless
    return result.status


def _print_table(results: list, baseline: dict[str, int]) -> None:
    header = ("format", "precision", "export s", "model MB", "int8 ratio", "target",
              "parity", "max |diff|", "top-1")
    rows = [header]
    for r in results:
        ratio = target = "-"
        if r.precision == "int8" and r.ok and r.format in baseline:
            value = r.model_bytes / baseline[r.format]
            limit = RATIO_TARGETS[r.format]
            ratio = f"{value:.3f}"
            target = f"<= {limit} {'met' if value <= limit else 'MISSED'}"
        rows.append((
            r.format,
            r.precision,
            "-" if r.export_seconds is None else f"{r.export_seconds:.1f}",
            "-" if r.model_bytes is None else f"{r.model_bytes / 1e6:.1f}",
            ratio,
            target,
            _parity_status(r),
            "-" if r.figures is None else f"{r.figures.max_abs_diff:.2e}",
            "-" if r.figures is None else f"{100 * r.figures.top1_agreement:.1f} %",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="beit3_base")
    parser.add_argument("--img-size", type=int, default=480)
    parser.add_argument("--parity-inputs", type=int, default=4)
    parser.add_argument("--formats", default="all")
    parser.add_argument("--tokenizer", type=Path,
                        help="BEiT-3's beit3.spm (default: $BEIT3_SPM, else a small one)")
    parser.add_argument("--out", type=Path, help="keep the bundles here (default: a temp folder)")
    args = parser.parse_args()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_export.") as tmp:
        checkpoint = _write_checkpoint(args, Path(tmp))
        out = args.out or Path(tmp) / "bundles"
        results = []
        # Default precisions (fp32; Core ML fp16) are judged by the default thresholds; int8 on
        # random weights is reported only.
        for precision, min_top1 in ((None, None), ("int8", 0.0)):
            request = ExportRequest(
                checkpoint, formats=[args.formats], precision=precision, out_dir=out,
                parity_inputs=args.parity_inputs, min_top1=min_top1, overwrite=True,
            )
            results += export_bundles(request, log=lambda message: print(message, flush=True))
    baseline = {r.format: r.model_bytes for r in results if r.precision != "int8" and r.ok}
    print()
    _print_table(results, baseline)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
