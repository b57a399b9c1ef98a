"""Command line: `python -m train finetune | distill | evaluate | describe`.

User errors (bad input, a busy output folder, a diverging loss) end with one line on stderr and
exit status 2, without a traceback (`--debug` or VQA_DEBUG=1 shows it; see vqa.errors).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from train.errors import NonFiniteLossError, TrainError
from train.loss_names import KD_LOSSES
from train.recipe import RUNTIME_OPTIONS, apply_recipe, command_actions
from vqa.cli import (
    EXIT_STATUS,
    NON_NEG_FLOAT,
    NON_NEG_INT,
    POS_FLOAT,
    POS_INT,
    UNIT_FLOAT,
    HelpFormatter,
)
from vqa.configs import BEIT3_VOCAB_SIZE, DEFAULT_NUM_ANSWERS
from vqa.errors import run_main

DEFAULT_WORKERS = min(4, max(0, (os.cpu_count() or 1) - 1))


# finetune's and distill's options in --help, by group (the rest are listed as "options").
OPTION_GROUPS = {
    "data": (
        "--data", "--tokenizer", "--text-len", "--answers", "--num-answers", "--val-split",
        "--limit-train", "--limit-val", "--skip-bad", "--no-augment", "--no-randaug", "--hflip",
        "--balance", "--num-workers",
    ),
    "model": (
        "--arch", "--img-size", "--init", "--init-layers", "--init-answers", "--trust-checkpoint",
        "--drop-path", "--freeze-layers", "--unfreeze-every", "--checkpoint-activations",
    ),
    "optimisation": (
        "--batch-size", "--accum-steps", "--lr", "--min-lr", "--weight-decay", "--head-lr-mult",
        "--layer-decay", "--clip-grad", "--amp", "--seed",
    ),
    "schedule": (
        "--epochs", "--max-steps", "--warmup-epochs", "--warmup-steps", "--eval-every",
        "--eval-batch-size", "--patience", "--log-every",
    ),
    "checkpointing": ("--out", "--resume", "--overwrite", "--save-every"),
    "distributed": ("--device",),
    "distillation": (
        "--teacher", "--kd", "--temperature", "--hard-weight", "--online-teacher",
        "--teacher-cache", "--vocab-from", "--vocab-words",
    ),
}
GROUP_DESCRIPTIONS = {
    "distributed": "one process per device: start several with torchrun (see the README)",
}


class _Adder:
    """add_argument with defaults suppressed on demand, to learn which options were given;
    options named in `groups` go into those argument groups of --help."""

    def __init__(
        self,
        parser: argparse.ArgumentParser,
        explicit_only: bool,
        groups: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.parser = parser
        self.explicit_only = explicit_only
        self.group_of: dict[str, argparse._ArgumentGroup] = {}
        for title, flags in (groups or {}).items():
            group = parser.add_argument_group(title, GROUP_DESCRIPTIONS.get(title))
            self.group_of.update(dict.fromkeys(flags, group))

    def __call__(self, *flags: str, **kwargs: Any) -> None:
        if self.explicit_only:
            kwargs["default"] = argparse.SUPPRESS
        self.group_of.get(flags[0], self.parser).add_argument(*flags, **kwargs)


def _training_options(add: _Adder, command: str) -> None:
    add("--config", metavar="FILE", help="recipe file (TOML, recipes/*.toml) whose values "
        "replace the defaults; options given here override single keys")
    add("--data", help="'easy-vqa' or 'vizwiz:DIR' (the VizWiz folder or its parent); "
        "required unless --resume")
    add("--arch", help="model configuration (`python -m train describe` lists them); "
        "required unless --resume")
    add("--init", help="checkpoint to start from (ours or official unilm weights)")
    add("--init-layers", help="encoder layers of --init to keep, e.g. 1,3,5,7,9,11 "
        "(default: evenly spaced when depths differ)")
    add("--init-answers", help="answer list of an official --init checkpoint (e.g. VQAv2's), "
        "to carry its answer layer over by answer; without it that layer starts fresh")
    add("--tokenizer", help="SentencePiece model (BEiT-3's beit3.spm); easy-VQA trains one")
    add("--text-len", type=POS_INT, default=64, help="question tokens incl. bos/eos")
    add("--answers", help="answer list file (one a line); default: built from train")
    add("--num-answers", type=POS_INT, default=DEFAULT_NUM_ANSWERS,
        help="answers kept from VizWiz train")
    add("--img-size", type=POS_INT, help="input resolution (default: the arch's)")
    add("--out", help="run folder for best.pth, last.pth, log.jsonl; required unless --resume")
    add("--resume", help="continue the run in this folder with its own settings")
    add("--overwrite", action="store_true", default=False, help="replace a run in --out")
    add("--epochs", type=POS_INT, default=10, help="passes over the training set")
    add("--max-steps", type=POS_INT, help="stop after this many optimizer steps")
    add("--batch-size", type=POS_INT, default=16, help="samples per process per micro-step")
    add("--accum-steps", type=POS_INT, default=1, help="micro-steps per optimizer step")
    add("--eval-batch-size", type=POS_INT, help="default: 2 x --batch-size")
    add("--lr", type=POS_FLOAT, default=3e-5, help="peak learning rate (unilm: 3e-5 base, "
        "2e-5 large)")
    add("--min-lr", type=NON_NEG_FLOAT, default=1e-6, help="end of the cosine schedule")
    add("--warmup-epochs", type=NON_NEG_FLOAT, default=1.0, help="linear warmup length")
    add("--warmup-steps", type=NON_NEG_INT, help="overrides --warmup-epochs")
    add("--weight-decay", type=NON_NEG_FLOAT, default=0.01,
        help="AdamW decay, not on biases, norms, CLS and position embeddings")
    add("--head-lr-mult", type=POS_FLOAT, default=20.0, help="lr multiplier of head.*")
    add("--layer-decay", type=POS_FLOAT, default=1.0, help="layer-wise lr decay (1: off)")
    add("--drop-path", type=UNIT_FLOAT, default=0.1, help="stochastic depth rate")
    add("--clip-grad", type=POS_FLOAT, help="clip the gradient norm to this value")
    add("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
        help="mixed precision: auto is bf16 on GPUs, off on CPU")
    add("--checkpoint-activations", action="store_true", default=False,
        help="recompute activations in backward (large on small GPUs)")
    add("--freeze-layers", type=NON_NEG_INT, default=0,
        help="freeze the embeddings and this many bottom encoder layers")
    add("--unfreeze-every", type=NON_NEG_INT, default=0,
        help="unfreeze one more layer every this many epochs")
    add("--no-augment", dest="augment", action="store_false", default=True,
        help="train on the eval transform")
    add("--no-randaug", dest="randaug", action="store_false", default=True,
        help="random resized crop only")
    add("--hflip", action="store_true", default=False,
        help="random horizontal flips (they swap left and right in questions)")
    add("--balance", choices=("none", "answer-type"), default="none",
        help="answer-type: draw training samples (with replacement) so that every answer type "
        "gets the same share")
    add("--seed", type=NON_NEG_INT, default=0, help="fixes init, data order, augmentation")
    add("--num-workers", type=NON_NEG_INT, default=DEFAULT_WORKERS,
        help="data loading processes per training process")
    add("--eval-every", type=NON_NEG_INT, default=0, help="steps (0: each epoch)")
    add("--save-every", type=NON_NEG_INT, default=0,
        help="steps between resumable checkpoints (also saved each epoch)")
    add("--log-every", type=POS_INT, default=50, help="steps between log lines")
    add("--patience", type=NON_NEG_INT, default=0,
        help="stop after this many evaluations without improvement (0: never)")
    add("--val-split", default="val", help="split for validation and best.pth")
    add("--limit-train", type=POS_INT, help="use the first N train samples")
    add("--limit-val", type=POS_INT, help="use the first N validation samples")
    add("--skip-bad", action="store_true", default=False,
        help="leave out (and count) malformed entries, empty questions and undecodable images "
        "instead of stopping at the first (images are checked when the data is loaded)")
    add("--device", default="auto", help="auto, cpu or cuda")
    add("--trust-checkpoint", action="store_true", default=False,
        help="allow --init/--teacher checkpoints that need arbitrary unpickling (can run code "
        "stored in them)")
    add("--no-progress", dest="progress", action="store_false", default=True,
        help="no progress bar")
    add("--debug", action="store_true", default=False, help="show the traceback of an error")
    if command == "distill":
        add("--teacher", help="teacher checkpoint (ours); required unless --resume")
        add("--kd", choices=KD_LOSSES, default="sigmoid",
            help="sigmoid: BCE to the teacher's sigmoid (fits the BCE head); softmax: KL x T^2")
        add("--temperature", type=POS_FLOAT, default=1.0, help="KD temperature T")
        add("--hard-weight", type=UNIT_FLOAT, default=0.5,
            help="weight of the ground-truth loss; the KD loss gets 1 - this")
        add("--online-teacher", action="store_true", default=False,
            help="run the teacher on each (augmented) batch instead of caching its logits")
        add("--teacher-cache", help="folder of cached teacher logits "
            "(default: teacher_logits/ beside the teacher)")
        add("--vocab-from", help="'easy-vqa' or 'vizwiz:DIR': the student's tokenizer and text "
            "embedding keep only the pieces of its train and val questions (and every single "
            "character), as `python -m export --vocab-from` ships them; the teacher keeps its own")
        add("--vocab-words", help="with --vocab-from: a word list (one a line) whose pieces are "
            "kept as well")


def build_parser(explicit_only: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Finetune, distil, evaluate and size BEiT-3 VQA models. User errors end "
        "with one line and exit code 2 (--debug or VQA_DEBUG=1 shows the traceback).",
        epilog=EXIT_STATUS,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text, description in (
        ("finetune", "train a model on VizWiz or easy-VQA",
         "Train a model (a teacher, or any config) on VizWiz or easy-VQA; best.pth, last.pth "
         "and log.jsonl go to --out, and --resume OUT continues a stopped run exactly."),
        ("distill", "train a student from a teacher's logits and the ground truth",
         "Train a student from a teacher checkpoint (its logits cached once, or run online) "
         "mixed with the ground-truth loss; teacher and student share the answer list."),
    ):
        p = sub.add_parser(
            command, help=text, description=description,
            formatter_class=HelpFormatter,
        )
        groups = {k: v for k, v in OPTION_GROUPS.items()
                  if k != "distillation" or command == "distill"}
        _training_options(_Adder(p, explicit_only, groups), command)

    p = sub.add_parser(
        "evaluate", help="predictions and the metric of a checkpoint",
        description="Predict a split with a checkpoint: a predictions file (the VizWiz "
        "submission format on test) and, on labelled splits, the official metric as a table and "
        "as JSON.",
        formatter_class=HelpFormatter,
    )
    add = _Adder(p, explicit_only)
    add("checkpoint", help="our checkpoint (best.pth, last.pth), or an official one with --arch, "
        "--tokenizer and --answers")
    add("--data", required=not explicit_only, help="'easy-vqa' or 'vizwiz:DIR'")
    add("--split", choices=("train", "val", "test"), default="val", help="split to predict")
    add("--out", required=not explicit_only, help="predictions file (JSON)")
    add("--metrics-json", help="default: OUT with .metrics.json")
    add("--arch", help="needed for official checkpoints")
    add("--img-size", type=POS_INT, help="input resolution (default: the checkpoint's)")
    add("--tokenizer", help="default: the checkpoint's")
    add("--text-len", type=POS_INT, default=64, help="with --tokenizer")
    add("--answers", help="default: the checkpoint's")
    add("--batch-size", type=POS_INT, default=32, help="samples per process per batch")
    add("--limit", type=POS_INT, help="predict the first N samples")
    add("--skip-bad", action="store_true", default=False,
        help="leave out (and count) malformed entries, empty questions and undecodable images")
    add("--num-workers", type=NON_NEG_INT, default=DEFAULT_WORKERS, help="data loaders")
    add("--device", default="auto", help="auto, cpu or cuda")
    add("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
        help="mixed precision: auto is bf16 on GPUs, off on CPU")
    add("--trust-checkpoint", action="store_true", default=False,
        help="allow checkpoints that need arbitrary unpickling")
    add("--no-progress", dest="progress", action="store_false", default=True,
        help="no progress bar")
    add("--debug", action="store_true", default=False, help="show the traceback of an error")

    p = sub.add_parser(
        "describe", help="parameters, GMACs and sizes of configurations",
        description="Parameters, GMACs (one forward pass) and file sizes in fp32 and int8 (as "
        "the exporters quantize) of named configurations, without building their weights.",
        formatter_class=HelpFormatter,
    )
    add = _Adder(p, explicit_only)
    add("arch", nargs="*", help="configurations (default: all)")
    add("--img-size", type=POS_INT, help="default: each arch's")
    add("--num-answers", type=POS_INT, help=f"default: {DEFAULT_NUM_ANSWERS}")
    add("--vocab-size", type=POS_INT,
        help=f"text embedding rows (default: BEiT-3's {BEIT3_VOCAB_SIZE})")
    add("--text-len", type=POS_INT, default=64, help="question tokens counted in GMACs")
    add("--json", action="store_true", default=False, help="JSON instead of a table")
    add("--debug", action="store_true", default=False, help="show the traceback of an error")
    return parser


def _training_args(args: argparse.Namespace, argv: Sequence[str]) -> argparse.Namespace:
    """Check the options of a new run, or take a resumed run's settings from its run.json."""
    from train.state import read_run

    if not args.resume:
        for name in ("data", "arch", "out") + (("teacher",) if args.command == "distill" else ()):
            if getattr(args, name) is None:
                raise TrainError(f"{args.command}: --{name.replace('_', '-')} is required")
        _check_sizes(args)
        return args
    out = Path(args.resume)
    if args.out is not None and Path(args.out) != out:
        raise TrainError(f"--out {args.out} differs from --resume {args.resume}")
    run = read_run(out)
    if run.get("command") != args.command:
        raise TrainError(
            f"{out}: holds a {run.get('command')} run; resume it with "
            f"`python -m train {run.get('command')} --resume {out}`"
        )
    settings = dict(run["settings"])
    explicit = vars(build_parser(explicit_only=True).parse_args(argv))
    for key, value in explicit.items():
        if key in RUNTIME_OPTIONS or key == "command":
            settings[key] = value
        elif settings.get(key) != value:
            raise TrainError(
                f"--{key.replace('_', '-')} {value}: the run was started with "
                f"{settings.get(key)}; a resumed run keeps its settings (start a new run with "
                f"the new value and --out {out} --overwrite to replace this one)"
            )
    settings.update(command=args.command, resume=str(out), overwrite=False, out=str(out))
    known = vars(args)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TrainError(f"{out / 'run.json'}: unknown settings {', '.join(unknown)}")
    return argparse.Namespace(**{**known, **settings})


