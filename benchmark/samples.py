"""`python -m benchmark samples`: a folder of samples for a phone app's accuracy mode.

A phone cannot read the host's data sets, so the host copies N samples into one folder that is
copied onto the phone: the images as they are (the app decodes and preprocesses them itself, as
the host's harness does from the same files), the questions and their keys, and the ground truth
as a VizWiz annotation file that stays useful on the host, where `benchmark ingest --samples`
scores the app's predictions against it with the official metric.

Layout (version 1):

    DIR/samples.json      {"format": "vqa-samples", "version": 1, "data", "split", "n",
                           "samples": [{"key", "image": "images/<file>", "question"}]}
    DIR/annotations.json  VizWiz annotations, `image` = the sample key
    DIR/images/<file>     the images, each copied once
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqa.errors import UserError

SAMPLES_FORMAT = "vqa-samples"
SAMPLES_VERSION = 1
SAMPLES_FILE = "samples.json"
ANNOTATIONS_FILE = "annotations.json"
IMAGES_DIR = "images"


class SamplesError(UserError):
    """A samples folder that cannot be written or read; the message names the path."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `samples` subcommand."""
    parser = subparsers.add_parser(
        "samples",
        help="prepare a samples folder (images, questions, keys) for a phone's accuracy mode",
        description="Copy the first N samples of a data set into a folder that a demo app "
        "reads in its accuracy mode: samples.json (keys, questions, image files), images/ and "
        "annotations.json (the ground truth, which `benchmark ingest --samples` scores with).",
    )
    parser.add_argument("--data", required=True, help="easy-vqa or vizwiz:DIR")
    parser.add_argument("--split", default="val", help="data split (val)")
    parser.add_argument("--limit", type=int, required=True, help="number of samples")
    parser.add_argument("--out", type=Path, required=True, help="the folder to create")
    parser.set_defaults(run=run)
    return parser


def _image_names(samples: Sequence[Any]) -> dict[Path, str]:
    """A file name under images/ for each distinct image path, unique within the folder."""
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for sample in samples:
        path = Path(sample.image_path)
        if path in names:
            continue
        name = path.name
        counter = 1
        while name in taken:
            name = f"{path.stem}_{counter}{path.suffix}"
            counter += 1
        taken.add(name)
        names[path] = name
    return names


def write_samples(samples: Sequence[Any], out: Path, data: str, split: str) -> Path:
    """Write the folder for `samples` (vqa.data.VQASample) at `out`, atomically; returns `out`.

    The folder is staged under a hidden name beside `out` and renamed once complete. An
    existing `out` is never overwritten.
    """
    from vqa.data.dataset import write_annotations

    out = Path(out)
    if out.exists():
        raise SamplesError(f"{out}: already exists; choose a new folder")
    if not samples:
        raise SamplesError(f"{data} {split}: no samples to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (stage / IMAGES_DIR).mkdir()
        names = _image_names(samples)
        for source, name in names.items():
            shutil.copyfile(source, stage / IMAGES_DIR / name)
        entries = [
            {
                "key": sample.key,
                "image": f"{IMAGES_DIR}/{names[Path(sample.image_path)]}",
                "question": sample.question,
            }
            for sample in samples
        ]
        index = {
            "format": SAMPLES_FORMAT,
            "version": SAMPLES_VERSION,
            "data": data,
            "split": split,
            "n": len(entries),
            "samples": entries,
        }
        text = json.dumps(index, ensure_ascii=False, indent=1) + "\n"
        (stage / SAMPLES_FILE).write_text(text, encoding="utf-8")
        write_annotations(samples, stage / ANNOTATIONS_FILE)
        stage.chmod(0o755)
        stage.rename(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out


def read_samples_index(folder: Path) -> dict[str, Any]:
    """The validated samples.json of a samples folder."""
    path = Path(folder) / SAMPLES_FILE
    try:
        index = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise SamplesError(f"{folder}: not a samples folder (no {SAMPLES_FILE})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SamplesError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(index, dict) or index.get("format") != SAMPLES_FORMAT:
        raise SamplesError(f"{path}: not a samples index (format is not {SAMPLES_FORMAT!r})")
    if index.get("version") != SAMPLES_VERSION:
        raise SamplesError(
            f"{path}: samples version {index.get('version')!r} is not supported "
            f"(this toolkit reads version {SAMPLES_VERSION})"
        )
    entries = index.get("samples")
    if not isinstance(entries, list) or not entries:
        raise SamplesError(f"{path}: 'samples' must be a non-empty list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(field), str) for field in ("key", "image", "question")
        ):
            raise SamplesError(f"{path}: sample {i} needs string 'key', 'image' and 'question'")
    return index


def run(args: argparse.Namespace) -> int:
    from benchmark.inputs import DataSelection

    spec = DataSelection.parse(args.data, args.split, args.limit)
    samples = spec.load()
    out = write_samples(samples, args.out, spec.name, spec.split)
    print(f"{len(samples)} samples of {spec.name} {spec.split} written to {out}", file=sys.stderr)
    return 0
