"""The training loop shared by finetune and distill: steps, validation, checkpoints, exact resume.

One optimizer step consumes `batch_size x world_size x accum_steps` samples. Validation uses the
official VizWiz metric; `best.pth` keeps the best validation accuracy, `last.pth` everything
needed to continue (see train.state). A resumed run restores weights, optimizer, scheduler,
scaler, every rank's RNG streams and the data position, and so repeats the interrupted run's
arithmetic exactly (bitwise on CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from train import teacher_cache
from train.components import Components, amp_dtype
from train.data import answer_type_weights
from train.distributed import Dist, all_true, broadcast_object, gather_objects
from train.errors import NonFiniteLossError, TrainError
from train.freeze import apply_freeze, frozen_layers
from train.losses import distill_loss, soft_bce
from train.optim import OptimConfig, build_optimizer, build_scheduler
from train.predict import autocast, predict_logits, to_device, to_predictions
from train.sampler import EpochOrder, SeededDataset
from train.state import BEST, LAST, rng_state, set_rng_state, truncate_log
from train.tracker import Tracker
from vqa.checkpoint import Checkpoint, save_checkpoint
from vqa.data import VQADataset, collate_trimmed, samples_to_annotations
from vqa.errors import NoSpaceError
from vqa.metrics import score
from vqa.predictions import write_predictions
from vqa.transforms import eval_transform, train_transform

TeacherFn = Callable[[dict[str, Any]], torch.Tensor]


def _cloned(obj: Any) -> Any:
    """A copy of a loaded state with its own tensor memory (loading may memory-map the file)."""
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _cloned(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cloned(v) for v in obj]
    return obj


class Trainer:
    def __init__(
        self,
        args: argparse.Namespace,
        ctx: Dist,
        command: str,
        parts: Components,
        out: Path,
        tracker: Tracker,
    ) -> None:
        self.args, self.ctx, self.command, self.parts, self.out = args, ctx, command, parts, out
        self.tracker = tracker
        self.model = parts.model.to(ctx.device)
        self.net: torch.nn.Module = self.model
        self.amp = amp_dtype(args.amp, ctx.device)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.amp == torch.float16)
        self.accum = args.accum_steps
        self.order = EpochOrder(
            len(parts.train),
            args.batch_size * ctx.world_size * self.accum,
            seed=args.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            weights=answer_type_weights(parts.train) if args.balance == "answer-type" else None,
        )
        self.steps_per_epoch = self.order.steps_per_epoch
        total = args.epochs * self.steps_per_epoch
        self.total_steps = min(total, args.max_steps) if args.max_steps else total
        warmup = (
            args.warmup_steps
            if args.warmup_steps is not None
            else round(args.warmup_epochs * self.steps_per_epoch)
        )
        self.optim_cfg = OptimConfig(
            lr=args.lr,
            weight_decay=args.weight_decay,
            head_lr_mult=args.head_lr_mult,
            layer_decay=args.layer_decay,
            min_lr=args.min_lr,
            warmup_steps=min(warmup, max(0, self.total_steps - 1)),
        )
        self.optimizer = build_optimizer(self.model, self.optim_cfg, self.model.num_layers())
        self.scheduler = build_scheduler(self.optimizer, self.optim_cfg, self.total_steps)
        img = self.model.config.img_size
        transform = (
            train_transform(img, randaug=args.randaug, hflip=args.hflip)
            if args.augment
            else eval_transform(img)
        )
        self.dataset = SeededDataset(
            VQADataset(parts.train, parts.tokenizer, transform, parts.vocab)
        )
        self.annotations = samples_to_annotations(parts.val)
        self.step = 0
        self.epoch = 0
        self.micro = 0  # micro-batches of the current epoch done by this rank
        self.best: dict[str, Any] | None = None
        self.bad_evals = 0
        self.stopped = False
        self.num_frozen: int | None = None
        self.last_eval_step = -1
        self.last_save_step = -1
        self.teacher: TeacherFn | None = None
        self._rng_to_restore: dict[str, Any] | None = None


    def summary(self) -> str:
        args, ctx = self.args, self.ctx
        global_batch = args.batch_size * ctx.world_size * self.accum
        return (
            f"{self.command}: {self.model.config.describe()} at {self.model.config.img_size} px, "
            f"{len(self.parts.vocab)} answers; {len(self.parts.train)} train / "
            f"{len(self.parts.val)} {args.val_split} samples; global batch {global_batch} "
            f"({args.batch_size} x {ctx.world_size} process(es) x {self.accum} accumulation); "
            f"{self.steps_per_epoch} steps/epoch, {self.total_steps} steps; "
            f"{'answer types balanced, ' if args.balance == 'answer-type' else ''}device "
            f"{ctx.device}, amp {self.amp or 'off'}"
        )

    def prepare_teacher(self) -> None:
        """Teacher logits from the cache (computed once) or from the teacher on each batch."""
        parts, args, ctx = self.parts, self.args, self.ctx
        if parts.teacher is None:
            return
        assert parts.teacher_path is not None
        teacher = parts.teacher.to(ctx.device)
        if args.online_teacher:
            size = teacher.config.img_size

            def online(batch: dict[str, Any]) -> torch.Tensor:
                image = batch["image"]
                if image.shape[-1] != size:
                    image = F.interpolate(image, size=(size, size), mode="bicubic")
                question, mask = self._teacher_text(batch)
                with torch.no_grad(), autocast(ctx.device, self.amp):
                    return teacher(image, question, mask).float()

            self.teacher = online
            return
        root = (
            Path(args.teacher_cache)
            if args.teacher_cache
            else parts.teacher_path.parent / "teacher_logits"
        )
        cache = teacher_cache.load_or_build(
            teacher,
            parts.teacher_path,
            parts.train,
            parts.teacher_tokenizer or parts.tokenizer,
            parts.vocab.answers,
            root,
            ctx,
            batch_size=args.eval_batch_size or 2 * args.batch_size,
            num_workers=args.num_workers,
            amp_dtype=self.amp,
            log=self.tracker.print,
            progress=args.progress,
        )
        parts.teacher = None  # its logits are on disk now
        self.teacher = lambda batch: cache(batch["index"]).to(ctx.device, non_blocking=True)

    def _teacher_text(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's questions as the teacher reads them: the student's ids, or, where the
        student's vocabulary was cut (--vocab-from), the teacher's own tokenizer's."""
        tokenizer = self.parts.teacher_tokenizer
        if tokenizer is None:
            return batch["question"], batch["padding_mask"]
        questions = [self.parts.train[i].question for i in batch["index"].tolist()]
        ids, mask = tokenizer(questions)
        return ids.to(self.ctx.device), mask.to(self.ctx.device)

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from `last.pth` (weights were loaded when the model was built)."""
        state = ckpt.extra.get("train_state")
        if not isinstance(state, dict):
            raise TrainError(f"{ckpt.path}: holds no training state to resume from")
        expected = {
            "world_size": self.ctx.world_size,
            "batch_size": self.args.batch_size,
            "accum_steps": self.accum,
        }
        for key, value in expected.items():
            if state.get(key) != value:
                raise TrainError(
                    f"{ckpt.path}: the run used {key.replace('_', ' ')} {state.get(key)}, this "
                    f"resume {value}; resume with the same number of processes and batch"
                )
        self.optimizer.load_state_dict(_cloned(state["optimizer"]))
        self.scheduler.load_state_dict(_cloned(state["scheduler"]))
        self.scaler.load_state_dict(_cloned(state["scaler"]))
        position = state["position"]
        self.step, self.epoch, self.micro = position["step"], position["epoch"], position["micro"]
        self.best, self.bad_evals = state["best"], state["bad_evals"]
        self.stopped = state["stopped"]
        self.last_eval_step = state["last_eval_step"]
        self.last_save_step = self.step
        if self.ctx.is_main:
            truncate_log(self.tracker.log_path, self.step)
        self._rng_to_restore = _cloned(state["rng"][self.ctx.rank])


    def fit(self) -> dict[str, Any]:
        self.tracker.print(self.summary())
        if self._rng_to_restore is not None:
            set_rng_state(self._rng_to_restore)
            self.tracker.print(f"resumed at step {self.step} (epoch {self.epoch + 1})")
        while self.step < self.total_steps and not self.stopped:
            self._epoch()
        if self.last_eval_step != self.step:
            self._evaluate()
        if self.last_save_step != self.step:
            self._save_last()
        self.tracker.close()
        return {"step": self.step, "best": self.best, "stopped_early": self.stopped}

    def _set_frozen(self) -> None:
        """Freeze per the epoch; (re)wrap in DDP, which fixes its parameter set at creation."""
        n = frozen_layers(self.args.freeze_layers, self.args.unfreeze_every, self.epoch)
        if n == self.num_frozen:
            return
        if self.num_frozen is not None:
            self.tracker.print(f"epoch {self.epoch + 1}: {n} bottom layers frozen")
        apply_freeze(self.model, n)
        self.num_frozen = n
        if self.ctx.enabled:
            device_ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=device_ids)

    def _loader(self) -> DataLoader:
        self.order.set_position(self.epoch, self.micro * self.args.batch_size)
        return DataLoader(
            self.dataset,
            batch_size=self.args.batch_size,
            sampler=self.order,
            num_workers=self.args.num_workers,
            collate_fn=collate_trimmed,
            pin_memory=self.ctx.device.type == "cuda",
            # Our own generator: creating an iterator then never draws from the global RNG.
            generator=torch.Generator().manual_seed(self.args.seed),
        )

    def _epoch(self) -> None:
        self._set_frozen()
        self.model.train()
        loader = self._loader()
        self.tracker.start_epoch(self.epoch, self.steps_per_epoch, self.micro // self.accum)
        window = {"loss": 0.0, "count": 0, "time": time.perf_counter(), "parts": {}}
        for batch in loader:
            sync = (self.micro + 1) % self.accum == 0
            loss, parts = self._forward_backward(batch, sync)
            window["loss"] += loss
            window["count"] += 1
            for k, v in parts.items():
                window["parts"][k] = window["parts"].get(k, 0.0) + v
            self.micro += 1
            if not sync:
                continue
            self._optimizer_step()
            self.step += 1
            end_of_epoch = self.micro == self.steps_per_epoch * self.accum
            if end_of_epoch:
                self.epoch += 1
                self.micro = 0
            self._report(window)
            self._after_step(end_of_epoch)
            if self.step >= self.total_steps or self.stopped:
                break
        self.tracker.end_epoch()

    def _forward_backward(self, batch: dict[str, Any], sync: bool) -> tuple[float, dict]:
        batch = to_device(batch, self.ctx.device)
        no_sync = (
            self.net.no_sync()
            if isinstance(self.net, DistributedDataParallel) and not sync
            else contextlib.nullcontext()
        )
        with no_sync:
            with autocast(self.ctx.device, self.amp):
                logits = self.net(batch["image"], batch["question"], batch["padding_mask"])
            if self.teacher is not None:
                loss, parts = distill_loss(
                    logits,
                    self.teacher(batch),
                    batch["targets"],
                    kind=self.args.kd,
                    temperature=self.args.temperature,
                    hard_weight=self.args.hard_weight,
                )
            else:
                loss, parts = soft_bce(logits, batch["targets"]), {}
            value = float(loss.detach())
            if not all_true(self.ctx, math.isfinite(value)):
                kept = (
                    f"the last checkpoint ({self.out / LAST}, step {self.last_save_step}) is kept"
                    if self.last_save_step >= 0
                    else "no checkpoint was written"
                )
                raise NonFiniteLossError(
                    f"loss is not finite ({value}) at step {self.step + 1} (epoch "
                    f"{self.epoch + 1}); stopped without saving it, {kept}; lower --lr or "
                    "enable --clip-grad"
                )
            self.scaler.scale(loss / self.accum).backward()
        return value, parts

    def _optimizer_step(self) -> None:
        if self.args.clip_grad:
            self.scaler.unscale_(self.optimizer)
            params = [p for p in self.model.parameters() if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.args.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    def _lr(self) -> float:
        group = self.optimizer.param_groups[0]
        return group["lr"] / group["lr_scale"]

    def _report(self, window: dict[str, Any]) -> None:
        lr = self._lr()
        self.tracker.advance(loss=f"{window['loss'] / window['count']:.4f}", lr=f"{lr:.2e}")
        if self.step % self.args.log_every and self.step != self.total_steps:
            return
        elapsed = time.perf_counter() - window["time"]
        samples = window["count"] * self.args.batch_size * self.ctx.world_size
        count = window["count"]
        self.tracker.record(
            "train",
            self.step,
            epoch=self.epoch + self.micro / (self.steps_per_epoch * self.accum),
            loss=window["loss"] / count,
            **{k: v / count for k, v in window["parts"].items()},
            lr=lr,
            samples_per_s=samples / elapsed if elapsed > 0 else None,
        )
        window.update(loss=0.0, count=0, time=time.perf_counter(), parts={})

    def _after_step(self, end_of_epoch: bool) -> None:
        args = self.args
        final = self.step >= self.total_steps
        if args.eval_every:
            eval_due = self.step % args.eval_every == 0
        else:
            eval_due = end_of_epoch
        if eval_due or final:
            self._evaluate()
        save_due = bool(args.save_every) and self.step % args.save_every == 0
        if save_due or end_of_epoch or final or self.stopped:
            self._save_last()


    def _evaluate(self) -> None:
        args, ctx = self.args, self.ctx
        logits = predict_logits(
            self.model,
            self.parts.val,
            self.parts.tokenizer,
            ctx,
            batch_size=args.eval_batch_size or 2 * args.batch_size,
            num_workers=args.num_workers,
            amp_dtype=self.amp,
            progress=f"validating ({args.val_split})" if args.progress else None,
        )
        predictions = metrics = None
        if ctx.is_main:
            predictions = to_predictions(logits, self.parts.val, self.parts.vocab.answers)
            metrics = score(predictions, self.annotations)
        metrics = broadcast_object(ctx, metrics)
        accuracy = metrics["accuracy"]["overall"]
        self.last_eval_step = self.step
        improved = self.best is None or accuracy > self.best["accuracy"]
        if improved:
            self.best = {"accuracy": accuracy, "step": self.step, "metrics": metrics}
            self.bad_evals = 0
            self._save(self.out / BEST, metrics, train_state=None)
            if ctx.is_main:
                write_predictions(self.out / f"predictions_{args.val_split}.json", predictions)
        else:
            self.bad_evals += 1
        assert self.best is not None
        self.tracker.record("eval", self.step, split=args.val_split, **metrics)
        self.tracker.print(
            f"step {self.step} (epoch {self.epoch_progress():.2f}): {args.val_split} accuracy "
            f"{accuracy:.2f} (best {self.best['accuracy']:.2f} at step {self.best['step']})"
        )
        if args.patience and self.bad_evals >= args.patience:
            self.stopped = True
            self.tracker.print(
                f"early stop: no improvement in {args.patience} evaluations"
            )

    def epoch_progress(self) -> float:
        return self.epoch + self.micro / (self.steps_per_epoch * self.accum)

    def _meta(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        parts = self.parts
        meta: dict[str, Any] = {
            "command": self.command,
            "step": self.step,
            "epoch": self.epoch_progress(),
            "data": str(parts.spec),
            "train_samples": len(parts.train),
            "val_split": self.args.val_split,
            "val": metrics,
        }
        if parts.teacher_path is not None:
            meta["teacher"] = str(parts.teacher_path)
        return meta

    def _save_last(self) -> None:
        ctx = self.ctx
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": gather_objects(ctx, rng_state()),
            "position": {"step": self.step, "epoch": self.epoch, "micro": self.micro},
            "best": self.best,
            "bad_evals": self.bad_evals,
            "stopped": self.stopped,
            "last_eval_step": self.last_eval_step,
            "world_size": ctx.world_size,
            "batch_size": self.args.batch_size,
            "accum_steps": self.accum,
        }
        metrics = self.best["metrics"] if self.best else None
        self._save(self.out / LAST, metrics, train_state=state)
        self.last_save_step = self.step

    def _save(self, path: Path, metrics: dict | None, train_state: dict | None) -> None:
        """Rank 0 writes; every rank learns whether it worked, so all stop together."""
        error = ""
        if self.ctx.is_main:
            try:
                save_checkpoint(
                    path,
                    self.model,
                    answers=self.parts.vocab.answers,
                    tokenizer=self.parts.tokenizer_record,
                    meta=self._meta(metrics),
                    extra={"train_state": train_state} if train_state else None,
                )
            except NoSpaceError as err:
                error = str(err)
            except OSError as err:
                error = f"{path}: cannot write checkpoint ({err.strerror or err})"
        error = broadcast_object(self.ctx, error)
        if error:
            raise TrainError(f"{error}; the previous {path.name}, if any, is intact")
