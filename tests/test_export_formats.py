"""Every format, fp32 (Core ML: fp16) and int8, exported from a briefly trained beit3_tiny.

The model is trained for a few dozen steps on a generated task (the dominant colour of a scene)
so that its logits are decisive: int8 top-1 agreement on a random model measures nothing. Each
precision is exported once for the whole file; the tests then read the bundles the way a runtime
does (manifest, tokenizer file, preprocessing) and run every artifact in its own runtime.
"""

import warnings

import coremltools as ct
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch.utils.mobile_optimizer import optimize_for_mobile

from export import ExportRequest, export_bundles, get_format
from export.host import runs_signed_int8_matmul_exactly
from export.inputs import QUESTIONS, synthetic_image, synthetic_inputs
from export.parity import compare
from vqa import runtimes
from vqa.bundle import file_digest, read_bundle
from vqa.checkpoint import load_model, read_checkpoint, save_checkpoint, tokenizer_record
from vqa.model import create_model
from vqa.runtimes import RuntimeOptions
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.transforms import eval_transform

ANSWERS = ["red", "green", "blue", "yes", "no", "unanswerable"]
PARITY_INPUTS = 12
TRAIN_INPUTS = 48
FRESH = range(PARITY_INPUTS, PARITY_INPUTS + 8)  # trained on, but not used by the exporter
FORMATS = ("torchscript", "onnx", "coreml", "executorch")


