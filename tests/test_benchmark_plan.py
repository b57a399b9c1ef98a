"""Planning a benchmark run: baselines need their source checkpoint, or are left out with a hint."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from benchmark.__main__ import _means_run
from benchmark.plan import Target, baseline_targets


def test_baselines_without_their_checkpoint_are_left_out_with_a_hint(tmp_path):
    bundle = Target("student-onnx-fp32", "bundle", "onnx", "fp32",
                    bundle=SimpleNamespace(path=tmp_path / "student-onnx-fp32"),
                    checkpoint=Path("student.pth"), source_key="ab" * 32)
    said = []
    assert baseline_targets([bundle], None, set(), tmp_path, log=said.append) == []
    assert said == [
        f"PyTorch baselines skipped: the source checkpoint student.pth of {tmp_path / bundle.label}"
        " was not found (pass --checkpoint, or --no-baselines)"
    ]


def test_the_first_word_is_a_command_unless_it_is_a_path_or_an_option(tmp_path):
    commands = frozenset({"run", "score"})
    assert not _means_run("score", commands) and not _means_run("--help", commands)
    assert not _means_run("scroe", commands)  # a typo: argparse says "invalid choice"
    assert _means_run(str(tmp_path), commands)  # an existing bundle folder
    assert _means_run("bundles/missing", commands) and _means_run("--out", commands)
