"""Every format of a base-size model (480 px) and of a 6-layer 384 px student, compared in one
interleaved run, with the targets of the fast-int8 work judged from paired intervals.

Both models have random weights. Each is saved as a checkpoint, exported by `python -m export`
to every format in fp32 (Core ML: fp16) and int8; beside them, what a user would try first
without this toolkit (peer rows): `torch.onnx.export` of the same model, then onnxruntime's
`quantize_dynamic` with its defaults, and with QInt8 weights per channel. Every bundle and the
PyTorch eager baselines are measured in one `python -m benchmark --interleave` run: all loaded at
once, each in its own process, timed in rounds in a fresh random order, so that every ratio is
taken round by round under the same machine weather. Printed, as ratios with their 95 %
intervals (order-statistics interval of the median of per-round ratios):

- best int8 against PyTorch eager fp32 of the same model (target >= 3x),
- every format's int8 against its own fp32 (target >= 1.5x),
- the student against the base model, same format and precision (target >= 3x),
- our ONNX int8 against each peer row (target >= 1x: at least as fast as the obvious try),
- int8/fp32 model size (target <= 0.27; Core ML: int8/fp16 <= 0.54, the same bytes a weight).

A speed target is met when its interval's lower bound clears it, missed when its upper bound is
below it, undecided otherwise; while one is undecided the run adds trials up to --budget seconds.
The rounds are split into --trials trials, each with freshly started measuring processes, since a
process can hold a state for its life (memory or thread placement) that no pairing averages out.
The machine probes are printed as a diagnostic; they do not veto a verdict. The CPU's int8
features (AVX2, AVX-512, VNNI, AMX) are printed with the int8 settings they imply, and the int8
gain of onnxruntime's int8 matmul kernel on this CPU is measured (interleaved, with its interval):
a missed int8 target is reported beside it, the measured reason when the kernel itself gains
less than the target. Random weights give near-flat logits, so the int8 exports run with
--min-top1 0 (and the peers' parity is measured, not checked).

    python scripts/bench_formats.py [--rounds 20] [--trials 3] [--per-round 2] [--budget 900]
                                    [--threads N]
                                    [--only FORMATS] [--arch ARCH] [--student-arch ARCH]
                                    [--img-size N] [--x86-vnni] [--out DIR [--measure-only]]
                                    [--tokenizer SPM] [--models NAME:ARCH:SIZE ...] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmark.stats import INTERVAL_METHOD, format_ratio, paired_ratio, verdict
from export.inputs import QUESTIONS
from vqa.checkpoint import save_random_checkpoint
from vqa.cli import POS_FLOAT, POS_INT
from vqa.model import config_macs
from vqa.script_tokenizer import script_tokenizer
from vqa.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[1]
MODELS = ("base:beit3_base:480", "student:beit3_base_6l:384")
TARGETS = {"best_int8_vs_eager_fp32": 3.0, "int8_vs_own_fp32": 1.5, "student_vs_base": 3.0,
           "int8_size_ratio": 0.27, "ours_vs_peer": 1.0}
PEERS = {
    "peer-ort-defaults": {},
    "peer-ort-qint8-per-channel": {"per_channel": True},
}
"""Peer rows: onnxruntime.quantization.quantize_dynamic's keyword arguments (defaults: QInt8
weights, per tensor, full range)."""
CPU_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI",
             "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8"}


# the CPU ----------------------------------------------------------------------------------------


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The int8-relevant x86 features this CPU reports (names as in CPU_FLAGS); [] elsewhere."""
    try:
        text = cpuinfo.read_text("utf-8", errors="replace")
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return [name for flag, name in CPU_FLAGS.items() if flag in flags]


def has_vnni(features: list[str]) -> bool:
    return "AVX-512 VNNI" in features or "AVX-VNNI" in features


def int8_settings(features: list[str]) -> str:
    """What the features imply for dynamic int8 on this CPU."""
    if not features:
        return "no x86 int8 features found (not x86, or /proc/cpuinfo unreadable)"
    if has_vnni(features):
        text = ("VNNI: int8 dot products in one instruction; ONNX int8 with full-range QInt8 "
                "weights (export --x86-vnni)")
        if "AMX-INT8" in features:
            text += "; AMX tiles present (onnxruntime's CPU kernels use VNNI here)"
        return text
    return ("no VNNI: u8s8 products saturate on AVX2, so ONNX int8 uses 7-bit weights "
            "(reduce_range, the export's default on x86), and int8 matmuls gain less")


