"""`finetune` and `distill`: prepare the run folder, build the parts, train, report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from train import distributed
from train.components import build
from train.distributed import Dist, broadcast_object
from train.errors import TrainError
from train.loop import Trainer
from train.state import (
    BEST,
    LAST,
    LOG,
    RUN_FILE,
    prepare_out_dir,
    remove_run_files,
    seed_everything,
    truncate_log,
)
from train.tracker import Tracker
from vqa.checkpoint import read_checkpoint
from vqa.errors import user_message
from vqa.io import atomic_write_json

RUN_VERSION = 1


def on_main(ctx: Dist, action: Callable[[], Any]) -> None:
    """Run `action` on rank 0; if it fails with a user error, every rank fails with it."""
    error = ""
    if ctx.is_main:
        try:
            action()
        except Exception as err:
            error = user_message(err)
            if error is None:
                raise
    error = broadcast_object(ctx, error)
    if error:
        raise TrainError(error)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings as JSON values, as stored in run.json."""
    skip = {"command", "resume", "overwrite", "handler", "debug"}
    return {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in skip
    }


def _start(
    command: str, args: argparse.Namespace, ctx: Dist, out: Path, resume: bool
) -> tuple[Trainer, Tracker]:
    """Check the folder, build the run's parts, then record the run in run.json.

    run.json is written only once everything the run needs was found and built, so a run that
    fails at start (bad --data, missing tokenizer, unreadable --init) leaves nothing that
    blocks the corrected command: what it created is removed again.
    """
    created = not out.exists()
    on_main(ctx, lambda: prepare_out_dir(out, resume=resume, overwrite=args.overwrite))
    last = out / LAST
    resume_ckpt = read_checkpoint(last) if resume and last.is_file() else None
    if resume and resume_ckpt is None and ctx.is_main:
        print(
            f"{out}: no {LAST} yet (the run stopped before its first save): starting it from "
            "the beginning with its saved settings",
            file=sys.stderr,
        )
        truncate_log(out / LOG, 0)
    try:
        seed_everything(args.seed)
        parts = build(args, ctx, command, resume_ckpt)
        seed_everything(args.seed + ctx.rank)
        tracker = Tracker(out, enabled=ctx.is_main, progress=args.progress)
        trainer = Trainer(args, ctx, command, parts, out, tracker)
        if resume_ckpt is not None:
            trainer.restore(resume_ckpt)
    except BaseException:
        if not resume and ctx.is_main:
            remove_run_files(out, remove_folder=created)
        raise
    if not resume:
        on_main(
            ctx,
            lambda: atomic_write_json(
                out / RUN_FILE,
                {
                    "version": RUN_VERSION,
                    "command": command,
                    "world_size": ctx.world_size,
                    "settings": settings_of(args),
                },
            ),
        )
    return trainer, tracker


def run_training(command: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = distributed.setup(args.device)
    try:
        out = Path(args.out)
        trainer, tracker = _start(command, args, ctx, out, bool(args.resume))
        trainer.prepare_teacher()
        result = trainer.fit()
        best = result["best"]
        if best is not None:
            tracker.print(
                f"done: best {args.val_split} accuracy {best['accuracy']:.2f} at step "
                f"{best['step']} -> {out / BEST}; last state -> {out / LAST}"
            )
        return result
    finally:
        distributed.teardown()
