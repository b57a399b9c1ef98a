"""The tokenizer of the measuring scripts' random-weight models (scripts/bench_*.py).

BEiT-3's SentencePiece model when the user has it (--tokenizer, else $BEIT3_SPM), so that the
text embedding has its real size; otherwise a small one trained on the given questions, enough
for a model that is exported and timed but never asked anything.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vqa.tokenizer import Tokenizer, train_sentencepiece

SMALL_VOCAB = 200


def beit3_spm(path: str | Path | None = None) -> Path | None:
    """`path`, else $BEIT3_SPM, when that file exists; None otherwise."""
    for candidate in (path, os.environ.get("BEIT3_SPM")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def script_tokenizer(path: str | Path | None, folder: Path, questions: Sequence[str]) -> Tokenizer:
    """BEiT-3's tokenizer (see `beit3_spm`), else one of SMALL_VOCAB pieces trained on
    `questions` (repeated ten times) into `folder`."""
    found = beit3_spm(path)
    if found is not None:
        return Tokenizer(found)
    return Tokenizer(train_sentencepiece(list(questions) * 10, folder / "small.spm", SMALL_VOCAB))
