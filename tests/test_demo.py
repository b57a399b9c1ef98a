"""The demo's chain at a toy budget: teacher, distilled student, ONNX fp32 + int8, benchmark on a
few test questions, the trade-off table, its own checks (a missed target exits 1 and says by how
much), and a rerun that reuses every finished step."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "scripts" / "easy_vqa_demo.py"
TOY = """data = "easy-vqa"
arch = "{arch}"
img-size = 32
text-len = 22
epochs = 1
batch-size = 32
lr = 1e-3
warmup-steps = 1
head-lr-mult = 1.0
drop-path = 0.0
augment = false
limit-train = 128
limit-val = 32
num-workers = 0
"""


def _demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, str(DEMO), "--out", str(tmp_path / "demo"),
        "--teacher-recipe", str(tmp_path / "teacher.toml"),
        "--student-recipe", str(tmp_path / "student.toml"),
        "--processes", "1", "--formats", "onnx", "--teacher-formats", "onnx",
        "--parity-inputs", "8", "--min-top1", "0", "--test-questions", "16",
        "--runs", "2", "--warmup", "0", "--progress-every", "5", *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)


def _rows(tmp_path: Path) -> list[dict]:
    text = (tmp_path / "demo" / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    (tmp_path / "teacher.toml").write_text(TOY.format(arch="beit3_easyvqa_teacher"))
    (tmp_path / "student.toml").write_text(TOY.format(arch="beit3_easyvqa_student"))
    loose = ("--min-teacher", "0", "--min-student", "0", "--max-int8-drop", "100")
    return tmp_path, _demo(tmp_path, *loose)


def test_chain_runs_and_meets_loose_targets(first_run):
    tmp_path, result = first_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "demo"
    for path in ("models/teacher.pth", "models/student.pth", "report/report.md",
                 "results.jsonl"):
        assert (out / path).exists(), path
    names = sorted(p.name for p in (out / "bundles").iterdir())
    assert [n.split("-x86")[0] for n in names] == [
        "student-onnx-fp32", "student-onnx-int8", "teacher-onnx-fp32", "teacher-onnx-int8"]
    int8 = [n for n in names if n.startswith("student-onnx-int8")]
    # Each step announced itself with its number, and the table closes the run.
    for number, step in enumerate(("teacher", "student", "export", "benchmark"), 1):
        assert f"[{number}/4] {step}" in result.stdout
    table = result.stdout.split("trade-off table")[1]
    for label in ("student-onnx-fp32", int8[0], "pytorch-fp32 (teacher)",
                  "pytorch-fp32 (student)"):
        assert label in table
    assert "all targets met" in result.stdout
    assert not list(out.glob(".*partial*"))


def test_rerun_reuses_steps_and_names_missed_targets(first_run):
    tmp_path, result = first_run
    assert result.returncode == 0
    again = _demo(tmp_path, "--min-teacher", "101", "--max-int8-drop", "-5")
    assert again.returncode == 1, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("; reused") == 4
    message = again.stderr
    found = re.search(r"teacher accuracy ([\d.]+) % < 101 %: missed by ([\d.]+) points", message)
    assert found, message
    # The gap is the target minus the teacher's accuracy in the results file.
    teacher = next(
        r for r in _rows(tmp_path)
        if r["format"] == "pytorch" and r["precision"] == "fp32" and r["status"] == "ok"
        and r["model"]["params"] == max(x["model"]["params"] for x in _rows(tmp_path))
    )
    assert float(found.group(1)) == pytest.approx(teacher["accuracy"]["overall"], abs=0.005)
    assert float(found.group(2)) == pytest.approx(101 - teacher["accuracy"]["overall"], abs=0.01)
    # Requiring int8 to beat fp32 by 5 points cannot be met: the int8 bundle is named.
    assert re.search(r"student-onnx-int8\S* [\d.]+ % is -?[\d.]+ points below "
                     r"student-onnx-fp32\S* \(.* missed by [\d.]+ points", message), message
