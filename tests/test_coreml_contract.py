"""The iOS app's contract with a Core ML bundle, checked without a Mac.

A tiny model is exported to Core ML (fp16 and int8, as users do with `python -m export
--format coreml [--int8]`); coremltools reads each saved spec. The test checks that the spec's
input and output names, shapes and types are what the manifest says (the app reads them from
the manifest: tensors by role, in the manifest's order), that the manifest has every field the
Swift `Manifest` decodes, and that the Swift sources hard-code no tensor name.
"""

import re
from pathlib import Path

import coremltools as ct
import pytest
import torch
import tree_sitter_swift
from tree_sitter import Language, Parser

from export import ExportRequest, export_bundles
from vqa.bundle import read_bundle
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
SWIFT_MANIFEST = IOS / "VQACore" / "Sources" / "VQACore" / "Manifest.swift"
ANSWERS = ["yes", "no", "red", "unanswerable"]
QUESTIONS = ["what color is it", "is this a circle", "how many shapes are there"]
TEXT_LEN = 16
SPEC_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "INT32": "int32"}
# Where a tensor name's string means something else: keys of the predictions and samples files.
NOT_TENSOR_NAMES = {
    ("VQACore/Sources/VQACore/ResultRow.swift", "image"),  # predictions file key
    ("VQACore/Sources/VQACore/ResultRow.swift", "question"),  # samples.json key
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coreml")
    spm = train_sentencepiece(QUESTIONS * 20, folder / "q.spm", 80)
    tokenizer = Tokenizer(spm, max_len=TEXT_LEN)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=len(ANSWERS), vocab_size=tokenizer.vocab_size)
    checkpoint = folder / "student.pth"
    save_checkpoint(checkpoint, model, answers=ANSWERS,
                    tokenizer=tokenizer_record(tokenizer.model_bytes, TEXT_LEN))
    results = []
    for precision in ("fp16", "int8"):
        results += export_bundles(
            ExportRequest(checkpoint, formats=("coreml",), precision=precision, out_dir=folder,
                          parity_inputs=2),
            log=lambda line: None,
        )
    return {result.precision: read_bundle(result.path) for result in results}


def _spec_tensors(features) -> list[dict]:
    dtype_name = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    return [
        {
            "name": f.name,
            "shape": list(f.type.multiArrayType.shape),
            "dtype": SPEC_DTYPES[dtype_name(f.type.multiArrayType.dataType)],
        }
        for f in features
    ]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_spec_agrees_with_the_manifest_the_app_reads(bundles, precision):
    bundle = bundles[precision]
    manifest = bundle.manifest
    spec = ct.utils.load_spec(str(bundle.model_path))
    assert _spec_tensors(spec.description.input) == manifest["inputs"]
    outputs = _spec_tensors(spec.description.output)
    assert [(t["name"], t["dtype"]) for t in outputs] == [
        (t["name"], t["dtype"]) for t in manifest["outputs"]
    ]
    # The app takes the inputs by role, in the manifest's order: image, ids, mask.
    image, ids, mask = manifest["inputs"]
    size = manifest["preprocessing"]["image_size"]
    assert (image["shape"], image["dtype"]) == ([1, 3, size, size], "float32")
    for tensor in (ids, mask):
        assert (tensor["shape"], tensor["dtype"]) == ([1, TEXT_LEN], "int32")  # Core ML: no int64
    assert manifest["tokenizer"]["max_len"] == TEXT_LEN
    assert manifest["outputs"][0]["shape"] == [1, len(ANSWERS)]
    assert (manifest["format"], manifest["precision"]) == ("coreml", precision)


def _swift_fields() -> dict[str, list[str]]:
    """The JSON keys each Decodable struct of Manifest.swift decodes, by struct name.

    A property's key is its CodingKeys raw value where one is given, else its name.
    """
    text = SWIFT_MANIFEST.read_text("utf-8")
    fields: dict[str, list[str]] = {}
    depth_struct: dict[int, str | None] = {}
    raw_keys: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        struct = re.match(r"( *)public (struct|enum) (\w+)(: Decodable)?", line)
        if struct:
            name = struct.group(3) if struct.group(2) == "struct" and struct.group(4) else None
            depth_struct[len(struct.group(1))] = name
            if name:
                fields[name] = []
            continue
        key = re.match(r'( *)case (\w+) = "([^"]+)"', line)
        key_owner = depth_struct.get(len(key.group(1)) - 8) if key else None
        if key_owner:
            raw_keys.setdefault(key_owner, {})[key.group(2)] = key.group(3)
            continue
        prop = re.match(r"( *)public let (\w+):", line)
        owner = depth_struct.get(len(prop.group(1)) - 4) if prop else None
        if owner:
            fields[owner].append(prop.group(2))
    return {
        struct: [raw_keys.get(struct, {}).get(name, name) for name in names]
        for struct, names in fields.items()
    }


