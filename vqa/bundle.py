"""The model bundle: the one contract between exporter, benchmark and the phone apps.

A bundle is a folder with the model file(s), `manifest.json`, the tokenizer model and the answer
list. The manifest is validated against `schemas/manifest.schema.json` when written and when read,
and every file it lists is checked by size and sha256, so a runtime never runs a model that does
not match its description. Every file name a manifest holds (model, tokenizer, answers, `files`)
must resolve inside the bundle folder, symbolic links followed, so that a manifest cannot make a
runtime open a file elsewhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqa.errors import UserError
from vqa.io import atomic_write_text, file_sha256
from vqa.schema import load_schema, schema_problems

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class BundleError(UserError):
    """A bundle that is missing, malformed or does not match its manifest."""


def manifest_schema() -> dict[str, Any]:
    return load_schema("vqa", "manifest.schema.json")


def validate_manifest(manifest: dict[str, Any], source: str | Path = "manifest") -> None:
    details = schema_problems(manifest, manifest_schema())
    if details:
        raise BundleError(f"{source}: manifest does not follow the schema: {details}")


def file_digest(path: str | Path) -> dict[str, Any]:
    """Size and sha256 of one file, as the manifest records them."""
    return {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}


def describe_files(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The `files` entry for every file below `folder` except the manifest."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): file_digest(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Validate and write `manifest.json` atomically."""
    folder = Path(folder)
    validate_manifest(manifest, folder / MANIFEST_NAME)
    return atomic_write_text(
        folder / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    )


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: dict[str, Any]

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def model_path(self) -> Path:
        return self.path / self.manifest["model_file"]

    @property
    def image_size(self) -> int:
        return self.manifest["preprocessing"]["image_size"]

    def model_bytes(self) -> int:
        """Size on disk of the model file(s): a Core ML package is a folder."""
        name = self.manifest["model_file"]
        return sum(
            entry["bytes"]
            for file, entry in self.manifest["files"].items()
            if file == name or file.startswith(name.rstrip("/") + "/")
        )

    def bundle_bytes(self) -> int:
        return sum(entry["bytes"] for entry in self.manifest["files"].values())

    def answers(self) -> list[str]:
        """The answer list, checked as the trainer checks it (no blank or duplicate answer) and
        against the manifest's count and index of "unanswerable"."""
        from vqa.answers import UNANSWERABLE, AnswerVocab, AnswerVocabError

        path = self.path / self.manifest["answers"]["file"]
        try:
            answers = AnswerVocab.load(path).answers
        except AnswerVocabError as err:
            raise BundleError(str(err)) from None
        expected = self.manifest["answers"]
        if len(answers) != expected["count"]:
            raise BundleError(
                f"{path}: {len(answers)} answers, the manifest says {expected['count']}"
            )
        index = answers.index(UNANSWERABLE) if UNANSWERABLE in answers else None
        if expected.get("unanswerable_index", index) != index:
            raise BundleError(
                f"{path}: {UNANSWERABLE!r} is at index {index}, the manifest says "
                f"{expected['unanswerable_index']}"
            )
        return answers

    def tokenizer_path(self) -> Path:
        return self.path / self.manifest["tokenizer"]["file"]

    def check_contents(self) -> None:
        """Open the answers and the tokenizer as a runtime will, so that a bad one is named
        before anything runs (read_bundle checks only that the files match the manifest)."""
        from vqa.tokenizer import BOS_ID, EOS_ID, ID_OFFSET, PAD_ID, UNK_ID, Tokenizer

        self.answers()
        recorded = self.manifest["tokenizer"]
        ids = {"bos_id": BOS_ID, "pad_id": PAD_ID, "eos_id": EOS_ID, "unk_id": UNK_ID,
               "id_offset": ID_OFFSET}
        wrong = {key: recorded[key] for key, value in ids.items() if recorded[key] != value}
        if wrong:
            raise BundleError(
                f"{self.path / MANIFEST_NAME}: tokenizer ids {wrong} differ from BEiT-3's {ids}"
            )
        try:
            Tokenizer(self.tokenizer_path(), recorded["max_len"])
        except UserError as err:
            raise BundleError(str(err)) from None


def _outside(folder: Path, name: str) -> str | None:
    """Why the file `name` of a manifest leaves `folder` (absolute, `..`, a link out), or None."""
    if not name or Path(name).is_absolute() or "\\" in name or ".." in Path(name).parts:
        return f"{name!r} is not a path inside the bundle folder"
    root = folder.resolve()
    target = (folder / name).resolve()
    if target != root and root not in target.parents:
        return f"{name!r} leads outside the bundle folder (to {target})"
    return None


def _named_files(manifest: dict[str, Any]) -> dict[str, str]:
    """Every file name the manifest holds, by where it holds it."""
    named = {
        "model_file": manifest["model_file"],
        "tokenizer.file": manifest["tokenizer"]["file"],
        "answers.file": manifest["answers"]["file"],
    }
    named.update({f"files[{name!r}]": name for name in manifest["files"]})
    return named


def read_bundle(path: str | Path, verify_files: bool = True) -> Bundle:
    """Open a bundle folder, validating the manifest and (by default) every listed file."""
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.is_dir():
        raise BundleError(f"{path}: no such bundle folder")
    if not manifest_path.is_file():
        raise BundleError(f"{path}: not a bundle (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BundleError(f"{manifest_path}: not valid JSON ({err})") from None
    validate_manifest(manifest, manifest_path)
    for key, name in _named_files(manifest).items():
        problem = _outside(path, name)
        if problem:
            raise BundleError(f"{manifest_path}: {key}: {problem}")
    listed = manifest["files"]
    for required in (
        manifest["model_file"],
        manifest["tokenizer"]["file"],
        manifest["answers"]["file"],
    ):
        if required not in listed and not any(f.startswith(required + "/") for f in listed):
            raise BundleError(f"{manifest_path}: {required} is not listed under 'files'")
    if verify_files:
        for name, expected in listed.items():
            file = path / name
            if not file.is_file():
                raise BundleError(f"{path}: {name} is listed in the manifest but missing")
            actual = file_digest(file)
            if actual != expected:
                raise BundleError(
                    f"{file}: does not match the manifest (size {actual['bytes']} vs "
                    f"{expected['bytes']}, sha256 {actual['sha256'][:12]} vs "
                    f"{expected['sha256'][:12]})"
                )
    return Bundle(path=path, manifest=manifest)
