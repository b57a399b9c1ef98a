"""BEiT-3's question tokenizer: a SentencePiece model read with fairseq's (XLM-R's) id layout.

BEiT-3 tokenizes with transformers' XLMRobertaTokenizer over a unigram SentencePiece model. Its ids
are fairseq's: four special ids first, then every SentencePiece piece shifted by one. We use the
sentencepiece library directly, so the same ids come out without transformers at run time.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import sentencepiece as spm
import torch

from vqa.errors import UserError
from vqa.io import atomic_write_bytes

BOS_ID = 0
PAD_ID = 1
EOS_ID = 2
UNK_ID = 3
ID_OFFSET = 1
"""fairseq id = SentencePiece piece id + ID_OFFSET, except the SentencePiece unk (piece 0)."""

# The SentencePiece layout the fairseq mapping assumes (that of BEiT-3's model).
_SPM_LAYOUT = {"unk": 0, "bos": 1, "eos": 2, "pad": -1}


class TokenizerError(UserError):
    """A tokenizer model that cannot be used, or a text that gives no tokens."""


def _load_processor(data: bytes, source: str) -> spm.SentencePieceProcessor:
    if not data:
        raise TokenizerError(f"{source}: the file is empty, not a SentencePiece model")
    sp = spm.SentencePieceProcessor()
    try:
        sp.load_from_serialized_proto(data)
    except RuntimeError as err:
        raise TokenizerError(f"{source}: not a SentencePiece model ({err})") from err
    if sp.get_piece_size() == 0:
        raise TokenizerError(f"{source}: not a SentencePiece model (no pieces)")
    layout = {"unk": sp.unk_id(), "bos": sp.bos_id(), "eos": sp.eos_id(), "pad": sp.pad_id()}
    if layout != _SPM_LAYOUT:
        raise TokenizerError(
            f"{source}: SentencePiece special ids {layout} differ from {_SPM_LAYOUT}, "
            "which the fairseq id mapping of BEiT-3 needs"
        )
    return sp


class Tokenizer:
    """Encodes questions the way BEiT-3 does: [bos] + pieces[: max_len - 2] + [eos], padded.

    The padding mask is 1 on pads and 0 on tokens (torchscale's convention).
    """

    bos_id = BOS_ID
    pad_id = PAD_ID
    eos_id = EOS_ID
    unk_id = UNK_ID
    id_offset = ID_OFFSET

    def __init__(self, model_path: str | Path, max_len: int = 64) -> None:
        path = Path(model_path)
        try:
            data = path.read_bytes()
        except OSError as err:
            raise TokenizerError(
                f"{path}: cannot read the tokenizer model ({err.strerror})"
            ) from err
        self._setup(data, max_len, str(path))

    @classmethod
    def from_bytes(cls, model_bytes: bytes, max_len: int = 64) -> Tokenizer:
        """Loads a serialized model, e.g. one stored inside a checkpoint or bundle."""
        tokenizer = cls.__new__(cls)
        tokenizer._setup(bytes(model_bytes), max_len, "<tokenizer model bytes>")
        return tokenizer

    def _setup(self, data: bytes, max_len: int, source: str) -> None:
        if max_len < 3:
            raise ValueError(f"max_len must be at least 3 (bos, one token, eos), got {max_len}")
        self._sp = _load_processor(data, source)
        self._bytes = data
        self.max_len = max_len

    @property
    def vocab_size(self) -> int:
        """Rows the text embedding needs at least: every piece id + 1, and id 0 (bos)."""
        return self._sp.get_piece_size() + ID_OFFSET

    @property
    def model_bytes(self) -> bytes:
        return self._bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self._bytes).hexdigest()

    def token_ids(self, text: str) -> list[int]:
        """The fairseq ids of a text's pieces, without bos/eos, truncation or padding.

        SentencePiece never emits control pieces (<s>, </s>) from text, so only the unk piece
        needs special handling.
        """
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        return [p + ID_OFFSET if p else UNK_ID for p in self._sp.encode(text, out_type=int)]

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        """Returns (ids, padding_mask), both max_len long."""
        ids = self.token_ids(text)
        if not ids:
            raise TokenizerError(f"question is empty after tokenization: {text!r}")
        ids = [BOS_ID, *ids[: self.max_len - 2], EOS_ID]
        n_pad = self.max_len - len(ids)
        return ids + [PAD_ID] * n_pad, [0] * len(ids) + [1] * n_pad

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodes a batch: LongTensors ids [B, max_len] and padding_mask [B, max_len]."""
        if isinstance(texts, str):
            raise TypeError("expected a sequence of questions, got a single str")
        encoded = [self.encode(text) for text in texts]
        shape = (len(encoded), self.max_len)
        ids = torch.tensor([e[0] for e in encoded], dtype=torch.long).reshape(shape)
        mask = torch.tensor([e[1] for e in encoded], dtype=torch.long).reshape(shape)
        return ids, mask

    def decode(self, ids: Iterable[int] | torch.Tensor) -> str:
        """Text of fairseq ids, skipping bos, pad and eos (unk decodes as SentencePiece's ' ⁇ ')."""
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        pieces = []
        for i in values:
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"id {i} is outside the vocabulary [0, {self.vocab_size})")
            if i == UNK_ID:
                pieces.append(self._sp.unk_id())
            elif i not in (BOS_ID, PAD_ID, EOS_ID):
                pieces.append(i - ID_OFFSET)
        return self._sp.decode(pieces)


def train_sentencepiece(
    texts: Iterable[str],
    out_path: str | Path,
    vocab_size: int = 1000,
    character_coverage: float = 1.0,
) -> Path:
    """Trains a small unigram SentencePiece model with BEiT-3's layout and normalization.

    For data sets without the real BEiT-3 model (easy-VQA): same piece layout (unk 0, bos 1,
    eos 2, no pad piece) so the fairseq mapping applies unchanged, and the same nmt_nfkc
    normalization (no lowercasing). vocab_size is an upper bound (hard_vocab_limit off), since a
    templated corpus supports only a few dozen pieces. One thread and no shuffling make the
    model bytes a function of the corpus alone.
    """
    out = Path(out_path)
    buffer = io.BytesIO()
    seen = 0

    def counted() -> Iterator[str]:
        nonlocal seen
        for text in texts:
            seen += 1
            yield text

    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=counted(),
            model_writer=buffer,
            model_type="unigram",
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            character_coverage=character_coverage,
            normalization_rule_name="nmt_nfkc",
            unk_id=_SPM_LAYOUT["unk"],
            bos_id=_SPM_LAYOUT["bos"],
            eos_id=_SPM_LAYOUT["eos"],
            pad_id=_SPM_LAYOUT["pad"],
            num_threads=1,
            shuffle_input_sentence=False,
            minloglevel=2,
        )
    except (RuntimeError, ValueError) as err:
        problem = "no texts to train on" if seen == 0 else f"SentencePiece training failed ({err})"
        raise TokenizerError(f"{out}: {problem}") from err
    return atomic_write_bytes(out, buffer.getvalue())
