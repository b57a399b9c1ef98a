"""Image preprocessing tests: the eval squash-resize, the train pipeline and each RandAugment op."""

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F
from PIL import Image

from vqa.transforms import (
    IMAGE_MEAN,
    IMAGE_STD,
    RANDAUG_OPS,
    UnilmRandAugment,
    apply_op,
    eval_transform,
    op_magnitude,
    train_transform,
)

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _pattern(size: int = 32, seed: int = 0) -> torch.Tensor:
    """A low-contrast uint8 image with gradients, a patch and noise: every op has work to do."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    img = torch.stack([60 + 3 * xx, 60 + 3 * yy, 120 + 0 * xx])
    img[:, 8:16, 10:20] = torch.tensor([170, 90, 60]).view(3, 1, 1)
    noise = torch.randint(-10, 10, img.shape, generator=torch.Generator().manual_seed(seed))
    return (img + noise).clamp(0, 255).to(torch.uint8)


def _halves(width: int, height: int, split: int) -> Image.Image:
    """Red left of column `split`, blue from it on."""
    img = Image.new("RGB", (width, height), BLUE)
    img.paste(RED, (0, 0, split, height))
    return img


# --- eval ------------------------------------------------------------------------------------


def test_eval_shape_and_range() -> None:
    out = eval_transform(24)(F.to_pil_image(_pattern(40)))
    assert type(out) is torch.Tensor
    assert out.dtype == torch.float32
    assert out.shape == (3, 24, 24)
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert IMAGE_MEAN == IMAGE_STD == (0.5, 0.5, 0.5)


def test_eval_squashes_without_crop() -> None:
    # A centre crop of this 4:1 image would lose the red quarter entirely.
    out = eval_transform(16)(_halves(width=128, height=32, split=32))
    assert torch.all(out[0, :, :3] > 0.9) and torch.all(out[2, :, :3] < -0.9)
    assert torch.all(out[0, :, 5:] < -0.9) and torch.all(out[2, :, 5:] > 0.9)


def test_eval_equals_pil_bicubic_resize() -> None:
    img = F.to_pil_image(_pattern(50, seed=3)).resize((70, 45))
    expected = np.asarray(img.resize((20, 20), Image.BICUBIC), dtype=np.float64)
    expected = (expected / 255.0 - 0.5) / 0.5
    out = eval_transform(20)(img)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK"])
def test_eval_converts_to_rgb(mode: str) -> None:
    img = F.to_pil_image(_pattern(30)).convert(mode)
    out = eval_transform(16)(img)
    assert out.shape == (3, 16, 16)
    assert torch.equal(out, eval_transform(16)(img.convert("RGB")))
    if mode == "L":
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_eval_rejects_tensors() -> None:
    with pytest.raises(TypeError, match="PIL image"):
        eval_transform(16)(_pattern())


# --- train -----------------------------------------------------------------------------------


def test_train_shape_and_seed_determinism() -> None:
    img = F.to_pil_image(_pattern(48)).convert("RGBA")
    transform = train_transform(24)
    outputs = []
    for seed in (0, 0, 1, 2, 3):
        torch.manual_seed(seed)
        outputs.append(transform(img))
    assert all(o.shape == (3, 24, 24) and o.dtype == torch.float32 for o in outputs)
    assert all(o.min() >= -1.0 and o.max() <= 1.0 for o in outputs)
    assert torch.equal(outputs[0], outputs[1])
    assert not any(torch.equal(outputs[0], o) for o in outputs[2:])


def _mirrored(out: torch.Tensor) -> bool:
    left, right = out[:, :, 0].mean(dim=1), out[:, :, -1].mean(dim=1)
    assert (left[0] > left[2]) != (right[0] > right[2]), "expected red and blue at the two edges"
    return bool(left[2] > left[0])


@pytest.mark.parametrize("hflip", [False, True])
def test_hflip_only_when_asked(hflip: bool) -> None:
    # Crops keep >= 50 % of the area with aspect <= 4/3, so they always straddle the middle:
    # red stays on the left unless the image is flipped.
    img = _halves(width=64, height=64, split=32)
    transform = train_transform(16, randaug=False, hflip=hflip)
    flips = []
    for seed in range(30):
        torch.manual_seed(seed)
        flips.append(_mirrored(transform(img)))
    assert any(flips) == hflip
    assert all(flips) is False


def test_train_randaug_changes_output() -> None:
    img = F.to_pil_image(_pattern(32))
    differ = []
    for seed in range(8):
        torch.manual_seed(seed)
        plain = train_transform(32, randaug=False)(img)
        torch.manual_seed(seed)
        augmented = train_transform(32, randaug=True)(img)
        differ.append(not torch.equal(plain, augmented))
    assert any(differ)


# --- RandAugment ops -------------------------------------------------------------------------


def test_magnitudes_at_level_7() -> None:
    expected = {
        "Brightness": 1.36,
        "Sharpness": 1.36,
        "ShearX": 0.21,
        "ShearY": 0.21,
        "TranslateX": 7.0,
        "TranslateY": 7.0,
        "Rotate": 21.0,
    }
    for name in RANDAUG_OPS:
        assert op_magnitude(name, 7) == pytest.approx(expected.get(name, 0.0))
    with pytest.raises(ValueError, match="unknown RandAugment op"):
        op_magnitude("Solarize", 7)


@pytest.mark.parametrize("name", RANDAUG_OPS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_each_op_pil_and_tensor(name: str, sign: float) -> None:
    img = _pattern()
    magnitude = op_magnitude(name, 7) * (sign if name not in ("Brightness", "Sharpness") else 1)
    out_tensor = apply_op(img, name, magnitude)
    out_pil = apply_op(F.to_pil_image(img), name, magnitude)
    assert isinstance(out_pil, Image.Image) and out_pil.size == (32, 32)
    assert out_tensor.dtype == torch.uint8 and out_tensor.shape == img.shape
    if name == "Identity":
        assert torch.equal(out_tensor, img)
    else:
        assert (out_tensor != img).float().mean() > 0.5
    diff = (out_tensor.int() - F.pil_to_tensor(out_pil).int()).abs().float().mean()
    assert diff < 2.0


def test_autocontrast_and_equalize_stretch() -> None:
    img = _pattern()
    autocontrast = apply_op(img, "AutoContrast", 0.0)
    assert autocontrast.amin(dim=(1, 2)).tolist() == [0, 0, 0]
    assert torch.all(autocontrast.amax(dim=(1, 2)) >= 254)  # torchvision truncates 254.99
    spread = img.amax(dim=(1, 2)).int() - img.amin(dim=(1, 2))
    equalized = apply_op(img, "Equalize", 0.0)
    assert torch.all(equalized.amax(dim=(1, 2)).int() - equalized.amin(dim=(1, 2)) > spread + 100)


def test_brightness_scales() -> None:
    img = _pattern()
    out = apply_op(img, "Brightness", 1.36)
    expected = (img.float() * 1.36).clamp(max=255)
    assert (out.float() - expected).abs().max() <= 1.0


def test_sharpness_keeps_border() -> None:
    img = _pattern()
    out = apply_op(img, "Sharpness", 1.36)
    assert torch.equal(out[:, 0], img[:, 0]) and torch.equal(out[:, :, -1], img[:, :, -1])
    assert not torch.equal(out[:, 1:-1, 1:-1], img[:, 1:-1, 1:-1])


@pytest.mark.parametrize("offset", [7.0, -7.0])
def test_translate_moves_content_by_minus_offset(offset: float) -> None:
    img = _pattern()
    k = int(abs(offset))
    out_x = apply_op(img, "TranslateX", offset)
    out_y = apply_op(img, "TranslateY", offset)
    if offset > 0:  # unilm's [[1, 0, -offset], [0, 1, 0]]: content moves left / up
        assert torch.equal(out_x[:, :, :-k], img[:, :, k:]) and torch.all(out_x[:, :, -k:] == 128)
        assert torch.equal(out_y[:, :-k], img[:, k:]) and torch.all(out_y[:, -k:] == 128)
    else:
        assert torch.equal(out_x[:, :, k:], img[:, :, :-k]) and torch.all(out_x[:, :, :k] == 128)
        assert torch.equal(out_y[:, k:], img[:, :-k]) and torch.all(out_y[:, :k] == 128)


@pytest.mark.parametrize("as_pil", [False, True])
def test_shear_is_unilm_matrix_around_top_left(as_pil: bool) -> None:
    # unilm: cv2.warpAffine with [[1, f, 0], [0, 1, 0]], so a column at x moves to x + f * y.
    stripe = torch.zeros(3, 40, 40, dtype=torch.uint8)
    stripe[:, :, 10] = 255
    f = 0.21
    for name, img in (("ShearX", stripe), ("ShearY", stripe.transpose(1, 2).contiguous())):
        out = apply_op(F.to_pil_image(img) if as_pil else img, name, f)
        out = F.pil_to_tensor(out) if as_pil else out
        out = out if name == "ShearX" else out.transpose(1, 2)
        for y in (0, 20, 39):
            assert abs(int(out[0, y].argmax()) - (10 + f * y)) <= 1.0
        assert out[0, 39, 0] == 128 and out[0, 0, 5] == 0


def test_rotate_counter_clockwise_around_centre() -> None:
    img = torch.zeros(3, 41, 41, dtype=torch.uint8)
    img[:, 20, 30] = 255  # right of the centre
    out = apply_op(img, "Rotate", 90.0)
    y, x = divmod(int(out[0].argmax()), 41)
    assert abs(y - 10) <= 1 and abs(x - 20) <= 1  # above the centre
    corners = apply_op(_pattern(), "Rotate", 21.0)[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.all(corners == 128)


# --- RandAugment sampling --------------------------------------------------------------------


def test_randaug_prob_zero_and_identity_keep() -> None:
    img = _pattern()
    for augment in (UnilmRandAugment(prob=0.0), UnilmRandAugment(ops=("Identity",), prob=1.0)):
        for seed in range(5):
            torch.manual_seed(seed)
            assert torch.equal(augment(img), img)


def test_randaug_applies_num_ops() -> None:
    img = _pattern()
    twice = apply_op(apply_op(img, "Brightness", 1.36), "Brightness", 1.36)
    assert torch.equal(UnilmRandAugment(num_ops=2, ops=("Brightness",), prob=1.0)(img), twice)


def test_randaug_random_sign_and_seed() -> None:
    img = _pattern()
    augment = UnilmRandAugment(num_ops=1, ops=("TranslateX",), prob=1.0)
    left, right = apply_op(img, "TranslateX", 7.0), apply_op(img, "TranslateX", -7.0)
    results = []
    for seed in range(12):
        torch.manual_seed(seed)
        out = augment(img)
        torch.manual_seed(seed)
        assert torch.equal(augment(img), out)
        assert torch.equal(out, left) or torch.equal(out, right)
        results.append(torch.equal(out, left))
    assert any(results) and not all(results)


def test_randaug_default_mixes_ops() -> None:
    img = _pattern()
    augment = UnilmRandAugment()
    outputs = []
    for seed in range(20):
        torch.manual_seed(seed)
        outputs.append(augment(F.to_pil_image(img)))
    unchanged = sum(torch.equal(F.pil_to_tensor(o), img) for o in outputs)
    distinct = {F.pil_to_tensor(o).numpy().tobytes() for o in outputs}
    assert 0 < unchanged < 20
    assert len(distinct) > 5


def test_randaug_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        UnilmRandAugment(level=11)
    with pytest.raises(ValueError, match="unknown RandAugment op"):
        UnilmRandAugment(ops=("Posterize",))
    with pytest.raises(ValueError, match="num_ops"):
        UnilmRandAugment(num_ops=-1)
    with pytest.raises(TypeError, match="uint8"):
        apply_op(_pattern().float(), "Rotate", 21.0)
