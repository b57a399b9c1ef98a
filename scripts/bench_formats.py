"""Every format of a base-size model (480 px) and of a 6-layer 384 px student, measured in one run.

Both models have random weights. Each is saved as a checkpoint, exported by `python -m export`
to every format in fp32 (Core ML: fp16) and int8, and all bundles are measured in one
`python -m benchmark` run (each in its own process, same threads, same machine probes).
Printed, as ratios between rows of that one run: p50 of every format against PyTorch eager fp32 of
the same model (target: best int8 >= 3x), every format's int8 against its own fp32 (target >=
1.5x), int8/fp32 model size (target <= 0.27; Core ML: int8/fp16 <= 0.54, the same bytes a weight),
fraction of the matmul roofline, and the student's speed-up over the base model in the same format
and precision (target >= 3x; 3.4x fewer MACs). The benchmark probes the machine at the start,
between bundles and at the end; when the run was disturbed (or did not finish) no ratio and no
met/MISSED verdict is printed: rerun on a quiet machine. Random weights give near-flat logits,
so the int8 exports run with --min-top1 0. Takes ~14 minutes and ~8 GB of memory on
2 quiet cores (two exports side by side); `--only onnx,executorch --img-size 384` or a smaller
`--arch` cut that down.

    python scripts/bench_formats.py [--runs 10] [--warmup 2] [--threads N] [--only FORMATS]
                                    [--arch ARCH] [--student-arch ARCH] [--img-size N]
                                    [--x86-vnni] [--out DIR [--measure-only]] [--tokenizer SPM]
                                    [--models NAME:ARCH:SIZE ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from export.inputs import QUESTIONS
from vqa.checkpoint import save_random_checkpoint
from vqa.model import config_macs
from vqa.script_tokenizer import script_tokenizer
from vqa.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[1]
MODELS = ("base:beit3_base:480", "student:beit3_base_6l:384")
TARGETS = {"best_int8_vs_eager_fp32": 3.0, "int8_vs_own_fp32": 1.5, "student_vs_base": 3.0,
           "int8_size_ratio": 0.27}


def _checkpoint(name: str, arch: str, img_size: int, tokenizer: Tokenizer, root: Path) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pth"
    model = save_random_checkpoint(path, arch, tokenizer, img_size=img_size)
    print(f"{name}: {model.config.describe()} @ {img_size} px, "
          f"{config_macs(model.config) / 1e9:.1f} GMAC, checkpoint {path}", flush=True)
    return path


def _export_all(checkpoints: list[Path], formats: str, log: Path, x86_vnni: bool) -> None:
    """fp32 and int8 exports of each checkpoint, two at a time; bundles go beside it."""
    jobs = []
    target = ["--x86-vnni"] if x86_vnni else []
    for checkpoint in checkpoints:
        for extra in ([], ["--int8", "--min-top1", "0", *target]):
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


def _new_run_paths(root: Path) -> tuple[Path, Path]:
    """results.jsonl and report/ for the first run in root, results-2.jsonl and report-2/ for the
    next (--measure-only), so that a rerun never mixes with or replaces an earlier run's rows."""
    number = 1
    while True:
        suffix = "" if number == 1 else f"-{number}"
        results, report = root / f"results{suffix}.jsonl", root / f"report{suffix}"
        if not results.exists() and not report.exists():
            return results, report
        number += 1


def _bundles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())


def _key(row: dict) -> tuple[str, str]:
    return row["format"], row["precision"]


def _fp32_of(fmt: str) -> str:
    return "fp16" if fmt == "coreml" else "fp32"


def _size_target(fmt: str) -> float:
    """The int8 size target against the format's reference: Core ML's is fp16, half of fp32."""
    return TARGETS["int8_size_ratio"] * (2 if _fp32_of(fmt) == "fp16" else 1)


