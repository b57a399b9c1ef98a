"""BEiT-3 for visual question answering on torchscale.

Module names follow unilm's `BEiT3ForVisualQuestionAnswering` (`beit3.*`, `pooler.norm`,
`pooler.dense`, `head.0`, `head.1`, `head.3`) so that official checkpoints load unchanged, and the
initialisation follows unilm's wrapper (truncated normal, std 0.02, cut at +-1 std).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

with warnings.catch_warnings():
    # torchscale imports timm.models.layers, which timm 1.x deprecates loudly.
    warnings.simplefilter("ignore", FutureWarning)
    from torchscale.model.BEiT3 import BEiT3

from vqa.configs import DEFAULT_TEXT_LEN, BEiT3Config, get_config

INIT_STD = 0.02


def init_weights(module: nn.Module) -> None:
    """unilm's `_init_weights`: only Linear and LayerNorm are re-initialised."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-INIT_STD, b=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Pooler(nn.Module):
    """LayerNorm, Linear and Tanh on the first (image CLS) token."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.dense = nn.Linear(dim, dim)
        self.activation = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(self.norm(x[:, 0, :])))


class BEiT3ForVQA(nn.Module):
    """Answer classification over a fixed answer list; logits are trained with BCE (multi-label)."""

    def __init__(self, config: BEiT3Config) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.beit3 = BEiT3(config.encoder_config())
        self.apply(init_weights)
        self.pooler = Pooler(dim)
        self.pooler.apply(init_weights)
        self.head = nn.Sequential(
            nn.Linear(dim, dim * 2),
            nn.LayerNorm(dim * 2),
            nn.GELU(),
            nn.Linear(dim * 2, config.num_answers),
        )
        self.head.apply(init_weights)

    def forward(
        self, image: torch.Tensor, question: torch.Tensor, padding_mask: torch.Tensor
    ) -> torch.Tensor:
        """image [B,3,S,S] float, question [B,L] ids, padding_mask [B,L] (1 on pads) -> [B,A]."""
        out = self.beit3(
            textual_tokens=question, visual_tokens=image, text_padding_position=padding_mask
        )
        return self.head(self.pooler(out["encoder_out"]))

    def num_layers(self) -> int:
        return self.beit3.encoder.num_layers

    def no_weight_decay(self) -> set[str]:
        """Parameter names unilm excludes from weight decay."""
        return {"beit3.encoder.embed_positions.A.weight", "beit3.vision_embed.cls_token"}


def create_model(arch: str | BEiT3Config, *, init: bool = True, **overrides) -> BEiT3ForVQA:
    """Build a model from a registered name or a config.

    With init=False the parameters are created on the meta device (no memory, no random init),
    for callers that assign a full state dict right after (fast checkpoint loading).
    """
    config = arch if isinstance(arch, BEiT3Config) else get_config(arch)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        config = config.replace(**overrides)
    if init:
        return BEiT3ForVQA(config)
    with torch.device("meta"):
        return BEiT3ForVQA(config)


def reinit_for_scratch(model: BEiT3ForVQA) -> None:
    """Gives a model fresh from `create_model` the initialisation of ViTs trained from scratch.

    unilm's initialisation only has to seed a new head on pretrained weights: it cuts the normal at
    +-1 std and leaves the text and position tables at torch's N(0, 1), whose position noise
    drowns the patch content when nothing is pretrained. Here Linear weights and both tables get
    a normal of std 0.02 cut at +-2 std (timm's recipe) and the image CLS token std 1e-6; biases
    and norms keep `create_model`'s zeros and ones.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
    nn.init.normal_(model.beit3.vision_embed.cls_token, std=1e-6)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def config_parameters(config: BEiT3Config) -> int:
    """Parameter count without allocating the model."""
    with torch.device("meta"):
        return count_parameters(BEiT3ForVQA(config))


def config_macs(config: BEiT3Config, text_len: int = DEFAULT_TEXT_LEN) -> int:
    """Multiply-accumulates of one forward pass (batch 1, the question padded to text_len).

    Counted per matmul: patch projection, per layer Q/K/V/output projections, attention scores
    and weighted sum, the two FFN matmuls; then pooler and head. Norms, softmax and activations are
    left out, as is usual for MAC counts.
    """
    d, f, p = config.embed_dim, config.mlp_dim, config.patch_size
    n = config.num_patches + 1 + text_len
    patch = config.num_patches * 3 * p * p * d
    per_layer = 4 * n * d * d + 2 * n * n * d + 2 * n * d * f
    head = d * d + d * 2 * d + 2 * d * config.num_answers
    return patch + config.depth * per_layer + head
