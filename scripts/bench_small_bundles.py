"""Smaller phone bundles: 4-bit weights and a vocabulary cut, measured in one run.

Sizes (random weights, BEiT-3's real tokenizer: --tokenizer or $BEIT3_SPM): base at 480 px and the
6-layer student at 384 px, exported to every format in fp32, int8 and int4, with the full
vocabulary and cut to easy-VQA's train and val questions (`--vocab-from easy-vqa`). Printed: each
bundle's model size as a ratio of the same format's fp32 bundle with the full vocabulary, and the
text-embedding rows kept. Random weights make top-1 agreement meaningless, so quantized exports
run with --min-top1 0 here (their figures are printed, not judged).

Accuracy (an easy-VQA model, beit3_easyvqa_student, trained briefly with beit3.spm): easy-VQA
test accuracy of each runtime's fp32, int8 and int4 bundles, with and without the cut, against
PyTorch fp32, on the first --test-questions test questions, all measured by one
`python -m benchmark --data easy-vqa` run (the int4 exports keep their parity gate, measured on
this trained model).

Targets: the student's best 4-bit bundle with the vocabulary cut <= 0.10x its fp32 size; int4
accuracy within 1 point of fp32; int8 with the cut within 0.1 point of int8 without it.

A full run takes an hour or more and several GB of memory (base at 480 px in every format); run
it on a quiet machine. Reduced runs:

    python scripts/bench_small_bundles.py                               # everything
    python scripts/bench_small_bundles.py --configs beit3_base_6l@384 --formats onnx \\
        --precisions fp32 int4 --skip-accuracy                          # student sizes, ONNX
    python scripts/bench_small_bundles.py --skip-sizes --epochs 1 --test-questions 1000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmark.results import read_rows
from export import ExportRequest, export_bundles, get_format
from export.host import host_target
from train.cli import main as train_main
from vqa.bundle import read_bundle
from vqa.checkpoint import save_random_checkpoint
from vqa.configs import get_config
from vqa.formats import FORMAT_NAMES
from vqa.model import count_parameters
from vqa.script_tokenizer import beit3_spm
from vqa.tokenizer import Tokenizer

CONFIGS = ("beit3_base@480", "beit3_base_6l@384")
PRECISIONS = ("fp32", "int8", "int4")
VOCAB = "easy-vqa"
SIZE_TARGET = 0.10
INT4_ACCURACY_POINTS = 1.0
CUT_INT8_POINTS = 0.1


def _spm(path: Path | None) -> Path:
    found = beit3_spm(path)
    if found is None:
        raise SystemExit("error: BEiT-3's tokenizer not found: pass --tokenizer or set BEIT3_SPM")
    return found


def _export(checkpoint: Path, formats: Sequence[str], precision: str, cut: bool, out: Path,
            **options) -> dict:
    """{format: BundleResult}; int4 leaves TorchScript out (it has no 4-bit path)."""
    names = [f for f in formats if get_format(f).why_not(precision) is None]
    if not names:
        return {}
    request = ExportRequest(
        checkpoint, formats=names, precision=precision, out_dir=out, target=host_target(),
        coreml_deployment_target="iOS18" if precision == "int4" else "iOS17",
        vocab_from=VOCAB if cut else None, overwrite=True, **options,
    )
    return {r.format: r for r in export_bundles(request, log=lambda line: print("  " + line))}


def _rows_kept(result) -> int:
    manifest = read_bundle(result.path).manifest
    return manifest["tokenizer"].get("vocab_cut", {}).get("rows_kept") or manifest["source"][
        "config"
    ]["vocab_size"]


def sizes(spec: str, args: argparse.Namespace, work: Path) -> list[tuple]:
    arch, _, size = spec.partition("@")
    img_size = int(size) if size else None
    tokenizer = Tokenizer(_spm(args.tokenizer))
    checkpoint = work / f"{arch}-{img_size or get_config(arch).img_size}.pth"
    model = save_random_checkpoint(checkpoint, arch, tokenizer, img_size=img_size)
    print(f"\n== sizes: {model.config.describe()} @ {model.config.img_size} px, "
          f"{count_parameters(model) / 1e6:.1f} M parameters, random weights", flush=True)
    del model
    found = {}
    for cut in (False, True):
        for precision in args.precisions:
            options = {"parity_inputs": args.parity_inputs}
            if precision != "fp32":
                options["min_top1"] = 0.0  # random weights: agreement is reported, not judged
            results = _export(checkpoint, args.formats, precision, cut, work / "sizes", **options)
            for fmt, result in results.items():
                if result.ok:
                    found[(fmt, precision, cut)] = (result.model_bytes, _rows_kept(result))
                else:
                    print(f"  {fmt} {precision}{' cut' if cut else ''}: FAILED {result.message}")
    rows = []
    for (fmt, precision, cut), (size_bytes, kept) in sorted(found.items()):
        base = found.get((fmt, "fp32", False))
        ratio = size_bytes / base[0] if base else None
        rows.append((spec, fmt, precision, cut, size_bytes, ratio, kept))
    return rows


def _train(args: argparse.Namespace, work: Path) -> Path:
    run = work / "easy_vqa_beit3spm"
    argv = ["finetune", "--data", "easy-vqa", "--arch", "beit3_easyvqa_student", "--tokenizer",
            str(_spm(args.tokenizer)), "--img-size", "64", "--text-len", "22", "--epochs",
            str(args.epochs), "--batch-size", "32", "--lr", "5e-4", "--warmup-steps", "100",
            "--weight-decay", "0.05", "--head-lr-mult", "1", "--drop-path", "0",
            "--clip-grad", "1", "--no-augment", "--balance", "answer-type", "--limit-val", "500",
            "--num-workers", "0", "--no-progress", "--overwrite", "--out", str(run)]
    if args.limit_train:
        argv += ["--limit-train", str(args.limit_train)]
    start = time.perf_counter()
    if train_main(argv) != 0:
        raise SystemExit("error: training the easy-VQA model failed")
    print(f"  trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return run / "best.pth"


def accuracy(args: argparse.Namespace, work: Path) -> list[tuple]:
    """Every bundle's easy-VQA test accuracy and agreement with PyTorch fp32, measured by one
    `python -m benchmark` run with --data (PyTorch fp32 of the checkpoint as the first row)."""
    print("\n== accuracy: beit3_easyvqa_student trained on easy-VQA with beit3.spm", flush=True)
    checkpoint = _train(args, work)
    bundles = []
    for cut in (False, True):
        for precision in args.precisions:
            results = _export(checkpoint, args.formats, precision, cut, work / "accuracy",
                              data="easy-vqa", parity_inputs=200)
            for fmt, result in results.items():
                if result.ok:
                    bundles.append(result.path)
                else:
                    print(f"  {fmt} {precision}{' cut' if cut else ''}: FAILED {result.message}")
    results = work / "accuracy.jsonl"
    command = [sys.executable, "-m", "benchmark", "run", *map(str, bundles),
               "--checkpoint", str(checkpoint), "--data", "easy-vqa", "--split", "test",
               "--limit", str(args.test_questions), "--runs", "1", "--warmup", "0",
               "--overwrite", "--out", str(results)]
    if subprocess.run(command).returncode not in (0, 1):
        raise SystemExit("error: the benchmark's accuracy run failed")
    rows = []
    for row in read_rows(results):
        figures = row.get("accuracy") or {}
        if row["status"] != "ok" or figures.get("overall") is None:
            continue
        if row["format"] == "pytorch":
            if row["precision"] == "fp32":
                rows.insert(0, ("pytorch", "fp32", False, figures["overall"], None))
            continue
        cut = "vocab_cut" in read_bundle(row["bundle"]["path"]).manifest["tokenizer"]
        rows.append((row["format"], row["precision"], cut, figures["overall"],
                     figures.get("agreement_fp32")))
    return rows


def _report(size_rows: list[tuple], accuracy_rows: list[tuple], test_questions: int) -> None:
    if size_rows:
        print("\n| model | format | precision | vocabulary | model MB | ratio to fp32 | "
              "embedding rows |\n|---|---|---|---|---|---|---|")
        for spec, fmt, precision, cut, size, ratio, kept in size_rows:
            print(f"| {spec} | {fmt} | {precision} | {'cut' if cut else 'full'} | "
                  f"{size / 1e6:.1f} | {'-' if ratio is None else f'{ratio:.3f}'} | {kept} |")
        student = [r for r in size_rows if r[0].startswith("beit3_base_6l") and r[2] == "int4"
                   and r[3] and r[5] is not None]
        if student:
            best = min(student, key=lambda r: r[5])
            verdict = "met" if best[5] <= SIZE_TARGET else "NOT met"
            print(f"\nstudent's best int4 bundle with the cut: {best[1]} {best[5]:.3f}x its fp32 "
                  f"size (target <= {SIZE_TARGET}x: {verdict})")
    if accuracy_rows:
        print(f"\n| runtime | precision | vocabulary | accuracy (%) | agreement w/ fp32 (%) |"
              f"\n|---|---|---|---|---|   (easy-VQA test, {test_questions} questions)")
        for fmt, precision, cut, acc, agree in accuracy_rows:
            print(f"| {fmt} | {precision} | {'cut' if cut else 'full'} | {acc:.2f} | "
                  f"{'-' if agree is None else f'{agree:.1f}'} |")
        by_key = {(r[0], r[1], r[2]): r[3] for r in accuracy_rows}
        fp32 = by_key[("pytorch", "fp32", False)]
        for (fmt, precision, cut), acc in sorted(by_key.items()):
            if precision == "int4":
                ok = abs(acc - fp32) <= INT4_ACCURACY_POINTS
                print(f"{fmt} int4{' cut' if cut else ''}: {acc - fp32:+.2f} points vs PyTorch "
                      f"fp32 (target within {INT4_ACCURACY_POINTS}: {'met' if ok else 'NOT met'})")
            if precision == "int8" and cut and (fmt, "int8", False) in by_key:
                change = acc - by_key[(fmt, "int8", False)]
                ok = abs(change) <= CUT_INT8_POINTS
                print(f"{fmt} int8 cut: {change:+.2f} points vs int8 full (target within "
                      f"{CUT_INT8_POINTS}: {'met' if ok else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="ARCH@PX")
    parser.add_argument("--formats", nargs="+", default=list(FORMAT_NAMES),
                        choices=FORMAT_NAMES)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--tokenizer", type=Path, help="beit3.spm (default: $BEIT3_SPM)")
    parser.add_argument("--parity-inputs", type=int, default=2)
    parser.add_argument("--skip-sizes", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--epochs", type=int, default=3, help="easy-VQA training epochs")
    parser.add_argument("--limit-train", type=int, help="train on the first N questions")
    parser.add_argument("--test-questions", type=int, default=2000)
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="small_bundles_") as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        size_rows = [] if args.skip_sizes else [
            row for spec in args.configs for row in sizes(spec, args, work)
        ]
        accuracy_rows = [] if args.skip_accuracy else accuracy(args, work)
    _report(size_rows, accuracy_rows, args.test_questions)


if __name__ == "__main__":
    main()
