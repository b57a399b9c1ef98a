"""Writes tests/golden/: the vectors the Python, Kotlin and Swift cores are all checked against.

The expected values come from the Python implementation in `vqa/` (tokenizer, eval transform) and
`benchmark/stats.py`, so a change there shows up as a diff here, in one commit, for every reader.

    PYTHONPATH=. .venv/bin/python scripts/write_golden_vectors.py          # (re)write
    PYTHONPATH=. .venv/bin/python scripts/write_golden_vectors.py --check  # compare, write nothing

`tokens_beit3.json` is written (and checked) only when the environment variable BEIT3_SPM names
the real BEiT-3 tokenizer model. A real bundle of the smallest model is 3 MB, too big to commit:
`--bundle DIR` exports one (ONNX fp32, random weights, the small tokenizer, the answers of
decode.json) into DIR for the cores' manifest tests, which `make android-test` does into a build
folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import easy_vqa
import numpy as np
from PIL import Image

from benchmark.stats import TRIM, summarize
from vqa import quality
from vqa.io import atomic_write_bytes
from vqa.tokenizer import Tokenizer, TokenizerError, train_sentencepiece
from vqa.transforms import eval_transform

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
SMALL_SPM = "tokenizer_small.model"
MAX_LEN = 16
N_EASY_VQA_QUESTIONS = 300
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]
PREPROCESS_TOLERANCE = 1e-5
PREPROCESS_TOLERANCE_REASON = (
    "Readers reproduce PIL's 8-bit fixed-point bicubic exactly, so the resized uint8 pixels are "
    "identical; what remains is float32 arithmetic of (x / 255 - mean) / std (about 1e-7) and "
    "the 7 significant digits written here (at most 5e-8 on values in [-1, 1]). 1e-5 is far "
    "below one uint8 step (2 / 255 = 7.8e-3 after normalization), so a single pixel off by one "
    "fails the check."
)
ANSWERABLE_TOLERANCE = 1e-12
# The quality figures come from exact integer sums; only their last division may round
# differently between languages.
QUALITY_TOLERANCE = 1e-9

EDGE_CASES = [
    "",
    " ",
    "     ",
    "\t\n",
    "what color is the shape?",
    "WHAT COLOR IS THE SHAPE?",
    "What Color Is The Shape?",
    "  what   color    is  the   shape?  ",
    "what\tcolor\nis the\r\nshape?",
    "Qué color tiene la forma? café, naïve, Ångström, Øre",
    "e\u0301 a\u0300 o\u0308 n\u0303",
    "\u00e9 \u00e0 \u00f6 \u00f1",
    "Ｗｈａｔ　ｃｏｌｏｒ　ｉｓ　ｉｔ？ １２３",
    "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ",
    "\ufb01ne \ufb02ower \u2460 \u2163 \u00bd \u33a1 \u212b",
    "what is this \U0001f642? \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
    "what\u200bcolor\u200cis\u200dthe\ufeffshape\u2060?",
    "\u200b\u200b\u200b",
    "what\u0007 is\u0000 this\u001b? \u0085 \u00ad",
    "\u00a0what\u2002is\u2003this\u3000?",
    "how many 123 4567 8.90 1,000,000 shapes?",
    "!!! ??? ... ,,, ;;; ::: --- ((( ))) \"\" '' `` @#$%^&*_+=|\\/<>[]{}~",
    "這是什麼顏色？ 这是什么颜色? これは何色ですか？ 이것은 무슨 색입니까?",
    "ما هذا؟ что это? τι είναι αυτό; क्या है",
    "\u2581what \u2581 \u2581\u2581color",
    "<s> </s> <unk> <pad>",
    "XYZ QQQ what",
    "what is the blue shape? " * 12,
    "a" * 200,
    "is there a red circle in the image? yes no teal gray brown",
]


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def _sig7(x: float) -> float:
    return float(f"{x:.7g}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def easy_vqa_questions() -> list[str]:
    """The first N distinct easy-VQA test questions, in the package's order."""
    questions, _, _ = easy_vqa.get_test_questions()
    seen: dict[str, None] = {}
    for question in questions:
        seen.setdefault(question, None)
    distinct = list(seen)
    if len(distinct) < N_EASY_VQA_QUESTIONS:
        # easy-VQA's test questions are templated; capitalised and spaced variants make up the rest.
        variants = [q[:1].upper() + q[1:] for q in distinct] + [q.upper() for q in distinct]
        distinct += variants
    return distinct[:N_EASY_VQA_QUESTIONS]


