"""The model's attention forwards against torchscale's explicit one, the reference.

The same model with random weights, in eager PyTorch at batch 1, switched between the forwards of
`vqa.model.ATTENTION` (fused `scaled_dot_product_attention`, the default; head by head, which
ExecuTorch and TorchScript-mobile bundles export; torchscale's explicit code) and timed alternately
in one run, so all see the same machine. Prints p50 of each, its speed-up over the explicit code
and its largest logit difference from it.

    python scripts/bench_attention.py [--arch beit3_base] [--img-size 480] [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vqa.model import ATTENTION, create_model, set_attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="beit3_base")
    parser.add_argument("--img-size", type=int, default=480)
    parser.add_argument("--text-len", type=int, default=64)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, help="default: torch's")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = create_model(args.arch, img_size=args.img_size).eval()
    image = torch.randn(1, 3, args.img_size, args.img_size)
    question = torch.randint(3, 1000, (1, args.text_len))
    padding = torch.zeros(1, args.text_len, dtype=torch.long)
    padding[:, args.text_len // 4 :] = 1  # a short question: the mask is in use
    kinds = list(ATTENTION)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    logits: dict[str, torch.Tensor] = {}
    with torch.inference_mode():
        for step in range(args.runs + 1):
            for kind in kinds:
                set_attention(model, kind)
                start = time.perf_counter()
                logits[kind] = model(image, question, padding)
                if step:  # the first round warms up
                    times[kind].append((time.perf_counter() - start) * 1000)
    p50 = {kind: statistics.median(times[kind]) for kind in kinds}
    print(f"{args.arch} @ {args.img_size} px, text {args.text_len}, "
          f"{torch.get_num_threads()} threads, {args.runs} alternating runs each")
    print(f"{'attention':<10} {'p50 ms':>8} {'vs explicit':>12} {'max |logit diff|':>17}")
    for kind in kinds:
        diff = (logits[kind] - logits["explicit"]).abs().max().item()
        print(f"{kind:<10} {p50[kind]:8.0f} {p50['explicit'] / p50[kind]:11.2f}x {diff:17.2e}")


if __name__ == "__main__":
    main()
