"""Accuracy by image-quality verdict: how a model does on the photos the apps would ask to retake.

The phone apps check a photo before the model runs (vqa.quality: too dark, too bright, blurred)
and ask for another one when it fails. Scoring predictions separately for each verdict tells
whether that is worth it: if the model is as accurate on "blurred" photos as on "ok" ones, the
check costs the user a retake for nothing. The photos are judged by `vqa.quality.assess_image`,
the same numbers the Kotlin and Swift cores compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vqa.errors import UserError
from vqa.metrics import score
from vqa.quality import VERDICTS, assess_image


def verdicts_of(images: Mapping[str, str | Path]) -> dict[str, str]:
    """The quality verdict of each image file, by its key (the annotations' `image`)."""
    found = {}
    for key, path in images.items():
        try:
            with Image.open(path) as image:
                found[key] = assess_image(image).verdict
        except OSError as err:
            raise UserError(f"{path}: cannot read the image ({err})") from None
    return found


def score_by_verdict(
    predictions: Sequence[dict[str, Any]],
    annotations: Sequence[dict[str, Any]],
    verdicts: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """`vqa.metrics.score` of the questions of each verdict, in VERDICTS order (empty ones left
    out), plus "all"; every annotated image needs a verdict."""
    missing = [a["image"] for a in annotations if a.get("image") not in verdicts]
    if missing:
        raise UserError(f"no quality verdict for image {missing[0]}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    by_image = {p["image"]: p for p in predictions}
    results: dict[str, dict[str, Any]] = {}
    for verdict in VERDICTS:
        chosen = [a for a in annotations if verdicts[a["image"]] == verdict]
        if chosen:
            # score() names an annotated image without a prediction
            own = [by_image[a["image"]] for a in chosen if a["image"] in by_image]
            results[verdict] = score(own, chosen)
    results["all"] = score(list(predictions), list(annotations))
    return results
