"""Where an ONNX bundle spends its time: onnxruntime's profiler, summed by operator type.

Runs the bundle's `model.onnx` at batch 1 on random inputs of its own shapes, with the session
settings `python -m benchmark` uses (vqa.runtimes.onnx_runtime.session_options), and prints
each operator type's milliseconds a run and share, largest first. Operator types are those of the
optimized graph (e.g. DynamicQuantizeMatMul for an int8 linear); an If's time includes the
branch it ran (the int8 attention scores with the padding mask, export.onnx_attention).

    python scripts/profile_onnx.py BUNDLE [--runs 5] [--threads 2] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vqa.runtimes.onnx_runtime import session_options

_NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def _inputs(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feed = {}
    for spec in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in spec.shape]
        dtype = _NUMPY[spec.type]
        feed[spec.name] = (rng.random(shape, dtype=np.float32) if dtype is np.float32
                           else np.zeros(shape, dtype=dtype))
    return feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    model = args.bundle / "model.onnx"
    if not model.is_file():
        parser.error(f"{args.bundle}: no model.onnx (not an ONNX bundle of python -m export)")

    with tempfile.TemporaryDirectory() as tmp:
        options = session_options(args.threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        feed = _inputs(session)
        session.run(None, feed)  # warm-up, also profiled: subtracted below by counting runs
        for _ in range(args.runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text("utf-8"))

    runs = args.runs + 1
    micros: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            micros[event["args"]["op_name"]] += event["dur"]
            nodes[event["args"]["op_name"]] += 1
    total = sum(micros.values())
    print(f"{model}: {total / 1000 / runs:.0f} ms a run in operators ({runs} profiled runs, "
          f"{args.threads} threads)")
    print(f"{'operator':<28} {'ms/run':>8} {'share':>7} {'nodes':>6}")
    for op, us in micros.most_common(args.top):
        print(f"{op:<28} {us / 1000 / runs:8.1f} {100 * us / total:6.1f}% {nodes[op] // runs:6d}")


if __name__ == "__main__":
    main()
