"""`python -m benchmark` end to end on beit3_tiny bundles of every format from `python -m export`.

The bundles are exported once for the module (ExecuTorch lowering takes tens of seconds), from a
tiny model trained for a few steps on a generated VizWiz-format set so that its logits are not
flat. Runners are the real runtimes; only the crash and hang tests swap the measuring process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
import torch

from benchmark.__main__ import main
from benchmark.harness import Harness, RunOptions
from benchmark.results import ResultsFile, read_rows
from benchmark.runners.base import Runner, RunnerSpec
from benchmark.worker import time_runner
from vqa.answers import AnswerVocab
from vqa.bundle import describe_files, read_bundle, write_manifest
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.data import VQADataset, collate, load_vizwiz
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece
from vqa.transforms import eval_transform

REPO = Path(__file__).resolve().parents[1]
FP32_FORMATS = ("torchscript", "onnx", "executorch", "coreml")
INT8_FORMATS = ("torchscript", "onnx", "executorch")
# One thread: tiny models gain nothing from more, and spinning threads slow a busy machine.
FAST = ["--runs", "3", "--warmup", "1", "--latency-inputs", "2", "--threads", "1"]


def _train_tiny(root: Path) -> tuple[Path, Path]:
    """A beit3_tiny checkpoint fitted to the fixture (train + val), and the VizWiz folder."""
    vizwiz = write_vizwiz_fixture(root, n_train=10, n_val=6, n_test=2)
    samples = load_vizwiz(vizwiz, "train") + load_vizwiz(vizwiz, "val")
    spm = train_sentencepiece([s.question for s in samples], root / "tok.spm", vocab_size=60)
    tokenizer = Tokenizer(spm, max_len=16)
    vocab = AnswerVocab.build([s.answers for s in samples], top_k=16)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=len(vocab), vocab_size=tokenizer.vocab_size)
    batch = collate(list(VQADataset(samples, tokenizer, eval_transform(32), vocab)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other
    try:
        for _ in range(30):
            logits = model(batch["image"], batch["question"], batch["padding_mask"])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["targets"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    checkpoint = root / "tiny.pth"
    save_checkpoint(
        checkpoint,
        model.eval(),
        answers=vocab.answers,
        tokenizer=tokenizer_record(tokenizer.model_bytes, tokenizer.max_len),
    )
    return checkpoint, vizwiz


def _export(checkpoint: Path, out: Path, formats: tuple[str, ...], *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "export", str(checkpoint), "--format", *formats,
               "--out", str(out), *extra]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("bench")
    checkpoint, vizwiz = _train_tiny(root)
    out = root / "bundles"
    jobs = [
        _export(checkpoint, out, FP32_FORMATS),
        # int8 parity of a tiny model is not the point here: accept any top-1 agreement.
        _export(checkpoint, out, INT8_FORMATS, "--int8", "--min-top1", "0"),
    ]
    for job in jobs:
        output, _ = job.communicate(timeout=600)
        assert job.returncode == 0, output[-3000:]
    bundles = sorted(p for p in out.iterdir() if (p / "manifest.json").is_file())
    assert len(bundles) == len(FP32_FORMATS) + len(INT8_FORMATS)
    return SimpleNamespace(root=root, checkpoint=checkpoint, vizwiz=vizwiz, bundles=bundles)


@pytest.fixture(scope="module")
def vizwiz_run(work) -> SimpleNamespace:
    out = work.root / "vizwiz" / "results.jsonl"
    report = work.root / "vizwiz" / "report"
    code = main([
        *map(str, work.bundles), "--checkpoint", str(work.checkpoint),
        "--data", f"vizwiz:{work.vizwiz.parent}", "--split", "val", "--limit", "5",
        "--eval-batch", "4", *FAST, "--out", str(out), "--report", str(report),
    ])
    return SimpleNamespace(code=code, rows=read_rows(out), out=out, report=report)


def _bundle_format(path: Path) -> tuple[str, str]:
    manifest = read_bundle(path, verify_files=False).manifest
    return manifest["format"], manifest["precision"]


def test_every_format_gives_a_valid_row(work, vizwiz_run):
    rows = {row["label"]: row for row in vizwiz_run.rows}
    assert vizwiz_run.code == 0
    assert len(rows) == len(work.bundles) + 2
    assert rows["pytorch-fp32"]["status"] == rows["pytorch-int8"]["status"] == "ok"
    engine = {"x86_64": "x86", "amd64": "x86", "arm64": "qnnpack", "aarch64": "qnnpack"}[
        platform.machine().lower()
    ]  # torch's quantized engine of this host's kind of CPU
    assert rows["pytorch-int8"]["runtime"]["details"]["quantized_engine"] == engine
    lite_int8 = next(r for r in rows.values() if (r["format"], r["precision"]) == (
        "torchscript", "int8"))
    assert lite_int8["runtime"]["details"]["quantized_engine"] == engine
    for path in work.bundles:
        row = rows[path.name]
        assert (row["format"], row["precision"]) == _bundle_format(path)
        bundle = read_bundle(path)
        assert row["memory"]["model_file_bytes"] == bundle.model_bytes()
        assert row["memory"]["bundle_bytes"] == bundle.bundle_bytes()
        if row["format"] == "coreml":
            assert row["status"] == "skipped" and "macOS" in row["error"]
            continue
        assert row["status"] == "ok", row.get("error")
    for row in rows.values():
        if row["status"] != "ok":
            continue
        latency = row["latency_ms"]
        assert latency["runs"] == len(latency["samples"]) == 3 and latency["warmup"] == 1
        assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["max"]
        assert latency["load"] > 0 and latency["first_inference"] > 0
        memory = row["memory"]
        assert memory["peak_rss_bytes"] > memory["baseline_rss_bytes"] > 10 * 2**20
        assert 0 <= memory["model_peak_rss_bytes"] < memory["peak_rss_bytes"]
        check = row["machine_check"]
        assert check["start"]["gflops"] > 0 and check["end"]["reference"]["ms_median"] > 0
        assert isinstance(check["disturbed"], bool)
        assert row["threads"] == 1 and row["device"]["kind"] == "host"
        assert row["model"]["macs"] > 0 and row["runtime"]["name"]
        roof = row["roofline"]
        # By hand: a multiply-accumulate is 2 floating-point operations, p50 is in ms, so
        # GFLOP/s = 2 x MACs / (p50 / 1000) / 1e9; the fraction is that over the matmul's.
        assert roof["fraction"] == pytest.approx(roof["achieved_gflops"] / roof["matmul_gflops"])
        assert roof["achieved_gflops"] == pytest.approx(
            2 * row["model"]["macs"] / (latency["p50"] / 1e3) / 1e9
        )


def _vizwiz_accuracy_by_hand(predictions: list[dict], annotations: list[dict]) -> float:
    """The official VizWiz accuracy written out: per question, the mean over its 10 annotators
    of min(1, matching answers among the other 9 / 3), in percent. The fixture's answers and the
    model's answer list are plain lower-case words and digits, which the official normalization
    of the prediction leaves as they are, so an exact match is the official match here."""
    truth = {entry["image"]: [a["answer"] for a in entry["answers"]] for entry in annotations}
    scores = []
    for prediction in predictions:
        answers = truth[prediction["image"]]
        per_annotator = [
            min(1.0, sum(a == prediction["answer"] for a in answers[:k] + answers[k + 1 :]) / 3)
            for k in range(len(answers))
        ]
        scores.append(sum(per_annotator) / len(per_annotator))
    return 100 * sum(scores) / len(scores)


def test_accuracy_equals_benchmark_score(vizwiz_run, capsys):
    scored = [row for row in vizwiz_run.rows if row["status"] == "ok"]
    assert len(scored) == 8
    for row in scored:
        accuracy = row["accuracy"]
        assert accuracy["n"] == 5 and accuracy["split"] == "val"
        capsys.readouterr()
        assert main(["score", accuracy["predictions_file"], "--annotations",
                     accuracy["annotations_file"], "--json"]) == 0
        official = json.loads(capsys.readouterr().out)
        assert accuracy["overall"] == official["accuracy"]["overall"]
        assert accuracy["per_answer_type"] == official["accuracy"]["per_answer_type"]
        assert accuracy["answerability_ap"] == official["answerability"]["average_precision"]
        assert accuracy["answerability_f1"] == official["answerability"]["f1"]
        predictions = json.loads(Path(accuracy["predictions_file"]).read_text("utf-8"))
        assert all(0 <= p["answerable"] <= 1 for p in predictions)
        annotations = json.loads(Path(accuracy["annotations_file"]).read_text("utf-8"))
        assert accuracy["overall"] == pytest.approx(
            _vizwiz_accuracy_by_hand(predictions, annotations), abs=1e-9
        )
    fp32 = [r for r in scored if r["precision"] == "fp32"]
    assert fp32[0]["accuracy"]["overall"] > 0, "the fitted tiny model should answer something"
    for row in fp32:
        assert row["accuracy"]["agreement_fp32"] == 100.0
        assert row["accuracy"]["max_abs_logit_diff_fp32"] < 1e-3


def test_report_and_plots_are_written(vizwiz_run):
    text = (vizwiz_run.report / "report.md").read_text("utf-8")
    for row in vizwiz_run.rows:
        assert f"| {row['label']} |" in text
    assert "| format | precision | size (MB) |" in text and "Pareto" in text
    from matplotlib import colors
    from PIL import Image

    first_series = tuple(round(255 * c) for c in colors.to_rgb("C0"))
    for name in ("accuracy_vs_size.png", "accuracy_vs_latency.png", "latency_distribution.png"):
        with Image.open(vizwiz_run.report / name) as image:
            assert image.format == "PNG"
            pixels = np.asarray(image.convert("RGB")).astype(int)
        assert pixels.shape[1] == 840  # 7 inches at 120 dpi, as the report draws them
        if name != "latency_distribution.png":  # a scatter: the first format's markers in C0
            assert (np.abs(pixels - first_series).max(axis=2) <= 8).any(), name
        assert f"]({name})" in text


def test_easy_vqa_through_a_bundle(work, tmp_path):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    out = tmp_path / "easy.jsonl"
    code = main([str(onnx), "--no-baselines", "--no-roofline", "--data", "easy-vqa",
                 "--split", "test", "--limit", "4", *FAST, "--out", str(out)])
    (row,) = read_rows(out)
    assert code == 0 and row["status"] == "ok" and row["roofline"] is None
    assert row["accuracy"]["data"] == "easy-vqa" and row["accuracy"]["n"] == 4
    predictions = json.loads(Path(row["accuracy"]["predictions_file"]).read_text("utf-8"))
    assert [p["image"] for p in predictions] == [f"easyvqa_test_{i:06d}" for i in range(4)]
    assert row["accuracy"]["agreement_fp32"] is None  # no baselines asked for


def test_broken_bundles_are_refused_and_an_unloadable_model_is_an_error_row(
    work, tmp_path, capsys
):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    tampered = shutil.copytree(onnx, tmp_path / "tampered")
    (tampered / "model.onnx").write_bytes(b"not the exported model")
    broken = shutil.copytree(onnx, tmp_path / "broken")
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    manifest = json.loads((broken / "manifest.json").read_text("utf-8"))
    write_manifest(broken, {**manifest, "files": describe_files(broken)})
    out = tmp_path / "bad.jsonl"
    for bad, expected in ((tmp_path / "absent", "no such bundle"),
                          (tampered, "does not match the manifest")):
        code = main([str(onnx), str(bad), "--no-baselines", "--no-roofline", *FAST,
                     "--out", str(out)])
        assert code == 2 and expected in capsys.readouterr().err
        assert not out.exists()  # refused before anything was measured
    code = main([str(broken), str(onnx), "--no-baselines", "--no-roofline", *FAST,
                 "--out", str(out)])
    rows = {row["label"]: row for row in read_rows(out)}
    assert code == 1
    assert rows["broken"]["status"] == "error" and "while loading" in rows["broken"]["error"]
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("failed: ") and "broken: InvalidProtobuf" in last
    assert rows[onnx.name]["status"] == "ok"


def test_crash_and_hang_become_error_rows(work, tmp_path):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    options = RunOptions(bundles=[onnx], work_dir=tmp_path / "files", baselines=False,
                         roofline=False, runs=2, warmup=0, timeout=3)
    results = ResultsFile(tmp_path / "r.jsonl")
    crash = [sys.executable, "-c", "import os; print('about to crash', flush=True); os.abort()"]
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    (crashed,) = Harness(options, results, progress=lambda _: None, worker_command=crash).run()
    start = time.monotonic()
    (hung,) = Harness(options, results, progress=lambda _: None, worker_command=hang).run()
    assert time.monotonic() - start < 30
    assert crashed["status"] == "error" and "signal SIGABRT" in crashed["error"]
    assert "about to crash" in crashed["error"]
    assert hung["status"] == "error" and "timed out after 3 s" in hung["error"]
    assert [r["status"] for r in read_rows(tmp_path / "r.jsonl")] == ["error", "error"]


def test_ctrl_c_keeps_the_rows_written(work, tmp_path):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    # a bundle that passes the checks before measuring but whose model cannot load: its error
    # row is written before the measurement that the interrupt stops
    unloadable = shutil.copytree(onnx, tmp_path / "unloadable")
    (unloadable / "model.onnx").write_bytes(b"not an onnx model")
    manifest = json.loads((unloadable / "manifest.json").read_text("utf-8"))
    write_manifest(unloadable, {**manifest, "files": describe_files(unloadable)})
    out = tmp_path / "interrupted.jsonl"
    command = [sys.executable, "-m", "benchmark", str(unloadable), str(onnx),
               "--no-baselines", "--no-roofline", "--runs", "100000000", "--out", str(out),
               "--report", str(tmp_path / "report")]
    # SIGINT at its default, as in a terminal, even when the tests run as a background job
    # (which starts with SIGINT ignored, and children inherit that)
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    parent = psutil.Process(proc.pid)
    # generous limits: on a loaded machine starting the worker and drawing the report are slow
    deadline = time.monotonic() + 180
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    while not parent.children() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[1]
    workers = parent.children(recursive=True)
    assert workers, "the measuring process never started"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "interrupted: 1 rows kept" in stderr
    (row,) = read_rows(out)
    assert row["label"] == "unloadable" and row["status"] == "error"
    assert (tmp_path / "report" / "report.md").is_file()
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_baselines_from_the_checkpoint_alone(work, tmp_path):
    out = tmp_path / "ckpt.jsonl"
    code = main(["--checkpoint", str(work.checkpoint), "--no-roofline", *FAST,
                 "--out", str(out), "--data", f"vizwiz:{work.vizwiz}", "--limit", "3"])
    rows = read_rows(out)
    assert code == 0 and [r["label"] for r in rows] == ["pytorch-fp32", "pytorch-int8"]
    assert rows[1]["accuracy"]["agreement_fp32"] is not None
    assert rows[0]["memory"]["model_file_bytes"] == work.checkpoint.stat().st_size
    assert rows[1]["memory"]["model_file_bytes"] is None
    assert any("quantized in memory" in note for note in rows[1]["notes"])


def test_a_wrong_checkpoint_is_refused_for_the_baselines(work, tmp_path):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    other = tmp_path / "other.pth"
    other.write_bytes(work.checkpoint.read_bytes() + b"\0")
    out = tmp_path / "wrong.jsonl"
    main([str(onnx), "--checkpoint", str(other), "--no-roofline", *FAST, "--out", str(out)])
    rows = {row["label"]: row for row in read_rows(out)}
    assert "is not the checkpoint" in rows["pytorch-fp32"]["error"]
    assert rows[onnx.name]["status"] == "ok"



class _AllocatingRunner(Runner):
    """Loads "a model" of exactly MODEL_BYTES (touched) and needs RUN_BYTES more while running."""

    MODEL_BYTES = 200 * 10**6
    RUN_BYTES = 50 * 10**6

    def import_runtime(self) -> None:
        pass

    def load(self) -> None:
        self.weights = np.ones(self.MODEL_BYTES, dtype=np.uint8)

    def predict(self, image, question, mask):
        scratch = np.ones(self.RUN_BYTES, dtype=np.uint8)
        return np.full((1, 3), float(scratch[-1] + self.weights[-1]), dtype=np.float32)

    def runtime_info(self):
        return {"name": "numpy", "version": np.__version__, "details": {}}


def _allocating_runner_memory() -> dict:
    spec = RunnerSpec(format="onnx", precision="fp32", model_path="-", threads=1)
    sample = (np.zeros((1, 3, 32, 32), np.float32), np.zeros((1, 8), np.int64),
              np.zeros((1, 8), np.int64))
    return time_runner(_AllocatingRunner(spec), [sample], warmup=1, runs=2)["memory"]


def test_model_memory_is_what_the_runner_allocates():
    # In a fresh process, as the harness runs each model: memory that this pytest process freed
    # after earlier tests could otherwise absorb part of the allocation.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        memory = pool.apply(_allocating_runner_memory)
    tolerance = 20 * 10**6  # allocator slack and whatever else this process touches meanwhile
    expected = _AllocatingRunner.MODEL_BYTES
    assert abs(memory["load_rss_bytes"] - expected) < tolerance
    peak = expected + _AllocatingRunner.RUN_BYTES
    if memory["model_peak_method"] == "VmHWM reset at baseline":
        assert abs(memory["model_peak_rss_bytes"] - peak) < tolerance
    assert memory["peak_rss_bytes"] >= memory["baseline_rss_bytes"] + peak - tolerance


def _busy_loops(count: int, seconds: float) -> list[subprocess.Popen]:
    loop = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    # Each loop in a session of its own, like independent jobs: with the kernel's autogroup
    # scheduling, CPU time is shared between sessions first, and the probes run in their own.
    return [
        subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)
        for _ in range(count)
    ]


def _probed_run(work, tmp_path, name, progress=lambda line: None):
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    options = RunOptions(bundles=[onnx, onnx], work_dir=tmp_path / name, baselines=False,
                         runs=20, warmup=1, threads=1, latency_inputs=2)
    results = ResultsFile(tmp_path / f"{name}.jsonl")
    rows = Harness(options, results, progress=progress).run()
    assert [row["status"] for row in rows] == ["ok", "ok"]
    assert read_rows(results.path) == rows  # the end probe's verdict is in the file too
    return rows[0]["machine_check"]


def test_a_competing_load_mid_run_marks_the_run_disturbed(work, tmp_path):
    """Busy loops (twice as many as CPUs) start when the first model is being measured, after
    the start probe, and run until the run has ended (killed then, 300 s at most), so the end
    probe sees them however slow the run is."""
    competitors: list[subprocess.Popen] = []

    def progress(line: str) -> None:
        if "measuring" in line and not competitors:
            competitors.extend(_busy_loops(2 * (os.cpu_count() or 1), 300))
            time.sleep(1.0)

    try:
        check = _probed_run(work, tmp_path, "busy", progress)
    finally:
        for proc in competitors:
            proc.kill()
            proc.wait()
    assert competitors
    assert check["disturbed"] is True, check
    assert max(abs(change) for change in check["changes"].values()) > check["margin"]
    assert "changed by more than 15 %" in check["reason"]


def test_waiting_run_draws_the_childs_progress_file_as_a_bar(tmp_path, monkeypatch, capsys):
    """The accuracy pass runs in a child whose output goes to its log; the parent draws the
    bar from the `{"done", "total"}` file the child writes (here a child that writes 3 of 7)."""
    from benchmark import harness

    monkeypatch.setattr(harness, "progress_enabled", lambda: True)
    state = tmp_path / "progress.json"
    child = (
        "import json, pathlib, time\n"
        f"pathlib.Path({str(state)!r}).write_text(json.dumps({{'done': 3, 'total': 7}}))\n"
        "time.sleep(2)\n"
    )
    code, _ = harness.run_process(
        [sys.executable, "-c", child], tmp_path / "child.log", 30, dict(os.environ),
        (state, "tiny-onnx-fp32: accuracy pass"),
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "tiny-onnx-fp32: accuracy pass" in err
    assert "3/7" in err


def test_accuracy_pass_writes_how_far_it_is(tmp_path, monkeypatch):
    """With the reporting interval at 0 the child writes after every batch; the last state is
    every sample done (5 samples in batches of 2: 2, 4, 5)."""
    from benchmark import worker

    monkeypatch.setattr(worker, "PROGRESS_EVERY_S", 0.0)
    written = []
    real_write = worker.write_json

    def record(path, data):
        if str(path).endswith("progress.json"):
            written.append(dict(data))
        real_write(path, data)

    monkeypatch.setattr(worker, "write_json", record)

    class Fixed:
        def max_batch(self):
            return None

        def predict(self, image, question, mask):
            return np.tile(np.array([[0.0, 1.0]], np.float32), (len(image), 1))

    class Cache:
        keys = [f"img{i}.png" for i in range(5)]

        def __len__(self):
            return len(self.keys)

    cache = Cache()
    (tmp_path / "answers.txt").write_text("no\nyes\n")
    evaluation = {
        "batch_size": 2, "answers": str(tmp_path / "answers.txt"), "unanswerable_index": None,
        "predictions": str(tmp_path / "pred.json"), "logits": str(tmp_path / "logits.npy"),
        "progress": str(tmp_path / "progress.json"),
    }
    batch = lambda indices: (np.zeros((len(indices), 1)), None, None)  # noqa: E731
    worker._evaluate(Fixed(), cache, batch, evaluation)
    assert [w["done"] for w in written] == [2, 4, 5]
    assert {w["total"] for w in written} == {5}


def _interleaved_command(work, out: Path, *extra: str) -> list[str]:
    onnx = [p for p in work.bundles if _bundle_format(p)[0] == "onnx"]
    coreml = next(p for p in work.bundles if _bundle_format(p)[0] == "coreml")
    return [sys.executable, "-m", "benchmark", str(coreml), *map(str, onnx), "--no-baselines",
            "--no-roofline", "--interleave", "--warmup", "1", "--latency-inputs", "2",
            "--threads", "1", "--out", str(out), *extra]


def test_interleaved_rows_keep_their_time_per_round(work, tmp_path):
    out = tmp_path / "interleaved.jsonl"
    code = main(_interleaved_command(work, out, "--rounds", "7", "--per-round", "2")[3:])
    rows = {row["label"]: row for row in read_rows(out)}
    assert code == 0
    timed = [row for row in rows.values() if row["status"] == "ok"]
    assert [row["format"] for row in timed] == ["onnx", "onnx"]
    for row in timed:
        assert len(row["per_round_ms"]) == row["interleave"]["rounds"] == 7
        assert row["interleave"]["trials"] == [3, 2, 2]  # 3 trials by default
        assert row["interleave"]["targets"] == sorted(r["label"] for r in timed)
        # 2 timed inferences a round, every one kept; a round's time is the median of its two
        samples = row["latency_ms"]["samples"]
        assert row["latency_ms"]["runs"] == len(samples) == 14
        assert row["per_round_ms"] == pytest.approx(
            [(samples[2 * i] + samples[2 * i + 1]) / 2 for i in range(7)])
        assert row["memory"]["model_peak_rss_bytes"] > 0
    skipped = [row for row in rows.values() if row["format"] == "coreml"]
    assert skipped[0]["status"] == "skipped" and "per_round_ms" not in skipped[0]
    # each trial started its own measuring processes, each with a log of its own
    logs = sorted(p.name for p in (tmp_path / "interleaved_files" / "logs").glob("*onnx*"))
    assert len(logs) == 6 and sum("_trial3" in name for name in logs) == 2, logs


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended (or a zombie) meanwhile
        return ""


def _workers_of(run: subprocess.Popen, count: int, timeout: float = 600) -> list:
    """The run's first `count` measuring processes, once they exist."""
    parent = psutil.Process(run.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        workers = [p for p in parent.children(recursive=True)
                   if "benchmark.worker" in _command_line(p)]
        if len(workers) >= count:
            return workers
        time.sleep(0.2)
    output = run.communicate(timeout=60) if run.poll() is not None else ("", "")
    raise AssertionError(f"the measuring processes never started: {output}")


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone(processes: list, timeout: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not any(_running(p) for p in alive)


def test_killing_the_run_with_sigkill_ends_its_measuring_processes(work, tmp_path):
    command = _interleaved_command(work, tmp_path / "killed.jsonl", "--rounds", "100000")
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        workers = _workers_of(proc, 2)
        time.sleep(0.5)
        proc.kill()
        proc.wait()
        assert _gone(workers, timeout=5), [_command_line(w) for w in workers]
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_keeps_the_rows_written_and_exits_130(work, tmp_path):
    coreml = next(p for p in work.bundles if _bundle_format(p)[0] == "coreml")
    onnx = next(p for p in work.bundles if _bundle_format(p) == ("onnx", "fp32"))
    out = tmp_path / "terminated.jsonl"
    command = [sys.executable, "-m", "benchmark", str(coreml), str(onnx), "--no-baselines",
               "--no-roofline", "--runs", "100000000", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        workers = _workers_of(proc, 1)
        time.sleep(1.0)
        proc.terminate()
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted: 1 rows kept" in stderr
    (row,) = read_rows(out)
    assert row["format"] == "coreml" and row["status"] == "skipped"
    assert _gone(workers, timeout=5)