def _check_sizes(args: argparse.Namespace) -> None:
    """Refuse an image size whose activations cannot fit here, before anything is built."""
    from vqa.configs import get_config
    from vqa.limits import check_image_size

    try:
        config = get_config(args.arch, img_size=args.img_size)
    except ValueError:
        return  # an unknown arch or a size off the patch grid: the model's builder names it
    check_image_size(config.img_size, config.patch_size, config.num_heads, args.batch_size,
                     args.text_len)


def _restart(argv: Sequence[str], settings: argparse.Namespace) -> str:
    """The command that starts a diverged run again with half its learning rate.

    A resumed run keeps its settings, the learning rate among them, so the way on is a new run
    in the same folder: the command given, with a lower --lr and --overwrite.
    """
    lr = settings.lr / 2
    if settings.resume:
        return (
            f"a resumed run keeps its --lr ({settings.lr:g}): start it again with its settings "
            f"(in {Path(settings.resume) / 'run.json'}), --lr {lr:g} and --overwrite"
        )
    words, skip = ["python", "-m", "train"], False
    for word in argv:
        if skip or word in ("--lr", "--overwrite"):
            skip = word == "--lr"
            continue
        if not word.startswith("--lr="):
            words.append(word)
    words += ["--lr", f"{lr:g}", "--overwrite"]
    return f"to start again with half the learning rate: {shlex.join(words)}"


