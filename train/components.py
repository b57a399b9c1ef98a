"""The pieces of a run, built from its settings: data, tokenizer, answers, model, teacher."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from train.data import build_vocab, labelled
from train.distributed import Dist, barrier
from train.errors import TrainError
from train.state import TOKENIZER
from train.student_init import init_from_checkpoint, parse_layers
from vqa.answers import AnswerVocab
from vqa.checkpoint import Checkpoint, model_from_checkpoint, read_checkpoint, tokenizer_record
from vqa.checkpoint_vocab import checkpoint_tokenizer
from vqa.configs import BEiT3Config, UnknownArchError, get_config
from vqa.data import VQASample
from vqa.data.spec import EASY_VQA, DataSpec
from vqa.model import BEiT3ForVQA, create_model, reinit_for_scratch
from vqa.tokenizer import Tokenizer, train_sentencepiece

EASY_VQA_SPM_PIECES = 1000


@dataclass
class Components:
    spec: DataSpec
    train: list[VQASample]
    val: list[VQASample]
    tokenizer: Tokenizer
    tokenizer_record: dict[str, Any]
    vocab: AnswerVocab
    model: BEiT3ForVQA
    teacher: BEiT3ForVQA | None = None
    teacher_path: Path | None = None
    teacher_tokenizer: Tokenizer | None = None
    """The teacher's own tokenizer where the student's was cut (distill --vocab-from)."""


def amp_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: 'auto' is bf16 (fp16 on GPUs without bf16) on CUDA and off on CPU."""
    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def model_config(args: argparse.Namespace, num_answers: int) -> BEiT3Config:
    try:
        return get_config(
            args.arch,
            img_size=args.img_size,
            num_answers=num_answers,
            drop_path_rate=args.drop_path,
            checkpoint_activations=args.checkpoint_activations,
        )
    except UnknownArchError:
        raise
    except ValueError as err:
        raise TrainError(f"--arch {args.arch}: {err}") from None


def read_ours(path: Path, role: str, trust_pickle: bool = False) -> Checkpoint:
    ckpt = read_checkpoint(path, trust_pickle=trust_pickle)
    if ckpt.kind != "ours" or not ckpt.answers or not ckpt.tokenizer:
        raise TrainError(
            f"{path}: a {role} must be a checkpoint written by `python -m train` (with its answer "
            "list and tokenizer); finetune official weights first"
        )
    return ckpt


def _tokenizer(
    args: argparse.Namespace,
    spec: DataSpec,
    train: list[VQASample],
    ctx: Dist,
    init: Checkpoint | None,
    teacher: Checkpoint | None,
) -> Tokenizer:
    if teacher is not None:
        tokenizer = checkpoint_tokenizer(teacher)
        if args.tokenizer and Tokenizer(args.tokenizer).sha256 != tokenizer.sha256:
            raise TrainError(
                f"--tokenizer {args.tokenizer} differs from the teacher's tokenizer; teacher and "
                "student read the same question ids"
            )
        return tokenizer
    if args.tokenizer:
        return Tokenizer(args.tokenizer, max_len=args.text_len)
    if init is not None and init.tokenizer:
        return checkpoint_tokenizer(init)
    if spec.kind == EASY_VQA:
        path = Path(args.out) / TOKENIZER
        if ctx.is_main:
            train_sentencepiece((s.question for s in train), path, vocab_size=EASY_VQA_SPM_PIECES)
        barrier(ctx)
        return Tokenizer(path, max_len=args.text_len)
    raise TrainError(
        f"--data {spec}: give --tokenizer SPM (BEiT-3's beit3.spm) or an --init checkpoint that "
        "carries a tokenizer"
    )


def _vocab(
    args: argparse.Namespace, spec: DataSpec, train: list[VQASample], teacher: Checkpoint | None
) -> AnswerVocab:
    if teacher is None:
        return build_vocab(spec, train, num_answers=args.num_answers, answers_file=args.answers)
    assert teacher.answers is not None
    if args.answers is not None:
        given = AnswerVocab.load(args.answers).answers
        if given != teacher.answers:
            raise TrainError(
                f"--answers {args.answers} differs from the teacher's answer list "
                f"({len(given)} vs {len(teacher.answers)} answers); teacher and student must "
                "share one answer list, since distillation compares their outputs answer by answer"
            )
    return AnswerVocab.from_list(teacher.answers)


