"""The machine's dense fp32 matmul throughput, the ceiling each model's achieved GFLOP/s is put
against: measured in the run (same threads, own process), since it depends on clocks, cores
and BLAS build (`python -m benchmark.roofline --threads K` prints it as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_SIZE = 2048


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
    args = parser.parse_args(argv)
    text = json.dumps(matmul_gflops(args.threads, args.size, args.repeats))
    if args.out:
        args.out.write_text(text, "utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
