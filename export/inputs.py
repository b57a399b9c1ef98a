"""Inputs for the parity check: real preprocessed images and tokenized questions.

Without a data set they are generated: photo-like scenes (gradient backgrounds, shapes, noise)
of varied sizes and aspect ratios, so the squash resize and normalisation run as they do on a
phone, with VizWiz-style questions. Generation is deterministic, so anyone can rebuild the
exact inputs a manifest's figures were measured on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from export.errors import ExportError
from vqa.data import BadImageError, VQASample, load_image
from vqa.data.spec import DataSpec
from vqa.tokenizer import Tokenizer, TokenizerError
from vqa.transforms import eval_transform

QUESTIONS = (
    "What color is this?",
    "What is this?",
    "Is there a circle in the picture?",
    "How many shapes are there?",
    "What is written on this label?",
    "Is the light on?",
    "What kind of food is this?",
    "Can you tell me what this is, please?",
    "Which color is the shape on the left?",
    "Is this shirt blue or green?",
)
_SHAPES = ("ellipse", "rectangle", "polygon")


@dataclass
class ParityInputs:
    image: torch.Tensor
    question: torch.Tensor
    padding_mask: torch.Tensor
    origin: str

    def __len__(self) -> int:
        return self.image.shape[0]

    def batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            self.image[start:stop],
            self.question[start:stop],
            self.padding_mask[start:stop],
        )


def synthetic_image(index: int, seed: int = 0) -> Image.Image:
    """One generated scene; the same (index, seed) always gives the same pixels."""
    rng = random.Random(f"{seed}/{index}")
    width, height = rng.randint(48, 320), rng.randint(48, 320)
    top = np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    bottom = np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3))
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 12, (height, width, 3))
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(1, 4)):
        x0, y0 = rng.uniform(0, 0.7) * width, rng.uniform(0, 0.7) * height
        x1 = x0 + rng.uniform(0.15, 0.5) * width
        y1 = y0 + rng.uniform(0.15, 0.5) * height
        color = tuple(rng.randint(0, 255) for _ in range(3))
        kind = rng.choice(_SHAPES)
        if kind == "ellipse":
            draw.ellipse((x0, y0, x1, y1), fill=color)
        elif kind == "rectangle":
            draw.rectangle((x0, y0, x1, y1), fill=color)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], fill=color)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))


def synthetic_inputs(
    tokenizer: Tokenizer, count: int, img_size: int, seed: int = 0
) -> ParityInputs:
    transform = eval_transform(img_size)
    images = [transform(synthetic_image(i, seed)) for i in range(count)]
    questions = [QUESTIONS[(i + seed) % len(QUESTIONS)] for i in range(count)]
    ids, mask = tokenizer(questions)
    return ParityInputs(torch.stack(images), ids, mask, f"synthetic (seed {seed})")


def load_samples(data: str, split: str) -> list[VQASample]:
    """Samples of `data` ("easy-vqa" or "vizwiz:DIR"), bad entries and empty questions skipped.

    Images are checked when an input is made from them (`dataset_inputs`), so that only the
    chosen samples are decoded.
    """
    return list(DataSpec.parse(data).load(split, skip_bad=True, check_images=False))


def dataset_inputs(
    samples: Sequence[VQASample], tokenizer: Tokenizer, count: int, img_size: int, origin: str
) -> ParityInputs:
    """`count` samples spread evenly over the list; unreadable images and questions that
    tokenize to nothing are replaced by the next usable samples."""
    if not samples:
        raise ExportError(f"{origin}: no samples")
    spread = sorted({i * len(samples) // count for i in range(count)})
    chosen = set(spread)
    order = spread + [i for i in range(len(samples)) if i not in chosen]
    transform = eval_transform(img_size)
    images, ids, masks = [], [], []
    skipped = 0
    for index in order:
        sample = samples[index]
        try:
            encoded = tokenizer.encode(sample.question)
            images.append(transform(load_image(sample.image_path)))
        except (TokenizerError, BadImageError):
            skipped += 1
            continue
        ids.append(encoded[0])
        masks.append(encoded[1])
        if len(images) == count:
            break
    if not images:
        raise ExportError(f"{origin}: none of the samples gives a usable image and question")
    if skipped:
        origin += f", {skipped} unusable samples skipped"
    return ParityInputs(
        torch.stack(images),
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(masks, dtype=torch.long),
        origin,
    )


def parity_inputs(
    tokenizer: Tokenizer,
    count: int,
    img_size: int,
    data: str | None = None,
    split: str = "val",
) -> ParityInputs:
    if data is None:
        return synthetic_inputs(tokenizer, count, img_size)
    origin = f"{data} ({split})"
    return dataset_inputs(load_samples(data, split), tokenizer, count, img_size, origin)
