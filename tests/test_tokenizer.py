"""Tokenizer tests: the real BEiT-3 model (through BEIT3_SPM) and a small model trained here."""

import io
import os
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from vqa.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    Tokenizer,
    TokenizerError,
    train_sentencepiece,
)

QUESTIONS = [
    "What color is the shape?",
    "Is there a red circle in the image?",
    "Does the image contain a triangle?",
    "Héllo wörld, ＦＵＬＬ-width ２３ and ① — ok?!",
    "Wie viel kostet das? 12.50 € / 3 Stück",
    "这是什么颜色？ ☃ 🤖",
    "  spaces\tand\nnewlines  ",
]
LONG_QUESTION = " ".join(f"word{i} is 3.14, isn't it?" for i in range(60))


def _sp_ids(sp: spm.SentencePieceProcessor, text: str) -> list[int]:
    """fairseq ids from sentencepiece itself: piece id + 1, the unk piece (0) to 3."""
    return [p + 1 if p != sp.unk_id() else 3 for p in sp.encode(text, out_type=int)]


# --- the real BEiT-3 model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_spm() -> Path:
    value = os.environ.get("BEIT3_SPM", "")
    if not value or not Path(value).is_file():
        pytest.skip("BEIT3_SPM not set or file missing: the real BEiT-3 tokenizer test needs it")
    return Path(value)


@pytest.fixture(scope="module")
def real_tokenizer(real_spm: Path) -> Tokenizer:
    return Tokenizer(real_spm)


def test_real_model_identity(real_tokenizer: Tokenizer) -> None:
    assert real_tokenizer.sha256.startswith("6f5e2fef")
    assert real_tokenizer.vocab_size == 64_001
    assert (real_tokenizer.bos_id, real_tokenizer.pad_id) == (0, 1)
    assert (real_tokenizer.eos_id, real_tokenizer.unk_id) == (2, 3)
    assert real_tokenizer.max_len == 64


def test_real_model_known_ids(real_tokenizer: Tokenizer) -> None:
    ids, mask = real_tokenizer.encode("What color is the shape?")
    assert ids[:8] == [0, 333, 1924, 18, 4, 2555, 130, 2]
    assert ids[8:] == [1] * 56
    assert mask == [0] * 8 + [1] * 56


@pytest.mark.parametrize("question", QUESTIONS)
def test_real_model_matches_sentencepiece(
    real_spm: Path, real_tokenizer: Tokenizer, question: str
) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(real_spm))
    expected = _sp_ids(sp, question)
    ids, mask = real_tokenizer.encode(question)
    n = len(expected) + 2
    assert ids == [BOS_ID, *expected, EOS_ID] + [PAD_ID] * (64 - n)
    assert mask == [0] * n + [1] * (64 - n)


def test_real_model_unknown_characters(real_tokenizer: Tokenizer) -> None:
    ids = real_tokenizer.token_ids("a ☃ b")
    assert UNK_ID in ids
    assert all(i == UNK_ID or i > EOS_ID for i in ids)


def test_real_model_truncates_long_question(real_spm: Path, real_tokenizer: Tokenizer) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(real_spm))
    expected = _sp_ids(sp, LONG_QUESTION)
    assert len(expected) > 100
    ids, mask = real_tokenizer.encode(LONG_QUESTION)
    assert ids == [BOS_ID, *expected[:62], EOS_ID]
    assert mask == [0] * 64


def test_real_model_special_strings_are_text(real_tokenizer: Tokenizer) -> None:
    ids = real_tokenizer.token_ids("<s> </s> <pad> <unk>")
    assert all(i > UNK_ID for i in ids)


def test_real_model_matches_transformers(
    real_spm: Path, real_tokenizer: Tokenizer, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    shutil.copyfile(real_spm, tmp_path / "sentencepiece.bpe.model")
    reference = transformers.XLMRobertaTokenizer.from_pretrained(str(tmp_path))
    batch = [*QUESTIONS, LONG_QUESTION]
    expected = reference(batch, max_length=64, truncation=True, padding="max_length")
    ids, mask = real_tokenizer(batch)
    assert ids.tolist() == expected["input_ids"]
    assert (1 - mask).tolist() == expected["attention_mask"]


# --- a small model trained here --------------------------------------------------------------

COLORS = ["red", "green", "blue", "yellow", "black", "gray", "teal", "brown"]
SHAPES = ["circle", "rectangle", "triangle"]


def _corpus() -> list[str]:
    texts = ["what color is the shape?", "what shape is in the image?"]
    for color in COLORS:
        texts.append(f"what is the {color} shape?")
        for shape in SHAPES:
            texts.append(f"is there a {color} {shape} in the image?")
            texts.append(f"does the image not contain a {color} {shape}?")
    return texts


@pytest.fixture(scope="module")
def small_spm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_sentencepiece(_corpus(), tmp_path_factory.mktemp("spm") / "small.spm")


@pytest.fixture(scope="module")
def small(small_spm: Path) -> Tokenizer:
    return Tokenizer(small_spm)


def test_train_keeps_beit3_layout(small_spm: Path, small: Tokenizer) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(small_spm))
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    assert sp.get_piece_size() <= 1000
    assert small.vocab_size == sp.get_piece_size() + 1
    assert not list(small_spm.parent.glob(".*.tmp"))