def _judge(factor: float, target: float, steady: bool, at_most: bool = False) -> str:
    """`(target >= 3x: met)`, or only the target where the run's figures cannot be judged."""
    sign, unit = ("<=", "") if at_most else (">=", "x")
    if not steady:
        return f"(target {sign} {target:g}{unit}: not judged, run disturbed)"
    ok = factor <= target if at_most else factor >= target
    return f"(target {sign} {target:g}{unit}: {'met' if ok else 'MISSED'})"


def _print_model(name: str, rows: list[dict], steady: bool) -> None:
    """The model's table; speed ratios only when the run was steady (sizes always)."""
    ok = [r for r in rows if r["status"] == "ok"]
    p50 = {_key(r): r["latency_ms"]["p50"] for r in ok}
    sizes = {_key(r): (r.get("memory") or {}).get("model_file_bytes") for r in rows}
    model = rows[0]["model"]
    print(f"\n{name}: {model['config']} @ {model['image_size']} px, "
          f"{model['macs'] / 1e9:.1f} GMAC")
    header = ("format", "precision", "p50 ms", "vs eager fp32", "vs own fp32", "model MB",
              "int8/fp32 size", "model memory MB", "roofline")
    table = [header]
    eager = p50.get(("pytorch", "fp32"))
    for r in rows:
        size = sizes.get(_key(r))
        reference = sizes.get((r["format"], _fp32_of(r["format"])))
        size_ratio = f"{size / reference:.3f}" if r["precision"] == "int8" and size and reference \
            else "-"
        cells = [r["status"], "-", "-", "-", "-"]
        if r["status"] == "ok":
            own = p50.get((r["format"], _fp32_of(r["format"])))
            mine = p50[_key(r)]
            memory = (r.get("memory") or {}).get("model_peak_rss_bytes")
            cells = [
                f"{mine:.0f}" if mine >= 100 else f"{mine:.2f}",
                f"{eager / mine:.2f}x" if steady and eager else "-",
                f"{own / mine:.2f}x" if steady and own and r["precision"] == "int8" else "-",
                f"{memory / 1e6:.0f}" if memory is not None else "-",
                f"{100 * r['roofline']['fraction']:.1f} %" if r.get("roofline") else "-",
            ]
        table.append((r["format"], r["precision"], *cells[:3],
                      f"{size / 1e6:.0f}" if size else "-", size_ratio, *cells[3:]))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['label']}: {r['status']}: {r['error'].splitlines()[0]}")
    int8 = [r for r in ok if r["precision"] == "int8" and r["format"] != "pytorch"]
    if eager and int8:
        best = min(int8, key=lambda r: r["latency_ms"]["p50"])
        factor = eager / best["latency_ms"]["p50"]
        shown = f"{factor:.2f}x faster than eager fp32 " if steady else ""
        print(f"best int8: {best['format']} {shown}"
              f"{_judge(factor, TARGETS['best_int8_vs_eager_fp32'], steady)}")
    for r in int8:
        own = p50.get((r["format"], _fp32_of(r["format"])))
        if own:
            factor = own / r["latency_ms"]["p50"]
            shown = f"{factor:.2f}x faster than its fp32 " if steady else ""
            print(f"{r['format']} int8: {shown}"
                  f"{_judge(factor, TARGETS['int8_vs_own_fp32'], steady)}")
    for r in rows:
        size, reference = sizes.get(_key(r)), sizes.get((r["format"], _fp32_of(r["format"])))
        if r["precision"] == "int8" and r["format"] != "pytorch" and size and reference:
            ratio = size / reference
            print(f"{r['format']} int8/{_fp32_of(r['format'])} size {ratio:.3f} "
                  f"{_judge(ratio, _size_target(r['format']), True, at_most=True)}")


def _print_student_vs_base(
    names: list[str], base: list[dict], student: list[dict], steady: bool
) -> None:
    print(f"\n{names[1]} vs {names[0]}, same format and precision:")
    base_p50 = {_key(r): r["latency_ms"]["p50"] for r in base if r["status"] == "ok"}
    for r in student:
        if r["status"] == "ok" and _key(r) in base_p50:
            factor = base_p50[_key(r)] / r["latency_ms"]["p50"]
            shown = f"{factor:.2f}x faster " if steady else ""
            print(f"  {r['format']:<12} {r['precision']:<5} {shown}"
                  f"{_judge(factor, TARGETS['student_vs_base'], steady)}")