def _train_tiny(tokenizer: Tokenizer) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=len(ANSWERS), vocab_size=tokenizer.vocab_size)
    data = synthetic_inputs(tokenizer, TRAIN_INPUTS, 32)
    labels = data.image.mean(dim=(2, 3)).argmax(dim=1)  # the scene's dominant channel: r, g, b
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for step in range(60):
        batch = torch.arange(16) + 16 * (step % (TRAIN_INPUTS // 16))
        loss = torch.nn.functional.cross_entropy(
            model(data.image[batch], data.question[batch], data.padding_mask[batch]), labels[batch]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    spm = train_sentencepiece(list(QUESTIONS) * 10, folder / "tiny.spm", vocab_size=120)
    tokenizer = Tokenizer(spm)
    model = _train_tiny(tokenizer)
    path = folder / "student.pth"
    save_checkpoint(
        path, model, answers=ANSWERS, tokenizer=tokenizer_record(tokenizer.model_bytes, 64)
    )
    return path


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    """{(format, precision): BundleResult} for the default precisions and for int8."""
    out = tmp_path_factory.mktemp("bundles")
    results = {}
    for precision in (None, "int8"):
        request = ExportRequest(
            checkpoint, formats=FORMATS, precision=precision, out_dir=out,
            parity_inputs=PARITY_INPUTS, target="x86_64",
        )
        for result in export_bundles(request, log=lambda message: None):
            results[(result.format, result.precision)] = result
    return results


@pytest.fixture(scope="module")
def reference_model(checkpoint):
    return load_model(checkpoint)


def _bundle_inputs(bundle, indices):
    """Inputs rebuilt from the bundle alone: its tokenizer file and its preprocessing."""
    tokenizer = Tokenizer(bundle.tokenizer_path(), max_len=bundle.manifest["tokenizer"]["max_len"])
    transform = eval_transform(bundle.image_size)
    images = torch.stack([transform(synthetic_image(i)) for i in indices])
    ids, mask = tokenizer([QUESTIONS[i % len(QUESTIONS)] for i in indices])
    return images, ids, mask


def _bundle_runtimes(bundle):
    """Every file of a bundle its runtime loads, loaded as the benchmark loads it."""
    fmt = bundle.manifest["format"]
    options = RuntimeOptions.from_manifest(bundle.manifest)
    names = get_format(fmt).runtime_files(bundle.manifest["model_file"])
    return [(name, runtimes.load(fmt, bundle.path / name, options)) for name in names]


def _numpy(inputs):
    return [t.numpy() for t in inputs]


def test_every_format_and_precision_gives_a_verified_bundle(exported, checkpoint):
    assert sorted(exported) == sorted(
        [(f, "int8") for f in FORMATS]
        + [("torchscript", "fp32"), ("onnx", "fp32"), ("coreml", "fp16"), ("executorch", "fp32")]
    )
    for (fmt, precision), result in exported.items():
        assert result.ok, result.message
        bundle = read_bundle(result.path)  # schema and every file's size and sha256
        manifest = bundle.manifest
        assert (manifest["format"], manifest["precision"]) == (fmt, precision)
        assert manifest["source"]["sha256"] == file_digest(checkpoint)["sha256"]
        assert bundle.answers() == ANSWERS
        assert manifest["answers"]["unanswerable_index"] == ANSWERS.index("unanswerable")
        assert manifest["tokenizer"]["file"] in manifest["files"]
        assert manifest["preprocessing"]["image_size"] == 32
        assert manifest["export_seconds"] > 0
        if fmt == "coreml":
            assert manifest["parity"]["status"] == "pending-macos"
            assert manifest["parity"]["n_inputs"] == 0
        else:
            parity = manifest["parity"]
            assert parity["status"] == "passed" and parity["n_inputs"] == PARITY_INPUTS
            if precision == "fp32":
                assert parity["max_abs_diff"] <= 1e-3 and parity["top1_agreement"] == 1.0
            else:
                assert parity["top1_agreement"] >= 0.98
    leftovers = [p.name for p in next(iter(exported.values())).path.parent.iterdir()
                 if p.name.startswith(".")]
    assert leftovers == []


@pytest.mark.parametrize(
    "fmt,precision",
    [(f, p) for f in ("torchscript", "onnx", "executorch") for p in ("fp32", "int8")],
)
def test_artifact_rerun_from_its_bundle_matches_pytorch(exported, reference_model, fmt, precision):
    bundle = read_bundle(exported[(fmt, precision)].path)
    loaded = _bundle_runtimes(bundle)
    with torch.no_grad():
        for indices in (range(PARITY_INPUTS), FRESH):
            inputs = _bundle_inputs(bundle, indices)
            reference = reference_model(*inputs).numpy()
            for name, model in loaded:
                got = np.concatenate([model.predict(*_numpy(t[i : i + 1] for t in inputs))
                                      for i in range(len(indices))])
                figures = compare(reference, got)
                if precision == "fp32":
                    assert figures.max_abs_diff <= 1e-3 and figures.top1_agreement == 1.0, name
                else:
                    assert figures.top1_agreement >= 0.98, (name, figures)
                if indices == range(PARITY_INPUTS):  # the manifest's figures are reproducible
                    recorded = bundle.manifest["parity"]["max_abs_diff"]
                    assert figures.max_abs_diff <= recorded * 1.01 + 1e-7, name


def test_int8_bundles_hold_every_linear_weight_in_one_byte(exported, reference_model):
    """Oracle counted here from the model: the L elements of its nn.Linear weights, stored in
    one byte instead of four (Core ML: two), save 3L bytes (L); a model with half its Linear
    layers quantized saves at most half that. Per-channel scales and zero points and the
    quantized ops' records take some back (TorchScript's packed weights: 0.81 of 3L on this
    model, measured), so at least 0.7 must show; no format can save more than every weight
    tensor in one byte would."""
    linear = sum(m.weight.numel() for m in reference_model.modules()
                 if isinstance(m, torch.nn.Linear))
    every = sum(p.numel() for p in reference_model.parameters())
    for fmt, baseline, width in (("torchscript", "fp32", 4), ("onnx", "fp32", 4),
                                 ("executorch", "fp32", 4), ("coreml", "fp16", 2)):
        saved = exported[(fmt, baseline)].model_bytes - exported[(fmt, "int8")].model_bytes
        assert 0.7 * (width - 1) * linear <= saved <= (width - 1) * every, (fmt, saved, linear)


def test_dynamic_batch_where_the_manifest_says_so(exported, reference_model):
    for fmt in ("torchscript", "onnx", "executorch"):
        bundle = read_bundle(exported[(fmt, "fp32")].path)
        assert bundle.manifest["inputs"][0]["shape"] == ["batch", 3, 32, 32]
        inputs = _bundle_inputs(bundle, range(3))
        for _, model in _bundle_runtimes(bundle):
            logits = model.predict(*_numpy(inputs))
            assert logits.shape == (3, len(ANSWERS))
            assert np.abs(logits - reference_model(*inputs).detach().numpy()).max() <= 1e-3


def test_onnx_graph_and_quantization(exported):
    fp32 = read_bundle(exported[("onnx", "fp32")].path)
    int8 = read_bundle(exported[("onnx", "int8")].path)
    for bundle in (fp32, int8):
        onnx.checker.check_model(str(bundle.model_path), full_check=True)
        assert "model.ort" in bundle.manifest["files"]
        graph = onnx.load(str(bundle.model_path)).graph
        assert [i.name for i in graph.input] == ["image", "question", "padding_mask"]
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    graph = onnx.load(str(int8.model_path)).graph
    ops = {node.op_type for node in graph.node}
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops
    # x86_64 without --x86-vnni: int8 weights (the u8s8 kernels), 7-bit (reduce_range)
    assert _largest_quantized_weight(int8.model_path) == 64
    quantization = int8.manifest["quantization"]
    assert quantization["weight_dtype"] == "int8" and quantization["per_channel"]
    assert quantization["reduce_range"] is True and quantization["x86_vnni"] is False
    # attention: no fp32 matmul of two computed tensors is left; two int8 ones a layer, the
    # scores in an If on the mask's shape (padding mask as the kernel's bias, or an Add)
    constants = {t.name for t in graph.initializer}
    ifs = [n for n in graph.node if n.op_type == "If"]
    nodes = [*graph.node, *(sub for n in ifs for a in n.attribute for sub in a.g.node)]
    computed = [n for n in nodes if n.op_type in ("MatMul", "MatMulInteger")
                and n.input[1] not in constants]
    assert {n.op_type for n in computed} == {"MatMulInteger"}
    assert len(computed) == 2 * 2 == quantization["attention"]["matmuls"]  # beit3_tiny: 2 layers
    assert len(ifs) == 2 and quantization["attention"]["mask_as_bias"].startswith("2 ")
    for branch in ifs:
        fused = {a.name: a.g for a in branch.attribute}["then_branch"].node
        assert [n.op_type for n in fused] == ["Reshape", "DynamicQuantizeMatMul"]
        assert len(fused[1].input) == 5  # A, B, B's scale, B's zero point, the mask as bias
    # the multiway split: no slice of a concatenation of tokens (axis 1) is left
    for bundle in (fp32, int8):
        graph = onnx.load(str(bundle.model_path)).graph
        concats = {n.output[0] for n in graph.node if n.op_type == "Concat"
                   and onnx.helper.get_attribute_value(n.attribute[0]) == 1}
        assert not [n.name for n in graph.node if n.op_type == "Slice" and n.input[0] in concats]
        assert bundle.manifest["runtime"]["multiway_slices_bypassed"] > 0
    assert "7 bits" in quantization["attention"]["right"]


@pytest.mark.parametrize("seven_bit", [False, True])
def test_onnx_int8_attention_is_the_hand_quantized_product(tmp_path, seven_bit):
    """A matmul of two computed tensors, as attention's, after the rewrite: onnxruntime's result
    equals the product quantized by hand (left operand uint8 over [min(0, a), max(0, b)], right
    operand symmetric int8, both per tensor), and stays near the fp32 product."""
    from onnx import TensorProto, helper

    from export.onnx_attention import quantize_attention

    rng = np.random.default_rng(0)
    a = (rng.standard_normal((2, 3, 7, 16)) + 0.5).astype(np.float32)
    b = rng.standard_normal((2, 3, 16, 5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="scores")], "attention",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(a.shape)),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, list(b.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 7, 5])],
    )
    path = tmp_path / "matmul.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert quantize_attention(model, seven_bit=seven_bit).matmuls == 1
    onnx.save(model, path)
    onnx.checker.check_model(str(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"a": a, "b": b})

    low, high = min(0.0, float(a.min())), max(0.0, float(a.max()))
    a_scale = np.float32((high - low) / 255)
    a_zero = np.clip(np.rint(-low / a_scale), 0, 255)
    a_q = np.clip(np.rint(a / a_scale) + a_zero, 0, 255)
    b_scale = np.float32(np.abs(b).max() / (64 if seven_bit else 127))
    b_q = np.clip(np.rint(b / b_scale), -128, 127)
    expected = ((a_q - a_zero) @ b_q) * (a_scale * b_scale)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)
    assert np.abs(b_q).max() == (64 if seven_bit else 127)
    assert np.abs(y - a @ b).max() < 0.1 * np.abs(a @ b).max()


