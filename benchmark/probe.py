"""Machine probes: the dense fp32 matmul throughput (the ceiling each model's achieved GFLOP/s is
put against), a short reference run (a fixed small BEiT-3 in PyTorch eager) and a short int8 run
(onnxruntime's int8 matmul kernel), each in the run's own process with the run's threads.

`python -m benchmark probe --threads K` prints one probe as JSON; `--watch SECONDS` probes back to
back and says how much the machine itself moves. A benchmark run takes a probe at its start,
between its targets and at its end and keeps them in its rows (`machine_check`) as a diagnostic:
when a figure moves by more than DISTURBANCE_MARGIN from the start probe the machine did not stay
the same. In a sequential run that makes its figures unfit to compare; an interleaved run's
verdicts come from paired per-round ratios (benchmark.stats) and are not vetoed by the probes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

DEFAULT_SIZE = 2048
DISTURBANCE_MARGIN = 0.15
"""Largest relative change of a probe figure (matmul ceiling, reference run, int8 run) from the
start probe to a later one."""
REFERENCE_MODEL = ("beit3_tiny", 32)
"""The reference run: this config at this image size, random weights, batch 1, 16 text tokens."""
INT8_MLP = (576, 768, 3072)
"""The int8 run: tokens, width and hidden size of a two-matmul MLP (a 384 px student's FFN)."""


def matmul_gflops(threads: int, size: int = DEFAULT_SIZE, repeats: int = 10) -> dict:
    """Best and median GFLOP/s of [size x size] @ [size x size] in fp32 with `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    out = torch.empty(size, size)
    for _ in range(2):
        torch.mm(a, b, out=out)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        seconds.append(time.perf_counter() - start)
    seconds.sort()
    flops = 2.0 * size**3
    return {
        "gflops": flops / seconds[0] / 1e9,
        "gflops_median": flops / seconds[len(seconds) // 2] / 1e9,
        "size": size,
        "threads": threads,
    }


def _timed_ms(run: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    """Milliseconds of each of `repeats` calls of run after `warmup` untimed ones, sorted."""
    for _ in range(warmup):
        run()
    milliseconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        milliseconds.append((time.perf_counter() - start) * 1e3)
    return sorted(milliseconds)


def reference_run(threads: int, repeats: int = 30) -> dict:
    """Median and fastest ms of a fixed small model in PyTorch eager with `threads` threads.

    The median is the figure compared: runs of a few ms fit between another process's time
    slices, so the fastest of them can miss a competing load.

    Attention, norms and small matmuls are the mix the measured models run, where a matmul
    alone can miss memory-bandwidth contention.
    """
    import torch

    from vqa.model import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    arch, size = REFERENCE_MODEL
    model = create_model(arch, img_size=size).eval()
    image = torch.randn(1, 3, size, size)
    question = torch.randint(4, 1000, (1, 16))
    mask = torch.zeros(1, 16, dtype=torch.long)
    with torch.inference_mode():
        milliseconds = _timed_ms(lambda: model(image, question, mask), repeats)
    return {
        "model": f"{arch}@{size}",
        "ms_median": milliseconds[len(milliseconds) // 2],
        "ms_min": milliseconds[0],
        "repeats": repeats,
    }


def _mlp_session(threads: int, int8: bool):
    """An onnxruntime session of the INT8_MLP MLP: fp32 MatMuls, or DynamicQuantizeMatMul with
    int8 weights (the kernel int8 ONNX bundles spend most of their time in); and its feed."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from vqa.runtimes.onnx_runtime import session_options

    tokens, width, hidden = INT8_MLP
    rng = np.random.default_rng(0)
    weights, nodes = [], []
    for name, shape, x, y in (("w1", (width, hidden), "x", "h"), ("w2", (hidden, width), "r", "y")):
        if int8:
            weights += [
                numpy_helper.from_array(rng.integers(-127, 128, shape, dtype=np.int8), name),
                numpy_helper.from_array(np.full(shape[1], 1e-3, np.float32), f"{name}_scale"),
                numpy_helper.from_array(np.zeros(shape[1], np.int8), f"{name}_zero"),
            ]
            nodes.append(helper.make_node("DynamicQuantizeMatMul",
                                          [x, name, f"{name}_scale", f"{name}_zero"], [y],
                                          domain="com.microsoft"))
        else:
            weights.append(numpy_helper.from_array(
                rng.standard_normal(shape, dtype=np.float32) * 1e-2, name))
            nodes.append(helper.make_node("MatMul", [x, name], [y]))
        if y == "h":
            nodes.append(helper.make_node("Relu", ["h"], ["r"]))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [tokens, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [tokens, width])], weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    session = ort.InferenceSession(model.SerializeToString(), session_options(threads),
                                   providers=["CPUExecutionProvider"])
    return session, {"x": rng.standard_normal((tokens, width), dtype=np.float32)}


