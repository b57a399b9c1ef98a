"""How far easy-VQA recipes get within a fixed training budget: a grid of runs, on a GPU or CPU.

Each run trains with the project's own parts (vqa.model's configs and scratch initialisation,
train.optim's AdamW groups and warm-up + cosine schedule, train.sampler's answer-type balanced
order, train.losses' soft BCE or distillation loss, fp32) and the demo's recipe files
(recipes/easy_vqa_teacher.toml, easy_vqa_student.toml: sizes, optimisation, clipping, distillation
loss), of which a grid run changes only the keys it names; the whole data set is preloaded as
tensors on the device, so that a GPU runs the small models of the demo quickly. The arithmetic of a
step is that of `python -m train` with the same global batch; what it measures is accuracy after a
number of samples, not speed. Epochs in the grids are the share of an epoch each recipe gets in the
demo's budget on 2 CPU cores (about 8 minutes for the teacher, 4.5 for the student), from each
model's training speed on such a machine.

Prints each run's accuracy on the first 1,000 val questions every quarter epoch (all / yes-no),
then on the whole test split; rows go to OUT/results.jsonl. Students of the `students` grid are
distilled from the run of the `teachers` grid (within the budget) with the best final val
accuracy.

    python scripts/sweep_easy_vqa.py --grid teachers,students --device cuda --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from train.components import EASY_VQA_SPM_PIECES
from train.data import answer_type_weights
from train.losses import distill_loss, soft_bce
from train.optim import OptimConfig, build_optimizer, build_scheduler
from train.recipe import resolve
from train.sampler import EpochOrder
from vqa.answers import AnswerVocab
from vqa.configs import BEiT3Config, get_config, list_configs, register_config
from vqa.data.dataset import load_image, trim_padding
from vqa.data.easy_vqa import easy_vqa_answers, load_easy_vqa
from vqa.model import count_parameters, create_model, reinit_for_scratch
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.transforms import eval_transform

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "teachers": ("finetune", ROOT / "recipes" / "easy_vqa_teacher.toml"),
    "students": ("distill", ROOT / "recipes" / "easy_vqa_student.toml"),
}
"""The recipe behind each grid: what a run does not name is the recipe's."""
DEMO_PROCESSES = 2
"""Training processes of `make demo`: a recipe's batch size is per process."""
EXTRA_ARCHS = {
    "sweep_192x3": {"embed_dim": 192, "depth": 3, "num_heads": 6, "mlp_dim": 768},
    "sweep_128x4h8": {"embed_dim": 128, "depth": 4, "num_heads": 8, "mlp_dim": 512},
}
"""Wider teachers tried beside the recipe's (at least 4x the student's parameters)."""
GRIDS: dict[str, list[dict[str, Any]]] = {
    "teachers": [
        {"name": "t-3e-4", "lr": 3e-4, "warmup": 100, "epochs": 2.75},
        {"name": "t-3e-4-seed1", "lr": 3e-4, "warmup": 100, "epochs": 2.75,
         "seed": 1},
        {"name": "t-6e-4", "lr": 6e-4, "warmup": 100, "epochs": 2.75},
        {"name": "t-1e-3", "lr": 1e-3, "warmup": 300, "epochs": 2.75},
        {"name": "t-1e-3-seed1", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "seed": 1},
        {"name": "t-1.5e-3", "lr": 1.5e-3, "warmup": 300, "epochs": 2.75},
        {"name": "t-2e-3", "lr": 2e-3, "warmup": 500, "epochs": 2.75},
        {"name": "t-1e-3-wd0", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "wd": 0.0},
        {"name": "t-1e-3-wd0.2", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "wd": 0.2},
        {"name": "t-1e-3-noclip", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "clip": 0.0},
        {"name": "t-1e-3-batch64", "lr": 1e-3, "warmup": 150, "epochs": 2.9,
         "batch": 64},
        {"name": "t-6e-4-batch16", "lr": 6e-4, "warmup": 200, "epochs": 2.4,
         "batch": 16},
        {"name": "t-3e-4-4ep", "lr": 3e-4, "warmup": 100, "epochs": 4.0},
        {"name": "t-1e-3-4ep", "lr": 1e-3, "warmup": 300, "epochs": 4.0},
        {"name": "t-8heads-3e-4", "arch": "sweep_128x4h8", "lr": 3e-4, "warmup": 100,
         "epochs": 2.6},
        {"name": "t-192x3-6e-4", "arch": "sweep_192x3", "lr": 6e-4, "warmup": 300,
         "epochs": 2.0},
        {"name": "t-192x3-6e-4-seed1", "arch": "sweep_192x3", "lr": 6e-4, "warmup": 300,
         "epochs": 2.0, "seed": 1},
    ],
    "students": [
        {"name": "s-1e-3-batch64", "lr": 1e-3, "warmup": 150, "epochs": 5.5,
         "batch": 64},
        {"name": "s-1e-3-3.5ep", "lr": 1e-3, "warmup": 300, "epochs": 3.5},
    ],
}