def _largest_quantized_weight(path) -> int:
    """Largest |value| over the MatMulInteger weights of a quantized ONNX file (all int8).

    Symmetric per-channel quantization maps each channel's largest weight to the top of the
    range: 127 for full-range int8, 64 for onnxruntime's reduce_range (7 bits, [-64, 64]).
    """
    graph = onnx.load(str(path)).graph
    names = {node.input[1] for node in graph.node if node.op_type == "MatMulInteger"}
    weights = [t for t in graph.initializer if t.name in names]
    assert weights and {t.data_type for t in weights} == {onnx.TensorProto.INT8}
    return max(int(np.abs(onnx.numpy_helper.to_array(t).astype(np.int32)).max()) for t in weights)


@pytest.mark.parametrize(
    "target,x86_vnni,host_is_exact",
    [("arm64", False, None), ("arm64", False, False), ("x86_64", True, False)],
    ids=["arm64-this-host", "arm64-on-x86-without-vnni", "x86-vnni-on-x86-without-vnni"],
)
def test_onnx_full_range_int8_is_judged_only_where_it_is_exact(
    checkpoint, tmp_path, monkeypatch, target, x86_vnni, host_is_exact
):
    # without the emulated arm64 runtime (tests/test_arm64.py checks parity with it)
    monkeypatch.setenv("VQA_ARM64_RUNTIME", str(tmp_path / "no-arm64-runtime"))
    if host_is_exact is not None:  # what a CPU without VNNI (a Zen 3 with AVX2 only) reports
        monkeypatch.setattr(
            "export.onnx_runtime.runs_signed_int8_matmul_exactly", lambda: host_is_exact
        )
    exact = runs_signed_int8_matmul_exactly() if host_is_exact is None else host_is_exact
    request = ExportRequest(checkpoint, formats=["onnx"], precision="int8", target=target,
                            x86_vnni=x86_vnni, out_dir=tmp_path, parity_inputs=4)
    (result,) = export_bundles(request, log=lambda message: None)
    name = {"arm64": "student-onnx-int8-arm64", "x86_64": "student-onnx-int8-x86_64-vnni"}
    assert result.path.name == name[target] and result.ok, result.message
    manifest = read_bundle(result.path).manifest
    assert manifest["quantization"]["weight_dtype"] == "int8"
    assert manifest["quantization"]["reduce_range"] is False
    assert _largest_quantized_weight(result.path / "model.onnx") == 127
    assert manifest["runtime"]["ort_target_platform"] == ("arm" if target == "arm64" else "any")
    if exact:
        assert manifest["parity"]["status"] == "passed"
        assert manifest["parity"]["top1_agreement"] >= 0.98
    else:
        assert manifest["parity"]["status"] == "pending-target"
        assert manifest["parity"]["top1_agreement"] is None
        assert "measured on this host anyway: max |diff|" in manifest["parity"]["note"]