def small_tokenizer_bytes() -> bytes:
    """The small unigram model, trained on all easy-VQA training questions in package order."""
    questions, _, _ = easy_vqa.get_train_questions()
    with tempfile.TemporaryDirectory() as tmp:
        return train_sentencepiece(questions, Path(tmp) / SMALL_SPM).read_bytes()


def token_cases(tokenizer: Tokenizer, texts: list[str]) -> list[dict[str, Any]]:
    cases = []
    for text in texts:
        pieces = tokenizer.token_ids(text)
        try:
            ids, mask = tokenizer.encode(text)
        except TokenizerError:
            cases.append({"text": text, "error": "empty", "pieces_ids": pieces})
            continue
        cases.append({"text": text, "ids": ids, "padding_mask": mask, "pieces_ids": pieces})
    return cases


def tokens_file(model_bytes: bytes, spm_file: str | None) -> dict[str, Any]:
    tokenizer = Tokenizer.from_bytes(model_bytes, MAX_LEN)
    texts = easy_vqa_questions() + EDGE_CASES
    return {
        "spm_file": spm_file,
        "spm_sha256": _sha256(model_bytes),
        "max_len": MAX_LEN,
        "cases": token_cases(tokenizer, texts),
    }


def _photo_like(width: int, height: int, seed: int) -> np.ndarray:
    """RGBA pixels with smooth gradients, hard edges, fine texture and varying alpha."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(x / max(width, 1) * 6.0 + seed)
    g = 255 * y / max(height - 1, 1)
    b = np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2,
                 230.0, 20.0)
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, 25, (height, width, 3))
    rgb[::5, :, 0] = 255  # a stripe every 5 rows: a hard edge, clipped overshoot
    alpha = rng.integers(0, 256, (height, width, 1))
    return np.concatenate([np.clip(np.rint(rgb), 0, 255), alpha], axis=-1).astype(np.uint8)


def _easy_vqa_rgba(index: int) -> np.ndarray:
    path = easy_vqa.get_test_image_paths()[index]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def image_sources() -> list[tuple[str, np.ndarray]]:
    return [
        ("easyvqa_test_0", _easy_vqa_rgba(0)),
        ("easyvqa_test_1", _easy_vqa_rgba(1)),
        ("photo_37x23", _photo_like(37, 23, 1)),
        ("photo_120x45", _photo_like(120, 45, 2)),
        ("photo_17x90", _photo_like(17, 90, 3)),
        ("photo_20x20", _photo_like(20, 20, 4)),
        ("photo_64x64", _photo_like(64, 64, 5)),
    ]


SIZES = {
    "easyvqa_test_0": (32, 48),
    "easyvqa_test_1": (32,),
    "photo_37x23": (32, 48),
    "photo_120x45": (32, 48),
    "photo_17x90": (32,),
    "photo_20x20": (32,),
    "photo_64x64": (48,),
}


def preprocess_file(images: dict[str, np.ndarray]) -> dict[str, Any]:
    cases = []
    for name, rgba in images.items():
        height, width = rgba.shape[:2]
        pil = Image.frombytes("RGBA", (width, height), rgba.tobytes())
        for size in SIZES[name]:
            tensor = eval_transform(size)(pil).unsqueeze(0)
            cases.append({
                "name": f"{name}_s{size}",
                "pixels_file": f"images/{name}.rgba",
                "width": width,
                "height": height,
                "image_size": size,
                "mean": MEAN,
                "std": STD,
                "shape": list(tensor.shape),
                "values": [_sig7(v) for v in tensor.flatten().tolist()],
            })
    return {
        "tolerance": PREPROCESS_TOLERANCE,
        "tolerance_reason": PREPROCESS_TOLERANCE_REASON,
        "cases": cases,
    }


def _hopper_rgba(blur_sigma: float) -> np.ndarray:
    """matplotlib's sample photo at 1280 x 960, optionally blurred there, stored at 160 x 120."""
    import matplotlib.cbook
    from PIL import ImageFilter

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as image:
        photo = image.convert("RGB").resize((1280, 960), Image.Resampling.BICUBIC)
    if blur_sigma:
        photo = photo.filter(ImageFilter.GaussianBlur(blur_sigma))
    small = photo.resize((160, 120), Image.Resampling.BICUBIC).convert("RGBA")
    return np.asarray(small)