def _describe(args: argparse.Namespace) -> None:
    from train.describe import describe, format_table
    from vqa.configs import UnknownArchError, get_config, list_configs

    rows = []
    for name in args.arch or list_configs():
        try:
            config = get_config(
                name, img_size=args.img_size, num_answers=args.num_answers,
                vocab_size=args.vocab_size,
            )
        except UnknownArchError:
            raise
        except ValueError as err:
            raise TrainError(str(err)) from None
        rows.append(describe(config, args.text_len))
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))


def resolve(argv: Sequence[str]) -> argparse.Namespace:
    """The options `python -m train ARGV` runs with: defaults, recipe (--config), command line."""
    args = build_parser().parse_args(list(argv))
    if not getattr(args, "config", None):
        return args
    explicit = vars(build_parser(explicit_only=True).parse_args(list(argv)))
    return apply_recipe(args, command_actions(build_parser(), args.command), explicit)


def _main(argv: list[str]) -> int:
    args = resolve(argv)
    if args.command in ("finetune", "distill"):
        from train.run import run_training

        settings = _training_args(args, argv)
        try:
            run_training(args.command, settings)
        except NonFiniteLossError as err:
            raise NonFiniteLossError(f"{err}; {_restart(argv, settings)}") from None
    elif args.command == "evaluate":
        from train.evaluate import run_evaluate

        run_evaluate(args)
    else:
        _describe(args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a user error ends with one line on stderr and exit code 2."""
    return run_main(_main, argv)
