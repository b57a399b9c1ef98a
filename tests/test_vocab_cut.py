"""The vocabulary cut, checked with the sentencepiece library on the written model file.

Oracles are independent of `vqa.vocab_cut`: sentencepiece's own piece strings and piece ids of
the full and the cut model, protobuf for the model fields, and the full model's logits. Most
tests run on BEiT-3's real tokenizer (BEIT3_SPM) and skip without it; one runs on a small model
trained here.
"""

import copy
import os
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.vocab_cut import (
    HELD_BACK_SENTENCES,
    VocabCutError,
    cut_model,
    cut_vocabulary,
    load_questions,
    prepare_cut,
    read_word_list,
)

KEPT = [
    "What color is the shape?",
    "Is there a red circle in the image?",
    "What is the expiration date on this milk?",
    "Héllo wörld, ＦＵＬＬ-width ２３ — ok?!",
    "这是什么颜色？ ☃",
]
UNSEEN = ["Could you read the prescription label, please?", "zxqvbn flurbish", "Zanzibar"]


@pytest.fixture(scope="module")
def full_bytes() -> bytes:
    value = os.environ.get("BEIT3_SPM", "")
    if not value or not Path(value).is_file():
        pytest.skip("BEIT3_SPM not set or file missing: the vocabulary cut tests need beit3.spm")
    return Path(value).read_bytes()


@pytest.fixture(scope="module")
def cut(full_bytes):
    return cut_vocabulary(full_bytes, KEPT)


def _processor(data: bytes) -> spm.SentencePieceProcessor:
    processor = spm.SentencePieceProcessor()
    processor.load_from_serialized_proto(data)
    return processor


def _fairseq(processor: spm.SentencePieceProcessor, pieces: list[str]) -> list[int]:
    """fairseq ids of piece strings: piece id + 1, an unknown piece 3."""
    ids = [processor.piece_to_id(p) for p in pieces]
    return [3 if i == processor.unk_id() else i + 1 for i in ids]


def _proto(data: bytes) -> model_pb2.ModelProto:
    proto = model_pb2.ModelProto()
    proto.ParseFromString(data)
    return proto


def test_kept_questions_keep_their_pieces_and_get_mapped_ids(full_bytes, cut):
    full, small = _processor(full_bytes), _processor(cut.model_bytes)
    tokenizer = Tokenizer.from_bytes(cut.model_bytes)
    for question in KEPT:
        pieces = full.encode(question, out_type=str)
        assert small.encode(question, out_type=str) == pieces
        # fairseq ids of the cut model, from sentencepiece's own piece table
        expected = _fairseq(small, pieces)
        assert tokenizer.token_ids(question) == expected
        assert cut.map_ids(_fairseq(full, pieces)) == expected
    assert small.get_piece_size() < full.get_piece_size() / 10


def test_unseen_text_still_tokenizes_without_unknown_pieces(full_bytes, cut):
    full, small = _processor(full_bytes), _processor(cut.model_bytes)
    for text in UNSEEN:
        pieces = small.encode(text, out_type=int)
        assert small.unk_id() not in pieces
        assert small.decode(pieces) == full.decode(full.encode(text))
    # the cut segments a word it never saw into shorter pieces
    assert len(small.encode("Zanzibar")) > len(full.encode("Zanzibar"))


def test_written_model_keeps_format_normalizer_scores_and_special_pieces(full_bytes, cut):
    full, small = _proto(full_bytes), _proto(cut.model_bytes)
    assert small.normalizer_spec == full.normalizer_spec
    assert small.denormalizer_spec == full.denormalizer_spec
    scores = {p.piece: (p.score, p.type) for p in full.pieces}
    assert all(scores[p.piece] == (p.score, p.type) for p in small.pieces)
    assert [p.piece for p in small.pieces[:3]] == ["<unk>", "<s>", "</s>"]
    singles = {p.piece for p in full.pieces if len(p.piece) == 1 and p.type == p.NORMAL}
    assert singles <= {p.piece for p in small.pieces}
    kept = {p.piece for p in small.pieces}
    order = [i for i, p in enumerate(full.pieces) if p.piece in kept]
    assert [full.pieces[i].piece for i in order] == [p.piece for p in small.pieces]
    assert cut.vocab_size == len(small.pieces) + 1
    assert Tokenizer.from_bytes(cut.model_bytes).vocab_size == cut.vocab_size


