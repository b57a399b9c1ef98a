"""Every image type a data set can hold gives the host's tensor through the Android core's CLI.

The core's command line (`java -jar vqa-core.jar preprocess|quality`, built by `make
android-core`) decodes image files itself; PIL + `vqa.transforms.eval_transform` and
`vqa.quality.assess_image` on the same files are the oracle. Images are made here, 32 x 32 (the
golden bundle's input size, so no resize blurs a decoding difference away) and 45 x 29 (resized):
RGB, RGBA, grayscale with and without alpha, 1, 2 and 4-bit grayscale, palette with and without
transparency, 16-bit grayscale, RGB and RGBA PNG, Adam7-interlaced PNG, GIF, BMP, and RGB,
grayscale and CMYK JPEG. PNGs go through the core's own decoder (PngImage), the one the app's
accuracy mode uses, so these checks hold for the phone too.
"""

import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vqa.quality import assess_image
from vqa.transforms import eval_transform

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / "android_demo" / "core" / "build" / "vqa-core.jar"
BUNDLE = ROOT / "android_demo" / "core" / "build" / "golden-bundle"

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="no java on PATH (the core needs it)"),
    pytest.mark.skipif(not JAR.is_file(), reason=f"{JAR} is not built: run `make android-core`"),
    pytest.mark.skipif(not (BUNDLE / "manifest.json").is_file(),
                       reason=f"{BUNDLE} is not exported: run `make android-test`"),
]

# Lossless formats must give PIL's pixels exactly; a JPEG decoder other than libjpeg-turbo may
# differ by a level on some pixels (2/255 after normalization).
EXACT = 1e-6
JPEG_TOLERANCE = 2 * (2 / 255) + 1e-6


