"""tests/golden/: up to date with `vqa/`, and right by oracles that do not go through `vqa/`.

The tokens are checked against the sentencepiece library with the fairseq mapping written out
here, the tensors against PIL + numpy, the decoding against numpy/scipy, the statistics against
numpy/scipy.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from PIL import Image
from scipy.special import expit
from scipy.stats import trim_mean

from scripts.write_golden_vectors import GOLDEN, main

TOKEN_FILES = ["tokens_small.json", "tokens_beit3.json"]


def _load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text("utf-8"))


def test_committed_files_match_the_python_implementation(capsys):
    assert main(["--check"]) == 0, capsys.readouterr().err


def test_golden_folder_is_small():
    total = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert total < 2_000_000


def _spm_file(name: str) -> Path:
    data = _load(name)
    if data["spm_file"] is not None:
        return GOLDEN / data["spm_file"]
    value = os.environ.get("BEIT3_SPM")
    if not value or not Path(value).is_file():
        pytest.skip("BEIT3_SPM does not name the real BEiT-3 tokenizer (beit3.spm)")
    return Path(value)


def _fairseq(sp: spm.SentencePieceProcessor, text: str, max_len: int):
    """XLM-R's layout by hand: <s>=0 <pad>=1 </s>=2 <unk>=3, piece p -> p + 1."""
    pieces = [3 if p == sp.unk_id() else p + 1 for p in sp.encode(text)]
    if not pieces:
        return pieces, None, None
    ids = [0, *pieces[: max_len - 2], 2]
    pad = max_len - len(ids)
    return pieces, ids + [1] * pad, [0] * len(ids) + [1] * pad


