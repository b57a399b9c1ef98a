"""The `--data` value of every command (`easy-vqa` or `vizwiz:DIR`) and how a split is loaded.

One parser, one error class and one `skip_bad` behaviour for train, export and benchmark.
Without `skip_bad` the first bad sample stops the command with an error naming file and entry;
with it, bad samples are left out and counted: malformed annotation entries, image names that
leave their folder, missing images, empty questions and, once the split is cut to `limit`,
images that do not decode (corrupt, truncated, 0-byte, decompression bombs).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vqa.data.sample import is_blank_question
from vqa.errors import UserError

EASY_VQA = "easy-vqa"
VIZWIZ_PREFIX = "vizwiz:"

log = logging.getLogger(__name__)


class DataSpecError(UserError):
    """A --data value that names no usable data set, or a split with no usable sample."""


@dataclass(frozen=True)
class DataSpec:
    """A parsed `--data` value: easy-VQA (`root` None) or a VizWiz folder."""

    root: Path | None = None

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        if text == EASY_VQA:
            return cls()
        if text.startswith(VIZWIZ_PREFIX) and len(text) > len(VIZWIZ_PREFIX):
            return cls(Path(text[len(VIZWIZ_PREFIX) :]))
        raise DataSpecError(f"--data {text!r}: expected 'easy-vqa' or 'vizwiz:DIR'")

    @property
    def kind(self) -> str:
        return EASY_VQA if self.root is None else "vizwiz"

    @property
    def name(self) -> str:
        return EASY_VQA if self.root is None else f"{VIZWIZ_PREFIX}{self.root}"

    def __str__(self) -> str:
        return self.name

    def load(
        self,
        split: str,
        *,
        limit: int | None = None,
        skip_bad: bool = False,
        check_images: bool = True,
        progress: bool = False,
    ):
        """The first `limit` usable samples of `split`, as a `VizWizSplit` (`.skipped` lists
        what `skip_bad` left out); an empty result is an error.

        With `skip_bad`, images are decoded here (progress bar when `progress`) unless
        `check_images` is False: then the caller skips those it fails to decode itself.
        """
        from vqa.data.vizwiz import VizWizSplit

        if limit is not None and limit < 1:
            raise DataSpecError(f"--limit must be at least 1, got {limit}")
        if split not in ("train", "val", "test"):
            raise DataSpecError(f"split {split!r}: expected train, val or test")
        try:
            if self.root is None:
                from vqa.data.easy_vqa import load_easy_vqa

                loaded = VizWizSplit(load_easy_vqa(split))
            else:
                from vqa.data.vizwiz import load_vizwiz

                loaded = load_vizwiz(self.root, split, skip_bad=skip_bad)
        except FileNotFoundError as err:
            raise DataSpecError(f"--data {self.name}: {err}") from None
        samples = VizWizSplit((), loaded.skipped)
        for sample in loaded:
            if limit is not None and len(samples) == limit:
                break
            if is_blank_question(sample.question):  # VizWiz entries are checked by load_vizwiz
                problem = f"{self.name} {split}: question {sample.key!r} is empty"
                if not skip_bad:
                    raise DataSpecError(problem)
                samples.skipped.append(problem)
                continue
            samples.append(sample)
        if skip_bad and check_images:
            samples = drop_undecodable(samples, progress=progress)
        if samples.skipped:
            log.warning(
                "%s %s: skipped %d bad samples (first: %s)",
                self.name, split, len(samples.skipped), samples.skipped[0],
            )
        if not samples:
            raise DataSpecError(f"{self.name}: the {split} split holds no usable samples")
        return samples


def drop_undecodable(samples, *, progress: bool = False):
    """`samples` without those whose image does not decode; those are added to `.skipped`.

    JPEGs are decoded in draft mode (scaled down by the decoder), which reads the whole stream,
    so truncation is caught at a fraction of the cost of a full decode.
    """
    from PIL import Image

    from vqa.data.dataset import BadImageError, load_image
    from vqa.data.vizwiz import VizWizSplit
    from vqa.progress import progress_bar

    kept = VizWizSplit((), samples.skipped)
    for sample in progress_bar(samples, desc="checking images", enabled=progress):
        try:
            if os.path.getsize(sample.image_path) == 0:
                raise BadImageError(f"{sample.image_path}: empty file (0 bytes)")
            load_image(sample.image_path, draft=(64, 64))
        except (BadImageError, OSError, Image.DecompressionBombError) as err:
            kept.skipped.append(f"{sample.key}: {err}")
            continue
        kept.append(sample)
    return kept