def recipe(grid: str) -> argparse.Namespace:
    command, path = RECIPES[grid]
    return resolve([command, "--config", str(path), "--data", "easy-vqa", "--out", "-"])


def register_archs() -> None:
    for name, dims in EXTRA_ARCHS.items():
        if name not in list_configs():
            register_config(
                BEiT3Config(name, img_size=64, patch_size=8, max_text_positions=32, **dims)
            )


def load_data(
    work: Path, sizes: argparse.Namespace, limit_train: int | None = None,
    limit_test: int | None = None,
) -> dict[str, Any]:
    """Every split as tensors: image index, question ids and padding, targets, answer."""
    train = load_easy_vqa("train", limit=limit_train)
    val, test = load_easy_vqa("val", limit=1000), load_easy_vqa("test", limit=limit_test)
    splits = {"train": train, "val": val, "test": test}
    tokenizer = Tokenizer(
        train_sentencepiece((s.question for s in train), work / "easy_vqa.spm",
                            vocab_size=EASY_VQA_SPM_PIECES),
        max_len=sizes.text_len,
    )
    vocab = AnswerVocab.from_list(easy_vqa_answers())
    transform = eval_transform(sizes.img_size)
    image_index: dict[str, int] = {}
    pixels: list[torch.Tensor] = []
    data: dict[str, Any] = {"vocab_size": tokenizer.vocab_size,
                            "weights": answer_type_weights(train)}
    for split, samples in splits.items():
        rows: dict[str, list[Any]] = {k: [] for k in ("img", "q", "pad", "y", "yesno")}
        for sample in samples:
            if sample.image_path not in image_index:
                image_index[sample.image_path] = len(pixels)
                pixels.append(transform(load_image(sample.image_path)))
            ids, pad = tokenizer.encode(sample.question)
            rows["img"].append(image_index[sample.image_path])
            rows["q"].append(ids)
            rows["pad"].append(pad)
            rows["y"].append(vocab.targets(sample.answers))
            rows["yesno"].append(sample.answer_type == "yes/no")
        y = torch.stack(rows["y"])
        data[split] = {"img": torch.tensor(rows["img"]), "q": torch.tensor(rows["q"]),
                       "pad": torch.tensor(rows["pad"]), "y": y, "answer": y.argmax(-1),
                       "yesno": torch.tensor(rows["yesno"])}
    data["pixels"] = torch.stack(pixels)
    return data


def on(data: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: ({kk: vv.to(device) for kk, vv in v.items()} if isinstance(v, dict)
                else v.to(device) if isinstance(v, torch.Tensor) else v)
            for k, v in data.items()}


@torch.no_grad()
def logits_of(model: torch.nn.Module, data: dict[str, Any], split: str) -> torch.Tensor:
    part = data[split]
    model.eval()
    out = [model(data["pixels"][part["img"][s : s + 1024]], part["q"][s : s + 1024],
                 part["pad"][s : s + 1024]) for s in range(0, len(part["q"]), 1024)]
    model.train()
    return torch.cat(out)


def accuracy(model: torch.nn.Module, data: dict[str, Any], split: str) -> tuple[float, float]:
    """Percent right on all questions and on the yes/no ones (one answer a question: the
    official metric is exact match here)."""
    part = data[split]
    right = logits_of(model, data, split).argmax(-1) == part["answer"]
    return (round(100 * right.float().mean().item(), 2),
            round(100 * right[part["yesno"]].float().mean().item(), 2))


