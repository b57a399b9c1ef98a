"""A tiny, deterministic VizWiz look-alike, so tests and demos run without the real data set.

The images are real JPEGs of coloured shapes on plain backgrounds (a model can learn to read
them); the annotations are real VizWiz-format JSON with every answer type, confidence values,
empty-string and "unanswerable" answers, and answer-less test entries. A fixture is written into a
hidden folder beside `VizWiz` and moved into place when complete, so a run that is stopped leaves
no half-made `VizWiz` behind (and the next run removes what it left).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from vqa.cli import NON_NEG_INT, POS_INT, HelpFormatter, add_debug_flag
from vqa.data.vizwiz import ANSWER_CONFIDENCES, ANSWERS_PER_QUESTION, SPLITS, split_paths
from vqa.errors import UserError, run_main
from vqa.io import process_running
from vqa.limits import MAX_FIXTURE_SIDE, check_fixture_size

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 205, 30),
}
SHAPES = ("circle", "rectangle", "triangle")
KINDS = ("color", "shape", "yes/no", "number", "unanswerable")
MIN_SIDE = 16
DEFAULT_SIZE = (48, 40)
PARTIAL = ".VizWiz.partial-"


def write_vizwiz_fixture(
    root: str | os.PathLike[str],
    n_train: int = 12,
    n_val: int = 8,
    n_test: int = 4,
    img_size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``root/VizWiz`` (annotations + JPEGs) and return that ``VizWiz`` folder.

    ``img_size`` is the base (width, height); images vary around it (scaled, some portrait).
    Question kinds cycle through ``KINDS``, so five or more entries hold every answer type.
    A ``root/VizWiz`` that holds files already is refused unless ``overwrite``: it may be the
    real data set.
    """
    if min(img_size) < MIN_SIDE:
        raise UserError(
            f"--img-size {img_size[0]} {img_size[1]}: images must be at least "
            f"{MIN_SIDE} x {MIN_SIDE} pixels"
        )
    check_fixture_size(*img_size)
    if min(n_train, n_val, n_test) < 0:
        raise UserError("entry counts cannot be negative")
    root = Path(root)
    vizwiz_dir = root / "VizWiz"
    if vizwiz_dir.exists() and not vizwiz_dir.is_dir():
        raise UserError(f"{vizwiz_dir}: is a file, not a folder")
    if vizwiz_dir.is_dir() and any(vizwiz_dir.iterdir()) and not overwrite:
        raise UserError(
            f"{vizwiz_dir}: holds files already (maybe a real VizWiz copy); pass --overwrite to "
            "replace them or choose an empty folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    stage = Path(tempfile.mkdtemp(prefix=f"{PARTIAL}{os.getpid()}-", dir=root))
    try:
        stage.chmod(0o755)  # mkdtemp's 0o700 would stay on the VizWiz folder
        _write_splits(stage, (n_train, n_val, n_test), img_size, seed)
        if vizwiz_dir.is_dir() and any(vizwiz_dir.iterdir()):  # --overwrite: file by file
            for file in sorted(p for p in stage.rglob("*") if p.is_file()):
                target = vizwiz_dir / file.relative_to(stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
        else:
            os.replace(stage, vizwiz_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return vizwiz_dir


def _write_splits(
    folder: Path, counts: tuple[int, int, int], img_size: tuple[int, int], seed: int
) -> None:
    """Annotations and images of every split, into `folder` laid out as `VizWiz`."""
    rng = random.Random(seed)
    for split, count in zip(SPLITS, counts, strict=True):
        annotation_file, image_dir = split_paths(folder, split)
        image_dir.mkdir(parents=True, exist_ok=True)
        entries = []
        for i in range(count):
            name = f"VizWiz_{split}_{i:08d}.jpg"
            image, entry = _make_example(rng, KINDS[i % len(KINDS)], img_size)
            image.save(image_dir / name, format="JPEG", quality=90)
            if split == "test":  # VizWiz test entries carry no ground truth
                entry = {"question": entry["question"]}
            entries.append({"image": name, **entry})
        annotation_file.parent.mkdir(parents=True, exist_ok=True)
        annotation_file.write_text(json.dumps(entries, indent=1), "utf-8")


def _remove_abandoned(root: Path) -> None:
    """Remove the hidden folders of fixture runs that were stopped (their process is gone)."""
    for partial in root.glob(f"{PARTIAL}*"):
        pid = partial.name.removeprefix(PARTIAL).split("-")[0]
        if pid.isdigit() and not process_running(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _make_example(
    rng: random.Random, kind: str, img_size: tuple[int, int]
) -> tuple[Image.Image, dict[str, Any]]:
    """One image and its entry (without the image name) for a question kind."""
    width, height = (round(side * rng.choice((1.0, 1.25, 1.5))) for side in img_size)
    if rng.random() < 0.3:
        width, height = height, width
    if kind == "unanswerable":
        noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
        image = noise.filter(ImageFilter.GaussianBlur(3)).convert("RGB")
        answers = ["unanswerable"] * rng.randint(6, 8)
        answers += [""] * (ANSWERS_PER_QUESTION - len(answers))
        rng.shuffle(answers)
        return image, _entry(rng, "what is this?", answers, "unanswerable", answerable=0)

    background = tuple(rng.randint(200, 255) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    n_shapes = rng.randint(1, 3) if kind == "number" else 1
    drawn = [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(n_shapes)]
    column = width // n_shapes  # one column a shape, so shapes never overlap and can be counted
    for i, (color, shape) in enumerate(drawn):
        _draw_shape(draw, rng, shape, COLORS[color], (i * column, 0, (i + 1) * column, height))
    color, shape = drawn[0]
    if kind == "color":
        question, truth, answer_type = "what color is the shape?", color, "other"
    elif kind == "shape":
        question, truth, answer_type = "what shape is this?", shape, "other"
    elif kind == "yes/no":
        asked = rng.choice(list(COLORS))
        question, answer_type = f"is there a {asked} shape?", "yes/no"
        truth = "yes" if asked == color else "no"
    else:
        question, truth, answer_type = "how many shapes are there?", str(n_shapes), "number"
    answers = [truth] * rng.randint(7, ANSWERS_PER_QUESTION)
    stray = ("", "unsure", "unanswerable")
    answers += [rng.choice(stray) for _ in range(ANSWERS_PER_QUESTION - len(answers))]
    rng.shuffle(answers)
    return image, _entry(rng, question, answers, answer_type, answerable=1)


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    shape: str,
    fill: tuple[int, int, int],
    region: tuple[int, int, int, int],
) -> None:
    """Draw one filled shape somewhere inside ``region`` (left, top, right, bottom)."""
    x0, y0, x1, y1 = region
    side = max(4, round(min(x1 - x0, y1 - y0) * rng.uniform(0.5, 0.9)))
    left, top = rng.randint(x0, x1 - side), rng.randint(y0, y1 - side)
    box = (left, top, left + side - 1, top + side - 1)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "rectangle":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(left + side // 2, top), (left, top + side - 1), box[2:]], fill=fill)


def _entry(
    rng: random.Random, question: str, answers: Sequence[str], answer_type: str, answerable: int
) -> dict[str, Any]:
    return {
        "question": question,
        "answers": [
            {"answer": a, "answer_confidence": rng.choices(ANSWER_CONFIDENCES, (6, 3, 1))[0]}
            for a in answers
        ],
        "answer_type": answer_type,
        "answerable": answerable,
    }


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vqa.data.fixtures", description=__doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("out_dir", type=Path,
                        help="folder to create VizWiz/ in (created if missing)")
    parser.add_argument("--n-train", type=NON_NEG_INT, default=12, help="train entries")
    parser.add_argument("--n-val", type=NON_NEG_INT, default=8, help="val entries")
    parser.add_argument("--n-test", type=NON_NEG_INT, default=4,
                        help="test entries (image and question only, as VizWiz test)")
    parser.add_argument("--img-size", type=POS_INT, nargs=2, default=DEFAULT_SIZE,
                        metavar=("W", "H"),
                        help=f"base image size in pixels, each side >= {MIN_SIDE} and <= "
                        f"{MAX_FIXTURE_SIDE}; images vary around it (default: "
                        f"{DEFAULT_SIZE[0]} {DEFAULT_SIZE[1]})")
    parser.add_argument("--seed", type=NON_NEG_INT, default=0,
                        help="the same seed writes the same files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an existing OUT_DIR/VizWiz")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    print(
        write_vizwiz_fixture(
            args.out_dir, args.n_train, args.n_val, args.n_test, tuple(args.img_size), args.seed,
            overwrite=args.overwrite,
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vqa.data.fixtures OUT_DIR``: write a fixture and print its VizWiz folder."""
    return run_main(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
