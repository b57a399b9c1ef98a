"""python -m export CKPT --format torchscript|onnx|coreml|executorch|all [--int8|--int4] ...

Exit status (docs/errors.md): 0 when every bundle was written; 2 on bad input, a full disk or an
output folder that cannot be written (one `error:` line on stderr, no bundle half-written); 1 when
a bundle failed its parity check or its converter (one `failed:` line on stderr; a bundle that
failed parity is kept beside the others as NAME.parity-failed); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from export.formats import DEPLOYMENT_TARGETS, FORMAT_NAMES, parse_formats
from export.host import TARGETS, host_target
from export.parity import DEFAULT_THRESHOLDS
from export.pipeline import PARITY_FAILED_SUFFIX, BundleResult, ExportRequest, export_bundles
from vqa.cli import NON_NEG_FLOAT, POS_INT, UNIT_FLOAT, HelpFormatter
from vqa.errors import check_failed, run_main
from vqa.io import check_writable

COREML_TARGET = "iOS17"
COREML_INT4_TARGET = "iOS18"
"""Core ML's default deployment target, and the one per-block 4-bit weights need."""
# Libraries that log at import or per call what the progress lines already say.
_QUIET_LOGGERS = ("coremltools", "torch.utils._pytree", "torch.onnx", "torchao")


EPILOG = (
    "exit status: 0 every bundle written; 2 bad input (a flag, the checkpoint, --data, a full "
    "disk, an --out that cannot be written): one 'error: ...' line on stderr, nothing "
    "half-written; 1 a bundle failed its parity check or its converter: one 'failed: ...' line "
    f"on stderr, the files of a bundle that failed parity kept as NAME{PARITY_FAILED_SUFFIX}; "
    "130 interrupted. See docs/errors.md."
)


def _int4_help() -> str:
    """--int4's help, its block sizes read from the exporters that use them."""
    from export.coreml import INT4_BLOCK_SIZE as COREML_BLOCK
    from export.executorch_runtime import INT4_GROUP_SIZE as EXECUTORCH_GROUP
    from export.formats import INT4_MIN_BLOCKS, INT4_NARROW_BLOCK
    from export.onnx_runtime import INT4_BLOCK_SIZE as ONNX_BLOCK

    return (
        f"4-bit weights in blocks (ONNX: MatMulNBits, blocks of {ONNX_BLOCK}; ExecuTorch: XNNPACK "
        f"8-bit dynamic activations, 4-bit weights in groups of {EXECUTORCH_GROUP}; Core ML: "
        f"per-block int4, blocks of {COREML_BLOCK}, {COREML_INT4_TARGET}); a model narrower than "
        f"{INT4_MIN_BLOCKS} blocks gets blocks of {INT4_NARROW_BLOCK}; TorchScript has none"
    )