def quality_images() -> list[tuple[str, np.ndarray]]:
    """Images made for the quality cases: a real photo sharp and blurred, dark, bright, tiny."""
    photo = _photo_like(80, 60, 6).astype(np.float64)
    dark = photo.copy()
    dark[..., :3] *= 0.1
    bright = photo.copy()
    bright[..., :3] = 200 + photo[..., :3] * 0.5
    y, x = np.mgrid[0:48, 0:64].astype(np.float64)
    smooth = np.stack([60 + 2 * x, 90 + y, 150 - x - y, np.full_like(x, 255)], axis=-1)
    return [
        ("smooth_64x48", np.rint(smooth).astype(np.uint8)),
        ("hopper_sharp", _hopper_rgba(0)),
        ("hopper_blurred", _hopper_rgba(16)),
        ("dark_80x60", np.rint(dark).astype(np.uint8)),
        ("bright_80x60", np.clip(np.rint(bright), 0, 255).astype(np.uint8)),
        ("tiny_3x2", _photo_like(3, 2, 7)),
    ]


# (image, repeat): the image made from the pixels file by repeating every pixel `repeat` times
# along both axes (nearest-neighbour upscaling), so large photos need no large files.
QUALITY_CASES = [
    ("easyvqa_test_0", 1), ("easyvqa_test_1", 1), ("photo_17x90", 1), ("photo_20x20", 1),
    ("photo_64x64", 5), ("photo_120x45", 3), ("photo_37x23", 60),
    ("hopper_sharp", 1), ("hopper_sharp", 2), ("hopper_sharp", 8), ("hopper_blurred", 1),
    ("hopper_blurred", 2), ("smooth_64x48", 5),
    ("dark_80x60", 4), ("bright_80x60", 4), ("tiny_3x2", 1), ("tiny_3x2", 5),
]


def quality_file(images: dict[str, np.ndarray]) -> dict[str, Any]:
    cases = []
    for name, repeat in QUALITY_CASES:
        rgba = images[name].repeat(repeat, axis=0).repeat(repeat, axis=1)
        height, width = rgba.shape[:2]
        report = quality.assess_image(Image.fromarray(rgba, "RGBA"))
        cases.append({
            "name": f"{name}_x{repeat}",
            "pixels_file": f"images/{name}.rgba",
            "pixels_width": images[name].shape[1],
            "pixels_height": images[name].shape[0],
            "repeat": repeat,
            "width": width,
            "height": height,
            "analysis_width": report.width,
            "analysis_height": report.height,
            "mean_luma": report.mean_luma,
            "bright_fraction": report.bright_fraction,
            "laplacian_var": report.laplacian_var,
            "verdict": report.verdict,
        })
    return {
        "analysis_side": quality.ANALYSIS_SIDE,
        "thresholds": {
            "dark_mean_luma": quality.DARK_MEAN_LUMA,
            "bright_luma": quality.BRIGHT_LUMA,
            "bright_fraction": quality.BRIGHT_FRACTION,
            "blur_laplacian_var": quality.BLUR_LAPLACIAN_VAR,
            "min_blur_side": quality.MIN_BLUR_SIDE,
        },
        "relative_tolerance": QUALITY_TOLERANCE,
        "cases": cases,
    }


def decode_case(logits: list[float], answers: list[str], unanswerable: int | None):
    """Argmax (first maximum on ties), top 5 by score then index, answerable = 1 - sigmoid."""
    values = np.asarray(logits, dtype=np.float64)
    index = int(np.argmax(values))
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))[:5]
    answerable = None
    if unanswerable is not None:
        answerable = 1.0 - 1.0 / (1.0 + math.exp(-values[unanswerable]))
    return {
        "logits": [float(v) for v in values],
        "unanswerable_index": unanswerable,
        "answer": answers[index],
        "index": index,
        "top5": [{"index": i, "answer": answers[i], "score": float(values[i])} for i in order],
        "answerable": answerable,
    }


def decode_file() -> dict[str, Any]:
    answers = [*easy_vqa.get_answers(), "unanswerable"]
    k = len(answers) - 1
    rng = np.random.default_rng(7)
    logit_sets = [
        rng.normal(0, 3, len(answers)).astype(np.float32).tolist() for _ in range(6)
    ]
    tie = [0.0] * len(answers)
    tie[3] = tie[8] = tie[11] = 2.5
    logit_sets += [
        tie,
        [0.0] * len(answers),
        [-50.0 - i for i in range(len(answers))],
        [float(np.float32(1e4 * (i % 5))) for i in range(len(answers))],
        [1.0] * (len(answers) - 1) + [40.0],
        [1.0] * (len(answers) - 1) + [-40.0],
        [float(np.float32(x)) for x in np.linspace(-3.3, 3.3, len(answers))],
    ]
    cases = [decode_case(logits, answers, k) for logits in logit_sets]
    cases += [decode_case(logits, answers, None) for logits in logit_sets[:2]]
    return {
        "answers": answers,
        "unanswerable_index": k,
        "answerable_tolerance": ANSWERABLE_TOLERANCE,
        "cases": cases,
    }


