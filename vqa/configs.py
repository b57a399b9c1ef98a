"""Named BEiT-3 VQA configurations (timm style: a registry and a factory).

The base and large entries reproduce unilm's `_get_base_config` / `_get_large_config` with the VQA
overrides (`normalize_output=False`, `no_output_layer=True`), so official checkpoints fit them.
The smaller entries are students and test sizes; every entry can be resized at creation time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torchscale.architecture.config import EncoderConfig

from vqa.errors import UserError

DEFAULT_NUM_ANSWERS = 3129
BEIT3_VOCAB_SIZE = 64010
DEFAULT_TEXT_LEN = 64


class UnknownArchError(UserError):
    """Raised for an architecture name that is not registered."""


@dataclass(frozen=True)
class BEiT3Config:
    """Everything needed to rebuild a model; stored as a plain dict inside our checkpoints."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    img_size: int = 480
    patch_size: int = 16
    vocab_size: int = BEIT3_VOCAB_SIZE
    num_answers: int = DEFAULT_NUM_ANSWERS
    max_text_positions: int = 1024
    drop_path_rate: float = 0.0
    checkpoint_activations: bool = False
    layernorm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ValueError(
                f"{self.name}: image size {self.img_size} is not a multiple of the patch size "
                f"{self.patch_size}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"{self.name}: width {self.embed_dim} is not divisible by {self.num_heads} heads"
            )

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    def replace(self, **changes: Any) -> BEiT3Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BEiT3Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {', '.join(unknown)}")
        return cls(**values)

    def encoder_config(self) -> EncoderConfig:
        """The torchscale configuration, with unilm's VQA settings."""
        return EncoderConfig(
            img_size=self.img_size,
            patch_size=self.patch_size,
            vocab_size=self.vocab_size,
            multiway=True,
            layernorm_embedding=False,
            normalize_output=False,
            no_output_layer=True,
            drop_path_rate=self.drop_path_rate,
            encoder_embed_dim=self.embed_dim,
            encoder_attention_heads=self.num_heads,
            encoder_ffn_embed_dim=self.mlp_dim,
            encoder_layers=self.depth,
            max_source_positions=self.max_text_positions,
            checkpoint_activations=self.checkpoint_activations,
            layernorm_eps=self.layernorm_eps,
        )

    def describe(self) -> str:
        return (
            f"{self.name} ({self.embed_dim}-d, {self.depth} layers, {self.num_heads} heads, "
            f"FFN {self.mlp_dim})"
        )


_REGISTRY: dict[str, BEiT3Config] = {}


def register_config(config: BEiT3Config) -> BEiT3Config:
    if config.name in _REGISTRY:
        raise ValueError(f"config {config.name!r} is already registered")
    _REGISTRY[config.name] = config
    return config


def list_configs() -> list[str]:
    return sorted(_REGISTRY)


def get_config(name: str, **overrides: Any) -> BEiT3Config:
    """A registered config, with fields such as img_size or num_answers overridden."""
    try:
        config = _REGISTRY[name]
    except KeyError:
        raise UnknownArchError(
            f"unknown architecture {name!r}; known: {', '.join(list_configs())}"
        ) from None
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return config.replace(**overrides) if overrides else config


def match_config(embed_dim: int, depth: int, mlp_dim: int) -> str | None:
    """The registered name whose shape matches, for error messages about a wrong --arch."""
    for name in list_configs():
        c = _REGISTRY[name]
        if (c.embed_dim, c.depth, c.mlp_dim) == (embed_dim, depth, mlp_dim):
            return name
    return None


# Teacher sizes, as in unilm (beit3_{base,large}_patch16_{384,480}_vqav2).
register_config(BEiT3Config("beit3_large", embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096))
register_config(BEiT3Config("beit3_base", embed_dim=768, depth=12, num_heads=12, mlp_dim=3072))
# Students: fewer layers of base (initialised by layer selection), or narrower.
register_config(BEiT3Config("beit3_base_6l", embed_dim=768, depth=6, num_heads=12, mlp_dim=3072))
register_config(BEiT3Config("beit3_small", embed_dim=384, depth=12, num_heads=6, mlp_dim=1536))
register_config(BEiT3Config("beit3_small_6l", embed_dim=384, depth=6, num_heads=6, mlp_dim=1536))
# CPU-sized models for the easy-VQA demo and for tests.
register_config(
    BEiT3Config("beit3_mini", embed_dim=128, depth=4, num_heads=4, mlp_dim=512, img_size=64)
)
register_config(
    BEiT3Config("beit3_tiny", embed_dim=64, depth=2, num_heads=2, mlp_dim=256, img_size=32)
)
# easy-VQA on a CPU (`make demo`): a teacher and a student with under 1/4 of its
# parameters. Patches of 8 px (an 8 x 8 grid) so that each shape covers several patches.
# Questions are short, so 32 text positions suffice.
register_config(
    BEiT3Config(
        "beit3_easyvqa_teacher", embed_dim=128, depth=4, num_heads=4, mlp_dim=512, img_size=64,
        patch_size=8, max_text_positions=32,
    )
)
register_config(
    BEiT3Config(
        "beit3_easyvqa_student", embed_dim=64, depth=3, num_heads=2, mlp_dim=256, img_size=64,
        patch_size=8, max_text_positions=32,
    )
)