def _machine_state(rows: list[dict]) -> bool:
    """Print the run's machine check; True when the run is one steady run (ratios allowed)."""
    runs = {r.get("run_id") for r in rows}
    checks = [r.get("machine_check") for r in rows]
    if len(runs) != 1 or any(c is None for c in checks):
        print("machine not probed in one run: no ratios; rerun without --no-roofline")
        return False
    check = checks[0]
    if check["disturbed"] is not False:
        print(f"machine DISTURBED during the run ({check.get('reason')}): p50s shown, no ratios "
              "and no verdicts; rerun on a quiet machine")
        return False
    print(f"machine steady during the run: {check['reason']}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, help="default: every CPU of this process")
    parser.add_argument("--only", "--formats", dest="formats", default="all",
                        help="export formats, comma-separated (default: all)")
    parser.add_argument("--arch", help="the base model's architecture (default: beit3_base)")
    parser.add_argument("--student-arch", help="the student's (default: beit3_base_6l)")
    parser.add_argument("--img-size", type=int,
                        help="one image size for both models (default: 480 and 384)")
    parser.add_argument("--x86-vnni", action="store_true",
                        help="int8 ONNX for an x86 CPU with VNNI (full-range int8 weights; "
                        "check /proc/cpuinfo for avx512_vnni or avx_vnni)")
    parser.add_argument("--tokenizer", type=Path,
                        help="BEiT-3's beit3.spm (default: $BEIT3_SPM, else a small one)")
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
    models = [list(m.split(":")) for m in args.models]
    for model, arch in zip(models, (args.arch, args.student_arch), strict=False):
        model[1] = arch or model[1]
    for model in models:
        model[2] = str(args.img_size or model[2])

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
            tokenizer = script_tokenizer(args.tokenizer, root, QUESTIONS)
            checkpoints = [
                _checkpoint(name, arch, int(size), tokenizer, root) for name, arch, size in models
            ]
            print(f"exporting (log: {root / 'export.log'})", flush=True)
            _export_all(checkpoints, args.formats, root / "export.log", args.x86_vnni)
            print(f"exported in {time.perf_counter() - start:.0f} s; measuring", flush=True)
        bundles = [b for checkpoint in checkpoints for b in _bundles(checkpoint.parent)]
        results, report = _new_run_paths(root)
        command = [sys.executable, "-m", "benchmark", *map(str, bundles), "--runs",
                   str(args.runs), "--warmup", str(args.warmup), "--timeout", "3600",
                   "--out", str(results), "--report", str(report)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        code = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, check=False).returncode
        if code == 2 or not results.is_file():
            print(f"the benchmark did not run (its error is above); nothing measured in {root}",
                  file=sys.stderr)
            sys.exit(2 if code == 2 else 1)
        rows = [json.loads(line) for line in results.read_text("utf-8").splitlines()]
        by_model = {
            name: [r for r in rows if Path(r["model"]["checkpoint"] or "").stem == name]
            for name, _, _ in models
        }
        ceiling = next((r["roofline"]["matmul_gflops"] for r in rows if r.get("roofline")), None)
        print(f"\n{rows[0]['device']['name']}, {rows[0]['threads']} threads; dense fp32 matmul "
              f"ceiling {ceiling:.1f} GFLOP/s" if ceiling else "\nmatmul ceiling not measured")
        steady = _machine_state(rows)
        for name, model_rows in by_model.items():
            if model_rows:
                _print_model(name, model_rows, steady)
        names = [name for name, _, _ in models]
        if len(names) > 1 and by_model[names[0]] and by_model[names[1]]:
            _print_student_vs_base(names, by_model[names[0]], by_model[names[1]], steady)
        if args.out:
            print(f"\nresults: {results}\nreport: {report / 'report.md'}")
        print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
