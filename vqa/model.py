"""BEiT-3 for visual question answering on torchscale.

Module names follow unilm's `BEiT3ForVisualQuestionAnswering` (`beit3.*`, `pooler.norm`,
`pooler.dense`, `head.0`, `head.1`, `head.3`) so that official checkpoints load unchanged, and the
initialisation follows unilm's wrapper (truncated normal, std 0.02, cut at +-1 std). Self-attention
runs through torch's fused `scaled_dot_product_attention` (same parameters and names, same logits
to float rounding), which the ONNX and Core ML exporters start from; ExecuTorch and
TorchScript-mobile export the same arithmetic head by head (`HeadwiseMultiheadAttention`).
The last layer is computed for the one token the pooler reads (`FirstTokenEncoderLayer`), so
every format and training start from a graph without the work nothing reads.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

with warnings.catch_warnings():
    # torchscale imports timm.models.layers, which timm 1.x deprecates loudly.
    warnings.simplefilter("ignore", FutureWarning)
    from fairscale.nn import checkpoint_wrapper
    from torchscale.architecture.encoder import EncoderLayer
    from torchscale.component.multihead_attention import MultiheadAttention
    from torchscale.component.multiway_network import set_split_position
    from torchscale.model.BEiT3 import BEiT3

from vqa.configs import DEFAULT_TEXT_LEN, BEiT3Config, get_config

INIT_STD = 0.02
MASKED_SCORE = -1e9
"""Added to attention scores of padding tokens (torchscale fills them with -inf)."""


def init_weights(module: nn.Module) -> None:
    """unilm's `_init_weights`: only Linear and LayerNorm are re-initialised."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-INIT_STD, b=INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class FusedMultiheadAttention(MultiheadAttention):
    """torchscale's self-attention with its score, mask, softmax and weighted sum fused into one
    `scaled_dot_product_attention` call; projections, sub-LayerNorm and parameters are its own.

    It computes what torchscale computes for BEiT-3 (no incremental state, relative positions,
    xPos or additive mask); `set_attention` swaps only modules where that holds. The attention
    weights are not materialized: the second output is None (BEiT-3's encoder drops it).
    """

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        incremental_state: dict | None = None,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        rel_pos: torch.Tensor | None = None,
        is_first_step: bool = False,
    ) -> tuple[torch.Tensor, None]:
        if incremental_state is not None or attn_mask is not None or rel_pos is not None:
            raise ValueError("fused attention takes no incremental state, attn_mask or rel_pos")
        bsz, tgt_len, embed_dim = query.shape
        src_len = key.shape[1]
        shape = (bsz, -1, self.num_heads, self.head_dim)
        q = self.q_proj(query).view(shape).transpose(1, 2)
        k = self.k_proj(key).view(shape).transpose(1, 2)
        v = self.v_proj(value).view(shape).transpose(1, 2)
        mask = None
        if key_padding_mask is not None:  # torchscale: nonzero = padding
            # Additive, not boolean: exp(-1e9 - max) is exactly 0 in float32 as exp(-inf) is,
            # and exporters get a multiply instead of where/any ops that split XNNPACK's graph.
            pads = key_padding_mask.view(bsz, 1, 1, src_len).to(q.dtype)
            mask = pads * MASKED_SCORE
        attn = self.attend(q, k, v, mask).transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
        if self.inner_attn_ln is not None:
            attn = self.inner_attn_ln(attn)
        return self.out_proj(attn), None

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """softmax(q k^T * scaling + mask) v over [B, heads, tokens, head_dim]."""
        dropout = self.dropout_module.p if self.training else 0.0
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout, scale=self.scaling
        )


class HeadwiseMultiheadAttention(FusedMultiheadAttention):
    """The fused attention's arithmetic without `scaled_dot_product_attention`, one head at a
    time: for TorchScript-mobile, whose runtime (PyTorch Android Lite 1.13) predates that operator,
    and ExecuTorch, whose XNNPACK delegate takes these ops but not the mask guards of SDPA's
    decomposition.

    Each head's scores, mask, softmax and weighted sum are a `baddbmm`, a `softmax` and a `bmm`
    over a [tokens, tokens] matrix; torchscale's explicit attention does the same over all heads
    at once, with a separate scaling and masking pass, and at base size and 480 px runs about 1.4x
    slower on a CPU than this (scripts/bench_attention.py). Same parameters and names.
    """

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        dropout = self.dropout_module.p if self.training else 0.0
        keys = k.transpose(2, 3)
        heads = []
        for head in range(self.num_heads):
            if mask is None:
                scores = torch.bmm(q[:, head], keys[:, head]) * self.scaling
            else:  # mask [B, 1, 1, src]: the same row for every head and query
                scores = torch.baddbmm(mask[:, 0], q[:, head], keys[:, head], alpha=self.scaling)
            probs = F.dropout(scores.softmax(dim=-1), dropout, self.training)
            heads.append(torch.bmm(probs, v[:, head]))
        return torch.stack(heads, dim=1)