def test_train_is_deterministic(small_spm: Path, tmp_path: Path) -> None:
    again = train_sentencepiece(iter(_corpus()), tmp_path / "again.spm")
    assert again.read_bytes() == small_spm.read_bytes()


def test_train_without_texts_fails(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no texts"):
        train_sentencepiece([], tmp_path / "empty.spm")
    assert not (tmp_path / "empty.spm").exists()


@pytest.mark.parametrize("question", _corpus()[:6])
def test_small_round_trip(small_spm: Path, small: Tokenizer, question: str) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(small_spm))
    ids, mask = small.encode(question)
    n = len(sp.encode(question)) + 2
    assert ids[:n] == [BOS_ID, *_sp_ids(sp, question), EOS_ID]
    assert UNK_ID not in ids
    assert mask == [0] * n + [1] * (64 - n)
    assert small.decode(ids) == question


def test_small_unknown_character_maps_to_unk(small: Tokenizer) -> None:
    ids = small.token_ids("what is the purple zebra?")
    assert UNK_ID in ids
    assert max(ids) < small.vocab_size


def test_truncation(small_spm: Path) -> None:
    tokenizer = Tokenizer(small_spm, max_len=5)
    full = tokenizer.token_ids("is there a red circle in the image?")
    ids, mask = tokenizer.encode("is there a red circle in the image?")
    assert ids == [BOS_ID, *full[:3], EOS_ID]
    assert mask == [0] * 5


@pytest.mark.parametrize("question", ["", "   ", "\u200b"])
def test_empty_question_fails(small: Tokenizer, question: str) -> None:
    with pytest.raises(ValueError, match="question is empty after tokenization"):
        small.encode(question)


def test_batch(small: Tokenizer) -> None:
    ids, mask = small(["what color is the shape?", "is there a red circle in the image?"])
    assert ids.dtype == mask.dtype == torch.long
    assert ids.shape == mask.shape == (2, 64)
    assert ids[:, 0].tolist() == [BOS_ID, BOS_ID]
    assert torch.equal(mask.bool(), ids == PAD_ID)
    assert small([])[0].shape == (0, 64)
    with pytest.raises(TypeError, match="single str"):
        small("what color is the shape?")


def test_decode_skips_specials(small: Tokenizer) -> None:
    ids, _ = small.encode("what color is the shape?")
    assert small.decode(torch.tensor(ids)) == "what color is the shape?"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        small.decode([small.vocab_size])


def test_from_bytes_equals_file(small_spm: Path, small: Tokenizer) -> None:
    from_bytes = Tokenizer.from_bytes(small_spm.read_bytes(), max_len=64)
    assert from_bytes.model_bytes == small.model_bytes == small_spm.read_bytes()
    assert from_bytes.sha256 == small.sha256
    assert from_bytes.vocab_size == small.vocab_size
    batch = _corpus()
    assert all(torch.equal(a, b) for a, b in zip(from_bytes(batch), small(batch), strict=True))


def test_max_len_too_small(small_spm: Path) -> None:
    with pytest.raises(ValueError, match="max_len"):
        Tokenizer(small_spm, max_len=2)


@pytest.mark.parametrize("content", [b"", b"this is not a sentencepiece model\n" * 4])
def test_bad_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.spm"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match="broken.spm.*not a SentencePiece model"):
        Tokenizer(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="missing.spm: cannot read"):
        Tokenizer(tmp_path / "missing.spm")


def test_other_id_layout_is_refused(tmp_path: Path) -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()),
        model_writer=model,
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        unk_id=3,
        minloglevel=2,
    )
    with pytest.raises(TokenizerError, match="special ids"):
        Tokenizer.from_bytes(model.getvalue())