@pytest.mark.parametrize("name", TOKEN_FILES)
def test_tokens_match_sentencepiece(name):
    path = _spm_file(name)
    data = _load(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == data["spm_sha256"]
    sp = spm.SentencePieceProcessor(model_file=str(path))
    assert sp.unk_id() == 0 and sp.bos_id() == 1 and sp.eos_id() == 2
    kinds = {"ok": 0, "empty": 0, "unk": 0, "truncated": 0}
    for case in data["cases"]:
        pieces, ids, mask = _fairseq(sp, case["text"], data["max_len"])
        assert case["pieces_ids"] == pieces, case["text"]
        if ids is None:
            assert case["error"] == "empty"
            kinds["empty"] += 1
            continue
        assert (case["ids"], case["padding_mask"]) == (ids, mask), case["text"]
        kinds["ok"] += 1
        kinds["unk"] += 3 in pieces
        kinds["truncated"] += len(pieces) > data["max_len"] - 2
    # The corpus covers what it claims to: questions, empty texts, unknowns, over-long texts.
    assert kinds["ok"] >= 300 and kinds["empty"] >= 3
    assert kinds["unk"] >= 3 and kinds["truncated"] >= 2


def test_preprocessing_matches_pil_and_numpy():
    data = _load("preprocess.json")
    assert data["tolerance"] < 2 / 255 / 100 and data["tolerance_reason"]
    for case in data["cases"]:
        w, h, s = case["width"], case["height"], case["image_size"]
        raw = (GOLDEN / case["pixels_file"]).read_bytes()
        assert len(raw) == w * h * 4
        rgb = Image.frombytes("RGBA", (w, h), raw).convert("RGB")
        resized = np.asarray(rgb.resize((s, s), Image.Resampling.BICUBIC), dtype=np.float32)
        mean = np.asarray(case["mean"], dtype=np.float32)
        std = np.asarray(case["std"], dtype=np.float32)
        expected = ((resized / np.float32(255) - mean) / std).transpose(2, 0, 1)[None]
        assert case["shape"] == [1, 3, s, s]
        values = np.asarray(case["values"], dtype=np.float64).reshape(case["shape"])
        np.testing.assert_allclose(values, expected, rtol=0, atol=data["tolerance"],
                                   err_msg=case["name"])
    sizes = {(c["width"], c["height"], c["image_size"]) for c in data["cases"]}
    assert any(w > s for w, _, s in sizes) and any(w < s for w, _, s in sizes)
    assert len({w / h for w, h, _ in sizes}) >= 4


def test_decoding_matches_numpy():
    data = _load("decode.json")
    answers = data["answers"]
    assert answers[data["unanswerable_index"]] == "unanswerable"
    assert any(c["unanswerable_index"] is None for c in data["cases"])
    ties = 0
    for case in data["cases"]:
        logits = np.asarray(case["logits"], dtype=np.float64)
        assert logits.astype(np.float32).astype(np.float64).tolist() == case["logits"]
        best = int(np.argmax(logits))
        ties += int((logits == logits[best]).sum() > 1)
        assert (case["index"], case["answer"]) == (best, answers[best])
        order = np.lexsort((np.arange(len(logits)), -logits))[:5]
        assert [t["index"] for t in case["top5"]] == order.tolist()
        assert [t["answer"] for t in case["top5"]] == [answers[i] for i in order]
        assert [t["score"] for t in case["top5"]] == logits[order].tolist()
        k = case["unanswerable_index"]
        if k is None:
            assert case["answerable"] is None
        else:
            assert case["answerable"] == pytest.approx(1 - expit(logits[k]), abs=1e-12)
    assert ties >= 2


def test_statistics_match_numpy_and_scipy():
    data = _load("stats.json")
    assert [len(c["samples_ms"]) for c in data["cases"]] == [1, 2, 5, 10, 11, 101]
    assert data["trim_each_end"] == 0.1  # the middle 80 % of the runs, as mobile tools report
    for case in data["cases"]:
        ms = np.asarray(case["samples_ms"], dtype=np.float64)
        expected = {
            "mean": ms.mean(),
            "p50": np.percentile(ms, 50),
            "p90": np.percentile(ms, 90),
            "p99": np.percentile(ms, 99),
            "std": ms.std(ddof=1) if ms.size > 1 else 0.0,
            "trimmed_mean": trim_mean(ms, 0.1),
            "min": ms.min(),
            "max": ms.max(),
        }
        for key, value in expected.items():
            assert case[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def _quality_oracle(rgba: np.ndarray, side: int) -> tuple[int, int, float, float, float | None]:
    """The quality figures by hand: PIL resize, float luma, scipy's Laplacian, numpy's var."""
    from scipy.ndimage import laplace

    image = Image.fromarray(rgba, "RGBA").convert("RGB")
    width, height = image.size
    longer = max(width, height)
    if longer > side:
        size = (round(width * side / longer), round(height * side / longer))
        image = image.resize(size, Image.Resampling.BICUBIC)
    rgb = np.asarray(image).astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    interior = laplace(luma)[1:-1, 1:-1]
    blur = float(np.var(interior)) if min(image.size) >= 16 else None
    return (*image.size, float(luma.mean()), float(np.mean(luma >= 245 - 1e-9)), blur)


def test_quality_matches_an_independent_computation():
    data = _load("quality.json")
    tol = data["relative_tolerance"]
    verdicts = set()
    for case in data["cases"]:
        raw = np.frombuffer((GOLDEN / case["pixels_file"]).read_bytes(), np.uint8)
        rgba = raw.reshape(case["pixels_height"], case["pixels_width"], 4)
        rgba = rgba.repeat(case["repeat"], axis=0).repeat(case["repeat"], axis=1)
        assert (case["width"], case["height"]) == (rgba.shape[1], rgba.shape[0])
        width, height, mean, bright, blur = _quality_oracle(rgba, data["analysis_side"])
        assert (case["analysis_width"], case["analysis_height"]) == (width, height), case["name"]
        assert case["mean_luma"] == pytest.approx(mean, rel=1e-9), case["name"]
        assert case["bright_fraction"] == pytest.approx(bright, abs=1e-12), case["name"]
        if blur is None:
            assert case["laplacian_var"] is None, case["name"]
        else:
            assert case["laplacian_var"] == pytest.approx(blur, rel=max(tol, 1e-9)), case["name"]
        verdicts.add(case["verdict"])
    # Every verdict is exercised, so every reader is checked on every branch.
    assert verdicts == {"too_dark", "too_bright", "blurred", "ok"}
