"""A vocabulary cut: BEiT-3's tokenizer and text embedding reduced to what the questions use.

BEiT-3's SentencePiece model has 64,000 pieces and its text embedding 64,010 rows (49 M of the
6-layer student's 143 M parameters), while a VQA app's questions use a few thousand of them. The
cut keeps the pieces that a set of questions (and an optional word list) tokenizes into, every
single-character piece (so any text still tokenizes: a word the cut never saw falls apart into
shorter pieces instead of becoming unknown), the special pieces, and the lowest- and
highest-scoring pieces (SentencePiece derives the unknown piece's score from them). The result is
an ordinary SentencePiece model (same file format, same normalizer, the kept pieces in their old
order with their old unigram scores) and the embedding rows of the kept ids.

Why the given questions keep their tokens: a unigram model segments by the highest-scoring path
through the pieces that match; removing pieces removes paths, and the path a question took uses
only kept pieces with unchanged scores, so it is still the best one. Other text may be segmented
differently (a removed piece was its best path). Both are measured, not assumed:
`changed_questions` re-tokenizes every given question with the written model.

Ids use fairseq's layout (`vqa.tokenizer`): ids 0-3 are bos, pad, eos, unk and piece p has id
p + 1, in the full and in the cut model alike; `old_ids[new_id]` is the full model's id of each
cut id, which is also the embedding row to gather.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm
import torch
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from vqa.errors import UserError
from vqa.tokenizer import ID_OFFSET, Tokenizer, TokenizerError

_Piece = model_pb2.ModelProto.SentencePiece
SPECIAL_IDS = 4
"""fairseq ids 0-3 (bos, pad, eos, unk) exist in every model and map to themselves."""
DATA_SPLITS = ("train", "val")
HELD_BACK_SPLIT = "test"

HELD_BACK_SENTENCES = (
    "What is the expiration date on this carton of milk?",
    "Can you read the instructions on the back of this box?",
    "Which button turns the microwave on?",
    "Is this a can of tomato soup or chicken noodle soup?",
    "What does the screen of my thermostat say?",
    "How much money is this bill?",
    "Please tell me the flavor of this yogurt.",
    "Is my shirt clean or does it have a stain?",
    "What channel is the television on right now?",
    "Could you describe the picture on this greeting card?",
    "What is the name of the medicine in this bottle?",
    "How many calories are in one serving?",
    "Is the stove turned off?",
    "What brand of cereal is this?",
    "Which way is the exit sign pointing?",
    "Are these socks black or navy blue?",
    "What's the temperature on the oven display?",
    "Does this envelope have a stamp on it?",
    "What kind of plant is growing in the pot?",
    "Read me the first paragraph of this letter, please.",
    "Where is the keyhole on this door?",
    "Is the bus number 42 or 24?",
    "What is printed on the label of this spice jar?",
    "Is there anyone standing in the hallway?",
    "Which of these two boxes contains the tea?",
    "What colour is the sky outside my window today?",
    "How many pills are left in the organizer?",
    "Can you see whether the light on the router is green?",
    "What time does the clock on the wall show?",
    "Is this the shampoo or the conditioner?",
    "What's written on the whiteboard?",
    "Is the milk past its best-before date?",
    "Which flavour of crisps is in this packet?",
    "What is the model number of this laptop?",
    "Does this sweater have a pattern?",
    "Tell me what the recipe on this page needs.",
    "Is the water in the glass clear?",
    "What language is this book written in?",
    "Who is the author of this novel?",
    "Are the blinds open or closed?",
)
"""English questions of the kind a VizWiz user asks, kept out of every cut: a fixed sample of
text the cut did not see, for the share that the cut vocabulary segments differently."""


class VocabCutError(UserError):
    """A cut that cannot be made as asked; the message names the file or data and why."""


@dataclass(frozen=True)
class VocabCut:
    """A cut tokenizer model and where its ids come from in the full one."""

    model_bytes: bytes
    old_ids: torch.Tensor
    """LongTensor [cut vocab size]: the full model's fairseq id of every cut id (rows to gather)."""
    full_vocab_size: int
    full_pieces: int

    @property
    def vocab_size(self) -> int:
        return len(self.old_ids)

    @property
    def pieces(self) -> int:
        return self.vocab_size - ID_OFFSET

    def id_map(self) -> dict[int, int]:
        """Full fairseq id -> cut fairseq id, for every id the cut keeps."""
        return {int(old): new for new, old in enumerate(self.old_ids.tolist())}

    def map_ids(self, ids: Sequence[int]) -> list[int]:
        """Full ids as cut ids; an id the cut dropped is an error."""
        mapping = self.id_map()
        missing = sorted({i for i in ids if i not in mapping})
        if missing:
            raise VocabCutError(f"ids {missing[:8]} are not in the cut vocabulary")
        return [mapping[i] for i in ids]

    def tokenizer(self, max_len: int = 64) -> Tokenizer:
        return Tokenizer.from_bytes(self.model_bytes, max_len=max_len)


