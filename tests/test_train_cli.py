"""`python -m train`: finetune, distill, evaluate and describe end to end on tiny generated data."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train.cli import main
from train.teacher_cache import TeacherCache
from vqa.checkpoint import load_model, read_checkpoint
from vqa.data import load_vizwiz
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.model import create_model, reinit_for_scratch
from vqa.tokenizer import Tokenizer, train_sentencepiece

REPO = Path(__file__).resolve().parents[1]
TINY = ["--arch", "beit3_tiny", "--text-len", "16", "--num-workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vizwiz")
    write_vizwiz_fixture(root, n_train=16, n_val=6, n_test=3, seed=1)
    spm = train_sentencepiece(
        [s.question for s in load_vizwiz(root, "train")], root / "q.spm", vocab_size=100
    )
    return {"root": root, "spm": spm, "data": f"vizwiz:{root}"}


@pytest.fixture(scope="module")
def teacher(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher")
    code = main(
        ["finetune", "--data", data["data"], "--tokenizer", str(data["spm"]), "--out", str(out),
         "--epochs", "2", "--batch-size", "4", "--lr", "2e-3", "--save-every", "3", *TINY]
    )
    assert code == 0
    return out


def test_finetune_writes_checkpoints_logs_and_predictions(data, teacher, capsys):
    best, last = read_checkpoint(teacher / "best.pth"), read_checkpoint(teacher / "last.pth")
    assert best.kind == last.kind == "ours"
    assert best.answers == last.answers and "unanswerable" in best.answers
    assert best.tokenizer["sha256"] == Tokenizer(data["spm"]).sha256
    assert best.tokenizer["max_len"] == 16 and best.tokenizer["model"]
    assert last.meta["step"] == 8 and best.meta["val"]["n"] == 6
    assert set(last.extra["train_state"]) >= {"optimizer", "scheduler", "scaler", "rng", "position"}
    assert last.extra["train_state"]["position"] == {"step": 8, "epoch": 2, "micro": 0}
    assert not best.extra  # best.pth is the model only
    model = load_model(teacher / "best.pth")
    assert model.config.num_answers == len(best.answers) and not model.training
    log = [json.loads(line) for line in (teacher / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if e["kind"] == "eval"] == [4, 8]
    assert log[-2]["kind"] == "train" and {"loss", "lr", "samples_per_s"} <= set(log[-2])
    run = json.loads((teacher / "run.json").read_text())
    assert run["command"] == "finetune" and run["settings"]["lr"] == 2e-3

    capsys.readouterr()
    pred = teacher / "val.json"
    assert main(["evaluate", str(teacher / "best.pth"), "--data", data["data"],
                 "--out", str(pred), "--num-workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "overall" in printed and "answerability" in printed
    predictions = json.loads(pred.read_text())
    assert len(predictions) == 6
    assert all(0.0 <= p["answerable"] <= 1.0 and p["answer"] in best.answers for p in predictions)
    metrics = json.loads((teacher / "val.metrics.json").read_text())
    assert metrics["accuracy"]["overall"] == pytest.approx(best.meta["val"]["accuracy"]["overall"])

    test_pred = teacher / "test.json"
    assert main(["evaluate", str(teacher / "best.pth"), "--data", data["data"], "--split",
                 "test", "--out", str(test_pred), "--num-workers", "0"]) == 0
    assert "submission format" in capsys.readouterr().out
    assert [p["image"] for p in json.loads(test_pred.read_text())] == [
        f"VizWiz_test_{i:08d}.jpg" for i in range(3)
    ]
    assert not (teacher / "test.metrics.json").exists()

    assert main(["describe", "beit3_tiny", "beit3_base", "--img-size", "384", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows] == ["beit3_tiny", "beit3_base"]
    assert rows[1]["img_size"] == 384 and 200 < rows[1]["params_m"] < 250


def test_distill_caches_teacher_logits_and_reuses_them(data, teacher, tmp_path, capsys):
    cache_root = tmp_path / "cache"
    common = ["distill", "--data", data["data"], "--teacher", str(teacher / "best.pth"),
              "--teacher-cache", str(cache_root), "--epochs", "1", "--batch-size", "4",
              "--lr", "2e-3", *TINY]
    assert main([*common, "--out", str(tmp_path / "s1"), "--kd", "softmax",
                 "--temperature", "2"]) == 0
    assert "computing teacher logits for 16 samples" in capsys.readouterr().out
    (folder,) = cache_root.iterdir()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["shape"] == [16, len(read_checkpoint(teacher / "best.pth").answers)]
    stamp = (folder / "logits.npy").stat().st_mtime_ns

    assert main([*common, "--out", str(tmp_path / "s2"), "--init", str(teacher / "best.pth")]) == 0
    assert "reusing teacher logits" in capsys.readouterr().out
    assert (folder / "logits.npy").stat().st_mtime_ns == stamp

    # The cache holds the teacher's eval-transform logits, addressed by sample key.
    samples = load_vizwiz(data["root"], "train")
    cache = TeacherCache(folder, samples[::-1])
    from train.distributed import Dist
    from train.predict import predict_logits

    model = load_model(teacher / "best.pth")
    tokenizer = Tokenizer(data["spm"], max_len=16)
    direct = predict_logits(model, samples[::-1], tokenizer, Dist(), batch_size=5)
    assert torch.allclose(cache(torch.arange(16)), direct, atol=1e-5)

    student = read_checkpoint(tmp_path / "s2" / "best.pth")
    assert student.meta["teacher"] == str(teacher / "best.pth")
    assert student.answers == read_checkpoint(teacher / "best.pth").answers

    assert main([*common, "--out", str(tmp_path / "s3"), "--online-teacher", "--max-steps", "1",
                 "--img-size", "64", "--amp", "bf16"]) == 0
    assert "teacher logits" not in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "s3" / "last.pth").config.img_size == 64


def test_easy_vqa_subset_trains_and_stores_its_own_tokenizer(tmp_path, capsys):
    out = tmp_path / "easy"
    assert main(["finetune", "--data", "easy-vqa", "--limit-train", "16", "--limit-val", "8",
                 "--max-steps", "2", "--batch-size", "8", "--img-size", "32", "--lr", "1e-3",
                 "--no-augment", "--balance", "answer-type", "--out", str(out), *TINY]) == 0
    assert "answer types balanced" in capsys.readouterr().out
    ckpt = read_checkpoint(out / "best.pth")
    assert len(ckpt.answers) == 13 and "unanswerable" not in ckpt.answers
    tokenizer = Tokenizer.from_bytes(ckpt.tokenizer["model"], max_len=16)
    assert tokenizer.sha256 == Tokenizer(out / "tokenizer.spm").sha256
    assert ckpt.config.vocab_size == tokenizer.vocab_size < 1000
    pred = tmp_path / "p.json"
    assert main(["evaluate", str(out / "best.pth"), "--data", "easy-vqa", "--split", "test",
                 "--limit", "5", "--out", str(pred), "--num-workers", "0"]) == 0
    predictions = json.loads(pred.read_text())
    assert len(predictions) == 5 and all("answerable" not in p for p in predictions)
    assert "overall" in capsys.readouterr().out


def _initial_weights(path: Path) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # the runs' --seed: what the model started from
    model = create_model(read_checkpoint(path).config)
    reinit_for_scratch(model)
    return model.state_dict()


def test_freezing_then_progressive_unfreezing(data, tmp_path, capsys):
    args = ["finetune", "--data", data["data"], "--tokenizer", str(data["spm"]), "--epochs", "2",
            "--batch-size", "4", "--lr", "2e-3", "--freeze-layers", "1", "--unfreeze-every", "1",
            *TINY]
    assert main([*args, "--out", str(tmp_path / "one_epoch"), "--max-steps", "4"]) == 0
    last = tmp_path / "one_epoch" / "last.pth"
    start, trained = _initial_weights(last), read_checkpoint(last).state_dict
    for key in ("beit3.encoder.layers.0.ffn.A.fc1.weight", "beit3.text_embed.weight",
                "beit3.vision_embed.proj.weight"):
        assert torch.equal(start[key], trained[key]), key  # frozen: no update, no weight decay
    assert not torch.equal(start["beit3.encoder.layers.1.ffn.A.fc1.weight"],
                           trained["beit3.encoder.layers.1.ffn.A.fc1.weight"])
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "two_epochs")]) == 0
    assert "epoch 2: 0 bottom layers frozen" in capsys.readouterr().out
    trained = read_checkpoint(tmp_path / "two_epochs" / "last.pth").state_dict
    for key in ("beit3.encoder.layers.0.ffn.A.fc1.weight", "beit3.text_embed.weight"):
        assert not torch.equal(start[key], trained[key]), key


def test_a_failed_save_keeps_the_previous_checkpoint(data, tmp_path, monkeypatch, capsys):
    real_save = torch.save
    saves = []

    def disk_full_on_second_save(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) == 2:  # half a file, then the disk is full
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_on_second_save)
    out = tmp_path / "full"
    _fails(["finetune", "--data", data["data"], "--tokenizer", str(data["spm"]), "--epochs", "1",
            "--batch-size", "4", "--save-every", "1", "--eval-every", "100", "--out", str(out),
            *TINY], capsys, f"no space left on {out / 'last.pth'}; the previous last.pth")
    assert read_checkpoint(out / "last.pth").meta["step"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["last.pth", "run.json"]  # no .tmp left


def _fails(argv: list[str], capsys, match: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


def test_bad_input_gives_one_line_errors(data, teacher, tmp_path, capsys):
    base = ["finetune", "--data", data["data"], "--tokenizer", str(data["spm"]),
            "--epochs", "1", "--batch-size", "4", *TINY]
    _fails([*base, "--out", str(tmp_path / "a"), "--arch", "beit3_nope"], capsys,
           "unknown architecture 'beit3_nope'")
    _fails([*base, "--out", str(tmp_path / "b"), "--arch", "beit3_mini",
            "--init", str(teacher / "best.pth")], capsys, "cannot initialise beit3_mini")
    _fails(["evaluate", str(teacher / "best.pth"), "--arch", "beit3_mini", "--data",
            data["data"], "--out", str(tmp_path / "p.json")], capsys,
           "the requested architecture is beit3_mini")
    _fails([*base, "--out", str(teacher)], capsys, "holds another run")
    _fails(["distill", "--resume", str(teacher)], capsys, "holds a finetune run")
    _fails(["finetune", "--resume", str(teacher), "--lr", "0.5"], capsys,
           "a resumed run keeps its settings")

    answers = tmp_path / "answers.txt"
    answers.write_text("yes\nno\n")
    _fails(["distill", "--data", data["data"], "--teacher", str(teacher / "best.pth"),
            "--answers", str(answers), "--out", str(tmp_path / "c"), *TINY], capsys,
           "share one answer list")

    empty = tmp_path / "empty"
    write_vizwiz_fixture(empty, n_train=0, n_val=2, n_test=0)
    _fails([*base, "--data", f"vizwiz:{empty}", "--out", str(tmp_path / "d")], capsys,
           "the train split holds no usable samples")

    broken = tmp_path / "broken"
    vizwiz = write_vizwiz_fixture(broken, n_train=8, n_val=2, n_test=0)
    image = vizwiz / "VizWizTrainImages" / "VizWiz_train_00000003.jpg"
    image.write_bytes(image.read_bytes()[:40])
    _fails([*base, "--data", f"vizwiz:{broken}", "--out", str(tmp_path / "e")], capsys,
           f"{image}: cannot decode image")

    nan = tmp_path / "nan"
    err = _fails([*base, "--out", str(nan), "--lr", "1e30", "--warmup-steps", "0",
                  "--save-every", "1"], capsys, "loss is not finite")
    assert "at step 2 " in err and "step 1) is kept" in err
    kept = read_checkpoint(nan / "last.pth")
    assert kept.meta["step"] == 1
    assert all(torch.isfinite(v).all() for v in kept.state_dict.values() if v.is_floating_point())


def test_command_line_exit_status_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "train", "finetune", "--data", "vizwiz:/nonexistent", "--arch",
         "beit3_tiny", "--out", str(tmp_path / "x")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --data vizwiz:/nonexistent: no VizWiz data")
    assert "Traceback" not in result.stderr


def test_resume_before_the_first_save_says_so_and_starts_over(teacher, tmp_path, capsys):
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    shutil.copy(teacher / "run.json", stopped / "run.json")  # as a run killed before a save
    capsys.readouterr()
    assert main(["finetune", "--resume", str(stopped)]) == 0
    err = capsys.readouterr().err
    assert f"{stopped}: no last.pth yet (the run stopped before its first save)" in err
    assert read_checkpoint(stopped / "last.pth").meta["step"] == 8  # the whole run, as set
