"""Across languages: the Kotlin core's tensors, run by onnxruntime, answer as `train evaluate` does.

A tiny model is trained for a few steps on easy-VQA and exported to ONNX. The core's command
line (android_demo/core/build/vqa-core.jar, built by `make android-core`) tokenizes the
questions and preprocesses the image files of the first easy-VQA test samples; exactly those
tensors go to onnxruntime; the answers must equal those of `python -m train evaluate` on the
same samples, and the core's `answer` verb must decode the logits to the same answers.
"""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from export.__main__ import main as export_main
from train.cli import main as train_main
from vqa.bundle import read_bundle
from vqa.data import load_easy_vqa
from vqa.tokenizer import Tokenizer
from vqa.transforms import eval_transform

ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / "android_demo" / "core" / "build" / "vqa-core.jar"
N_SAMPLES = 6

pytestmark = [
    pytest.mark.skipif(shutil.which("java") is None, reason="no java on PATH (the core needs it)"),
    pytest.mark.skipif(not JAR.is_file(), reason=f"{JAR} is not built: run `make android-core`"),
]


def core(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-jar", str(JAR), *args], input=stdin, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint trained for a few steps and its ONNX fp32 bundle."""
    root = tmp_path_factory.mktemp("xlang")
    run = root / "run"
    assert train_main([
        "finetune", "--data", "easy-vqa", "--limit-train", "256", "--limit-val", "8",
        "--max-steps", "24", "--batch-size", "16", "--img-size", "32", "--lr", "2e-3",
        "--no-augment", "--arch", "beit3_tiny", "--text-len", "16", "--num-workers", "0",
        "--no-progress", "--out", str(run),
    ]) == 0
    checkpoint = run / "best.pth"
    assert export_main([str(checkpoint), "--format", "onnx", "--fp32", "--out", str(root / "b"),
                        "--parity-inputs", "2"]) == 0
    (bundle,) = (root / "b").iterdir()
    return checkpoint, read_bundle(bundle), root


def test_core_tensors_through_onnxruntime_answer_as_train_evaluate(trained):
    checkpoint, bundle, root = trained
    samples = load_easy_vqa("test", limit=N_SAMPLES)
    max_len = bundle.manifest["tokenizer"]["max_len"]

    tokens = core("tokenize", "--spm", str(bundle.tokenizer_path()), "--max-len", str(max_len),
                  stdin="".join(s.question + "\n" for s in samples))
    assert tokens.returncode == 0, tokens.stderr
    encoded = [json.loads(line) for line in tokens.stdout.splitlines()]
    images = core("preprocess", "--manifest", str(bundle.path / "manifest.json"),
                  *[str(s.image_path) for s in samples])
    assert images.returncode == 0, images.stderr
    tensors = [json.loads(line) for line in images.stdout.splitlines()]
    assert len(encoded) == len(tensors) == N_SAMPLES

    # The core agrees with the Python side it mirrors (sentencepiece ids exactly, PIL pixels).
    tokenizer = Tokenizer(bundle.tokenizer_path(), max_len)
    size = bundle.image_size
    for sample, enc, tensor in zip(samples, encoded, tensors, strict=True):
        assert (enc["ids"], enc["padding_mask"]) == tokenizer.encode(sample.question)
        assert tensor["shape"] == [1, 3, size, size]
        with Image.open(sample.image_path) as image:
            expected = eval_transform(size)(image).numpy()
        np.testing.assert_allclose(np.reshape(tensor["values"], (3, size, size)), expected,
                                   rtol=0, atol=1e-6)

    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    names = [t["name"] for t in bundle.manifest["inputs"]]
    feed = {
        names[0]: np.asarray([t["values"] for t in tensors], dtype=np.float32).reshape(
            N_SAMPLES, 3, size, size),
        names[1]: np.asarray([e["ids"] for e in encoded], dtype=np.int64),
        names[2]: np.asarray([e["padding_mask"] for e in encoded], dtype=np.int64),
    }
    logits = session.run(None, feed)[0]
    answers = bundle.answers()
    ours = [answers[int(i)] for i in logits.argmax(axis=1)]

    predictions = root / "evaluate.json"
    assert train_main(["evaluate", str(checkpoint), "--data", "easy-vqa", "--split", "test",
                       "--limit", str(N_SAMPLES), "--out", str(predictions), "--num-workers",
                       "0", "--no-progress"]) == 0
    theirs = {p["image"]: p["answer"] for p in json.loads(predictions.read_text("utf-8"))}
    assert ours == [theirs[s.key] for s in samples]
    assert len(set(ours)) > 1 or len(set(np.round(logits, 3).flatten())) > 1  # not a dead model

    for row, answer in zip(logits, ours, strict=True):
        decoded = core("answer", "--manifest", str(bundle.path / "manifest.json"),
                       stdin=json.dumps([float(x) for x in row]))
        assert decoded.returncode == 0, decoded.stderr
        result = json.loads(decoded.stdout)
        assert result["answer"] == answer and result["index"] == int(row.argmax())
        assert [t["index"] for t in result["top5"]] == list(np.argsort(-row, kind="stable")[:5])


@pytest.mark.parametrize(
    "args,stdin,message",
    [
        (["fly"], "", "unknown verb 'fly'"),
        (["tokenize"], "what\n", "--spm is required"),
        (["tokenize", "--spm", "/nonexistent.spm"], "what\n", "/nonexistent.spm: cannot read"),
        (["tokenize", "--spm", "{golden}/tokens_small.json"], "what\n", "not a SentencePiece"),
        (["tokenize", "--spm", "{golden}/tokenizer_small.model", "--max-len", "x"], "",
         "--max-len must be an integer"),
        (["tokenize", "--spm", "{golden}/tokenizer_small.model"], "what\n\n",
         "stdin line 2: question is empty"),
        (["answer", "--manifest", "/nonexistent/manifest.json"], "[1]", "no such bundle folder"),
        (["preprocess", "--manifest", "{golden}"], "", "not a bundle (no manifest.json)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, stdin, message):
    golden = str(ROOT / "tests" / "golden")
    done = core(*[a.replace("{golden}", golden) for a in args], stdin=stdin)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Exception" not in done.stderr and "\tat " not in done.stderr