def _processor(model_bytes: bytes) -> spm.SentencePieceProcessor:
    processor = spm.SentencePieceProcessor()
    processor.load_from_serialized_proto(model_bytes)
    return processor


def cut_vocabulary(model_bytes: bytes, texts: Iterable[str]) -> VocabCut:
    """Keep the pieces `texts` use, every single-character piece and the special pieces."""
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model_bytes)
    if proto.trainer_spec.model_type != model_pb2.TrainerSpec.UNIGRAM:
        raise VocabCutError(
            "only unigram SentencePiece models can be cut (BEiT-3's is one): other kinds do not "
            "segment by the best path over the pieces present"
        )
    processor = _processor(model_bytes)
    used: set[int] = set()
    for text in texts:
        used.update(processor.encode(text))
    normal = [i for i, p in enumerate(proto.pieces) if p.type == _Piece.NORMAL]
    score_bounds = {
        min(normal, key=lambda i: proto.pieces[i].score),
        max(normal, key=lambda i: proto.pieces[i].score),
    }
    kept = [
        i
        for i, piece in enumerate(proto.pieces)
        if i in used
        or i in score_bounds
        or piece.type not in (_Piece.NORMAL, _Piece.UNUSED)
        or (piece.type == _Piece.NORMAL and len(piece.piece) == 1)
    ]
    cut = model_pb2.ModelProto()
    cut.CopyFrom(proto)
    del cut.pieces[:]
    cut.pieces.extend(proto.pieces[i] for i in kept)
    cut.trainer_spec.vocab_size = len(kept)
    fairseq = [p + ID_OFFSET for p in kept]
    old_ids = list(range(SPECIAL_IDS)) + [i for i in fairseq if i >= SPECIAL_IDS]
    return VocabCut(
        model_bytes=cut.SerializeToString(),
        old_ids=torch.tensor(old_ids, dtype=torch.long),
        full_vocab_size=len(proto.pieces) + ID_OFFSET,
        full_pieces=len(proto.pieces),
    )


def changed_questions(full: Tokenizer, cut: VocabCut, texts: Iterable[str]) -> list[str]:
    """The texts whose cut ids differ from their full ids mapped (each text once, in order)."""
    cut_tokenizer = cut.tokenizer()
    mapping = cut.id_map()
    changed, seen = [], set()
    for text in texts:
        if text in seen:
            continue
        seen.add(text)
        mapped = [mapping.get(i) for i in full.token_ids(text)]
        if mapped != cut_tokenizer.token_ids(text):
            changed.append(text)
    return changed


def segmented_differently(full_bytes: bytes, cut_bytes: bytes, texts: Sequence[str]) -> float:
    """Share of `texts` whose pieces (as strings) differ between the two models."""
    if not texts:
        return 0.0
    full, cut = _processor(full_bytes), _processor(cut_bytes)
    differ = sum(
        full.encode(text, out_type=str) != cut.encode(text, out_type=str) for text in texts
    )
    return differ / len(texts)


def cut_embedding(weight: torch.Tensor, cut: VocabCut) -> torch.Tensor:
    """The rows of a full text embedding that the cut ids use, in cut-id order."""
    if weight.shape[0] < cut.full_vocab_size:
        raise VocabCutError(
            f"the text embedding has {weight.shape[0]} rows, fewer than the full tokenizer's "
            f"{cut.full_vocab_size} ids: not the tokenizer of this model"
        )
    return weight[cut.old_ids].clone()


def cut_model(model: Any, cut: VocabCut) -> Any:
    """Give a BEiT3ForVQA the cut text embedding, in place; its config says the new size."""
    embed = model.beit3.text_embed
    rows = cut_embedding(embed.weight.detach(), cut)
    embed.weight = torch.nn.Parameter(rows, requires_grad=embed.weight.requires_grad)
    embed.num_embeddings = rows.shape[0]
    model.config = model.config.replace(vocab_size=rows.shape[0])
    return model


