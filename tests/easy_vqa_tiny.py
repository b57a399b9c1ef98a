"""A beit3_tiny that has learnt easy-VQA, for the tests that judge quantized kernels by it.

Random weights give near-tied logits whose top-1 flips under any quantization, so agreement is
measured on a model trained for a few hundred steps on easy-VQA questions (32 px, 8 px patches).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vqa.data import easy_vqa_answers, load_easy_vqa, load_image
from vqa.model import create_model, reinit_for_scratch
from vqa.tokenizer import Tokenizer
from vqa.transforms import eval_transform

IMG = 32
WIDTH = 64  # beit3_tiny's
TRAIN_SAMPLES = 1500
STEPS = 300


def encode(samples: Sequence, tokenizer: Tokenizer) -> tuple[torch.Tensor, ...]:
    """Images, question ids and padding masks of easy-VQA samples, as the model takes them."""
    transform = eval_transform(IMG)
    images = torch.stack([transform(load_image(s.image_path)) for s in samples])
    ids, mask = tokenizer([s.question for s in samples])
    return images, ids, mask


def train_tiny(tokenizer: Tokenizer) -> torch.nn.Module:
    """beit3_tiny trained STEPS steps on the first TRAIN_SAMPLES easy-VQA train questions."""
    answers = easy_vqa_answers()
    samples = load_easy_vqa("train")[:TRAIN_SAMPLES]
    images, ids, mask = encode(samples, tokenizer)
    labels = torch.tensor([answers.index(s.answers[0]) for s in samples])
    torch.manual_seed(0)
    model = create_model(  # 8 px patches: a 4 x 4 grid of the 32 px image
        "beit3_tiny", num_answers=len(answers), vocab_size=tokenizer.vocab_size, img_size=IMG,
        patch_size=8, embed_dim=WIDTH, mlp_dim=4 * WIDTH,
    )
    reinit_for_scratch(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(STEPS):
        batch = torch.randint(0, len(samples), (32,), generator=generator)
        loss = torch.nn.functional.cross_entropy(
            model(images[batch], ids[batch], mask[batch]), labels[batch]
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()
