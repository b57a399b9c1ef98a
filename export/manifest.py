"""The manifest of one bundle: everything a runtime needs, in the schema of vqa/schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from export.formats import INPUT_NAMES, OUTPUT_NAME, Artifact, ExportSettings
from export.source import Source
from vqa.answers import AnswerVocab, write_answers
from vqa.bundle import MANIFEST_VERSION, describe_files
from vqa.io import atomic_write_bytes
from vqa.model import config_macs, count_parameters
from vqa.tokenizer import Tokenizer
from vqa.transforms import IMAGE_MEAN, IMAGE_STD

TOKENIZER_FILE = "tokenizer.spm"
ANSWERS_FILE = "answers.txt"
DISTRIBUTION = "vizwiz-beit3-mobile"


def write_support_files(folder: Path, source: Source) -> None:
    """The tokenizer model and the answer list, which every runtime reads beside the model."""
    atomic_write_bytes(folder / TOKENIZER_FILE, source.tokenizer.model_bytes)
    write_answers(folder / ANSWERS_FILE, source.answers)


def _tensors(artifact: Artifact, settings: ExportSettings) -> tuple[list[dict], list[dict]]:
    batch: int | str = "batch" if artifact.dynamic_batch else 1
    size, length = settings.img_size, settings.text_len
    inputs = [
        {"name": INPUT_NAMES[0], "shape": [batch, 3, size, size], "dtype": "float32"},
        {"name": INPUT_NAMES[1], "shape": [batch, length], "dtype": artifact.ids_dtype},
        {"name": INPUT_NAMES[2], "shape": [batch, length], "dtype": artifact.ids_dtype},
    ]
    outputs = [{"name": OUTPUT_NAME, "shape": [batch, settings.num_answers], "dtype": "float32"}]
    return inputs, outputs


def _tokenizer_entry(tokenizer: Tokenizer) -> dict[str, Any]:
    return {
        "kind": "sentencepiece-fairseq",
        "file": TOKENIZER_FILE,
        "sha256": tokenizer.sha256,
        "max_len": tokenizer.max_len,
        "bos_id": tokenizer.bos_id,
        "pad_id": tokenizer.pad_id,
        "eos_id": tokenizer.eos_id,
        "unk_id": tokenizer.unk_id,
        "id_offset": tokenizer.id_offset,
        "vocab_size": tokenizer.vocab_size,
    }


def _toolkit_version() -> dict[str, str]:
    try:
        return {"toolkit_version": metadata.version(DISTRIBUTION)}
    except metadata.PackageNotFoundError:
        return {}


def build_manifest(
    folder: Path,
    source: Source,
    settings: ExportSettings,
    artifact: Artifact,
    parity: dict[str, Any],
    export_seconds: float,
    format_name: str,
) -> dict[str, Any]:
    """The manifest for the files now in `folder` (their sizes and sha256 included)."""
    inputs, outputs = _tensors(artifact, settings)
    unanswerable = AnswerVocab.from_list(source.answers).unanswerable_index
    config = source.model.config
    return {
        "schema_version": MANIFEST_VERSION,
        "format": format_name,
        "precision": settings.precision,
        "quantization": artifact.quantization,
        "target": settings.target,
        "model_file": artifact.model_file,
        "files": describe_files(folder),
        "inputs": inputs,
        "outputs": outputs,
        "preprocessing": {
            "image_size": settings.img_size,
            "resize": "squash",
            "interpolation": "bicubic",
            "mean": list(IMAGE_MEAN),
            "std": list(IMAGE_STD),
            "scale": 1 / 255,
            "layout": "NCHW",
            "channel_order": "RGB",
        },
        "tokenizer": {
            **_tokenizer_entry(source.tokenizer),
            **({"vocab_cut": source.vocab_cut} if source.vocab_cut else {}),
        },
        "answers": {
            "file": ANSWERS_FILE,
            "count": len(source.answers),
            "unanswerable_index": unanswerable,
        },
        "postprocessing": {
            "answer": "argmax",
            "answerable": "none"
            if unanswerable is None
            else "1 - sigmoid(logits[unanswerable_index])",
        },
        "source": {
            "checkpoint": source.checkpoint.name,
            "sha256": source.sha256,
            "kind": source.kind,
            "config": config.to_dict(),
            "params": count_parameters(source.model),
            "macs": config_macs(config, settings.text_len),
        },
        "parity": parity,
        "runtime": {**artifact.runtime, "dynamic_batch": artifact.dynamic_batch},
        "export_seconds": round(export_seconds, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **_toolkit_version(),
    }
