"""Every format of a base-size model (480 px) and of a 6-layer 384 px student, measured in one run.

Both models have random weights. Each is saved as a checkpoint, exported by `python -m export`
to every format in fp32 (Core ML: fp16) and int8, and all bundles are measured in one
`python -m benchmark` run (each in its own process, same threads, same matmul ceiling). Printed:
p50 of every format as a ratio to PyTorch eager fp32 of the same model (target: best int8 >= 3x),
int8/fp32 model size (Core ML: int8/fp16), fraction of the matmul roofline, and the student's
speed-up over the base model in the same format and precision (target >= 3x; 3.2x fewer MACs).
Random weights give near-flat logits, so the int8 exports run with --min-top1 0 (STACK.md).
Takes ~25 minutes and ~8 GB of memory on 2 cores (two exports run side by side).

    python scripts/bench_formats.py [--runs 10] [--warmup 2] [--threads N] [--formats all]
                                    [--out DIR [--measure-only]] [--tokenizer SPM]
                                    [--models NAME:ARCH:SIZE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.model import config_macs, create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SPM = REPO.parent / "shared" / "beit3.spm"
MODELS = ("base:beit3_base:480", "student:beit3_base_6l:384")
FALLBACK_QUESTIONS = ["what is this?", "what color is the shirt?", "is the light on?"] * 20


def _tokenizer(path: Path | None, folder: Path) -> Tokenizer:
    """BEiT-3's SentencePiece model when there is one, else a small one trained here."""
    for candidate in (path, os.environ.get("BEIT3_SPM"), DEFAULT_SPM):
        if candidate and Path(candidate).is_file():
            return Tokenizer(candidate)
    return Tokenizer(train_sentencepiece(FALLBACK_QUESTIONS, folder / "small.spm", 100))


def _checkpoint(name: str, arch: str, img_size: int, tokenizer: Tokenizer, root: Path) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pth"
    torch.manual_seed(0)
    model = create_model(arch, img_size=img_size)
    answers = [f"answer {i}" for i in range(model.config.num_answers - 1)] + ["unanswerable"]
    save_checkpoint(path, model, answers=answers,
                    tokenizer=tokenizer_record(tokenizer.model_bytes, tokenizer.max_len))
    print(f"{name}: {model.config.describe()} @ {img_size} px, "
          f"{config_macs(model.config) / 1e9:.1f} GMAC, checkpoint {path}", flush=True)
    return path


def _export_all(checkpoints: list[Path], formats: str, log: Path) -> None:
    """fp32 and int8 exports of each checkpoint, two at a time; bundles go beside it."""
    jobs = []
    for checkpoint in checkpoints:
        for extra in ([], ["--int8", "--min-top1", "0"]):
            command = [sys.executable, "-m", "export", str(checkpoint), "--format", formats,
                       "--parity-inputs", "4", "--overwrite", *extra]
            jobs.append(command)
    with open(log, "w", encoding="utf-8") as out:
        for first in range(0, len(jobs), 2):
            running = [
                subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
                for command in jobs[first : first + 2]
            ]
            for proc, command in zip(running, jobs[first : first + 2], strict=True):
                if proc.wait() != 0:
                    print(f"export failed ({' '.join(command[3:])}); see {log}", flush=True)


def _bundles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())


def _key(row: dict) -> tuple[str, str]:
    return row["format"], row["precision"]


def _print_model(name: str, rows: list[dict]) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    eager = next((r for r in ok if _key(r) == ("pytorch", "fp32")), None)
    sizes = {_key(r): (r.get("memory") or {}).get("model_file_bytes") for r in rows}
    model = rows[0]["model"]
    print(f"\n{name}: {model['config']} @ {model['image_size']} px, "
          f"{model['macs'] / 1e9:.1f} GMAC")
    header = ("format", "precision", "p50 ms", "vs eager fp32", "model MB", "int8/fp32 size",
              "roofline")
    table = [header]
    for r in rows:
        size = sizes.get(_key(r))
        reference = sizes.get((r["format"], "fp16" if r["format"] == "coreml" else "fp32"))
        ratio = "-"
        if r["precision"] == "int8" and size and reference:
            ratio = f"{size / reference:.3f}"
        if r["status"] == "ok":
            p50 = r["latency_ms"]["p50"]
            speed = f"{eager['latency_ms']['p50'] / p50:.2f}x" if eager else "-"
            roof = f"{100 * r['roofline']['fraction']:.1f} %" if r.get("roofline") else "-"
            timing = (f"{p50:.0f}" if p50 >= 100 else f"{p50:.2f}", speed, roof)
        else:
            timing = (r["status"], "-", "-")
        table.append((r["format"], r["precision"], timing[0], timing[1],
                      f"{size / 1e6:.0f}" if size else "-", ratio, timing[2]))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['label']}: {r['status']}: {r['error'].splitlines()[0]}")
    int8 = [r for r in ok if r["precision"] == "int8"]
    if eager and int8:
        best = min(int8, key=lambda r: r["latency_ms"]["p50"])
        factor = eager["latency_ms"]["p50"] / best["latency_ms"]["p50"]
        verdict = "met" if factor >= 3 else "MISSED"
        print(f"best int8: {best['format']} {factor:.2f}x faster than eager fp32 "
              f"(target >= 3x: {verdict})")