def int8_run(threads: int, repeats: int = 30) -> dict:
    """Median ms of an int8 MLP (INT8_MLP) through onnxruntime's DynamicQuantizeMatMul, the
    kernel int8 ONNX bundles spend most of their time in, with `threads` threads.

    Shared hosts have phases in which int8 (VNNI) kernels run about 40 % slower while fp32
    matmuls and the reference run move by a few per cent; only an int8 kernel shows them.
    """
    session, feed = _mlp_session(threads, int8=True)
    milliseconds = _timed_ms(lambda: session.run(None, feed), repeats)
    return {"mlp": list(INT8_MLP), "ms_median": float(np.median(milliseconds)),
            "repeats": repeats}


def int8_kernel_gain(threads: int, rounds: int = 30, per_round: int = 3) -> dict:
    """How much faster this CPU runs the INT8_MLP MLP in onnxruntime int8 than in fp32: the
    ceiling of what dynamic int8 can gain a transformer here (its matmuls are this MLP's kind;
    everything else stays fp32). A paired ratio with its interval from interleaved rounds.

    Measured, not assumed from CPU flags: without VNNI the u8s8 kernels gain much less.
    """
    from benchmark.interleave import run_rounds
    from benchmark.stats import paired_ratio

    class Session:
        def __init__(self, label: str, int8: bool) -> None:
            self.label = label
            self.session, self.feed = _mlp_session(threads, int8)
            _timed_ms(lambda: self.session.run(None, self.feed), 0)

        def time(self, n: int) -> list[float]:
            return [ms / 1e3 for ms in _timed_ms(lambda: self.session.run(None, self.feed), n,
                                                  warmup=0)]

    times = run_rounds([Session("fp32", False), Session("int8", True)], rounds, per_round,
                       np.random.default_rng(0))
    return {"mlp": list(INT8_MLP), **paired_ratio(times["fp32"], times["int8"])}


def probe(threads: int, size: int = DEFAULT_SIZE, repeats: int = 10) -> dict:
    """The matmul ceiling, the reference run and the int8 run: one probe of the machine."""
    return {**matmul_gflops(threads, size, repeats), "reference": reference_run(threads),
            "int8": int8_run(threads)}


def _changes(start: dict, later: dict) -> dict[str, float]:
    """Relative change of each figure both probes have (old probes have no int8 run)."""
    changes = {
        "matmul_gflops": later["gflops"] / start["gflops"] - 1.0,
        "reference_ms": later["reference"]["ms_median"] / start["reference"]["ms_median"] - 1.0,
    }
    if "int8" in start and "int8" in later:
        changes["int8_ms"] = later["int8"]["ms_median"] / start["int8"]["ms_median"] - 1.0
    return changes