def test_coreml_spec_types_and_int8_weights(exported):
    for precision, weight in (("fp16", "FLOAT16"), ("int8", "INT8")):
        bundle = read_bundle(exported[("coreml", precision)].path)
        spec = ct.utils.load_spec(str(bundle.model_path))
        dtype = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
        inputs = [(f.name, list(f.type.multiArrayType.shape), dtype(f.type.multiArrayType.dataType))
                  for f in spec.description.input]
        assert inputs == [("image", [1, 3, 32, 32], "FLOAT32"), ("question", [1, 64], "INT32"),
                          ("padding_mask", [1, 64], "INT32")]
        assert [(f.name, dtype(f.type.multiArrayType.dataType))
                for f in spec.description.output] == [("logits", "FLOAT32")]
        assert spec.WhichOneof("Type") == "mlProgram"
        manifest = bundle.manifest
        assert manifest["runtime"]["minimum_deployment_target"] == "iOS17"
        assert [i["dtype"] for i in manifest["inputs"]] == ["float32", "int32", "int32"]
        assert max(manifest["runtime"]["spec_check"]["weight_share"].items(),
                   key=lambda item: item[1])[0] == weight
    ops = {op.type for op in spec.mlProgram.functions["main"].block_specializations[
        spec.mlProgram.functions["main"].opset].operations}
    assert "constexpr_affine_dequantize" in ops


