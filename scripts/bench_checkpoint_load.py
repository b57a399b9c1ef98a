"""Checkpoint loading cost against a plain `torch.load` of the same file (target: <= 1.5x).

Writes a base-size checkpoint with random weights (official layout and ours) to a temporary
folder, then times, alternating in one run, `torch.load(weights_only=True)` and `vqa.load_model`
(which parses, checks every key and shape and returns an eval-ready model).

    python scripts/bench_checkpoint_load.py [--arch beit3_base] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vqa.checkpoint import load_model, save_checkpoint, tokenizer_record
from vqa.model import count_parameters, create_model


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="beit3_base")
    parser.add_argument("--img-size", type=int, default=480)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    torch.serialization.add_safe_globals([argparse.Namespace])  # the plain load needs it too
    model = create_model(args.arch, img_size=args.img_size)
    print(f"{args.arch} @ {args.img_size} px: {count_parameters(model) / 1e6:.1f} M parameters")
    with tempfile.TemporaryDirectory() as tmp:
        official, ours = Path(tmp) / "official.pth", Path(tmp) / "ours.pth"
        torch.save({"model": model.state_dict(), "args": argparse.Namespace()}, official)
        save_checkpoint(
            ours,
            model,
            answers=[f"answer {i}" for i in range(model.config.num_answers)],
            tokenizer=tokenizer_record(b"\0" * 1024, 64),
        )
        del model
        print(f"file size: {official.stat().st_size / 2**20:.0f} MiB")
        print(f"{'file':<10} {'torch.load (s)':>15} {'load_model (s)':>15} {'ratio':>7}")
        for path, arch in ((official, args.arch), (ours, None)):
            torch.load(path, map_location="cpu", weights_only=True)  # warm the page cache
            plain = _median_seconds(
                lambda p=path: torch.load(p, map_location="cpu", weights_only=True), args.repeats
            )
            ours_s = _median_seconds(
                lambda p=path, a=arch: load_model(p, arch=a), args.repeats
            )
            print(f"{path.stem:<10} {plain:>15.3f} {ours_s:>15.3f} {ours_s / plain:>7.2f}x")


if __name__ == "__main__":
    main()