def _photo(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                    (x * y) % 256], axis=-1) + rng.integers(-20, 21, (height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _rows(samples: np.ndarray, depth: int) -> bytes:
    """Scanlines with filter byte 0: big-endian 16-bit samples, or 1/2/4-bit ones packed."""
    out = b""
    for row in samples.reshape(samples.shape[0], -1):
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:
            bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:]
            data = np.packbits(bits.flatten()).tobytes()
        out += b"\x00" + data
    return out


def _png(path: Path, samples: np.ndarray, depth: int, color_type: int,
         interlaced: bool = False) -> None:
    """A PNG written by hand, for what PIL does not write: 16-bit RGB, 2/4-bit gray, Adam7."""
    height, width = samples.shape[:2]
    if interlaced:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                  (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b"".join(_rows(samples[y::dy, x::dx], depth) for x, y, dx, dy in passes
                       if samples[y::dy, x::dx].size)
    else:
        raw = _rows(samples, depth)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, int(interlaced))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _images(folder: Path, width: int, height: int) -> dict[str, tuple[Path, float]]:
    rgb = _photo(width, height, width)
    rng = np.random.default_rng(height)
    alpha = rng.integers(0, 256, (height, width, 1), dtype=np.uint8)
    base = Image.fromarray(rgb, "RGB")
    made: dict[str, tuple[Path, float]] = {}

    def save(name: str, image: Image.Image, fmt: str, tolerance: float = EXACT, **kw) -> None:
        path = folder / f"{name}_{width}x{height}.{fmt.lower()}"
        image.save(path, fmt, **kw)
        made[name] = (path, tolerance)

    save("rgb_png", base, "PNG")
    save("rgba_png", Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA"), "PNG")
    save("gray_png", base.convert("L"), "PNG")
    save("gray_alpha_png", Image.merge("LA", (base.convert("L"), Image.fromarray(alpha[..., 0]))),
         "PNG")
    save("one_bit_png", base.convert("1"), "PNG")
    save("palette_png", base.convert("P", palette=Image.Palette.ADAPTIVE, colors=37), "PNG")
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    save("palette_transparent_png", palette, "PNG", transparency=3)
    save("gif", base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), "GIF")
    save("bmp", base, "BMP")
    save("rgb_jpeg", base, "JPEG", JPEG_TOLERANCE, quality=92)
    save("gray_jpeg", base.convert("L"), "JPEG", JPEG_TOLERANCE, quality=92)
    cmyk = np.concatenate([255 - rgb, rng.integers(0, 90, (height, width, 1), dtype=np.uint8)], -1)
    save("cmyk_jpeg", Image.fromarray(cmyk, "CMYK"), "JPEG", JPEG_TOLERANCE, quality=95)
    gray16 = (rng.integers(0, 400, (height, width)) * np.arange(1, width + 1) % 65536)
    rgb16 = rgb.astype(np.uint16) * 257 + rng.integers(0, 257, rgb.shape).astype(np.uint16)
    by_hand = {
        "gray16_png": (gray16.astype(np.uint16), 16, 0, False),
        "rgb16_png": (rgb16, 16, 2, False),
        "gray2_png": (rng.integers(0, 4, (height, width)), 2, 0, False),
        "gray4_png": (rng.integers(0, 16, (height, width)), 4, 0, False),
        "rgb_interlaced_png": (rgb, 8, 2, True),
        "rgba16_interlaced_png": (np.concatenate([rgb16, rgb16[..., :1]], -1), 16, 6, True),
    }
    for name, (samples, depth, color_type, interlaced) in by_hand.items():
        path = folder / f"{name}_{width}x{height}.png"
        _png(path, samples, depth, color_type, interlaced)
        made[name] = (path, EXACT)
    return made


def _core(*args: str) -> list[dict]:
    done = subprocess.run(["java", "-jar", str(JAR), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, tuple[Path, float]]:
    folder = tmp_path_factory.mktemp("image_types")
    made = {f"{k}_32": v for k, v in _images(folder, 32, 32).items()}
    made |= {f"{k}_45x29": v for k, v in _images(folder, 45, 29).items()}
    return made


def test_every_image_type_gives_the_host_tensor(images):
    size = json.loads((BUNDLE / "manifest.json").read_text("utf-8"))["preprocessing"]["image_size"]
    names = sorted(images)
    rows = _core("preprocess", "--manifest", str(BUNDLE / "manifest.json"),
                 *[str(images[n][0]) for n in names])
    worst = {}
    for name, row in zip(names, rows, strict=True):
        path, tolerance = images[name]
        with Image.open(path) as image:
            expected = eval_transform(size)(image).numpy()
        got = np.reshape(row["values"], (3, size, size))
        worst[name] = float(np.abs(got - expected).max())
        assert worst[name] <= tolerance, f"{name}: max |diff| {worst[name]:.3g} > {tolerance:.3g}"
    assert {k for k, v in images.items() if v[1] == EXACT} <= {k for k, d in worst.items()
                                                               if d <= EXACT}


def test_quality_of_every_image_type_is_the_hosts(images, tmp_path):
    # and of tall and wide photos, whose small copy takes PIL's vertical-first and
    # horizontal-first resize passes
    shapes = {"tall_40x600": (40, 600), "wide_700x90": (700, 90), "square_300": (300, 300)}
    for name, (width, height) in shapes.items():
        path = tmp_path / f"{name}.png"
        Image.fromarray(_photo(width, height, width + height), "RGB").save(path)
        images = images | {name: (path, EXACT)}
    names = sorted(n for n in images if images[n][1] == EXACT)  # JPEG decoders may differ
    rows = _core("quality", *[str(images[n][0]) for n in names])
    for name, row in zip(names, rows, strict=True):
        with Image.open(images[name][0]) as image:
            expected = assess_image(image)
        assert row["verdict"] == expected.verdict, name
        assert (row["analysis_width"], row["analysis_height"]) == (expected.width, expected.height)
        assert row["mean_luma"] == pytest.approx(expected.mean_luma, rel=1e-9), name
        if expected.laplacian_var is None:
            assert row["laplacian_var"] is None
        else:
            assert row["laplacian_var"] == pytest.approx(expected.laplacian_var, rel=1e-9), name
