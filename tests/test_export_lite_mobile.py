"""TorchScript-mobile for PyTorch Android Lite 1.13.1: bytecode v8 at most, no newer operators.

1.13.1's loader reads bytecode v4-v9 and writes v8 (caffe2/serialize/versions.h of that
release); `scaled_dot_product_attention` only arrived in torch 2.0, so a file that needs it
cannot load there.
"""

import json
from pathlib import Path

import pytest
import torch
from torch.jit.mobile import (
    _export_operator_list,
    _get_model_bytecode_version,
    _load_for_lite_interpreter,
)

from export import lite_interpreter
from export.__main__ import main
from export.lite_interpreter import save_for_lite_1_13
from vqa.checkpoint import load_model, save_checkpoint, tokenizer_record
from vqa.model import (
    FusedMultiheadAttention,
    HeadwiseMultiheadAttention,
    attention_as,
    create_model,
)
from vqa.tokenizer import Tokenizer

SPM = Path(__file__).parent / "golden" / "tokenizer_small.model"
NEWER_THAN_1_13 = {"aten::scaled_dot_product_attention", "aten::_scaled_dot_product_attention"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("lite") / "student.pth"
    tokenizer = Tokenizer(SPM, 16)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=4, vocab_size=tokenizer.vocab_size)
    save_checkpoint(path, model, answers=["yes", "no", "red", "unanswerable"],
                    tokenizer=tokenizer_record(tokenizer.model_bytes, 16))
    return path


@pytest.mark.parametrize("precision", ["--fp32", "--int8"])
def test_ptl_loads_in_pytorch_lite_1_13(checkpoint, tmp_path, precision):
    assert main([str(checkpoint), "--format", "torchscript", precision, "--target", "arm64",
                 "--out", str(tmp_path), "--parity-inputs", "2"]) == 0
    (bundle,) = tmp_path.iterdir()
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    model = bundle / manifest["model_file"]
    version = _get_model_bytecode_version(str(model))
    assert manifest["runtime"]["bytecode_version"] == version
    assert 4 <= version <= 8
    operators = set(_export_operator_list(_load_for_lite_interpreter(str(model))))
    assert manifest["runtime"]["operators"] == sorted(operators)
    assert not operators & NEWER_THAN_1_13
    assert "aten::softmax.int" in operators or "aten::softmax" in operators
    assert "aten::baddbmm" in operators  # the head-by-head attention, not torchscale's
    assert manifest["parity"]["status"] in ("passed", "pending-target")


def test_the_source_model_keeps_its_fused_attention(checkpoint):
    model = load_model(checkpoint)
    fused = sum(isinstance(m, FusedMultiheadAttention) for m in model.modules())
    with attention_as(model, "headwise"):
        kinds = {type(m) for m in model.modules() if isinstance(m, FusedMultiheadAttention)}
        assert kinds == {HeadwiseMultiheadAttention}
    assert sum(isinstance(m, FusedMultiheadAttention) for m in model.modules()) == fused > 0


def test_a_newer_bytecode_is_backported(tmp_path, monkeypatch):
    """This torch writes v8 already; a target of v7 takes the backport path."""
    traced = torch.jit.trace(torch.nn.Linear(3, 2), torch.zeros(1, 3))
    path = tmp_path / "m.ptl"
    assert save_for_lite_1_13(traced, path)["bytecode_version"] <= 8
    monkeypatch.setattr(lite_interpreter, "LITE_1_13_BYTECODE", 7)
    facts = save_for_lite_1_13(traced, path)
    assert facts == {"bytecode_version": 7, "operators": ["aten::linear"]}
    assert _get_model_bytecode_version(str(path)) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ptl"]  # no temporary file left