def test_embedding_rows_match_by_piece(full_bytes, cut):
    full, small = _processor(full_bytes), _processor(cut.model_bytes)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", vocab_size=64010).eval()
    weight = model.beit3.text_embed.weight.detach().clone()
    cut_model(model, cut)
    rows = model.beit3.text_embed.weight.detach()
    assert rows.shape == (cut.vocab_size, weight.shape[1])
    assert model.config.vocab_size == cut.vocab_size
    assert torch.equal(rows[:4], weight[:4])  # bos, pad, eos, unk
    for new_piece in range(3, small.get_piece_size()):
        old_piece = full.piece_to_id(small.id_to_piece(new_piece))
        assert torch.equal(rows[new_piece + 1], weight[old_piece + 1])


def test_cut_model_gives_the_full_models_logits_on_kept_questions(full_bytes, cut):
    torch.manual_seed(0)
    full_model = create_model("beit3_tiny", vocab_size=64010).eval()
    small_model = cut_model(copy.deepcopy(full_model), cut)
    image = torch.randn(len(KEPT), 3, 32, 32)
    full_ids = Tokenizer.from_bytes(full_bytes, max_len=24)(KEPT)
    cut_ids = Tokenizer.from_bytes(cut.model_bytes, max_len=24)(KEPT)
    assert not torch.equal(full_ids[0], cut_ids[0])  # the ids did change ...
    with torch.no_grad():
        expected = full_model(image, *full_ids)
        got = small_model(image, *cut_ids)
    assert torch.equal(got, expected)  # ... the logits did not


