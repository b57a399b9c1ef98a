"""--int4 bundles (ONNX, ExecuTorch; Core ML by its spec) and --vocab-from bundles.

int4 agreement is measured on a model that has learnt something: beit3_tiny trained for a few
hundred steps on easy-VQA questions (random weights give near-tied logits, whose top-1 flips
under any quantization). The oracles are the runtimes themselves, run here on easy-VQA test
questions the exporter did not use, against the PyTorch fp32 model; onnx for the graph; protobuf
for the Core ML spec; sentencepiece for the cut tokenizer written into a bundle.
"""

import os
from pathlib import Path

import coremltools as ct
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import sentencepiece as spm
import torch
from coremltools.proto import MIL_pb2
from easy_vqa_tiny import IMG, WIDTH, encode, train_tiny

from export import ExportRequest, export_bundles
from export.__main__ import main as export_main
from export.errors import ExportError
from export.formats import ExportSettings
from vqa.bundle import read_bundle
from vqa.checkpoint import load_model, save_checkpoint, tokenizer_record
from vqa.data import easy_vqa_answers, load_easy_vqa
from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece

# README.md: blocks of 128 (ONNX, Core ML) and 64 (ExecuTorch) need a width of 4 blocks at least;
# narrower models get 32. 64 < 4 x 64, so every format takes 32 here.
BLOCK = {"onnx": 32, "coreml": 32, "executorch": 32}
TEST_SAMPLES = 300
PARITY_INPUTS = 100
MIN_AGREEMENT = 0.95  # the int4 gate in export.parity.DEFAULT_THRESHOLDS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("easy_vqa_tiny")
    questions = [s.question for s in load_easy_vqa("train")]
    tokenizer = Tokenizer(train_sentencepiece(questions, folder / "easy.spm"), max_len=16)
    model = train_tiny(tokenizer)
    path = folder / "student.pth"
    save_checkpoint(
        path, model, answers=easy_vqa_answers(),
        tokenizer=tokenizer_record(tokenizer.model_bytes, tokenizer.max_len),
    )
    return path


def _export_int4(checkpoint: Path, formats: tuple[str, ...], out: Path) -> dict:
    """{format: BundleResult} of an --int4 export with parity on easy-VQA val questions."""
    request = ExportRequest(
        checkpoint, formats=formats, precision="int4", out_dir=out, target="x86_64",
        data="easy-vqa", parity_inputs=PARITY_INPUTS, coreml_deployment_target="iOS18",
    )
    return {r.format: r for r in export_bundles(request, log=lambda message: None)}


@pytest.fixture(scope="module")
def bundles(checkpoint, tmp_path_factory):
    return _export_int4(checkpoint, ("onnx", "coreml"), tmp_path_factory.mktemp("int4"))


@pytest.fixture(scope="module")
def executorch_bundle(checkpoint, tmp_path_factory):
    """The ExecuTorch lowering takes over a minute on two cores; scripts/bench_small_bundles.py
    exports it too."""
    return _export_int4(checkpoint, ("executorch",), tmp_path_factory.mktemp("int4_et"))[
        "executorch"
    ]


