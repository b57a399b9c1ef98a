"""`finetune` and `distill`: prepare the run folder, build the parts, train, report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from train import distributed
from train.components import build
from train.distributed import Dist, broadcast_object
from train.errors import USER_ERRORS, TrainError, one_line
from train.loop import Trainer
from train.state import (
    BEST,
    LAST,
    LOG,
    RUN_FILE,
    prepare_out_dir,
    seed_everything,
    truncate_log,
)
from train.tracker import Tracker
from vqa.checkpoint import read_checkpoint
from vqa.io import atomic_write_json

RUN_VERSION = 1


def on_main(ctx: Dist, action: Callable[[], Any]) -> None:
    """Run `action` on rank 0; if it fails with a user error, every rank fails with it."""
    error = ""
    if ctx.is_main:
        try:
            action()
        except USER_ERRORS as err:
            error = one_line(err)
    error = broadcast_object(ctx, error)
    if error:
        raise TrainError(error)


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings as JSON values, as stored in run.json."""
    skip = {"command", "resume", "overwrite", "handler"}
    return {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in skip
    }


def run_training(command: str, args: argparse.Namespace) -> dict[str, Any]:
    ctx = distributed.setup(args.device)
    try:
        out = Path(args.out)
        resume = bool(args.resume)
        on_main(ctx, lambda: prepare_out_dir(out, resume=resume, overwrite=args.overwrite))
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
        last = out / LAST
        resume_ckpt = read_checkpoint(last) if resume and last.is_file() else None
        if resume and resume_ckpt is None and ctx.is_main:
            truncate_log(out / LOG, 0)  # killed before its first save: start over
        seed_everything(args.seed)
        parts = build(args, ctx, command, resume_ckpt)
        seed_everything(args.seed + ctx.rank)
        tracker = Tracker(out, enabled=ctx.is_main, progress=args.progress)
        trainer = Trainer(args, ctx, command, parts, out, tracker)
        if resume_ckpt is not None:
            trainer.restore(resume_ckpt)
        trainer.prepare_teacher()
        result = trainer.fit()
        best = result["best"]
        if best is not None:
            tracker.print(
                f"done: best {args.val_split} accuracy {best['accuracy']:.2f} at step "
                f"{best['step']} -> {out / BEST}; last state -> {last}"
            )
        return result
    finally:
        distributed.teardown()
