"""Image preprocessing of BEiT-3 VQA: squash-resize for eval, random crop + RandAugment for train.

Eval is what every runtime (exporter, benchmark, apps) must reproduce: RGB, bicubic resize of the
whole image to S x S (no crop, aspect ratio not kept), scale to [0, 1], normalize with 0.5 / 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torchvision.transforms.v2.functional as F
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode, v2

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)

MAX_LEVEL = 10
FILL = [128.0, 128.0, 128.0]
RANDAUG_OPS = (
    "Identity",
    "AutoContrast",
    "Equalize",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
)
_SIGNED_OPS = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}

Img = Image.Image | torch.Tensor


def op_magnitude(name: str, level: float) -> float:
    """Unsigned magnitude of an op at a level in [0, MAX_LEVEL], as in unilm's beit3 randaug.py."""
    ratio = level / MAX_LEVEL
    if name in ("Brightness", "Sharpness"):
        return ratio * 1.8 + 0.1
    if name in ("ShearX", "ShearY"):
        return ratio * 0.3
    if name in ("TranslateX", "TranslateY"):
        return ratio * 10.0
    if name == "Rotate":
        return ratio * 30.0
    if name in RANDAUG_OPS:
        return 0.0
    raise ValueError(f"unknown RandAugment op {name!r}; known: {', '.join(RANDAUG_OPS)}")


def _affine(img: Img, translate: Sequence[float], shear: Sequence[float]) -> Img:
    # unilm warps with cv2.warpAffine(M, INTER_LINEAR) around the top-left corner; torchvision's
    # bilinear affine with center (0, 0) gives the same map up to half-pixel rounding.
    return F.affine(
        img,
        angle=0.0,
        translate=list(translate),
        scale=1.0,
        shear=list(shear),
        interpolation=InterpolationMode.BILINEAR,
        fill=FILL,
        center=[0.0, 0.0],
    )


def apply_op(img: Img, name: str, magnitude: float) -> Img:
    """Applies one op with a signed magnitude, keeping unilm's conventions.

    Shear: factor f of the matrix [[1, f, 0], [0, 1, 0]] (x' = x + f * y); torchvision's shear
    angle for it is -atan(f). Translate: unilm's matrix [[1, 0, -m], [0, 1, 0]] moves the content
    by -m pixels. Rotate: m degrees counter-clockwise around the image centre.
    """
    if isinstance(img, torch.Tensor) and img.dtype != torch.uint8:
        raise TypeError(f"RandAugment works on PIL images or uint8 tensors, got {img.dtype}")
    if name == "Identity":
        return img
    if name == "AutoContrast":
        return F.autocontrast(img)
    if name == "Equalize":
        return F.equalize(img)
    if name == "Brightness":
        return F.adjust_brightness(img, magnitude)
    if name == "Sharpness":
        return F.adjust_sharpness(img, magnitude)
    shear_angle = -math.degrees(math.atan(magnitude))
    if name == "ShearX":
        return _affine(img, [0.0, 0.0], [shear_angle, 0.0])
    if name == "ShearY":
        return _affine(img, [0.0, 0.0], [0.0, shear_angle])
    if name == "TranslateX":
        return _affine(img, [-magnitude, 0.0], [0.0, 0.0])
    if name == "TranslateY":
        return _affine(img, [0.0, -magnitude], [0.0, 0.0])
    if name == "Rotate":
        return F.rotate(img, magnitude, interpolation=InterpolationMode.BILINEAR, fill=FILL)
    raise ValueError(f"unknown RandAugment op {name!r}; known: {', '.join(RANDAUG_OPS)}")


class UnilmRandAugment(nn.Module):
    """BEiT-3's RandAugment (unilm RandomAugment(2, 7)) on PIL images or uint8 tensors.

    num_ops ops are drawn with replacement; each is applied with probability prob; signed ops
    get a random sign. All draws use torch's RNG, so torch.manual_seed fixes them.
    """

    def __init__(
        self,
        num_ops: int = 2,
        level: float = 7,
        ops: Sequence[str] = RANDAUG_OPS,
        prob: float = 0.5,
    ) -> None:
        super().__init__()
        if num_ops < 0:
            raise ValueError(f"num_ops must be >= 0, got {num_ops}")
        if not 0 <= level <= MAX_LEVEL:
            raise ValueError(f"level must be in [0, {MAX_LEVEL}], got {level}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        if not ops:
            raise ValueError("ops must name at least one op")
        self.magnitudes = {name: op_magnitude(name, level) for name in ops}
        self.ops = tuple(ops)
        self.num_ops = num_ops
        self.level = level
        self.prob = prob

    def forward(self, img: Img) -> Img:
        chosen = torch.randint(len(self.ops), (self.num_ops,)).tolist()
        for index in chosen:
            if torch.rand(()).item() > self.prob:
                continue
            name = self.ops[index]
            magnitude = self.magnitudes[name]
            if name in _SIGNED_OPS and torch.rand(()).item() > 0.5:
                magnitude = -magnitude
            img = apply_op(img, name, magnitude)
        return img

    def extra_repr(self) -> str:
        return f"num_ops={self.num_ops}, level={self.level}, prob={self.prob}, ops={self.ops}"


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB copy of a PIL image (alpha dropped, gray replicated), as unilm's loader does."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(img).__name__}")
    return img if img.mode == "RGB" else img.convert("RGB")


def _to_normalized_tensor() -> list[Callable]:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGE_MEAN, IMAGE_STD),
        v2.ToPureTensor(),
    ]


def eval_transform(img_size: int) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> FloatTensor [3, S, S] in [-1, 1]: bicubic squash to S x S, no crop."""
    return v2.Compose(
        [
            v2.Lambda(to_rgb),
            v2.Resize((img_size, img_size), interpolation=InterpolationMode.BICUBIC),
            *_to_normalized_tensor(),
        ]
    )


def train_transform(
    img_size: int, randaug: bool = True, hflip: bool = False
) -> Callable[[Image.Image], torch.Tensor]:
    """BEiT-3's VQA training augmentation: random resized crop (50-100 % of the area), RandAugment.

    unilm also flips horizontally; that is off by default because a flip turns "left" into
    "right" in questions and answers.
    """
    steps: list[Callable] = [
        v2.Lambda(to_rgb),
        v2.RandomResizedCrop(img_size, scale=(0.5, 1.0), interpolation=InterpolationMode.BICUBIC),
    ]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if randaug:
        steps.append(UnilmRandAugment())
    return v2.Compose(steps + _to_normalized_tensor())