def _model(
    args: argparse.Namespace, vocab: AnswerVocab, tokenizer: Tokenizer, init: Checkpoint | None
) -> BEiT3ForVQA:
    config = model_config(args, len(vocab))
    if tokenizer.max_len > config.max_text_positions:
        raise TrainError(
            f"--text-len {tokenizer.max_len} exceeds {config.name}'s "
            f"{config.max_text_positions} text positions"
        )
    if init is None:
        torch.manual_seed(args.seed)
        model = create_model(config.replace(vocab_size=tokenizer.vocab_size))
        reinit_for_scratch(model)
        return model
    layers = parse_layers(args.init_layers) if args.init_layers else None
    init_answers = AnswerVocab.load(args.init_answers).answers if args.init_answers else None
    torch.manual_seed(args.seed)
    model = init_from_checkpoint(
        config, init, answers=vocab.answers, layers=layers, init_answers=init_answers
    )
    if model.config.vocab_size < tokenizer.vocab_size:
        raise TrainError(
            f"{init.path}: its text embedding has {model.config.vocab_size} rows, fewer than the "
            f"tokenizer's {tokenizer.vocab_size} ids"
        )
    return model


def _cut_vocabulary(
    args: argparse.Namespace, full: Tokenizer, model: BEiT3ForVQA
) -> tuple[Tokenizer, dict[str, Any]]:
    """--vocab-from: the student learns with the cut vocabulary it will ship with (its text
    embedding is gathered to the kept ids, from --init's rows or fresh ones)."""
    from vqa.vocab_cut import VocabCutError, cut_model, prepare_cut

    try:
        prepared = prepare_cut(full, args.vocab_from, args.vocab_words)
        cut_model(model, prepared.cut)
    except VocabCutError as err:
        raise TrainError(str(err)) from None
    return prepared.cut.tokenizer(full.max_len), prepared.record


def _resumed_model(ckpt: Checkpoint) -> BEiT3ForVQA:
    """The interrupted run's model, from its own config and weights (no --init needed)."""
    assert ckpt.config is not None
    model = create_model(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    return model


def build(
    args: argparse.Namespace, ctx: Dist, command: str, resume: Checkpoint | None = None
) -> Components:
    """Everything a run needs; a resumed run takes tokenizer, answers and model from `resume`."""
    spec = DataSpec.parse(args.data)
    progress = args.progress and ctx.is_main
    train = list(labelled(
        spec.load("train", limit=args.limit_train, skip_bad=args.skip_bad, progress=progress),
        spec,
        "train",
    ))
    val = list(labelled(
        spec.load(args.val_split, limit=args.limit_val, skip_bad=args.skip_bad,
                  progress=progress),
        spec,
        args.val_split,
    ))
    trust = getattr(args, "trust_checkpoint", False)
    teacher_ckpt = (
        read_ours(Path(args.teacher), "teacher", trust) if command == "distill" else None
    )
    record = None
    if resume is not None:
        assert resume.tokenizer is not None and resume.answers is not None
        tokenizer = checkpoint_tokenizer(resume)
        vocab = AnswerVocab.from_list(resume.answers)
        model = _resumed_model(resume)
    else:
        init = read_checkpoint(args.init, trust_pickle=trust) if args.init else None
        tokenizer = _tokenizer(args, spec, train, ctx, init, teacher_ckpt)
        vocab = _vocab(args, spec, train, teacher_ckpt)
        model = _model(args, vocab, tokenizer, init)
        if getattr(args, "vocab_from", None):
            tokenizer, record = _cut_vocabulary(args, tokenizer, model)
    if record is None and resume is not None:
        record = (resume.tokenizer or {}).get("vocab_cut")
    teacher = None
    if teacher_ckpt is not None:
        teacher = model_from_checkpoint(teacher_ckpt).eval().requires_grad_(False)
    return Components(
        spec=spec,
        train=train,
        val=val,
        tokenizer=tokenizer,
        tokenizer_record={
            **tokenizer_record(tokenizer.model_bytes, tokenizer.max_len),
            **({"vocab_cut": record} if record else {}),
        },
        vocab=vocab,
        model=model,
        teacher=teacher,
        teacher_path=Path(args.teacher) if teacher_ckpt is not None else None,
        teacher_tokenizer=checkpoint_tokenizer(teacher_ckpt) if record and teacher_ckpt else None,
    )
