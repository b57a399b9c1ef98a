"""Every command, given bad input as a new user would give it: exit code 2, one line, no traceback.

Each case runs the real command in a fresh process. A user error found after the flags were
parsed prints exactly one line, `error: <culprit>: <problem>`; a flag value that argparse itself
rejects prints argparse's usage lines and then one `<prog>: error: ...` line (its standard form,
kept on purpose: the usage reminds of the flags). Either way the exit code is 2 and no traceback
appears. The cases run concurrently (four processes at a time) to keep the test short; the
messages of similar files (damaged checkpoints, other formats) are unit-tested beside their code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from test_bundle import _manifest

from vqa.bundle import MANIFEST_NAME, write_manifest
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.errors import NoSpaceError, no_space, run_main
from vqa.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
FILES = ("empty", "noise", "pickled", "plain", "folder", "results", "full", "blank", "recipe",
         "nan_recipe", "half_epochs", "noise_recipe", "nine", "bundles")
BROKEN_BUNDLES = ("escape", "linked", "wrong_sha", "missing_key", "missing_model",
                  "bad_tokenizer", "bad_json", "duplicate_answer")
OUTSIDE = "../" * 12 + "etc/passwd"


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    expected: str  # in the error line
    argparse: bool = False  # argparse's own usage error


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def _digest(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _broken_bundles(root: Path) -> None:
    """One bundle a defect, each otherwise whole (its files match its manifest)."""
    for name in BROKEN_BUNDLES:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"onnx bytes")
        (folder / "tokenizer.spm").write_bytes(b"not a sentencepiece model")
        answers = "yes\nyes\n" if name == "duplicate_answer" else "yes\nunanswerable\n"
        (folder / "answers.txt").write_text(answers, "utf-8")
        write_manifest(folder, _manifest(folder))
    manifest = json.loads((root / "escape" / MANIFEST_NAME).read_text())
    del manifest["files"]["model.onnx"]
    manifest["model_file"] = OUTSIDE
    manifest["files"][OUTSIDE] = _digest(Path("/etc/passwd"))  # that file's true digest
    (root / "escape" / MANIFEST_NAME).write_text(json.dumps(manifest))
    (root / "outside.onnx").write_bytes(b"onnx bytes")
    (root / "linked" / "model.onnx").unlink()
    (root / "linked" / "model.onnx").symlink_to(root / "outside.onnx")  # same bytes
    (root / "wrong_sha" / "model.onnx").write_bytes(b"other bytes")
    manifest = json.loads((root / "missing_key" / MANIFEST_NAME).read_text())
    del manifest["tokenizer"]
    (root / "missing_key" / MANIFEST_NAME).write_text(json.dumps(manifest))
    (root / "missing_model" / "model.onnx").unlink()
    (root / "bad_json" / MANIFEST_NAME).write_text('{"format": "onnx",')


def _files(root: Path) -> dict[str, Path]:
    """The bad files the cases point at, each made here so the culprit is known."""
    paths = {
        "empty": root / "empty.pth",
        "noise": root / "noise.pth",
        "pickled": root / "pickled.pth",
        "plain": root / "plain.pkl",
        "folder": root / "run",
        "results": root / "results.jsonl",
        "full": root / "full",
        "blank": root / "blank",
        "recipe": root / "teacher.toml",
        "nan_recipe": root / "nan.toml",
        "half_epochs": root / "half.toml",
        "noise_recipe": root / "noise.toml",
        "nine": root / "nine",
        "bundles": root / "bundles",
    }
    assert set(paths) == set(FILES)
    paths["recipe"].write_text('arch = "beit3_tiny"\nno-such-key = 1\n')
    paths["nan_recipe"].write_text("lr = nan\n")
    paths["half_epochs"].write_text("epochs = 1.5\n")
    paths["noise_recipe"].write_bytes(random.Random(1).randbytes(4096))
    with paths["plain"].open("wb") as stream:
        pickle.dump({"model": {}}, stream)  # pickle's protocol, not torch.save's format
    _broken_bundles(paths["bundles"])
    nine = write_vizwiz_fixture(paths["nine"], n_train=6, n_val=2, n_test=0)
    annotations = nine / "VizWizAnnotations" / "train.json"
    entries = json.loads(annotations.read_text())
    entries[3]["answers"] = entries[3]["answers"][:9]
    annotations.write_text(json.dumps(entries))
    paths["empty"].write_bytes(b"")
    paths["noise"].write_bytes(random.Random(0).randbytes(4096))
    torch.save({"model": {}, "hook": _Payload()}, paths["pickled"])
    paths["folder"].mkdir()
    paths["results"].write_text('{"label": "kept"}\n')
    write_vizwiz_fixture(paths["full"], n_train=5, n_val=0, n_test=0)
    vizwiz = write_vizwiz_fixture(paths["blank"], n_train=6, n_val=2, n_test=0)
    annotations = vizwiz / "VizWizAnnotations" / "train.json"
    text = annotations.read_text()
    # Entry 0 asks "what color is the shape?" (the question kinds cycle from colour).
    annotations.write_text(text.replace('"what color is the shape?"', '" \\u200b "', 1))
    return paths


def _cases(p: dict[str, Path]) -> list[Case]:
    tiny = ("--arch", "beit3_tiny", "--img-size", "32", "--num-workers", "0")
    scratch = p["folder"].parent

    def train(name: str, data: str = "easy-vqa") -> tuple[str, ...]:
        return ("-m", "train", "finetune", "--data", data, *tiny, "--out", str(scratch / name))

    demo = (str(ROOT / "scripts" / "easy_vqa_demo.py"), "--out", str(scratch / "demo"))
    evaluate = ("-m", "train", "evaluate", "--data", "easy-vqa", "--out", str(scratch / "p.json"))

    def bench(name: str, *extra: str) -> tuple[str, ...]:
        return ("-m", "benchmark", str(p["bundles"] / name), "--no-baselines", "--no-roofline",
                "--out", str(scratch / f"{name}.jsonl"), *extra)

    broken = {
        "escape": f"model_file: {OUTSIDE!r} is not a path inside the bundle folder",
        "linked": "model_file: 'model.onnx' leads outside the bundle folder",
        "wrong_sha": "model.onnx: does not match the manifest",
        "missing_key": "does not follow the schema",
        "missing_model": "model.onnx is listed in the manifest but missing",
        "bad_tokenizer": "tokenizer.spm: not a SentencePiece model",
        "bad_json": "manifest.json: not valid JSON",
        "duplicate_answer": "answers.txt, line 2: duplicate answer 'yes'",
    }
    assert set(broken) == set(BROKEN_BUNDLES)
    return [
        *(Case(f"benchmark: bundle {name}", bench(name), expected)
          for name, expected in broken.items()),
        Case("benchmark: more threads than CPUs", bench("wrong_sha", "--threads", "100000"),
             "--threads 100000: this process may run on"),
        Case("train: an image size no memory holds", (*train("big"), "--img-size", "100000"),
             "--img-size 100000: 39062564 tokens a sample"),
        Case("fixtures: images no memory holds",
             ("-m", "vqa.data.fixtures", str(scratch / "huge"), "--img-size", "100000", "100000"),
             "--img-size 100000 100000: at most 4096 pixels a side"),
        Case("train: NaN learning rate", (*train("nan"), "--lr", "nan"),
             "--lr: expected a finite number, got nan", argparse=True),
        Case("train: NaN learning rate in a recipe",
             (*train("nan2"), "--config", str(p["nan_recipe"])),
             "nan.toml: lr: expected a finite number, got nan"),
        Case("train: fractional epochs in a recipe",
             (*train("half"), "--config", str(p["half_epochs"])),
             "half.toml: epochs: expected a whole number, got 1.5"),
        Case("train: a recipe of random bytes",
             (*train("noise"), "--config", str(p["noise_recipe"])),
             "noise.toml: not a recipe (TOML is UTF-8 text)"),
        Case("train: nine answers in a VizWiz entry", train("nine", f"vizwiz:{p['nine']}"),
             "train.json: entry 3 (image 'VizWiz_train_00000003.jpg'): 9 answers; VizWiz has 10"),
        Case("evaluate: a plain pickle", (*evaluate, str(p["plain"])),
             "plain.pkl: not a readable PyTorch checkpoint: damaged, or another kind of file (a "
             "plain pickle file, not one written by torch.save)"),
        Case("export: NaN tolerance",
             ("-m", "export", str(p["empty"]), "--format", "onnx", "--max-abs-diff", "nan"),
             "--max-abs-diff: expected a finite number, got nan", argparse=True),
        Case("train: unknown device", (*train("a"), "--device", "bogus"), "--device 'bogus'"),
        Case("train: cuda without a GPU", (*train("b"), "--device", "cuda"), "no CUDA device"),
        Case("train: fewer samples than a batch",
             (*train("small"), "--limit-train", "4", "--limit-val", "4", "--batch-size", "16"),
             "4 training samples are fewer than one global batch of 16"),
        Case("train: missing VizWiz folder", train("d", "vizwiz:/nonexistent"),
             "no VizWiz data at /nonexistent"),
        Case("train: empty question, named with file and entry",
             train("e", f"vizwiz:{p['blank']}"),
             "train.json: entry 0 (image 'VizWiz_train_00000000.jpg'): the question is empty"),
        Case("train: pickled --init", (*train("f"), "--init", str(p["pickled"])),
             "--trust-checkpoint"),
        Case("train: negative batch size", (*train("g"), "--batch-size", "-1"),
             "--batch-size: must be >= 1", argparse=True),
        Case("train: unknown arch", ("-m", "train", "describe", "beit3_nope"),
             "unknown architecture 'beit3_nope'"),
        Case("evaluate: 0-byte checkpoint", (*evaluate, str(p["empty"])),
             "empty.pth: the file is empty (0 bytes)"),
        Case("export: negative image size",
             ("-m", "export", str(p["empty"]), "--format", "onnx", "--img-size", "-32"),
             "--img-size: must be >= 1, got -32", argparse=True),
        Case("export: missing checkpoint",
             ("-m", "export", str(p["folder"] / "nope.pth"), "--format", "onnx"),
             "nope.pth: no such checkpoint file"),
        Case("benchmark: mistyped command", ("-m", "benchmark", "scroe", "x.json"),
             "invalid choice: 'scroe'", argparse=True),
        Case("benchmark: results file in the way",
             ("-m", "benchmark", str(p["folder"]), "--out", str(p["results"])),
             "--append to add rows to it or --overwrite"),
        Case("benchmark: bad --data",
             ("-m", "benchmark", str(p["folder"]), "--data", "mnist", "--out",
              str(scratch / "r.jsonl")), "--data 'mnist'"),
        Case("benchmark: nothing to measure", ("-m", "benchmark", "run"),
             "give bundle folders, or --checkpoint"),
        Case("score: missing predictions",
             ("-m", "benchmark", "score", str(p["folder"] / "p.json"), "--annotations",
              str(p["folder"] / "a.json")), "p.json: predictions file not found"),
        Case("fixtures: tiny images",
             ("-m", "vqa.data.fixtures", str(scratch / "h"), "--img-size", "8", "8"),
             "--img-size 8 8: images must be at least 16 x 16 pixels"),
        Case("fixtures: a VizWiz folder in the way", ("-m", "vqa.data.fixtures", str(p["full"])),
             "holds files already"),
        Case("demo: unknown recipe key", (*demo, "--teacher-recipe", str(p["recipe"])),
             "no-such-key"),
        Case("demo: negative run count", (*demo, "--runs", "-1"),
             "--runs: must be >= 1, got -1", argparse=True),
        Case("demo: --out is a file", (*demo, "--out", str(p["results"])),
             "exists and is not a folder"),
    ]


def _run(case: Case) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VQA_DEBUG": ""}
    return subprocess.run(
        [sys.executable, *case.argv], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, tuple[Case, subprocess.CompletedProcess]]:
    cases = _cases(_files(tmp_path_factory.mktemp("bad_input")))
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = list(pool.map(_run, cases))
    return {case.name: (case, result) for case, result in zip(cases, done, strict=True)}


NAMES = [case.name for case in _cases(dict.fromkeys(FILES, Path("/x")))]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_ends_with_one_line_and_exit_code_2(outcomes, name):
    case, result = outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1, result.stderr
    if case.argparse:
        assert lines[0].startswith("usage: ") and lines[-1] == errors[0], result.stderr
    else:
        assert lines == errors and lines[0].startswith("error: "), result.stderr
    assert case.expected in errors[0], errors[0]


def test_a_failed_start_leaves_nothing_that_blocks_the_corrected_command(outcomes):
    case, result = outcomes["train: fewer samples than a batch"]
    assert result.returncode == 2
    assert not Path(case.argv[case.argv.index("--out") + 1]).exists()  # no run.json, no folder


def test_the_results_file_and_the_real_data_are_left_untouched(outcomes):
    case, _ = outcomes["benchmark: results file in the way"]
    assert Path(case.argv[case.argv.index("--out") + 1]).read_text() == '{"label": "kept"}\n'
    case, _ = outcomes["fixtures: a VizWiz folder in the way"]
    train = Path(case.argv[-1]) / "VizWiz" / "VizWizAnnotations" / "train.json"
    assert len(train.read_text()) > 0 and '"VizWiz_train_00000004.jpg"' in train.read_text()


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    def main(argv):
        raise NoSpaceError(tmp_path / "last.pth")

    assert run_main(main, []) == 2
    assert capsys.readouterr().err == f"error: no space left on {tmp_path / 'last.pth'}\n"
    monkeypatch.setenv("VQA_DEBUG", "1")
    assert run_main(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback")
    assert err.endswith(f"error: no space left on {tmp_path / 'last.pth'}\n")


def test_a_full_disk_is_named_and_the_old_file_kept(tmp_path, monkeypatch):
    target = tmp_path / "notes.txt"
    target.write_text("old")

    def disk_full(self, data):  # half a file, then the disk is full
        with open(self, "wb") as handle:
            handle.write(data[:1])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(NoSpaceError, match=f"^no space left on {target}$"):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no temporary left


def test_no_space_reads_the_errno_under_a_wrapped_error(tmp_path):
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : write failed") from inner
    except RuntimeError as outer:
        assert str(no_space(outer, tmp_path)) == f"no space left on {tmp_path}"
    assert no_space(RuntimeError("shape mismatch"), tmp_path) is None  # tmp_path has room


def test_no_space_tells_a_full_disk_by_its_free_space(tmp_path, monkeypatch):
    # ONNX Runtime's own message for a failed write names no errno; 100 bytes free does.
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=100))
    failed = RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Failed to write model.onnx")
    assert str(no_space(failed, tmp_path / "out")) == f"no space left on {tmp_path / 'out'}"