@pytest.fixture(scope="module")
def fresh(checkpoint):
    """easy-VQA test inputs (not the exporter's val inputs) and the fp32 model's answers."""
    tokenizer = Tokenizer(checkpoint.parent / "easy.spm", max_len=16)
    samples = load_easy_vqa("test")[:: len(load_easy_vqa("test")) // TEST_SAMPLES][:TEST_SAMPLES]
    inputs = encode(samples, tokenizer)
    with torch.no_grad():
        reference = load_model(checkpoint)(*inputs).numpy()
    answers = easy_vqa_answers()
    truth = np.array([answers.index(s.answers[0]) for s in samples])
    majority = max(np.bincount(truth)) / len(truth)  # always answering "yes"
    assert (reference.argmax(1) == truth).mean() > majority + 0.05  # it learnt beyond the prior
    return inputs, reference


def _check_int4_manifest(result) -> None:
    assert result.status == "passed", result.message
    manifest = read_bundle(result.path).manifest
    assert manifest["precision"] == "int4"
    q = manifest["quantization"]
    assert (q["bits"], q["block_size"], q["symmetric"]) == (4, BLOCK[result.format], True)
    assert manifest["parity"]["thresholds"] == {"min_top1": MIN_AGREEMENT}
    assert manifest["parity"]["n_inputs"] == PARITY_INPUTS
    assert manifest["parity"]["top1_agreement"] >= MIN_AGREEMENT


@pytest.mark.parametrize(
    ("width", "preferred", "block"),
    [(768, 128, 128), (1024, 64, 64), (512, 128, 128), (384, 128, 32), (256, 64, 64),
     (64, 64, 32), (64, 128, 32)],
)
def test_int4_block_is_the_preferred_one_from_four_blocks_a_row(width, preferred, block):
    # README.md: the format's block when the model is at least four blocks wide, else 32
    settings = ExportSettings("int4", "x86_64", 64, 16, 13, width=width)
    assert settings.int4_block(preferred) == block


def test_int4_bundles_pass_their_parity_gate(bundles):
    _check_int4_manifest(bundles["onnx"])
    assert bundles["coreml"].status == "pending-macos"


def _agreement(outputs: np.ndarray, reference: np.ndarray) -> float:
    return float((outputs.argmax(1) == reference.argmax(1)).mean())


def test_onnx_int4_runs_4bit_matmuls_and_agrees_on_fresh_questions(bundles, fresh):
    bundle = read_bundle(bundles["onnx"].path)
    graph = onnx.load(str(bundle.model_path)).graph
    weights = {init.name for init in graph.initializer}
    nbits = [n for n in graph.node if n.op_type == "MatMulNBits"]
    # 2 layers x 2 experts x (q, k, v, out, fc1, fc2), less the last layer's text expert but
    # its keys and values (q, out, fc1, fc2): that layer runs for the pooled first image token
    layers = [n.name for n in nbits if "/encoder/layers." in n.name]
    assert len(layers) == 2 * 2 * 6 - 4, " ".join(sorted(layers))
    last_text = [name for name in layers if "layers.1/" in name and "/B/" in name]
    assert len(last_text) == 2 and all("k_proj" in n or "v_proj" in n for n in last_text)
    for node in nbits:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert (attrs["bits"], attrs["block_size"]) == (4, BLOCK["onnx"])
    for node in graph.node:  # no float weight matrix is left to a plain MatMul or Gemm
        if node.op_type in ("MatMul", "Gemm"):
            assert node.input[1] not in weights, node.name
    # the answer classifier (head.3: 2 x WIDTH inputs, 13 answers) alone has int8 weights
    int8 = [n for n in graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    assert [n.name.split("/")[2] for n in int8] == ["head.3"]
    shape = next(i.dims for i in graph.initializer if i.name == int8[0].input[1])
    assert list(shape) == [2 * WIDTH, 13]
    (inputs, reference) = fresh
    for name in (bundle.manifest["model_file"], "model.ort"):
        session = ort.InferenceSession(str(bundle.path / name), providers=["CPUExecutionProvider"])
        names = ("image", "question", "padding_mask")
        feed = {name: tensor.numpy() for name, tensor in zip(names, inputs, strict=True)}
        assert _agreement(session.run(["logits"], feed)[0], reference) >= MIN_AGREEMENT


@pytest.mark.slow
def test_executorch_int4_agrees_on_fresh_questions_and_is_smaller(
    executorch_bundle, fresh, checkpoint
):
    from executorch.runtime import Runtime

    _check_int4_manifest(executorch_bundle)
    bundle = read_bundle(executorch_bundle.path)
    method = Runtime.get().load_program(bundle.model_path).load_method("forward")
    (inputs, reference) = fresh
    outputs = np.concatenate(
        [method.execute([t[i : i + 1] for t in inputs])[0].numpy() for i in range(len(reference))]
    )
    assert _agreement(outputs, reference) >= MIN_AGREEMENT
    model = load_model(checkpoint)
    fp32_bytes = 4 * sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    # 4 bits and a scale a group of 32 would save 3.4 of every 4 bytes of the Linear weights,
    # and int8 rows 3 of every 4 bytes of the text and position tables; ask for 2.4 and 2 (the
    # program and delegate headers weigh on so small a model)
    tables = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    assert bundle.model_bytes() < fp32_bytes - 0.6 * 4 * linear - 0.5 * 4 * tables


def test_coreml_int4_spec_stores_4bit_blocks_for_ios18(bundles):
    bundle = read_bundle(bundles["coreml"].path)
    assert bundle.manifest["runtime"]["minimum_deployment_target"] == "iOS18"
    spec = ct.utils.load_spec(str(bundle.model_path))
    function = spec.mlProgram.functions["main"]
    ops = function.block_specializations[function.opset].operations
    blocks = [op for op in ops if op.type == "constexpr_blockwise_shift_scale"]
    assert blocks
    kinds = []
    for op in blocks:
        data = op.inputs["data"].arguments[0].value.type.tensorType
        scale = op.inputs["scale"].arguments[0].value.type.tensorType
        kinds.append(MIL_pb2.DataType.Name(data.dataType))
        shape = [d.constant.size for d in data.dimensions]
        if kinds[-1] == "INT4":  # a matrix: one scale a block of inputs
            rows, cols = shape
            assert [d.constant.size for d in scale.dimensions] == [rows, cols // BLOCK["coreml"]]
        else:  # the patch projection [D, 3, 8, 8]: one int8 scale an output channel
            assert shape[1:] == [3, 8, 8] and kinds[-1] == "INT8"
    # the layers' matrices as in ONNX (the last layer's text q, out, fc1, fc2 are not read),
    # pooler.dense, head.0 and head.3
    assert kinds.count("INT8") == 1 and kinds.count("INT4") == 2 * 2 * 6 - 4 + 3
    share = bundle.manifest["runtime"]["spec_check"]["weight_share"]
    assert share["INT4"] + share["INT8"] >= 0.9 and share["INT4"] > share["INT8"]


def test_coreml_int4_needs_ios18(checkpoint, tmp_path):
    request = ExportRequest(
        checkpoint, formats=("coreml",), precision="int4", out_dir=tmp_path,
        coreml_deployment_target="iOS17",
    )
    with pytest.raises(ExportError, match="--coreml-target iOS17: .* need iOS18"):
        export_bundles(request, log=lambda message: None)
    assert not any(tmp_path.iterdir())


def test_torchscript_says_it_has_no_4bit_path(checkpoint, tmp_path, capsys):
    code = export_main([str(checkpoint), "--format", "torchscript", "--int4", "--out",
                        str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--int4" in err and "no 4-bit path" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


# --vocab-from ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def beit3_spm() -> Path:
    value = os.environ.get("BEIT3_SPM", "")
    if not value or not Path(value).is_file():
        pytest.skip("BEIT3_SPM not set or file missing: the --vocab-from export needs beit3.spm")
    return Path(value)


@pytest.fixture()
def beit3_vocab_checkpoint(beit3_spm, tmp_path) -> tuple[Path, torch.nn.Module, Tokenizer]:
    """A tiny model with BEiT-3's full vocabulary and tokenizer, saved: (path, model, tokenizer)."""
    full = Tokenizer(beit3_spm, max_len=16)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=13, vocab_size=64010, img_size=IMG).eval()
    path = tmp_path / "beit3vocab.pth"
    save_checkpoint(path, model, answers=easy_vqa_answers(),
                    tokenizer=tokenizer_record(full.model_bytes, full.max_len))
    return path, model, full


def test_vocab_cut_bundle_gives_the_full_models_logits(
    beit3_spm, beit3_vocab_checkpoint, tmp_path
):
    path, model, full = beit3_vocab_checkpoint
    words = tmp_path / "words.txt"
    words.write_text("thermostat\n", encoding="utf-8")
    code = export_main([str(path), "--format", "onnx", "--out", str(tmp_path / "b"),
                        "--vocab-from", "easy-vqa", "--vocab-words", str(words),
                        "--data", "easy-vqa", "--parity-inputs", "4"])
    assert code == 0
    (folder,) = (tmp_path / "b").iterdir()
    assert folder.name.endswith("-vocabcut")
    bundle = read_bundle(folder)
    cut = bundle.manifest["tokenizer"]["vocab_cut"]
    assert cut["data"] == "easy-vqa" and cut["given_changed_share"] == 0.0
    assert cut["logits_max_abs_diff"] == 0.0 and cut["words"] == 1
    processor = spm.SentencePieceProcessor(model_file=str(bundle.tokenizer_path()))
    assert processor.get_piece_size() + 1 == cut["rows_kept"]
    assert bundle.manifest["tokenizer"]["vocab_size"] == cut["rows_kept"] < 2000
    graph = onnx.load(str(bundle.model_path)).graph
    (embed,) = [i for i in graph.initializer if i.name == "beit3.text_embed.weight"]
    assert list(embed.dims) == [cut["rows_kept"], 64]

    samples = load_easy_vqa("val")[:6]
    cut_tokenizer = Tokenizer(bundle.tokenizer_path(), max_len=16)
    images, cut_ids, cut_mask = encode(samples, cut_tokenizer)
    full_ids, full_mask = full([s.question for s in samples])
    assert not torch.equal(cut_ids, full_ids)
    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"image": images.numpy(), "question": cut_ids.numpy(),
                                   "padding_mask": cut_mask.numpy()})[0]
    with torch.no_grad():
        expected = model(images, full_ids, full_mask).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    reference = spm.SentencePieceProcessor(model_file=str(beit3_spm))
    for text in ("thermostat", "what shape is in the image?"):  # word list, easy-VQA question
        assert processor.encode(text, out_type=str) == reference.encode(text, out_type=str)


# benchmark and report -----------------------------------------------------------------------------


def test_report_places_int4_and_cut_vocabulary_rows_with_their_change(tmp_path):
    from test_benchmark_results import make_row

    from benchmark.report import markdown_table, point_name, write_report
    from benchmark.results import validate_row

    def row(label, fmt, precision, accuracy, size):
        return make_row(
            label, format=fmt, precision=precision, model={"checkpoint_sha256": "a" * 64},
            run_id="r", memory={"peak_rss_bytes": 10**8, "model_file_bytes": size},
            accuracy={"data": "easy-vqa", "split": "test", "n": 100, "overall": accuracy},
        )

    rows = [
        row("pytorch-fp32", "pytorch", "fp32", 90.0, 4 * 10**8),
        row("student-onnx-int8", "onnx", "int8", 89.5, 10**8),
        row("student-onnx-int4-x86_64", "onnx", "int4", 89.0, 6 * 10**7),
        row("student-onnx-int4-x86_64-vocabcut", "onnx", "int4", 89.0, 3 * 10**7),
    ]
    for r in rows:
        validate_row(r)  # the results schema knows int4
    names = [point_name(r, r["label"], rows) for r in rows]
    assert names == [
        "pytorch-fp32",
        "student-onnx-int8 (-0.50 pp)",
        "student-onnx-int4-x86_64 (-1.00 pp)",
        "student-onnx-int4-x86_64-vocabcut (-1.00 pp)",
    ]
    assert "| student-onnx-int4-x86_64-vocabcut | " in markdown_table(rows)
    report = write_report(rows, tmp_path / "report").read_text(encoding="utf-8")
    assert "accuracy_vs_size.png" in report and "accuracy_vs_latency.png" in report


def test_benchmark_baselines_take_the_full_tokenizer_beside_a_cut_bundle(
    beit3_vocab_checkpoint, tmp_path
):
    from benchmark.plan import baseline_targets, bundle_target

    path, _, full = beit3_vocab_checkpoint
    assert export_main([str(path), "--format", "onnx", "--out", str(tmp_path / "b"),
                        "--vocab-from", "easy-vqa", "--parity-inputs", "2"]) == 0
    (folder,) = (tmp_path / "b").iterdir()
    taken: set[str] = set()
    bundle = bundle_target(folder, taken)
    assert bundle.precision == "fp32" and bundle.error is None
    pair = baseline_targets([bundle], path, taken, tmp_path / "work")
    assert [t.precision for t in pair] == ["fp32", "int8"]
    for target in pair:  # the checkpoint's own (full) tokenizer, not the bundle's cut one
        assert Tokenizer(target.tokenizer_path).sha256 == full.sha256
        assert target.error is None