STAT_KEYS = ("mean", "p50", "p90", "p99", "std", "trimmed_mean", "min", "max")


def stats_case(samples_ms: list[float]) -> dict[str, Any]:
    summary = summarize(
        [x / 1e3 for x in samples_ms], load_s=None, first_s=None, warmup=0, keep_samples=False
    )
    return {"samples_ms": samples_ms, **{key: summary[key] for key in STAT_KEYS}}


def stats_file() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    cases = []
    for n in (1, 2, 5, 10, 11, 101):
        samples = np.round(rng.lognormal(np.log(40.0), 0.3, n), 3)
        if n >= 10:
            samples[n // 2] = 900.0  # one outlier, which the trimmed mean drops
        cases.append(stats_case(samples.tolist()))
    return {"trim_each_end": TRIM, "cases": cases}


def export_bundle(spm_bytes: bytes, destination: Path) -> None:
    """A tiny ONNX fp32 bundle (random weights) that uses the small tokenizer and decode answers."""
    import torch

    from export.__main__ import main as export_main
    from vqa.checkpoint import save_checkpoint, tokenizer_record
    from vqa.model import create_model

    answers = decode_file()["answers"]
    torch.manual_seed(0)
    tokenizer = Tokenizer.from_bytes(spm_bytes, MAX_LEN)
    model = create_model("beit3_tiny", num_answers=len(answers), vocab_size=tokenizer.vocab_size)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "golden.pth"
        save_checkpoint(checkpoint, model, answers=answers,
                        tokenizer=tokenizer_record(spm_bytes, MAX_LEN))
        out = Path(tmp) / "out"
        code = export_main([str(checkpoint), "--format", "onnx", "--fp32", "--out", str(out),
                            "--parity-inputs", "2"])
        if code != 0:
            raise SystemExit(f"export of the golden bundle failed ({code})")
        (bundle,) = out.iterdir()
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(bundle, destination)


def golden_files(beit3_spm: Path | None) -> dict[str, bytes]:
    """Every generated file of tests/golden/, by relative path."""
    spm_bytes = small_tokenizer_bytes()
    files = {SMALL_SPM: spm_bytes}
    files["tokens_small.json"] = _json(tokens_file(spm_bytes, SMALL_SPM)).encode()
    if beit3_spm is not None:
        files["tokens_beit3.json"] = _json(tokens_file(beit3_spm.read_bytes(), None)).encode()
    images = dict(image_sources())
    for name, rgba in images.items():
        files[f"images/{name}.rgba"] = rgba.tobytes()
    files["preprocess.json"] = _json(preprocess_file(images)).encode()
    made = dict(quality_images())
    for name, rgba in made.items():
        files[f"images/{name}.rgba"] = rgba.tobytes()
    files["quality.json"] = _json(quality_file(images | made)).encode()
    files["decode.json"] = _json(decode_file()).encode()
    files["stats.json"] = _json(stats_file()).encode()
    return files


def _beit3_path() -> Path | None:
    value = os.environ.get("BEIT3_SPM")
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        print(f"note: BEIT3_SPM={value} is not a file; tokens_beit3.json left as it is",
              file=sys.stderr)
        return None
    return path


def check(files: dict[str, bytes]) -> list[str]:
    problems = []
    for name, data in files.items():
        path = GOLDEN / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != data:
            problems.append(f"{path}: differs from what the Python implementation gives now")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="recompute and compare with the committed files; write nothing")
    parser.add_argument("--bundle", type=Path, metavar="DIR",
                        help="only export the tiny ONNX bundle into DIR (which must not exist)")
    args = parser.parse_args(argv)
    if args.bundle:
        if args.bundle.exists():
            print(f"error: --bundle {args.bundle}: already exists; remove it first",
                  file=sys.stderr)
            return 2
        export_bundle(small_tokenizer_bytes(), args.bundle)
        print(f"{args.bundle}: bundle written")
        return 0
    files = golden_files(_beit3_path())
    if args.check:
        problems = check(files)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if not problems:
            print(f"{GOLDEN}: {len(files)} files match")
        return 1 if problems else 0
    for name, data in files.items():
        atomic_write_bytes(GOLDEN / name, data)
    print(f"{GOLDEN}: {len(files)} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