def build_parser() -> argparse.ArgumentParser:
    defaults = ", ".join(
        f"{p}: {t.to_dict()}" for p, t in DEFAULT_THRESHOLDS.items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m export",
        formatter_class=HelpFormatter,
        description="Export a BEiT-3 VQA checkpoint to phone runtimes as verified bundles "
        "(model, manifest.json, tokenizer, answers), one folder a format and precision.",
        epilog=EPILOG,
    )
    parser.add_argument("checkpoint", type=Path,
                        help="the model to export: a checkpoint written by `python -m train`, "
                        "or an official unilm one (then also --arch, --tokenizer, --answers)")
    parser.add_argument(
        "--format", "-f", nargs="+", required=True, metavar="FORMAT",
        help=f"one or several of {', '.join(FORMAT_NAMES)} (or all; commas work too)",
    )
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument(
        "--int8", dest="precision", action="store_const", const="int8",
        help="dynamic int8 as each runtime supports it (Core ML: int8 weights)",
    )
    precision.add_argument(
        "--fp16", dest="precision", action="store_const", const="fp16",
        help="fp16 where the format has it (Core ML; its default)",
    )
    precision.add_argument(
        "--fp32", dest="precision", action="store_const", const="fp32",
        help="fp32 (the default except for Core ML)",
    )
    precision.add_argument(
        "--int4", dest="precision", action="store_const", const="int4",
        help=_int4_help(),
    )
    parser.add_argument("--img-size", type=POS_INT, metavar="N", help="export at this resolution, "
                        "a multiple of the patch size (position embeddings interpolated); "
                        "default: the checkpoint's")
    parser.add_argument(
        "--target", choices=TARGETS, default=host_target(),
        help="CPU the quantization settings must be correct on (default: this machine's, "
        f"{host_target()}, so that parity is verified here)",
    )
    parser.add_argument(
        "--x86-vnni", action="store_true",
        help="the x86_64 target has VNNI (AVX512-VNNI or AVX-VNNI): ONNX int8 keeps full-range "
        "weights (faster, more exact); without VNNI they must be 7-bit (reduce_range)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for the bundles (default: beside the checkpoint)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing bundles of the same name")
    parser.add_argument("--name", help="the model's name, first part of the bundle folders' "
                        "names, e.g. student -> student-onnx-int8 (default: the checkpoint's "
                        "file name without its suffix)")
    source = parser.add_argument_group("official checkpoints")
    source.add_argument("--arch", help="architecture name, e.g. beit3_base")
    source.add_argument("--tokenizer", type=Path, metavar="SPM",
                        help="SentencePiece model (BEiT-3's beit3.spm)")
    source.add_argument("--answers", type=Path, metavar="FILE",
                        help="answer list, one a line in the order of the model's outputs")
    source.add_argument("--trust-checkpoint", action="store_true",
                        help="allow checkpoints that need arbitrary unpickling")
    check = parser.add_argument_group("parity check")
    check.add_argument("--data", metavar="SPEC",
                       help="take parity inputs from easy-vqa or vizwiz:DIR instead of "
                       "synthetic images")
    check.add_argument("--data-split", default="val", choices=("train", "val", "test"),
                       help="split of --data")
    check.add_argument("--parity-inputs", type=POS_INT, default=16, metavar="N",
                       help="inputs to compare on")
    check.add_argument("--max-abs-diff", type=NON_NEG_FLOAT, metavar="X",
                       help="largest logit difference allowed, for every bundle of this run "
                       f"(defaults: {defaults})")
    check.add_argument("--min-top1", type=UNIT_FLOAT, metavar="Y",
                       help="smallest top-1 agreement allowed (0-1), for every bundle of this run")
    parser.add_argument("--coreml-target", choices=DEPLOYMENT_TARGETS,
                        help=f"Core ML minimum deployment target (default: {COREML_TARGET}; "
                        f"{COREML_INT4_TARGET} with --int4, whose per-block 4-bit weights need it)")
    vocab = parser.add_argument_group("vocabulary cut")
    vocab.add_argument("--vocab-from", metavar="DATA",
                       help="cut tokenizer and text embedding to the pieces the train and val "
                       "questions of easy-vqa or vizwiz:DIR use (plus every single character)")
    vocab.add_argument("--vocab-words", type=Path, metavar="FILE",
                       help="with --vocab-from: also keep the pieces of these words (one a line)")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of errors and converter failures (or set "
                        "VQA_DEBUG=1)")
    return parser


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def format_table(results: Sequence[BundleResult]) -> str:
    header = ("format", "precision", "model size", "max |diff|", "top-1", "parity", "export",
              "bundle")
    rows = [header]
    for r in results:
        rows.append((
            r.format,
            r.precision,
            _size(r.model_bytes),
            "-" if r.figures is None else f"{r.figures.max_abs_diff:.2e}",
            "-" if r.figures is None else f"{100 * r.figures.top1_agreement:.1f} %",
            r.status,
            "-" if r.export_seconds is None else f"{r.export_seconds:.1f} s",
            str(r.path) if r.ok else r.message,
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Export; a user error ends with one line on stderr and exit code 2."""
    return run_main(_main, argv)


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="coremltools")
    if args.name is not None and (not args.name.strip() or args.name.startswith(".")
                                  or any(c in args.name for c in "/\\")):
        parser.error(f"--name {args.name!r}: give a plain name (no folders, not hidden)")

    check_writable(args.out or args.checkpoint.absolute().parent,
                   "--out" if args.out else "the checkpoint's folder (no --out)")

    def log(message: str) -> None:
        print(message, flush=True)

    request = ExportRequest(
        checkpoint=args.checkpoint,
        formats=parse_formats(args.format),
        precision=args.precision,
        target=args.target,
        img_size=args.img_size,
        out_dir=args.out,
        overwrite=args.overwrite,
        name=args.name,
        arch=args.arch,
        tokenizer=args.tokenizer,
        answers=args.answers,
        trust_checkpoint=args.trust_checkpoint,
        data=args.data,
        data_split=args.data_split,
        parity_inputs=args.parity_inputs,
        max_abs_diff=args.max_abs_diff,
        min_top1=args.min_top1,
        coreml_deployment_target=args.coreml_target
        or (COREML_INT4_TARGET if args.precision == "int4" else COREML_TARGET),
        x86_vnni=args.x86_vnni,
        debug=args.debug,
        vocab_from=args.vocab_from,
        vocab_words=args.vocab_words,
    )
    results = export_bundles(request, log)
    print()
    print(format_table(results))
    failed = [r for r in results if not r.ok]
    if failed:
        return check_failed(
            f"{len(failed)} of {len(results)} bundles: "
            + "; ".join(f"{r.format} {r.precision}: {r.message}" for r in failed)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