def test_the_manifest_has_every_field_the_swift_manifest_decodes(bundles):
    manifest = bundles["int8"].manifest
    fields = _swift_fields()
    where = {
        "Manifest": manifest,
        "FileEntry": next(iter(manifest["files"].values())),
        "Tensor": manifest["inputs"][0],
        "Preprocessing": manifest["preprocessing"],
        "Tokenizer": manifest["tokenizer"],
        "Answers": manifest["answers"],
        "Quantization": manifest["quantization"],
        "Source": manifest["source"],
    }
    assert set(fields) == set(where), "Manifest.swift's structs changed: update this test"
    for struct, names in fields.items():
        assert names, struct
        for key in names:
            assert key in where[struct], f"Manifest.swift {struct} decodes {key!r}"


def _string_literals(path: Path) -> list[str]:
    parser = Parser(Language(tree_sitter_swift.language()))
    source = path.read_bytes()
    found, stack = [], [parser.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "line_str_text" and node.parent.type == "line_string_literal":
            if node.parent.named_child_count == 1:  # the whole literal, no interpolation
                found.append(source[node.start_byte : node.end_byte].decode("utf-8"))
        stack.extend(node.children)
    return found


def test_swift_sources_hard_code_no_tensor_name(bundles):
    manifest = bundles["int8"].manifest
    names = {t["name"] for t in manifest["inputs"] + manifest["outputs"]}
    sources = sorted((IOS / "VQADemo").rglob("*.swift")) + sorted(
        (IOS / "VQACore" / "Sources").rglob("*.swift")
    )
    assert sources
    literals = {p: _string_literals(p) for p in sources}
    assert "What is this?" in literals[IOS / "VQADemo" / "AppModel.swift"]  # the scan works
    for path, found in literals.items():
        relative = path.relative_to(IOS).as_posix()
        for name in names & set(found):
            assert (relative, name) in NOT_TENSOR_NAMES, f"{relative} hard-codes {name!r}"


FILE_NAME = re.compile(r"^[\w.-]+\.(json|txt|model|spm|mlpackage|mlmodelc?|bin|onnx|pte|ptl)$")
NOT_BUNDLE_FILES = {"samples.json": "the index of a samples folder (python -m benchmark samples)"}
"""File names in the Swift sources that are not read from a bundle, and what they are."""


def test_every_file_the_app_reads_from_a_bundle_is_one_the_exporter_writes(bundles):
    """The app reads `manifest.json` by name and every other bundle file through the manifest's
    fields (model_file, tokenizer.file, answers.file); a file name written into the Swift
    sources must be one a real Core ML export writes, or a known non-bundle file."""
    manifest_swift = SWIFT_MANIFEST.read_text("utf-8")
    assert 'public static let fileName = "manifest.json"' in manifest_swift
    engine = (IOS / "VQADemo" / "VQAEngine.swift").read_text("utf-8")
    cache = (IOS / "VQADemo" / "BundleFiles.swift").read_text("utf-8")
    for read in ("Manifest.read(bundle", "manifest.tokenizerURL", "manifest.readAnswers()"):
        assert read in engine, read
    assert "MLModel.compileModel(at: manifest.modelURL)" in cache
    written_by_export: set[str] = set()
    for bundle in bundles.values():
        written = {p.name for p in bundle.path.iterdir()}
        written_by_export |= written
        manifest = bundle.manifest
        assert "manifest.json" in written
        for name in (manifest["model_file"], manifest["tokenizer"]["file"],
                     manifest["answers"]["file"]):
            assert name in written, f"the manifest names {name}, the export did not write it"
        # compileModel(at:) takes the package folder the manifest names
        assert manifest["model_file"].endswith(".mlpackage")
        assert (bundle.path / manifest["model_file"]).is_dir()
    sources = sorted((IOS / "VQADemo").rglob("*.swift")) + sorted(
        (IOS / "VQACore" / "Sources").rglob("*.swift")
    )
    named = set()
    for path in sources:
        for literal in filter(FILE_NAME.match, _string_literals(path)):
            named.add(literal)
            assert literal in written_by_export or literal in NOT_BUNDLE_FILES, (
                f"{path.relative_to(IOS)} names {literal!r}, which no Core ML bundle holds"
            )
    assert {"manifest.json", "samples.json"} <= named  # the scan sees the names it should
