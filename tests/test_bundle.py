"""Bundle manifests: schema validation on write and read, files checked against the manifest."""

import hashlib
import json
from pathlib import Path

import pytest

from vqa.bundle import (
    MANIFEST_NAME,
    BundleError,
    describe_files,
    read_bundle,
    validate_manifest,
    write_manifest,
)


def _manifest(folder):
    tensor = {"name": "image", "shape": ["batch", 3, 32, 32], "dtype": "float32"}
    return {
        "schema_version": 1,
        "format": "onnx",
        "precision": "fp32",
        "quantization": {"scheme": "none"},
        "target": "x86_64",
        "model_file": "model.onnx",
        "files": describe_files(folder),
        "inputs": [
            tensor,
            {"name": "question", "shape": ["batch", 64], "dtype": "int64"},
            {"name": "padding_mask", "shape": ["batch", 64], "dtype": "int64"},
        ],
        "outputs": [{"name": "logits", "shape": ["batch", 2], "dtype": "float32"}],
        "preprocessing": {
            "image_size": 32, "resize": "squash", "interpolation": "bicubic",
            "mean": [0.5] * 3, "std": [0.5] * 3, "scale": 1 / 255, "layout": "NCHW",
            "channel_order": "RGB",
        },
        "tokenizer": {
            "kind": "sentencepiece-fairseq", "file": "tokenizer.spm", "sha256": "0" * 64,
            "max_len": 64, "bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3, "id_offset": 1,
        },
        "answers": {"file": "answers.txt", "count": 2, "unanswerable_index": 1},
        "postprocessing": {
            "answer": "argmax", "answerable": "1 - sigmoid(logits[unanswerable_index])",
        },
        "source": {"checkpoint": "student.pth", "sha256": "1" * 64, "config": {}},
        "parity": {"status": "passed", "reference": "pytorch-fp32", "n_inputs": 4,
                   "max_abs_diff": 1e-6, "top1_agreement": 1.0},
        "created": "2026-11-26T00:00:00Z",
    }


@pytest.fixture()
def bundle(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"onnx bytes")
    (tmp_path / "tokenizer.spm").write_bytes(b"spm bytes")
    (tmp_path / "answers.txt").write_text("yes\nunanswerable\n", "utf-8")
    write_manifest(tmp_path, _manifest(tmp_path))
    return tmp_path


def test_round_trip(bundle):
    opened = read_bundle(bundle)
    assert opened.format == "onnx" and opened.answers() == ["yes", "unanswerable"]
    assert opened.model_bytes() == len(b"onnx bytes")
    assert opened.bundle_bytes() == len(b"onnx bytes") + len(b"spm bytes") + 17
    assert opened.model_path == bundle / "model.onnx"


def test_schema_errors_name_the_field(tmp_path):
    manifest = _manifest(tmp_path)
    manifest["precision"] = "int2"
    with pytest.raises(BundleError, match=r"precision: 'int2' is not one of"):
        validate_manifest(manifest)
    with pytest.raises(BundleError):
        write_manifest(tmp_path, manifest)
    assert not (tmp_path / MANIFEST_NAME).exists()


def test_tampered_and_missing_files(bundle):
    (bundle / "model.onnx").write_bytes(b"other bytes!")
    with pytest.raises(BundleError, match=r"model.onnx: does not match the manifest"):
        read_bundle(bundle)
    (bundle / "model.onnx").unlink()
    with pytest.raises(BundleError, match=r"model.onnx is listed in the manifest but missing"):
        read_bundle(bundle)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle folder"):
        read_bundle(tmp_path / "absent")
    with pytest.raises(BundleError, match="not a bundle"):
        read_bundle(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{", "utf-8")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"schema_version": 1}), "utf-8")
    with pytest.raises(BundleError, match="does not follow the schema"):
        read_bundle(tmp_path)


def _pointing(bundle, key, name):
    """The bundle's manifest with the file name at `key` replaced by `name` (digests true)."""
    manifest = json.loads((bundle / MANIFEST_NAME).read_text("utf-8"))
    old = {"model_file": manifest["model_file"], "tokenizer": manifest["tokenizer"]["file"],
           "answers": manifest["answers"]["file"], "files": "answers.txt"}[key]
    if key == "model_file":
        manifest["model_file"] = name
    elif key != "files":
        manifest[key]["file"] = name
    target = bundle / name
    manifest["files"][name] = {"bytes": target.stat().st_size,
                               "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}
    if key != "files":
        del manifest["files"][old]
    (bundle / MANIFEST_NAME).write_text(json.dumps(manifest), "utf-8")


@pytest.mark.parametrize("key", ["model_file", "tokenizer", "answers", "files"])
@pytest.mark.parametrize("how", ["dots", "absolute"])
def test_a_manifest_cannot_name_a_file_outside_the_bundle(tmp_path, key, how):
    secret = tmp_path / "secret.txt"
    secret.write_text("not the bundle's\n", "utf-8")
    folder = tmp_path / "deep" / "bundle"
    folder.mkdir(parents=True)
    for name, data in (("model.onnx", b"m"), ("tokenizer.spm", b"t"), ("answers.txt", b"yes\n")):
        (folder / name).write_bytes(data)
    write_manifest(folder, {**_manifest(folder), "answers": {"file": "answers.txt", "count": 1,
                                                             "unanswerable_index": None}})
    name = "../../secret.txt" if how == "dots" else str(secret)
    _pointing(folder, key, name)
    with pytest.raises(BundleError, match="is not a path inside the bundle folder"):
        read_bundle(folder)
    with pytest.raises(BundleError, match="is not a path inside the bundle folder"):
        read_bundle(folder, verify_files=False)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.spm", "answers.txt"])
def test_a_file_linked_outside_the_bundle_is_refused(tmp_path, name):
    folder = tmp_path / "bundle"
    folder.mkdir()
    for file, data in (("model.onnx", b"m"), ("tokenizer.spm", b"t"), ("answers.txt", b"a\nb\n")):
        (tmp_path / file).write_bytes(data)
        (folder / file).write_bytes(data)
    write_manifest(folder, _manifest(folder))
    (folder / name).unlink()
    (folder / name).symlink_to(tmp_path / name)  # same bytes, so the digest still matches
    with pytest.raises(BundleError, match=rf"'{name}' leads outside the bundle folder"):
        read_bundle(folder)


def test_a_link_that_stays_inside_the_bundle_is_fine(bundle):
    (bundle / "weights").mkdir()
    (bundle / "model.onnx").rename(bundle / "weights" / "model.onnx")
    (bundle / "model.onnx").symlink_to(Path("weights") / "model.onnx")
    write_manifest(bundle, {**_manifest(bundle)})
    assert read_bundle(bundle).model_path.read_bytes() == b"onnx bytes"