def test_torchscript_records_whether_it_was_optimized_for_mobile(exported):
    runtime = read_bundle(exported[("torchscript", "int8")].path).manifest["runtime"]
    assert runtime["quantized_engine"] == "x86"  # torch's engine for the x86_64 target
    # Oracle: whether optimize_for_mobile runs at all in this torch build, tried on a Linear.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimize_for_mobile(torch.jit.trace(torch.nn.Linear(2, 2).eval(), torch.ones(1, 2)))
        optimizable = True
    except RuntimeError:
        optimizable = False
    assert runtime["optimize_for_mobile"] == optimizable
    if not runtime["optimize_for_mobile"]:
        assert "XNNPACK" in runtime["optimize_for_mobile_note"]


def test_bundle_carries_the_checkpoints_tokenizer_and_kernel_needs(exported, checkpoint):
    bundle = read_bundle(exported[("executorch", "int8")].path)
    stored = read_checkpoint(checkpoint).tokenizer
    assert Tokenizer(bundle.tokenizer_path()).sha256 == stored["sha256"]
    assert bundle.manifest["tokenizer"]["sha256"] == stored["sha256"]
    assert bundle.manifest["tokenizer"]["max_len"] == stored["max_len"]
    assert "quantized" in bundle.manifest["runtime"]["kernel_libraries"]


def test_executorch_records_what_runs_in_xnnpack(exported):
    """The matmuls run in XNNPACK; LayerNorm, which XNNPACK has no op for, is counted outside.
    beit3_tiny by hand: 2 layers x 4 LayerNorms (attention input, attention sub-LN, FFN input,
    FFN sub-LN) x 2 multiway copies (image, text), plus the pooler's and the head's, less the
    last layer's text copies after its attention input (it runs for the first image token): 15."""
    for precision in ("fp32", "int8"):
        runtime = read_bundle(exported[("executorch", precision)].path).manifest["runtime"]
        delegation = runtime["delegation"]
        assert delegation["delegate_calls"] >= 1 and delegation["delegated_ops"] > 0
        assert delegation["non_delegated_ops"] == sum(delegation["non_delegated"].values())
        outside = delegation["non_delegated"]
        assert not any("linear" in name or "bmm" in name for name in outside), outside
        assert outside["aten.native_layer_norm.default"] == 2 * 2 * 2 * 2 + 2 - 3
        # Attention head by head: its matmuls and softmax inside, none of the mask guards
        # (any, where) that scaled_dot_product_attention's decomposition leaves outside.
        assert runtime["attention"] == "headwise"
        assert not {"aten.any.dim", "aten.where.self", "aten._softmax.default"} & set(outside)