# exporting --------------------------------------------------------------------------------------


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


def peer_bundles(checkpoint: Path, log: Path) -> list[Path]:
    """The peer rows of one checkpoint, as bundles beside our own (see PEERS); [] without an
    fp32 ONNX bundle to take the manifest from. A peer that fails is reported and left out."""
    fp32 = [b for b in _bundles(checkpoint.parent) if _manifest(b)["format"] == "onnx"
            and _manifest(b)["precision"] == "fp32"]
    if not fp32:
        print(f"no peer rows for {checkpoint.stem}: no fp32 ONNX bundle", flush=True)
        return []
    made = []
    with open(log, "a", encoding="utf-8") as out:
        for name, options in PEERS.items():
            folder = checkpoint.parent / f"{checkpoint.stem}-onnx-int8-{name}"
            command = [sys.executable, str(Path(__file__).resolve()), "--make-peer",
                       str(checkpoint), str(fp32[0]), str(folder), json.dumps(options)]
            if subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              check=False).returncode == 0:
                made.append(folder)
            else:
                print(f"peer {name} of {checkpoint.stem} failed; see {log}", flush=True)
    return made


def make_peer(checkpoint: Path, fp32_bundle: Path, folder: Path, options: dict) -> None:
    """torch.onnx.export of the checkpoint's model with torch's defaults (inputs and output
    named as our bundle's, batch 1, the bundle's text length), then quantize_dynamic with
    `options`; a bundle with our fp32 ONNX bundle's tokenizer, answers and preprocessing."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import quantize_dynamic

    from vqa.bundle import describe_files, write_manifest
    from vqa.checkpoint import load_model

    manifest = _manifest(fp32_bundle)
    size = manifest["preprocessing"]["image_size"]
    length = manifest["tokenizer"]["max_len"]
    names = [i["name"] for i in manifest["inputs"]]
    output = manifest["outputs"][0]["name"]
    model = load_model(checkpoint, img_size=size).eval()
    torch.manual_seed(0)
    inputs = (torch.randn(1, 3, size, size), torch.randint(4, 100, (1, length)),
              torch.zeros(1, length, dtype=torch.long))
    with torch.inference_mode():
        reference = model(*inputs).float().numpy()
    scratch = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(fp32_bundle, scratch)
    for file in manifest["files"]:
        if file.startswith(Path(manifest["model_file"]).stem):
            (scratch / file).unlink(missing_ok=True)
    fp32_path = scratch / "peer_fp32.onnx"
    torch.onnx.export(model, inputs, str(fp32_path), input_names=names, output_names=[output])
    quantize_dynamic(str(fp32_path), str(scratch / "model.onnx"), **options)
    for path in scratch.glob("peer_fp32.onnx*"):
        path.unlink()
    session = ort.InferenceSession(str(scratch / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    logits = session.run([output], dict(zip(names, [x.numpy() for x in inputs], strict=True)))[0]
    diff = float(np.abs(logits - reference).max())
    manifest = {
        **manifest,
        "precision": "int8",
        "model_file": "model.onnx",
        "quantization": {"scheme": "dynamic-int8", "tool": "onnxruntime.quantization."
                         "quantize_dynamic (a user's first try)", **options},
        "parity": {"status": "pending-target", "reference": "pytorch-fp32", "n_inputs": 1,
                   "max_abs_diff": diff, "top1_agreement": None,
                   "note": "peer row: measured here, not checked against thresholds"},
    }
    manifest["files"] = describe_files(scratch)
    manifest["files"].pop("manifest.json", None)
    write_manifest(scratch, manifest)
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    print(f"{folder}: max |diff| to PyTorch fp32 {diff:.3g}", flush=True)


# the run ----------------------------------------------------------------------------------------


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


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text("utf-8"))


def _bundles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if (p / "manifest.json").is_file())


def _is_peer(label: str) -> bool:
    return "-peer-" in label


def _key(row: dict) -> tuple[str, str]:
    return row["format"], row["precision"]


def _fp32_of(fmt: str) -> str:
    return "fp16" if fmt == "coreml" else "fp32"


def _size_target(fmt: str) -> float:
    """The int8 size target against the format's reference: Core ML's is fp16, half of fp32."""
    return TARGETS["int8_size_ratio"] * (2 if _fp32_of(fmt) == "fp16" else 1)


def _baseline_label(precision: str, name: str, several: bool) -> str:
    """The benchmark's label of a PyTorch baseline (benchmark.plan: suffixed per source)."""
    return f"pytorch-{precision}" + (f" ({name})" if several else "")