def test_word_list_keeps_its_pieces(full_bytes, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# app words\nprescription\n\nthermostat\n", encoding="utf-8")
    assert read_word_list(words) == ["prescription", "thermostat"]
    cut = cut_vocabulary(full_bytes, [*KEPT, *read_word_list(words)])
    small, full = _processor(cut.model_bytes), _processor(full_bytes)
    for word in ("prescription", "thermostat"):
        assert small.encode(word, out_type=str) == full.encode(word, out_type=str)
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(VocabCutError, match="empty.txt: the word list holds no words"):
        read_word_list(tmp_path / "empty.txt")
    with pytest.raises(VocabCutError, match="missing.txt: cannot read"):
        read_word_list(tmp_path / "missing.txt")


def test_prepare_cut_on_easy_vqa_verifies_every_question(full_bytes):
    full = Tokenizer.from_bytes(full_bytes, max_len=32)
    prepared = prepare_cut(full, "easy-vqa")
    record = prepared.record
    questions = load_questions("easy-vqa")
    assert record["questions"] == len(questions) > 30_000
    assert record["given_changed_share"] == 0.0
    small = _processor(prepared.cut.model_bytes)
    big = _processor(full_bytes)
    for question in sorted(set(questions)):  # every distinct question, by sentencepiece itself
        assert small.encode(question, out_type=str) == big.encode(question, out_type=str)
    assert record["rows_kept"] == small.get_piece_size() + 1 < 2000
    assert record["rows_full"] == 64001
    (held,) = record["held_back"]  # easy-VQA's test questions all occur in train/val
    assert held["n"] == len(HELD_BACK_SENTENCES)
    differ = sum(
        small.encode(q, out_type=str) != big.encode(q, out_type=str) for q in HELD_BACK_SENTENCES
    )
    assert held["segmented_differently_share"] == differ / len(HELD_BACK_SENTENCES) > 0


def test_bad_data_spec_is_named():
    with pytest.raises(VocabCutError, match="--vocab-from 'imagenet'"):
        load_questions("imagenet")


def test_vizwiz_questions_and_an_empty_split(tmp_path):
    """Questions come from the annotation files; an empty split is named, not silently cut from
    the others, and an empty test split leaves only the fixed held-back sentences."""
    import json

    from vqa.data.fixtures import write_vizwiz_fixture
    from vqa.vocab_cut import _held_back

    root = write_vizwiz_fixture(tmp_path, n_train=6, n_val=0, n_test=0)
    data = f"vizwiz:{root}"
    entries = json.loads((root / "VizWizAnnotations" / "train.json").read_text("utf-8"))
    assert load_questions(data, ("train",)) == [e["question"] for e in entries]
    with pytest.raises(VocabCutError) as caught:
        load_questions(data)
    assert str(caught.value) == f"--vocab-from {data}: the val split holds no usable samples"
    assert [name for name, _ in _held_back(data, set())] == [
        "fixed English questions (vqa.vocab_cut.HELD_BACK_SENTENCES)"
    ]


def test_small_trained_model_cut(tmp_path):
    """Without beit3.spm: a model trained here, cut to two of its sentences."""
    words = ["circle", "square", "triangle", "rectangle", "yellow", "purple", "orange", "brown"]
    corpus = [f"is the {a} {b} beside the {c}?" for a in words for b in words for c in words]
    path = train_sentencepiece(corpus, tmp_path / "small.spm", vocab_size=200)
    data = path.read_bytes()
    cut = cut_vocabulary(data, corpus[:2])
    full, small = _processor(data), _processor(cut.model_bytes)
    assert small.get_piece_size() < full.get_piece_size()
    for text in corpus[:2]:
        assert small.encode(text, out_type=str) == full.encode(text, out_type=str)
    for text in corpus[2:]:
        assert small.decode(small.encode(text)) == text


def test_distill_with_vocab_from_trains_the_student_on_the_cut_vocabulary(full_bytes, tmp_path):
    """The student's checkpoint carries the cut tokenizer and a matching embedding; the teacher's
    cached logits were computed with the teacher's own (full) tokenizer."""
    import json

    from train.cli import main as train_main
    from vqa.checkpoint import read_checkpoint, save_checkpoint, tokenizer_record
    from vqa.data import easy_vqa_answers

    full = Tokenizer.from_bytes(full_bytes, max_len=16)
    torch.manual_seed(0)
    teacher = create_model("beit3_tiny", num_answers=13, vocab_size=64010, img_size=32)
    teacher_path = tmp_path / "teacher.pth"
    save_checkpoint(teacher_path, teacher, answers=easy_vqa_answers(),
                    tokenizer=tokenizer_record(full.model_bytes, full.max_len))
    out = tmp_path / "student"
    common = ["--data", "easy-vqa", "--teacher", str(teacher_path), "--arch", "beit3_tiny",
              "--img-size", "32", "--vocab-from", "easy-vqa", "--max-steps", "2",
              "--limit-train", "32", "--limit-val", "16", "--batch-size", "8",
              "--num-workers", "0", "--no-progress", "--teacher-cache", str(tmp_path / "cache")]
    assert train_main(["distill", *common, "--out", str(out)]) == 0
    student = read_checkpoint(out / "last.pth")
    small = _processor(bytes(student.tokenizer["model"]))
    cut = student.tokenizer["vocab_cut"]
    assert small.get_piece_size() + 1 == cut["rows_kept"] == student.config.vocab_size < 2000
    assert student.state_dict["beit3.text_embed.weight"].shape[0] == cut["rows_kept"]
    for question in load_questions("easy-vqa")[:50]:
        assert small.encode(question, out_type=str) == _processor(full_bytes).encode(
            question, out_type=str
        )
    (meta_file,) = (tmp_path / "cache").glob("*/meta.json")
    assert json.loads(meta_file.read_text())["tokenizer_sha256"] == full.sha256
    # the teacher run on each batch reads the questions with its own tokenizer too
    online = ["distill", *common, "--online-teacher", "--out", str(tmp_path / "online")]
    assert train_main(online) == 0
