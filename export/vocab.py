"""`--vocab-from`: export with the tokenizer and text embedding cut to what the questions use.

The cut (`vqa.vocab_cut`) is made once per run, before any bundle: the source model gets the
gathered embedding rows and the source tokenizer becomes the cut one, so every bundle of the run
carries the smaller SentencePiece model and is parity-checked against the cut PyTorch model. That
the cut model answers exactly as the full one is checked here, on given questions: their logits
with the full model and ids against those with the cut model and ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch

from export.errors import ExportError
from export.source import Source
from vqa.tokenizer import Tokenizer
from vqa.vocab_cut import VocabCutError, cut_model, load_questions, prepare_cut

CHECK_QUESTIONS = 8
"""Given questions whose logits are compared between the full and the cut model."""


@torch.no_grad()
def _logits(model: torch.nn.Module, tokenizer: Tokenizer, questions: list[str]) -> torch.Tensor:
    size = model.config.img_size
    image = torch.linspace(-1, 1, 3 * size * size).reshape(1, 3, size, size)
    ids, mask = tokenizer(questions)
    return model(image.expand(len(questions), -1, -1, -1), ids, mask)


def apply_vocab_cut(
    source: Source, data: str, words: Path | None, log: Callable[[str], None]
) -> Source:
    """The source with its model and tokenizer cut to the questions of `data` (and `words`)."""
    full = source.tokenizer
    try:
        prepared = prepare_cut(full, data, words)
        questions = list(dict.fromkeys(load_questions(data)))[:CHECK_QUESTIONS]
    except VocabCutError as err:
        raise ExportError(str(err)) from None
    cut_tokenizer = prepared.cut.tokenizer(full.max_len)
    before = _logits(source.model, full, questions)
    try:
        cut_model(source.model, prepared.cut)
    except VocabCutError as err:
        raise ExportError(f"{source.checkpoint}: {err}") from None
    after = _logits(source.model, cut_tokenizer, questions)
    diff = float((after - before).abs().max())
    if diff != 0.0:
        raise ExportError(
            f"--vocab-from {data}: the cut model's logits differ from the full model's by up to "
            f"{diff:.3g} on given questions; the cut is not exact"
        )
    record = {**prepared.record, "logits_checked": len(questions), "logits_max_abs_diff": diff}
    held = "; ".join(
        f"{100 * h['segmented_differently_share']:.1f} % of {h['n']} {h['text']}"
        for h in record["held_back"]
    )
    log(
        f"vocabulary cut to {data}: {record['rows_kept']} of {record['rows_full']} embedding "
        f"rows kept; {100 * record['given_changed_share']:.1f} % of {record['questions']} given "
        f"questions tokenize differently (logits identical on {len(questions)}); segmented "
        f"differently: {held}"
    )
    return dataclasses.replace(source, tokenizer=cut_tokenizer, vocab_cut=record)