def ratio_targets(plan: dict[str, list[Path]], names: list[str]) -> list[dict]:
    """The speed targets as the benchmark's --targets file holds them (labels of rows), format
    by format: where the targets need more memory than the machine has, the benchmark loads them
    in groups in this order, so a format's bundles of both models share a group."""
    several = len(names) > 1
    targets: list[dict] = []
    formats: list[str] = []
    by_model: dict[str, dict[tuple[str, str], str]] = {}
    for name in names:
        labels = {(m["format"], m["precision"]): b.name
                  for b in plan[name] if not _is_peer(b.name) for m in [_manifest(b)]}
        by_model[name] = labels
        eager = _baseline_label("fp32", name, several)
        for (fmt, precision), label in labels.items():
            if precision != "int8":
                continue
            targets.append({"name": f"{name} {fmt} int8 vs eager fp32", "slower": eager,
                            "faster": label, "target": TARGETS["best_int8_vs_eager_fp32"]})
            formats.append(fmt)
            if (fmt, _fp32_of(fmt)) in labels:
                targets.append({"name": f"{name} {fmt} int8 vs its fp32",
                                "slower": labels[(fmt, _fp32_of(fmt))], "faster": label,
                                "target": TARGETS["int8_vs_own_fp32"]})
                formats.append(fmt)
        for peer in (b.name for b in plan[name] if _is_peer(b.name)):
            if ("onnx", "int8") in labels:
                targets.append({"name": f"{name} onnx int8 vs {peer}", "slower": peer,
                                "faster": labels[("onnx", "int8")],
                                "target": TARGETS["ours_vs_peer"]})
                formats.append("onnx")
    if several:
        base, student = names[0], names[1]
        for key, label in by_model[student].items():
            if key in by_model[base]:
                targets.append({"name": f"{student} vs {base} {key[0]} {key[1]}",
                                "slower": by_model[base][key], "faster": label,
                                "target": TARGETS["student_vs_base"]})
                formats.append(key[0])
        for precision in ("fp32", "int8"):
            targets.append({"name": f"{student} vs {base} pytorch {precision}",
                            "slower": _baseline_label(precision, base, True),
                            "faster": _baseline_label(precision, student, True),
                            "target": TARGETS["student_vs_base"]})
            formats.append("pytorch")
    order = list(dict.fromkeys(formats))
    ranked = sorted(zip(formats, targets, strict=True), key=lambda pair: order.index(pair[0]))
    return [target for _, target in ranked]


# printing ---------------------------------------------------------------------------------------


def paired(rows: list[dict], slower: str, faster: str) -> dict | None:
    """The paired ratio of two rows measured in the same interleaved rounds (same group)."""
    groups: dict[int, dict[str, dict]] = {}
    for r in rows:
        if r["status"] == "ok" and r.get("per_round_ms"):
            groups.setdefault(r["interleave"]["group"], {})[r["label"]] = r
    for members in groups.values():
        if slower in members and faster in members:
            return paired_ratio(members[slower]["per_round_ms"], members[faster]["per_round_ms"])
    return None


def _judged(ratio: dict | None, target: float, at_most: bool = False) -> str:
    sign, unit = ("<=", "") if at_most else (">=", "x")
    if ratio is None:
        return f"(target {sign} {target:g}{unit}: not measured in one group)"
    return f"(target {sign} {target:g}{unit}: {verdict(ratio, target, at_most)})"


