"""`python -m benchmark report RESULTS --targets FILE`: the trade-off table and the targets, with
every figure derived here by hand from the rows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_benchmark_results import make_row

from benchmark.__main__ import main
from benchmark.targets import check_targets, model_names, read_targets, tradeoff_table

ROOT = Path(__file__).resolve().parent.parent
TEACHER, STUDENT = "t" * 64, "s" * 64
TARGETS = """teacher = "teacher.pth"
student = "student.pth"
min-teacher-accuracy = {teacher}
min-student-accuracy = 90.0
max-param-ratio = 0.25
max-int8-drop = {drop}
"""


def _row(label, sha, fmt, precision, accuracy, params, **changes):
    checkpoint = f"/runs/demo/models/{'teacher' if sha == TEACHER else 'student'}.pth"
    return make_row(
        label, format=fmt, precision=precision, run_id="run1",
        role="baseline" if fmt == "pytorch" else "bundle",
        model={"checkpoint": checkpoint, "checkpoint_sha256": sha, "params": params},
        accuracy={"data": "easy-vqa", "split": "test", "n": 16, "overall": accuracy},
        **changes,
    )


@pytest.fixture()
def rows():
    return [
        _row("student-onnx-int8", STUDENT, "onnx", "int8", 91.0, None),
        _row("pytorch-fp32 (student)", STUDENT, "pytorch", "fp32", 92.0, 1_000),
        _row("pytorch-fp32 (teacher)", TEACHER, "pytorch", "fp32", 95.0, 5_000),
        _row("student-onnx-fp32", STUDENT, "onnx", "fp32", 91.5, None),
        make_row("student-coreml-fp16", format="coreml", precision="fp16", status="skipped",
                 role="bundle", error="Core ML predictions need macOS", latency_ms=None,
                 model={"checkpoint": "student.pth", "checkpoint_sha256": STUDENT}),
    ]


def _targets(tmp_path, teacher=92.0, drop=0.5):
    path = tmp_path / "targets.toml"
    path.write_text(TARGETS.format(teacher=teacher, drop=drop), encoding="utf-8")
    return path


def test_the_shipped_targets_file_reads() -> None:
    targets = read_targets(ROOT / "recipes" / "easy_vqa_targets.toml")
    assert (targets.teacher, targets.student) == ("teacher.pth", "student.pth")
    assert (targets.min_teacher_accuracy, targets.min_student_accuracy) == (92.0, 90.0)
    assert (targets.max_param_ratio, targets.max_int8_drop) == (0.25, 0.5)


def test_table_columns_each_say_one_thing(rows, tmp_path):
    names = model_names(rows, read_targets(_targets(tmp_path)))
    assert names == {TEACHER: "teacher", STUDENT: "student"}
    lines = tradeoff_table(rows, names).splitlines()
    table = [re.split(r"  +", line.strip()) for line in lines]
    header = table[0]
    assert header[7:9] == ["Δ PyTorch fp32", "int8 Δ own fp32"]
    cells = {line[-1].split(":")[0]: dict(zip(header, line, strict=True)) for line in table[1:]}
    # teacher first, then the student's baseline, then its bundles by format and precision
    assert list(cells) == ["pytorch-fp32 (teacher)", "pytorch-fp32 (student)",
                           "student-coreml-fp16", "student-onnx-fp32", "student-onnx-int8"]
    change = {label: (c["Δ PyTorch fp32"], c["int8 Δ own fp32"]) for label, c in cells.items()}
    assert change == {
        "pytorch-fp32 (teacher)": ("-", "-"),  # the reference itself
        "pytorch-fp32 (student)": ("-", "-"),
        "student-coreml-fp16": ("-", "-"),  # skipped: no accuracy
        "student-onnx-fp32": ("-0.50", "-"),  # 91.5 - 92.0
        "student-onnx-int8": ("-1.00", "-0.50"),  # 91.0 - 92.0; 91.0 - 91.5
    }
    assert "not runnable off macOS" in lines[3]


def test_targets_met_and_missed_by_hand(rows, tmp_path):
    names = model_names(rows, read_targets(_targets(tmp_path)))
    assert check_targets(rows, names, read_targets(_targets(tmp_path))) == []
    missed = check_targets(rows, names, read_targets(_targets(tmp_path, teacher=96.5, drop=0.5)))
    assert missed == ["teacher accuracy 95.00 % < 96.5 %: missed by 1.50 points"]
    missed = check_targets(rows, names, read_targets(_targets(tmp_path, drop=0.25)))
    assert missed == ["student-onnx-int8 91.00 % is 0.50 points below student-onnx-fp32 "
                      "(91.50 %); allowed 0.25: missed by 0.25 points"]
    heavy = [{**r, "model": {**r["model"], "params": 1_500}} if "(student)" in r["label"] else r
             for r in rows]  # 1,500 / 5,000 = 0.3
    assert check_targets(heavy, names, read_targets(_targets(tmp_path))) == [
        "student size 0.300 of the teacher's parameters > 0.25: over by 0.050"]


def test_report_command_exit_status(rows, tmp_path, capsys):
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    assert main(["report", str(results), "--targets", str(_targets(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "trade-off table (easy-vqa test" in out and out.rstrip().endswith("all targets met")
    assert main(["report", str(results), "--targets", str(_targets(tmp_path, 99))]) == 1
    assert "teacher accuracy 95.00 % < 99 %: missed by 4.00 points" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(TARGETS.format(teacher=92, drop=0.5) + "min-speedup = 3\n", "utf-8")
    assert main(["report", str(results), "--targets", str(bad)]) == 2
    assert f"{bad}: unknown key 'min-speedup'" in capsys.readouterr().err
    assert main(["report", str(results)]) == 2
    assert "give --out DIR" in capsys.readouterr().err
