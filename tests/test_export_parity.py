"""Parity figures, thresholds, parity inputs, and the staging folders that keep bundles whole."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from export.errors import ExportError
from export.inputs import QUESTIONS, dataset_inputs, synthetic_image, synthetic_inputs
from export.parity import DEFAULT_THRESHOLDS, Figures, Thresholds, compare, measure, violations
from export.staging import check_replaceable, clean_stale, publish, staged
from vqa.data import VQASample
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.transforms import eval_transform


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "q.spm"
    return Tokenizer(train_sentencepiece(list(QUESTIONS) * 10, path, vocab_size=100))


def test_compare_gives_max_abs_diff_and_top1_agreement():
    reference = np.array([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0], [0.0, 0.0, 3.0]], dtype=np.float32)
    outputs = reference.copy()
    outputs[0, 0] = 1.5  # top-1 changes for the first input only
    figures = compare(reference, outputs)
    assert figures == Figures(n_inputs=3, max_abs_diff=1.5, top1_agreement=pytest.approx(2 / 3))
    outputs[2, 1] = np.nan
    assert compare(reference, outputs).top1_agreement == 0.0


def test_default_thresholds_and_overrides():
    assert DEFAULT_THRESHOLDS["fp32"] == Thresholds(max_abs_diff=1e-3, min_top1=1.0)
    assert DEFAULT_THRESHOLDS["int8"] == Thresholds(min_top1=0.98)
    passing = Figures(50, 5e-4, 1.0)
    assert violations(passing, DEFAULT_THRESHOLDS["fp32"]) == []
    assert violations(Figures(50, 2e-3, 0.98), DEFAULT_THRESHOLDS["fp32"]) == [
        "max |diff| 0.002 > 0.001", "top-1 agreement 98.0 % < 100.0 %"
    ]
    assert violations(Figures(50, 0.3, 0.98), DEFAULT_THRESHOLDS["int8"]) == []
    assert violations(Figures(50, 0.3, 0.96), DEFAULT_THRESHOLDS["int8"]) != []
    relaxed = DEFAULT_THRESHOLDS["int8"].replace(max_abs_diff=0.1, min_top1=None)
    assert relaxed == Thresholds(max_abs_diff=0.1, min_top1=0.98)
    assert relaxed.to_dict() == {"max_abs_diff": 0.1, "min_top1": 0.98}


def test_measure_runs_single_inputs_and_one_batch(tokenizer):
    inputs = synthetic_inputs(tokenizer, 3, 16)
    calls = []

    def runner(image, question, mask):  # numpy in, as the runtimes of vqa.runtimes take them
        calls.append(image.shape[0])
        return np.tile(image.mean(axis=(1, 2, 3))[:, None], (1, 2))

    reference = np.concatenate(
        [runner(*(t.numpy() for t in inputs.batch(i, i + 1))) for i in range(3)]
    )
    calls.clear()
    assert measure(runner, inputs, reference, dynamic_batch=True).max_abs_diff == 0.0
    assert calls == [1, 1, 1, 2]
    calls.clear()
    measure(runner, inputs, reference, dynamic_batch=False)
    assert calls == [1, 1, 1]


def test_synthetic_inputs_are_real_preprocessed_images_and_questions(tokenizer):
    first, again = synthetic_inputs(tokenizer, 6, 24), synthetic_inputs(tokenizer, 6, 24)
    assert torch.equal(first.image, again.image) and torch.equal(first.question, again.question)
    assert first.image.shape == (6, 3, 24, 24) and first.question.shape == (6, 64)
    assert -1.0 <= first.image.min() < -0.5 and 0.5 < first.image.max() <= 1.0
    sizes = {synthetic_image(i).size for i in range(6)}
    assert len(sizes) == 6  # varied sizes and aspect ratios, so the squash resize is exercised
    assert (first.padding_mask.sum(dim=1) < 60).all() and first.question[:, 0].eq(0).all()
    assert synthetic_inputs(tokenizer, 2, 24, seed=1).image.ne(first.image[:2]).any()


def test_dataset_inputs_spread_over_the_split_and_skip_bad_samples(tokenizer, tmp_path):
    paths = []
    for i in range(9):
        paths.append(tmp_path / f"{i}.png")
        synthetic_image(i).save(paths[-1])
    paths[0].write_bytes(b"not an image")
    samples = [VQASample(f"k{i}", paths[i], QUESTIONS[i]) for i in range(9)]
    inputs = dataset_inputs(samples, tokenizer, 3, 16, "fixture")
    # By hand: 3 of 9 spread evenly are positions 0, 3, 6 (i * 9 // 3); 0 does not decode, so
    # the first usable sample not chosen yet, position 1, takes its place at the end.
    chosen = [3, 6, 1]
    transform = eval_transform(16)
    expected = torch.stack([transform(synthetic_image(i)) for i in chosen])
    assert torch.equal(inputs.image, expected)
    assert torch.equal(inputs.question, tokenizer([QUESTIONS[i] for i in chosen])[0])
    assert inputs.origin == "fixture, 1 unusable samples skipped"
    with pytest.raises(ExportError, match="none of the samples"):
        dataset_inputs(samples[:1], tokenizer, 1, 16, "fixture")


def test_staging_publishes_whole_folders_and_cleans_only_dead_ones(tmp_path):
    final = tmp_path / "m-onnx-fp32"
    with pytest.raises(RuntimeError), staged(final) as stage:
        (stage / "model.onnx").write_bytes(b"half")
        raise RuntimeError("converter crashed")
    assert list(tmp_path.iterdir()) == []
    with staged(final) as stage:
        (stage / "manifest.json").write_text("{}")
        publish(stage, final, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-onnx-fp32"]
    with pytest.raises(ExportError, match="pass --overwrite"):
        check_replaceable(final, overwrite=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".m-onnx-fp32.partial-{dead}-0a1b2c3d"
    live = tmp_path / f".m-onnx-fp32.partial-{os.getpid()}-0a1b2c3d"
    unrelated = tmp_path / ".cache"
    for folder in (stale, live, unrelated):
        folder.mkdir()
    assert clean_stale(tmp_path) == [stale]
    assert live.is_dir() and unrelated.is_dir() and not stale.exists()
