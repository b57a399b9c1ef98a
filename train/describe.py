"""Model sizes without training anything: parameters, GMACs, and file sizes in fp32 and int8."""

from __future__ import annotations

import torch
from torch import nn

from vqa.configs import BEiT3Config
from vqa.model import BEiT3ForVQA, config_macs, count_parameters

# Per output channel of a Linear and per embedding row: a scale and a zero point, 4 bytes each.
QPARAM_BYTES = 8


def int8_bytes(model: BEiT3ForVQA) -> int:
    """Size after the exporters' int8 quantization: int8 weights of every Linear (per output
    channel) and of the text embedding (per row), each channel or row with its scale and zero
    point; biases, norms, position tables and the patch convolution stay fp32.

    Every exporter quantizes the text embedding too (64,010 rows: a fifth of base), which puts
    int8/fp32 at about a quarter, as measured on the exported files.
    """
    text = model.beit3.text_embed.weight
    quantized = {id(m.weight): m.out_features for m in model.modules() if isinstance(m, nn.Linear)}
    quantized[id(text)] = text.shape[0]
    total = 0
    for param in model.parameters():
        rows = quantized.get(id(param))
        total += 4 * param.numel() if rows is None else param.numel() + QPARAM_BYTES * rows
    return total


def describe(config: BEiT3Config, text_len: int) -> dict[str, float | int | str]:
    """Figures for one configuration (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        model = BEiT3ForVQA(config)
    params = count_parameters(model)
    text_embed = model.beit3.text_embed.weight.numel()
    return {
        "arch": config.name,
        "shape": f"{config.embed_dim}-d x {config.depth}, FFN {config.mlp_dim}",
        "img_size": config.img_size,
        "params_m": params / 1e6,
        "text_embed_m": text_embed / 1e6,
        "gmacs": config_macs(config, text_len) / 1e9,
        "fp32_mb": 4 * params / 1e6,
        "int8_mb": int8_bytes(model) / 1e6,
    }


def format_table(rows: list[dict[str, float | int | str]]) -> str:
    header = (
        f"{'arch':<22} {'shape':<24} {'img':>4} {'params M':>9} {'text emb M':>10} "
        f"{'GMACs':>8} {'fp32 MB':>8} {'int8 MB':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['arch']:<22} {r['shape']:<24} {r['img_size']:>4} {r['params_m']:>9.2f} "
            f"{r['text_embed_m']:>10.2f} {r['gmacs']:>8.2f} {r['fp32_mb']:>8.1f} "
            f"{r['int8_mb']:>8.1f}"
        )
    return "\n".join(lines)