def train_run(
    run: dict[str, Any], base: argparse.Namespace, data: dict[str, Any],
    teacher_logits: torch.Tensor | None,
) -> tuple[dict[str, Any], torch.nn.Module]:
    """One run: `base` (a recipe's settings) with the keys `run` names (arch, lr, warmup, wd,
    clip, seed, batch: global, epochs)."""
    device = data["pixels"].device
    arch, seed = run.get("arch", base.arch), run.get("seed", base.seed)
    config = get_config(arch, img_size=base.img_size, num_answers=len(easy_vqa_answers()),
                        drop_path_rate=base.drop_path).replace(vocab_size=data["vocab_size"])
    torch.manual_seed(seed)
    model = create_model(config)
    reinit_for_scratch(model)
    model.to(device).train()
    batch = run.get("batch", base.batch_size * DEMO_PROCESSES)
    clip = run.get("clip", base.clip_grad)
    train = data["train"]
    order = EpochOrder(len(train["q"]), batch, seed=seed, weights=data["weights"].cpu())
    per_epoch = order.steps_per_epoch
    total = max(2, round(run["epochs"] * per_epoch))
    optim = OptimConfig(lr=run.get("lr", base.lr), weight_decay=run.get("wd", base.weight_decay),
                        head_lr_mult=base.head_lr_mult, layer_decay=base.layer_decay,
                        min_lr=base.min_lr,
                        warmup_steps=min(run.get("warmup", base.warmup_steps), total - 1))
    optimizer = build_optimizer(model, optim, model.num_layers())
    scheduler = build_scheduler(optimizer, optim, total)
    curve = []
    start = time.perf_counter()
    step = 0
    while step < total:
        drawn = order.order(step // per_epoch).to(device)
        for b in range(min(per_epoch, total - step)):
            index = drawn[b * batch : (b + 1) * batch]
            text = trim_padding({"question": train["q"][index],
                                 "padding_mask": train["pad"][index]})
            logits = model(data["pixels"][train["img"][index]], text["question"],
                           text["padding_mask"])
            if teacher_logits is None:
                loss = soft_bce(logits, train["y"][index])
            else:
                loss, _ = distill_loss(logits, teacher_logits[index], train["y"][index],
                                       kind=base.kd, temperature=base.temperature,
                                       hard_weight=base.hard_weight)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1
            if step % max(1, per_epoch // 4) == 0 or step == total:
                curve.append([round(step / per_epoch, 2), *accuracy(model, data, "val")])
    test, test_yesno = accuracy(model, data, "test")
    row = {"name": run["name"], "run": run, "parameters": count_parameters(model),
           "steps": total, "test": test, "test_yesno": test_yesno, "val_curve": curve,
           "seconds": round(time.perf_counter() - start, 1)}
    return row, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="teachers,students",
                        help=f"comma-separated grids: {', '.join(GRIDS)}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every run's epochs (a small value tries the script out)")
    args = parser.parse_args()
    grids = args.grid.split(",")
    if unknown := [g for g in grids if g not in GRIDS]:
        parser.error(f"--grid: unknown grid(s) {', '.join(unknown)}; expected {', '.join(GRIDS)}")
    if "students" in grids and "teachers" not in grids[: grids.index("students")]:
        parser.error("--grid students distils from the teachers grid's best run: "
                     "give --grid teachers,students")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: exists and is not empty")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    register_archs()
    data = on(load_data(args.out, recipe("teachers")), torch.device(args.device))
    teacher: tuple[float, torch.Tensor] | None = None
    with (args.out / "results.jsonl").open("w", encoding="utf-8") as results:
        for grid in grids:
            base = recipe(grid)
            for run in GRIDS[grid]:
                budget = run["epochs"] <= 3  # the 4-epoch runs show the curve past the budget
                scaled = {**run, "epochs": run["epochs"] * args.scale}
                logits = teacher[1] if grid == "students" and teacher else None
                row, model = train_run(scaled, base, data, logits)
                results.write(json.dumps(row) + "\n")
                results.flush()
                curve = " ".join(f"{e}:{a}/{y}" for e, a, y in row["val_curve"])
                print(f"{row['name']:<20} test {row['test']:6.2f} % (yes/no "
                      f"{row['test_yesno']:6.2f} %)  val by epoch {curve}", flush=True)
                val = row["val_curve"][-1][1]
                if grid == "teachers" and budget and (teacher is None or val > teacher[0]):
                    teacher = (val, logits_of(model, data, "train").detach())


if __name__ == "__main__":
    main()