ATTENTION = {
    "fused": FusedMultiheadAttention,
    "headwise": HeadwiseMultiheadAttention,
    "explicit": MultiheadAttention,
}
"""The attention forwards of one set of parameters: fused SDPA (the default), head by head for
the ExecuTorch and TorchScript-mobile exports, and torchscale's explicit code (the reference)."""


def set_attention(model: nn.Module, kind: str = "fused") -> int:
    """Switch every torchscale self-attention to one of ATTENTION's forwards; returns how many.

    Only the class changes (its forward), so parameters, buffers and state-dict names stay.
    """
    wanted = ATTENTION[kind]
    count = 0
    for module in model.modules():
        if isinstance(module, MultiheadAttention) and module.xpos is None:
            module.__class__ = wanted
            count += 1
    return count


@contextmanager
def attention_as(model: nn.Module, kind: str) -> Iterator[None]:
    """Every self-attention of model runs ATTENTION[kind] inside the block (for an exporter to
    trace), and what it ran before after it."""
    before = {m: type(m) for m in model.modules() if isinstance(m, MultiheadAttention)}
    set_attention(model, kind)
    try:
        yield
    finally:
        for module, cls in before.items():
            module.__class__ = cls


class FirstTokenEncoderLayer(EncoderLayer):
    """torchscale's pre-LayerNorm encoder layer computed for the first (image CLS) token only:
    its output is [B, 1, D], the value the full layer gives that token.

    Keys and values come from every token, as in the full layer; the query, attention output,
    residuals and FFN are computed for the first token alone, through the image experts. The
    rest of the layer, about 5/6 of its multiply-accumulates, feeds only tokens that the pooler
    discards. Same parameters and names; `BEiT3ForVQA` makes its last layer one.
    """

    def forward(
        self,
        x: torch.Tensor,
        encoder_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None = None,
        rel_pos: torch.Tensor | None = None,
        multiway_split_position: int | None = None,
        incremental_state: dict | None = None,
    ) -> tuple[torch.Tensor, None]:
        if attn_mask is not None or rel_pos is not None or incremental_state is not None:
            raise ValueError("the first-token layer takes no attn_mask, rel_pos or state")
        attn = self.self_attn
        split = multiway_split_position
        if split is None:
            split = attn.k_proj.split_position
        self.apply(set_split_position(-1))  # the first token: image experts
        for every_token in (self.self_attn_layer_norm, attn.k_proj, attn.v_proj):
            every_token.split_position = split
        normed = self.self_attn_layer_norm(x)
        first = x[:, :1]
        y, _ = attn(query=normed[:, :1], key=normed, value=normed,
                    key_padding_mask=encoder_padding_mask)
        first = self.residual_connection(self._dropped(self.dropout_module(y)), first)
        y = self._dropped(self.ffn(self.final_layer_norm(first)))
        return self.residual_connection(y, first), None

    def _dropped(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.drop_path is None else self.drop_path(y)


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
        last = self.beit3.encoder.layers[-1]
        last.__class__ = FirstTokenEncoderLayer
        if config.checkpoint_activations:  # torchscale's wrapper holds the class's old forward
            checkpoint_wrapper(last)
        set_attention(self.beit3)
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

    def unread_parameters(self) -> list[str]:
        """The parameters forward never reads, so they get no gradient: BEiT-3's mask token
        (masked pretraining only) and the last layer's text experts after its attention input
        (`FirstTokenEncoderLayer`). Training freezes them, so DDP finds no unused parameters."""
        last = f"beit3.encoder.layers.{self.num_layers() - 1}."
        experts = ("self_attn.q_proj", "self_attn.inner_attn_ln", "self_attn.out_proj",
                   "final_layer_norm", "ffn")
        prefixes = ("beit3.vision_embed.mask_token", *(f"{last}{e}.B." for e in experts))
        return [name for name, _ in self.named_parameters() if name.startswith(prefixes)]

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
    and weighted sum, the two FFN matmuls, the last layer for one query (FirstTokenEncoderLayer);
    then pooler and head. Norms, softmax and activations are left out, as is usual for MAC counts.
    """
    d, f, p = config.embed_dim, config.mlp_dim, config.patch_size
    n = config.num_patches + 1 + text_len
    patch = config.num_patches * 3 * p * p * d
    per_layer = 4 * n * d * d + 2 * n * n * d + 2 * n * d * f
    last_layer = 2 * n * d * d + 2 * d * d + 2 * n * d + 2 * d * f
    head = d * d + d * 2 * d + 2 * d * config.num_answers
    return patch + (config.depth - 1) * per_layer + last_layer + head