def _print_student_vs_base(names: list[str], base: list[dict], student: list[dict]) -> None:
    print(f"\n{names[1]} vs {names[0]}, same format and precision:")
    base_p50 = {_key(r): r["latency_ms"]["p50"] for r in base if r["status"] == "ok"}
    for r in student:
        if r["status"] == "ok" and _key(r) in base_p50:
            factor = base_p50[_key(r)] / r["latency_ms"]["p50"]
            verdict = "met" if factor >= 3 else "MISSED"
            print(f"  {r['format']:<12} {r['precision']:<5} {factor:.2f}x faster "
                  f"(target >= 3x: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="default: every CPU of this process")
    parser.add_argument("--formats", default="all", help="export formats (all)")
    parser.add_argument("--tokenizer", type=Path, help="default: $BEIT3_SPM or ../shared/beit3.spm")
    parser.add_argument("--out", type=Path, help="keep everything here (default: a temp folder)")
    parser.add_argument(
        "--models", nargs="+", default=MODELS, metavar="NAME:ARCH:SIZE",
        help="models to compare, the first as the base (default: %(default)s)",
    )
    parser.add_argument(
        "--measure-only", action="store_true",
        help="measure the bundles an earlier run left in --out again, without exporting",
    )
    args = parser.parse_args()
    if args.measure_only and args.out is None:
        parser.error("--measure-only needs --out (the folder of an earlier run)")
    models = [tuple(m.split(":")) for m in args.models]

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_formats.") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.measure_only:
            checkpoints = [root / name / f"{name}.pth" for name, _, _ in models]
            missing = [str(c) for c in checkpoints if not c.is_file()]
            if missing:
                parser.error(f"--measure-only: no earlier run in {root} ({', '.join(missing)})")
        else:
            tokenizer = _tokenizer(args.tokenizer, root)
            checkpoints = [
                _checkpoint(name, arch, int(size), tokenizer, root) for name, arch, size in models
            ]
            print(f"exporting (log: {root / 'export.log'})", flush=True)
            _export_all(checkpoints, args.formats, root / "export.log")
            print(f"exported in {time.perf_counter() - start:.0f} s; measuring", flush=True)
        bundles = [b for checkpoint in checkpoints for b in _bundles(checkpoint.parent)]
        results = root / "results.jsonl"
        command = [sys.executable, "-m", "benchmark", *map(str, bundles), "--runs",
                   str(args.runs), "--warmup", str(args.warmup), "--timeout", "3600",
                   "--out", str(results), "--report", str(root / "report")]
        if args.threads:
            command += ["--threads", str(args.threads)]
        subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, check=False)
        rows = [json.loads(line) for line in results.read_text("utf-8").splitlines()]
        by_model = {
            name: [r for r in rows if Path(r["model"]["checkpoint"] or "").stem == name]
            for name, _, _ in models
        }
        ceiling = next((r["roofline"]["matmul_gflops"] for r in rows if r.get("roofline")), None)
        print(f"\n{rows[0]['device']['name']}, {rows[0]['threads']} threads; dense fp32 matmul "
              f"ceiling {ceiling:.1f} GFLOP/s" if ceiling else "\nmatmul ceiling not measured")
        for name, model_rows in by_model.items():
            if model_rows:
                _print_model(name, model_rows)
        names = [name for name, _, _ in models]
        if len(names) > 1 and by_model[names[0]] and by_model[names[1]]:
            _print_student_vs_base(names, by_model[names[0]], by_model[names[1]])
        if args.out:
            print(f"\nreport: {root / 'report' / 'report.md'}")
        print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
