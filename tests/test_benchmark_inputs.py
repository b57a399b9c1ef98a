"""The input cache gives exactly what vqa's preprocessing and tokenizer give."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.inputs import DataSelection, InputCache, build_input_cache, normalize
from vqa.data import load_image, load_vizwiz
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.transforms import eval_transform


@pytest.fixture()
def setup(tmp_path):
    vizwiz = write_vizwiz_fixture(tmp_path, n_train=0, n_val=6, n_test=2)
    samples = load_vizwiz(vizwiz, "val")
    spm = train_sentencepiece([s.question for s in samples], tmp_path / "t.spm", vocab_size=40)
    return tmp_path, vizwiz, samples, spm


def test_cache_equals_eval_transform_and_tokenizer(setup):
    root, _, samples, spm = setup
    cache = build_input_cache(samples, 24, spm, 12, root / "cache")
    assert cache.images.dtype == np.uint8 and cache.images.shape == (6, 3, 24, 24)
    images, ids, masks = cache.batch([0, 3, 5], (0.5,) * 3, (0.5,) * 3, 1 / 255)
    tokenizer = Tokenizer(spm, max_len=12)
    for row, i in enumerate([0, 3, 5]):
        expected = eval_transform(24)(load_image(samples[i].image_path)).numpy()
        np.testing.assert_array_equal(images[row], expected)
        question, mask = tokenizer.encode(samples[i].question)
        assert ids[row].tolist() == question and masks[row].tolist() == mask
    assert images.dtype == np.float32 and ids.dtype == masks.dtype == np.int64
    assert cache.keys == [s.key for s in samples]


def test_cache_is_reused_and_keyed_by_preprocessing(setup):
    root, _, samples, spm = setup
    first = build_input_cache(samples, 16, spm, 12, root / "cache")
    stamp = (first.folder / "images.npy").stat().st_mtime_ns
    again = build_input_cache(samples, 16, spm, 12, root / "cache")
    assert again.folder == first.folder
    assert (again.folder / "images.npy").stat().st_mtime_ns == stamp
    assert build_input_cache(samples, 32, spm, 12, root / "cache").folder != first.folder
    assert build_input_cache(samples[:3], 16, spm, 12, root / "cache").folder != first.folder
    assert len(InputCache(first.folder)) == 6
    assert not [p for p in (root / "cache").iterdir() if p.name.startswith(".")]


def test_normalize_follows_the_manifest():
    pixels = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 3, 1, 1)
    out = normalize(pixels, mean=(0.0, 0.1, 0.5), std=(1.0, 0.2, 0.25), scale=1 / 255)
    np.testing.assert_allclose(out.ravel(), [0.0, (0.2 - 0.1) / 0.2, 2.0], rtol=1e-6)


def test_data_specs(setup):
    root, vizwiz, _, _ = setup
    spec = DataSelection.parse(f"vizwiz:{root}", split="val", limit=4)
    assert spec.name == f"vizwiz:{root}" and [s.key for s in spec.load()] == [
        f"VizWiz_val_{i:08d}.jpg" for i in range(4)
    ]
    assert len(DataSelection.parse(f"vizwiz:{vizwiz}", split="test").load()) == 2
    assert DataSelection.parse("easy-vqa", "test", 3).load()[2].key == "easyvqa_test_000002"
    for bad in ("coco", "vizwiz:"):
        with pytest.raises(ValueError, match="expected 'easy-vqa' or 'vizwiz:DIR'"):
            DataSelection.parse(bad)