# questions --------------------------------------------------------------------------------------


def load_questions(data: str, splits: Sequence[str] = DATA_SPLITS) -> list[str]:
    """The questions of `data` ("easy-vqa" or "vizwiz:DIR") in the given splits.

    Bad entries are left out (as `--data` does with skip_bad); a split with no usable question
    is an error naming it, so a cut never claims a split it did not see.
    """
    from vqa.data.spec import DataSpec, DataSpecError

    try:
        spec = DataSpec.parse(data)
    except DataSpecError:
        raise VocabCutError(f"--vocab-from {data!r}: expected easy-vqa or vizwiz:DIR") from None
    questions: list[str] = []
    for split in splits:
        try:
            samples = spec.load(split, skip_bad=True, check_images=False)
        except (OSError, UserError) as err:  # DataSpec's messages start with the --data value
            reason = str(err).removeprefix("--data ").removeprefix(f"{spec.name}: ")
            raise VocabCutError(f"--vocab-from {data}: {reason}") from None
        questions += [s.question for s in samples]
    return questions


def read_word_list(path: str | Path) -> list[str]:
    """A user word list: one word or phrase a line, blank lines and # comments ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise VocabCutError(f"{path}: cannot read the word list ({reason})") from None
    words = [line.strip() for line in text.splitlines()]
    words = [w for w in words if w and not w.startswith("#")]
    if not words:
        raise VocabCutError(f"{path}: the word list holds no words")
    return words


def _held_back(data: str, used: set[str]) -> list[tuple[str, list[str]]]:
    """Text the cut did not see: the data's test questions (where it has them) and a fixed list."""
    samples = []
    try:
        test = load_questions(data, (HELD_BACK_SPLIT,))
        unseen = [q for q in test if q not in used]
        if unseen:
            samples.append((f"{data} {HELD_BACK_SPLIT} questions not in train/val", unseen))
    except VocabCutError:
        pass  # a VizWiz folder without (questions in) test.json: the fixed list still measures
    fixed = [q for q in HELD_BACK_SENTENCES if q not in used]
    samples.append(("fixed English questions (vqa.vocab_cut.HELD_BACK_SENTENCES)", fixed))
    return samples


@dataclass(frozen=True)
class PreparedCut:
    cut: VocabCut
    record: dict[str, Any]
    """For manifests and checkpoints: data, counts and the measured shares."""


def prepare_cut(
    full: Tokenizer, data: str, words_file: str | Path | None = None
) -> PreparedCut:
    """Cut `full` to the train and val questions of `data` (and a word list), and verify it.

    Every given question must tokenize to its old ids mapped; one that does not is an error
    (none should, see the module's docstring). Held-back text is only counted.
    """
    questions = load_questions(data)
    words = read_word_list(words_file) if words_file is not None else []
    try:
        cut = cut_vocabulary(full.model_bytes, [*questions, *words])
        changed = changed_questions(full, cut, [*questions, *words])
    except TokenizerError as err:
        raise VocabCutError(f"the cut tokenizer model is not usable: {err}") from None
    changed_set = set(changed)
    given = [*questions, *words]
    share = sum(text in changed_set for text in given) / len(given)
    if changed:
        raise VocabCutError(
            f"--vocab-from {data}: {len(changed)} given question(s) tokenize differently with "
            f"the cut vocabulary, e.g. {changed[0]!r}"
        )
    used = set(questions)
    record: dict[str, Any] = {
        "data": data,
        "splits": list(DATA_SPLITS),
        "questions": len(questions),
        "distinct_questions": len(used),
        "pieces_full": cut.full_pieces,
        "pieces_kept": cut.pieces,
        "rows_full": cut.full_vocab_size,
        "rows_kept": cut.vocab_size,
        "given_changed_share": share,
        "held_back": [
            {
                "text": name,
                "n": len(texts),
                "segmented_differently_share": segmented_differently(
                    full.model_bytes, cut.model_bytes, texts
                ),
            }
            for name, texts in _held_back(data, used)
        ],
        "full_tokenizer_sha256": full.sha256,
    }
    if words_file is not None:
        record["words_file"] = Path(words_file).name
        record["words"] = len(words)
    return PreparedCut(cut, record)
