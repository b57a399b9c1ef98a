"""The machine's dense fp32 matmul throughput, the ceiling each model's achieved GFLOP/s is put
against: measured in the run (same threads, own process), since it depends on clocks, cores
and BLAS build (`python -m benchmark.roofline --threads K` prints it as JSON).

The same probe, with a short reference run (a fixed small BEiT-3 in PyTorch eager), is taken at
the start and at the end of a benchmark run: when either figure moves by more than
DISTURBANCE_MARGIN the machine did not stay the same (another process took CPU time, clocks
changed), the run is marked disturbed and its figures must not be compared or judged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SIZE = 2048
DISTURBANCE_MARGIN = 0.15
"""Largest relative change of the matmul ceiling or the reference run between start and end."""
REFERENCE_MODEL = ("beit3_tiny", 32)
"""The reference run: this config at this image size, random weights, batch 1, 16 text tokens."""


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
    milliseconds = []
    with torch.inference_mode():
        for _ in range(3):
            model(image, question, mask)
        for _ in range(repeats):
            start = time.perf_counter()
            model(image, question, mask)
            milliseconds.append((time.perf_counter() - start) * 1e3)
    milliseconds.sort()
    return {
        "model": f"{arch}@{size}",
        "ms_median": milliseconds[len(milliseconds) // 2],
        "ms_min": milliseconds[0],
        "repeats": repeats,
    }


def probe(threads: int, size: int = DEFAULT_SIZE, repeats: int = 10) -> dict:
    """The matmul ceiling and the reference run, as one probe of the machine's state."""
    return {**matmul_gflops(threads, size, repeats), "reference": reference_run(threads)}


def machine_check(
    start: dict | None, end: dict | None, margin: float = DISTURBANCE_MARGIN
) -> dict:
    """The rows' `machine_check` object: both probes and whether the run was disturbed.

    `disturbed` is None when a probe is missing (an interrupted run): unknown, so unjudged.
    """
    check: dict = {"start": start, "end": end, "margin": margin, "disturbed": None}
    if not start or not end:
        check["reason"] = "no end probe: the run did not finish" if start else "no start probe"
        return check
    changes = {
        "matmul_gflops": end["gflops"] / start["gflops"] - 1.0,
        "reference_ms": end["reference"]["ms_median"] / start["reference"]["ms_median"] - 1.0,
    }
    check["changes"] = changes
    moved = [f"{name} {100 * change:+.1f} %" for name, change in changes.items()
             if abs(change) > margin]
    check["disturbed"] = bool(moved)
    check["reason"] = (
        f"changed by more than {100 * margin:.0f} % between start and end: {', '.join(moved)}"
        if moved else f"matmul ceiling and reference run within {100 * margin:.0f} %"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.roofline", description=__doc__)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    parser.add_argument("--reference", action="store_true",
                        help="add the reference run (a probe of the machine's state)")
    args = parser.parse_args(argv)
    measure = probe if args.reference else matmul_gflops
    text = json.dumps(measure(args.threads, args.size, args.repeats))
    if args.out:
        args.out.write_text(text, "utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