def _table(rows: list[dict], eager: str) -> None:
    header = ("label", "format", "precision", "p50 ms", "vs eager fp32", "vs own fp32",
              "model MB", "int8/fp32 size", "model memory MB")
    table = [header]
    own = {_key(r): r["label"] for r in rows if r["precision"] in ("fp32", "fp16")
           and not _is_peer(r["label"])}
    sizes = {r["label"]: (r.get("memory") or {}).get("model_file_bytes") for r in rows}
    for r in rows:
        group = r.get("interleave") or {}
        label = r["label"] + (f" (group {group['group']})" if group.get("groups", 1) > 1 else "")
        cells = [label, r["format"], r["precision"]]
        if r["status"] != "ok":
            table.append((*cells, r["status"], "-", "-", "-", "-", "-"))
            continue
        reference = own.get((r["format"], _fp32_of(r["format"])))
        vs_eager = paired(rows, eager, r["label"]) if r["label"] != eager else None
        vs_own = paired(rows, reference, r["label"]) \
            if reference and r["precision"] == "int8" else None
        size, ref_size = sizes.get(r["label"]), sizes.get(reference)
        memory = (r.get("memory") or {}).get("model_peak_rss_bytes")
        p50 = r["latency_ms"]["p50"]
        table.append((
            *cells, f"{p50:.0f}" if p50 >= 100 else f"{p50:.2f}",
            format_ratio(vs_eager) if vs_eager else "-",
            format_ratio(vs_own) if vs_own else "-",
            f"{size / 1e6:.0f}" if size else "-",
            f"{size / ref_size:.3f}" if r["precision"] == "int8" and size and ref_size else "-",
            f"{memory / 1e6:.0f}" if memory is not None else "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['label']}: {r['status']}: {r['error'].splitlines()[0]}")


def print_model(name: str, rows: list[dict], several: bool, kernel_gain: dict | None,
                vnni: bool) -> list[tuple[str, str]]:
    """The model's table and verdicts; returns (target, verdict) pairs."""
    verdicts = []
    model = rows[0]["model"]
    print(f"\n{name}: {model['config']} @ {model['image_size']} px, "
          f"{(model['macs'] or 0) / 1e9:.1f} GMAC")
    eager = next((r["label"] for r in rows if _key(r) == ("pytorch", "fp32")),
                 _baseline_label("fp32", name, several))
    _table(rows, eager)
    ok = {r["label"]: r for r in rows if r["status"] == "ok"}
    ours = [r for r in ok.values() if r["precision"] == "int8" and r["format"] != "pytorch"
            and not _is_peer(r["label"])]
    gains = [(r, paired(rows, eager, r["label"])) for r in ours]
    gains = [(r, g) for r, g in gains if g is not None]
    if gains:
        best, ratio = max(gains, key=lambda item: item[1]["ratio"])
        target = TARGETS["best_int8_vs_eager_fp32"]
        judged = _judged(ratio, target)
        print(f"best int8: {best['format']} {format_ratio(ratio)} faster than eager fp32 {judged}")
        verdicts.append((f"{name} best int8 vs eager fp32", verdict(ratio, target)))
    own = {_key(r): r["label"] for r in ok.values() if not _is_peer(r["label"])}
    for r in ours:
        reference = own.get((r["format"], _fp32_of(r["format"])))
        ratio = paired(rows, reference, r["label"]) if reference else None
        if ratio is not None:
            target = TARGETS["int8_vs_own_fp32"]
            note = ""
            if verdict(ratio, target) != "met" and kernel_gain and kernel_gain.get("low"):
                note = (f"; int8 matmul kernel gain on this CPU {format_ratio(kernel_gain)}"
                        + ("" if vnni else ", no VNNI"))
                if kernel_gain["high"] < target:
                    note += ": the kernel itself gains less than the target"
            print(f"{r['format']} int8: {format_ratio(ratio)} faster than its fp32 "
                  f"{_judged(ratio, target)}{note}")
            verdicts.append((f"{name} {r['format']} int8 vs its fp32", verdict(ratio, target)))
    onnx_int8 = own.get(("onnx", "int8"))
    for peer in (label for label in ok if _is_peer(label)):
        ratio = paired(rows, peer, onnx_int8) if onnx_int8 else None
        if ratio is not None:
            target = TARGETS["ours_vs_peer"]
            print(f"our onnx int8 vs {peer}: {format_ratio(ratio)} faster "
                  f"{_judged(ratio, target)}")
            verdicts.append((f"{name} onnx int8 vs {peer}", verdict(ratio, target)))
    sizes = {_key(r): (r.get("memory") or {}).get("model_file_bytes") for r in rows
             if not _is_peer(r["label"])}
    for r in ours:
        size, reference = sizes.get(_key(r)), sizes.get((r["format"], _fp32_of(r["format"])))
        if size and reference:
            ratio, target = size / reference, _size_target(r["format"])
            state = "met" if ratio <= target else "missed"
            print(f"{r['format']} int8/{_fp32_of(r['format'])} size {ratio:.3f} "
                  f"(target <= {target:g}: {state}; bytes, exact)")
            verdicts.append((f"{name} {r['format']} int8 size", state))
    return verdicts


def print_student_vs_base(names: list[str], rows: list[dict]) -> list[tuple[str, str]]:
    print(f"\n{names[1]} vs {names[0]}, same format and precision:")
    verdicts = []
    by_key = {name: {} for name in names[:2]}
    for r in rows:
        stem = Path(r["model"]["checkpoint"] or "").stem
        if stem in by_key and r["status"] == "ok" and not _is_peer(r["label"]):
            by_key[stem].setdefault(_key(r), r["label"])
    target = TARGETS["student_vs_base"]
    for key, label in by_key[names[1]].items():
        base = by_key[names[0]].get(key)
        ratio = paired(rows, base, label) if base else None
        if ratio is not None:
            print(f"  {key[0]:<12} {key[1]:<5} {format_ratio(ratio)} faster "
                  f"{_judged(ratio, target)}")
            verdicts.append((f"{names[1]} vs {names[0]} {key[0]} {key[1]}",
                             verdict(ratio, target)))
    return verdicts


def run_threads(rows: list[dict]) -> int:
    """The threads the measured rows ran with (a skipped row, such as Core ML's here, has none)."""
    return next((r["threads"] for r in rows if r.get("threads")), 1)


def _trials(info: dict) -> str:
    """`3 trials of 4 + 4 + 4`: the rounds each set of freshly started processes timed."""
    trials = info.get("trials") or [info["rounds"]]
    return f"{len(trials)} trial{'s' * (len(trials) > 1)} of {' + '.join(map(str, trials))}"


def print_run(rows: list[dict]) -> None:
    """Device, rounds, memory and the machine probes (a diagnostic)."""
    interleaved = [r for r in rows if r.get("interleave")]
    print(f"\n{rows[0]['device']['name']}, {run_threads(rows)} threads")
    if interleaved:
        groups = {r["interleave"]["group"]: r["interleave"] for r in interleaved}
        for number, info in sorted(groups.items()):
            print(f"group {number}/{info['groups']}: {len(info['targets'])} targets loaded at "
                  f"once, {info['rounds']} rounds ({_trials(info)}) of "
                  f"{info['inferences_per_round']} inferences each in a random order, peak "
                  f"{info['peak_resident_bytes'] / 2**30:.2f} GiB "
                  "resident in their processes")
    print(f"intervals: {INTERVAL_METHOD}")
    check = rows[0].get("machine_check")
    if check:
        state = {True: "DISTURBED", False: "steady", None: "unknown"}[check["disturbed"]]
        print(f"machine probes (diagnostic, no veto): {state}; {check.get('reason')}")


def _make_peer_main(argv: list[str]) -> None:
    checkpoint, bundle, folder, options = argv
    make_peer(Path(checkpoint), Path(bundle), Path(folder), json.loads(options))


def main() -> None:
    if sys.argv[1:2] == ["--make-peer"]:  # one peer export, in a process of its own
        _make_peer_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=POS_INT, default=20, help="interleaved rounds at least")
    parser.add_argument("--trials", type=POS_INT, default=3,
                        help="the rounds split into trials of freshly started processes")
    parser.add_argument("--per-round", type=POS_INT, default=2,
                        help="timed inferences of each target in a round")
    parser.add_argument("--budget", type=POS_FLOAT, default=900.0,
                        help="seconds the rounds may take while a target is undecided")
    parser.add_argument("--threads", type=POS_INT, help="default: every CPU of this process")
    parser.add_argument("--only", "--formats", dest="formats", default="all",
                        help="export formats, comma-separated (default: all)")
    parser.add_argument("--arch", help="the base model's architecture (default: beit3_base)")
    parser.add_argument("--student-arch", help="the student's (default: beit3_base_6l)")
    parser.add_argument("--img-size", type=POS_INT,
                        help="one image size for both models (default: 480 and 384)")
    parser.add_argument("--x86-vnni", action="store_true",
                        help="int8 ONNX for an x86 CPU with VNNI (full-range int8 weights); "
                        "the default where this CPU has VNNI")
    parser.add_argument("--tokenizer", type=Path,
                        help="BEiT-3's beit3.spm (default: $BEIT3_SPM, else a small one)")
    parser.add_argument("--out", type=Path, help="keep everything here (default: a temp folder)")
    parser.add_argument(
        "--models", nargs="+", default=MODELS, metavar="NAME:ARCH:SIZE",
        help="models to compare, the first as the base (default: %(default)s)",
    )
    parser.add_argument("--no-peers", action="store_true",
                        help="no peer rows (torch.onnx.export + quantize_dynamic)")
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
    names = [name for name, _, _ in models]

    features = cpu_features()
    vnni = has_vnni(features)
    print(f"CPU int8 features: {', '.join(features) or 'none found'}; {int8_settings(features)}",
          flush=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_formats.") as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.measure_only:
            checkpoints = [root / name / f"{name}.pth" for name in names]
            missing = [str(c) for c in checkpoints if not c.is_file()]
            if missing:
                parser.error(f"--measure-only: no earlier run in {root} ({', '.join(missing)})")
        else:
            tokenizer = script_tokenizer(args.tokenizer, root, QUESTIONS)
            checkpoints = [
                _checkpoint(name, arch, int(size), tokenizer, root) for name, arch, size in models
            ]
            print(f"exporting (log: {root / 'export.log'})", flush=True)
            _export_all(checkpoints, args.formats, root / "export.log", args.x86_vnni or vnni)
            if not args.no_peers:  # the base model's: the comparison a user makes first
                peer_bundles(checkpoints[0], root / "export.log")
            print(f"exported in {time.perf_counter() - start:.0f} s; measuring", flush=True)
        plan = {c.stem: _bundles(c.parent) for c in checkpoints}
        if args.no_peers:
            plan = {name: [b for b in found if not _is_peer(b.name)]
                    for name, found in plan.items()}
        bundles = [b for found in plan.values() for b in found]
        results, report = _new_run_paths(root)
        targets = root / f"{results.stem}.targets.json"
        targets.write_text(json.dumps(ratio_targets(plan, names), indent=1), "utf-8")
        command = [sys.executable, "-m", "benchmark", *map(str, bundles), "--interleave",
                   "--rounds", str(args.rounds), "--trials", str(args.trials),
                   "--per-round", str(args.per_round), "--targets", str(targets),
                   "--budget", str(args.budget), "--warmup", "2",
                   "--timeout", "3600", "--out", str(results), "--report", str(report)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        log = root / f"{results.stem}.log"
        with open(log, "w", encoding="utf-8") as out:
            code = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=out,
                                  check=False).returncode
        if code == 2 or not results.is_file():
            print(f"the benchmark did not run ({log}); nothing measured in {root}",
                  file=sys.stderr)
            sys.exit(2 if code == 2 else 1)
        rows = [json.loads(line) for line in results.read_text("utf-8").splitlines()]
        threads = run_threads(rows)
        from benchmark.probe import int8_kernel_gain

        kernel_gain = int8_kernel_gain(threads)
        print_run(rows)
        print(f"int8 matmul kernel gain on this CPU (onnxruntime, {threads} threads, "
              f"student-sized MLP, int8 vs fp32): {format_ratio(kernel_gain)}")
        verdicts = []
        for name in names:
            model_rows = [r for r in rows if Path(r["model"]["checkpoint"] or "").stem == name]
            if model_rows:
                verdicts += print_model(name, model_rows, len(names) > 1, kernel_gain, vnni)
        if len(names) > 1:
            verdicts += print_student_vs_base(names, rows)
        undecided = [target for target, state in verdicts if state == "undecided"]
        if undecided:
            print(f"\nundecided within the budget ({args.budget:g} s of rounds): "
                  f"{', '.join(undecided)}")
        print(f"\nverdicts: {json.dumps(dict(verdicts))}")
        if args.out:
            print(f"\nresults: {results}\nreport: {report / 'report.md'}\nlog: {log}")
        print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
