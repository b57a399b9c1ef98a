"""Export a BEiT-3 VQA checkpoint to phone runtimes as verified bundles.

One module a format, named after its runtime (lite_interpreter, onnx_runtime, coreml,
executorch_runtime); every export writes a bundle folder (model files, manifest.json, tokenizer,
answers) that appears only once its parity against the PyTorch fp32 model has been checked.
Entry points: `python -m export` and `export_bundles`.
"""

from export.errors import ExportError, ParityError
from export.formats import FORMAT_NAMES, get_format
from export.pipeline import BundleResult, ExportRequest, export_bundles

__all__ = [
    "FORMAT_NAMES",
    "BundleResult",
    "ExportError",
    "ExportRequest",
    "ParityError",
    "export_bundles",
    "get_format",
]
