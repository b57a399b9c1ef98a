"""The format registry (vqa.formats) is the one list of formats: the schemas' enums, the export
modules, the runtime loaders and the benchmark's runner all follow it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from benchmark.runners import runner_class
from benchmark.runners.base import BundleRunner, RunnerSpec
from benchmark.runners.pytorch_eager import EagerRunner
from vqa.formats import BASELINE_FORMAT, FORMAT_NAMES, FORMATS, PRECISIONS

ROOT = Path(__file__).resolve().parent.parent


def _schema(path: str) -> dict:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))["properties"]


def test_the_schemas_enums_are_the_registrys() -> None:
    manifest = _schema("vqa/schemas/manifest.schema.json")
    assert manifest["format"]["enum"] == list(FORMAT_NAMES)
    assert manifest["precision"]["enum"] == list(PRECISIONS)
    results = _schema("benchmark/schemas/results.schema.json")
    assert results["format"]["enum"] == [BASELINE_FORMAT, *FORMAT_NAMES, "unknown"]
    assert results["precision"]["enum"] == [*PRECISIONS, "unknown"]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_format_has_its_exporter_and_loader(fmt) -> None:
    assert (ROOT / "export" / f"{fmt.module}.py").is_file()
    assert (ROOT / "vqa" / "runtimes" / f"{fmt.module}.py").is_file()
    assert runner_class(fmt.name) is BundleRunner
    if fmt.name != "executorch":  # importing the ExecuTorch exporter takes seconds
        assert importlib.import_module(f"export.{fmt.module}").FORMAT.name == fmt.name


def test_the_baseline_and_unknown_formats() -> None:
    assert runner_class(BASELINE_FORMAT) is EagerRunner
    with pytest.raises(ValueError, match="known: torchscript, onnx, coreml, executorch"):
        runner_class("tflite")


MANIFEST = {
    "inputs": [{"name": "image", "dtype": "float32"}, {"name": "question", "dtype": "int32"},
               {"name": "padding_mask", "dtype": "int32"}],
    "outputs": [{"name": "logits"}],
    "runtime": {"quantized_engine": "qnnpack"},
}


def _options(fmt: str):
    spec = RunnerSpec(format=fmt, precision="fp32", model_path="-", threads=3, manifest=MANIFEST,
                      options={"coreml_units": "cpu"})
    return BundleRunner(spec).runtime_options()


def test_the_runner_applies_each_formats_settings() -> None:
    onnx = _options("onnx")
    assert (onnx.threads, onnx.extra) == (3, {})
    assert onnx.input_dtypes == ("float32", "int32", "int32")
    assert _options("torchscript").quantized_engine == "qnnpack"
    coreml = _options("coreml")  # Core ML picks its own threads; the run's compute units reach it
    assert (coreml.threads, coreml.extra) == (None, {"coreml_units": "cpu"})