def machine_check(
    start: dict | None,
    end: dict | None,
    margin: float = DISTURBANCE_MARGIN,
    between: Sequence[dict | None] = (),
) -> dict:
    """The rows' `machine_check` object: the probes and whether the run was disturbed.

    Every later probe (`between` the targets, then `end`) is compared with the start probe;
    `changes` holds each figure's largest change. `disturbed` is None when the start or end
    probe is missing (an interrupted run): unknown, so unjudged.
    """
    check: dict = {"start": start, "end": end, "margin": margin, "disturbed": None}
    taken = [p for p in between if p]
    if taken:
        check["between"] = taken
    if not start or not end:
        check["reason"] = "no end probe: the run did not finish" if start else "no start probe"
        return check
    changes: dict[str, float] = {}
    for later in (*taken, end):
        for name, change in _changes(start, later).items():
            if abs(change) >= abs(changes.get(name, 0.0)):
                changes[name] = change
    check["changes"] = changes
    moved = [f"{name} {100 * change:+.1f} %" for name, change in changes.items()
             if abs(change) > margin]
    check["disturbed"] = bool(moved)
    figures = "matmul ceiling, reference run" + (" and int8 run" if "int8_ms" in changes else "")
    check["reason"] = (
        f"changed by more than {100 * margin:.0f} % from the start probe: {', '.join(moved)}"
        if moved else f"{figures} within {100 * margin:.0f} % in all {len(taken) + 2} probes"
    )
    return check


def achieved(macs: int | None, p50_ms: float | None, ceiling: dict | None) -> dict | None:
    """The `roofline` object of a row: 2 * MACs / p50 against the measured matmul ceiling."""
    if not macs or not p50_ms or not ceiling:
        return None
    gflops = 2.0 * macs / (p50_ms / 1e3) / 1e9
    return {
        "matmul_gflops": ceiling["gflops"],
        "matmul_size": ceiling["size"],
        "macs": int(macs),
        "achieved_gflops": gflops,
        "fraction": gflops / ceiling["gflops"],
    }


def watch(
    threads: int, seconds: float, size: int = DEFAULT_SIZE, repeats: int = 10,
    print_line: Callable[[str], object] = print,
) -> dict:
    """Probes taken back to back for `seconds` on an otherwise idle machine, judged as a run.

    What a benchmark run would see of the machine with nothing of its own running: where this
    already reports `disturbed`, the host itself (clocks, other tenants) moves more than the
    margin and no run on it can be judged.
    """
    probes: list[dict] = []
    start = time.perf_counter()
    while not probes or time.perf_counter() - start < seconds:
        taken = probe(threads, size, repeats)
        probes.append(taken)
        print_line(
            f"{time.perf_counter() - start:6.1f} s  matmul fp32 {taken['gflops']:6.1f} GFLOP/s  "
            f"reference run {taken['reference']['ms_median']:5.2f} ms  "
            f"int8 run {taken['int8']['ms_median']:5.2f} ms"
        )
    check = machine_check(probes[0], probes[-1], between=probes[1:-1])
    verdict = "would be marked DISTURBED" if check["disturbed"] else "steady"
    print_line(f"{len(probes)} probes in {time.perf_counter() - start:.0f} s, {threads} "
               f"thread(s): {verdict} ({check['reason']})")
    return check


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.add_argument("--reference", action="store_true",
                        help="add the reference run and the int8 run (a probe of the machine's "
                             "state; the default for --watch)")
    parser.add_argument("--watch", type=float, metavar="SECONDS",
                        help="probe back to back for SECONDS and say whether a sequential "
                             "benchmark run would be marked disturbed on this machine as it is "
                             "(exit status 1 when it would)")


def run(args: argparse.Namespace) -> int:
    """One probe as JSON (stdout or --out), or --watch's verdict (exit status 1: disturbed)."""
    if args.watch is not None:
        check = watch(args.threads, args.watch, args.size, args.repeats)
        if args.out:
            args.out.write_text(json.dumps(check), "utf-8")
        return 1 if check["disturbed"] else 0
    measure = probe if args.reference else matmul_gflops
    text = json.dumps(measure(args.threads, args.size, args.repeats))
    if args.out:
        args.out.write_text(text, "utf-8")
    else:
        print(text)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `probe` subcommand."""
    parser = subparsers.add_parser(
        "probe", help="probe this machine (matmul ceiling, reference run, int8 run)",
        description=__doc__.split("\n\n")[0],
    )
    _add_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmark.probe`: the harness's probe process (it ends with the harness)."""
    from benchmark.parent import exit_with_parent

    exit_with_parent()
    parser = argparse.ArgumentParser(prog="python -m benchmark.probe", description=__doc__)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
