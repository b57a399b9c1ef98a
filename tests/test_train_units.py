"""The training building blocks: optimizer groups, schedule, losses, data order, student init."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from train.data import answer_type_weights
from train.describe import describe
from train.freeze import apply_freeze, frozen_layers
from train.losses import distill_loss, sigmoid_kd, soft_bce, softmax_kd
from train.optim import OptimConfig, build_optimizer, layer_id, lr_factor, param_groups
from train.predict import to_predictions
from train.sampler import EpochOrder, SeededDataset
from train.state import prepare_out_dir, rng_state, set_rng_state, truncate_log
from train.student_init import evenly_spaced, init_from_checkpoint, select_layers
from vqa.checkpoint import read_checkpoint, save_checkpoint
from vqa.configs import get_config
from vqa.data import VQASample
from vqa.errors import one_line
from vqa.model import create_model
from vqa.predictions import answerable_scores


def _tiny(**overrides):
    torch.manual_seed(0)
    return create_model("beit3_tiny", vocab_size=50, num_answers=5, **overrides)


def test_param_groups_follow_unilm():
    model = _tiny(depth=3)
    groups = param_groups(model, OptimConfig(lr=1e-3, head_lr_mult=20.0), num_layers=3)
    by_name = {name: g for g in groups for name in g["param_names"]}
    assert len(by_name) == len(list(model.parameters()))
    assert by_name["head.3.weight"]["lr_scale"] == 20.0
    assert by_name["head.3.weight"]["lr"] == pytest.approx(2e-2)
    assert by_name["pooler.dense.weight"]["lr_scale"] == 1.0  # unilm: only head.* is boosted
    for name in ("head.3.bias", "pooler.norm.weight", "beit3.vision_embed.cls_token",
                 "beit3.encoder.embed_positions.A.weight"):
        assert by_name[name]["weight_decay"] == 0.0, name
    assert by_name["beit3.encoder.layers.0.ffn.A.fc1.weight"]["weight_decay"] == 0.01

    decayed = param_groups(model, OptimConfig(lr=1.0, layer_decay=0.5, head_lr_mult=1.0), 3)
    scale = {name: g["lr_scale"] for g in decayed for name in g["param_names"]}
    assert scale["beit3.text_embed.weight"] == 0.5**4  # layer 0 of num_layers + 2
    assert scale["beit3.encoder.layers.0.self_attn.q_proj.A.weight"] == 0.5**3
    assert scale["beit3.encoder.layers.2.self_attn.q_proj.A.weight"] == 0.5
    assert scale["head.0.weight"] == scale["pooler.dense.weight"] == 1.0
    assert layer_id("beit3.encoder.layers.11.ffn.A.fc1.weight", 12) == 12


def test_schedule_warms_up_then_follows_a_cosine_to_min_lr():
    factors = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert factors[0] == pytest.approx(1 / 11) and factors[9] == pytest.approx(10 / 11)
    assert factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.01 + 0.99 * 0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert lr_factor(100, 100, 10, 0.01) == pytest.approx(0.01)
    model = _tiny()
    cfg = OptimConfig(lr=1e-3, warmup_steps=2)
    optimizer = build_optimizer(model, cfg, 2)
    assert optimizer.defaults["betas"] == (0.9, 0.98) and optimizer.defaults["eps"] == 1e-8


def test_optimizer_is_fused_on_cpu_and_steps_like_the_reference_adamw():
    model, reference = _tiny(), _tiny()
    reference.load_state_dict(model.state_dict())
    cfg = OptimConfig(lr=1e-3, weight_decay=0.05)
    fused = build_optimizer(model, cfg, 2)
    assert fused.defaults["fused"]
    plain = torch.optim.AdamW(param_groups(reference, cfg, 2), lr=cfg.lr, betas=(0.9, 0.98),
                              eps=1e-8)
    for _ in range(3):
        for net, optimizer in ((model, fused), (reference, plain)):
            optimizer.zero_grad()
            sum(p.square().sum() for p in net.parameters()).backward()
            optimizer.step()
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(got, want)


def test_soft_bce_is_summed_over_answers_and_averaged_over_the_batch():
    logits, targets = torch.randn(4, 7), torch.rand(4, 7)
    unilm = F.binary_cross_entropy_with_logits(logits, targets) * 7
    assert soft_bce(logits, targets) == pytest.approx(unilm.item(), rel=1e-6)


@pytest.mark.parametrize("kd", [sigmoid_kd, softmax_kd])
def test_kd_losses_are_minimal_at_the_teacher(kd):
    teacher = torch.randn(3, 6)
    student = teacher.clone().requires_grad_(True)
    kd(student, teacher, 2.0).backward()
    assert student.grad.abs().max() < 1e-6
    far = kd(torch.zeros(3, 6), teacher, 2.0)
    assert far > kd(teacher, teacher, 2.0)


def test_kd_temperature_scaling_and_mix():
    student, teacher = torch.randn(2, 5), torch.randn(2, 5)
    expected = F.kl_div(
        F.log_softmax(student / 3, 1), F.softmax(teacher / 3, 1), reduction="batchmean"
    ) * 9
    assert softmax_kd(student, teacher, 3.0) == pytest.approx(expected.item(), rel=1e-5)
    targets = torch.rand(2, 5)
    total, parts = distill_loss(
        student, teacher, targets, kind="sigmoid", temperature=1.0, hard_weight=0.25
    )
    assert total.item() == pytest.approx(0.25 * parts["hard"] + 0.75 * parts["kd"], rel=1e-6)
    assert parts["kd"] == pytest.approx(sigmoid_kd(student, teacher, 1.0).item())


def test_epoch_order_is_reproducible_sharded_and_resumable():
    order = EpochOrder(22, global_batch=4, seed=3)
    assert order.steps_per_epoch == 5 and len(order) == 20
    first = list(order)
    assert first == list(EpochOrder(22, global_batch=4, seed=3))
    order.set_position(1)
    assert [i for i, _ in order] != [i for i, _ in first]
    order.set_position(0, start=7)
    assert list(order) == first[7:]
    ranks = [EpochOrder(22, 4, seed=3, rank=r, world_size=2) for r in range(2)]
    shards = [list(r) for r in ranks]
    for step in range(5):  # each global batch is split between the ranks, nothing else moves
        single = set(first[4 * step : 4 * step + 4])
        assert set(shards[0][2 * step : 2 * step + 2]) | set(shards[1][2 * step : 2 * step + 2]) \
            == single
    with pytest.raises(ValueError, match="fewer than one global batch"):
        EpochOrder(3, global_batch=4, seed=0)


def test_weighted_epoch_order_draws_by_weight_and_stays_reproducible():
    weights = torch.tensor([0.0, 1.0, 1.0, 2.0] * 25, dtype=torch.float64)
    order = EpochOrder(100, global_batch=10, seed=5, weights=weights)
    first = list(order)
    assert first == list(EpochOrder(100, 10, seed=5, weights=weights))
    indices = [i for i, _ in first]
    assert len(indices) == 100 and all(i % 4 for i in indices)  # zero weight: never drawn
    assert len(set(indices)) < 100  # with replacement
    seeds = [seed for _, seed in first]
    assert len(set(seeds)) == 100  # a sample drawn twice gets two augmentations
    order.set_position(0, start=30)
    assert list(order) == first[30:]
    ranks = [EpochOrder(100, 10, seed=5, rank=r, world_size=2, weights=weights) for r in range(2)]
    merged = [None] * 100
    merged[0::2], merged[1::2] = list(ranks[0]), list(ranks[1])
    assert merged == first
    counts = np.bincount(
        [i % 4 for e in range(20) for i in EpochOrder(100, 10, seed=e, weights=weights).order(0)],
        minlength=4,
    )
    assert counts[3] / counts[1] == pytest.approx(2.0, rel=0.15)
    with pytest.raises(ValueError, match="non-negative sampling weights"):
        EpochOrder(100, 10, seed=0, weights=torch.zeros(100))
    with pytest.raises(ValueError, match="non-negative sampling weights"):
        EpochOrder(100, 10, seed=0, weights=torch.ones(99))


def test_answer_type_weights_give_each_type_the_same_share():
    types = ["yes/no"] * 6 + ["other"] * 3 + ["number"]
    samples = [VQASample(f"q{i}", Path(f"{i}.png"), "q?", ("a",) * 10, t, 1)
               for i, t in enumerate(types)]
    weights = answer_type_weights(samples)
    shares = dict.fromkeys(types, 0.0)
    for weight, answer_type in zip(weights.tolist(), types, strict=True):
        shares[answer_type] += weight
    assert shares == pytest.approx({"yes/no": 1.0, "other": 1.0, "number": 1.0})


class _Noise(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        return torch.rand(3)


def test_seeded_dataset_ignores_and_keeps_the_global_rng():
    data = SeededDataset(_Noise())
    torch.manual_seed(1)
    a = data[(4, 99)]
    before = torch.get_rng_state()
    torch.manual_seed(2)
    torch.rand(5)
    b = data[(4, 99)]
    assert torch.equal(a, b) and not torch.equal(a, data[(4, 100)])
    torch.manual_seed(1)
    data[(0, 1)]
    assert torch.equal(torch.get_rng_state(), before)


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)
    state = rng_state()
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.save({"rng": state}, tmp_path / "s.pth")
    torch.rand(10)
    random.random()
    set_rng_state(torch.load(tmp_path / "s.pth", weights_only=True)["rng"])
    again = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_out_dir_guard_and_log_truncation(tmp_path):
    out = tmp_path / "run"
    prepare_out_dir(out, resume=False, overwrite=False)
    (out / "run.json").write_text("{}")
    (out / ".last.pth.abc.tmp").write_text("partial")
    with pytest.raises(ValueError, match="holds another run.*--resume"):
        prepare_out_dir(out, resume=False, overwrite=False)
    prepare_out_dir(out, resume=True, overwrite=False)
    assert not (out / ".last.pth.abc.tmp").exists()
    prepare_out_dir(out, resume=False, overwrite=True)
    assert not (out / "run.json").exists()
    with pytest.raises(ValueError, match="no run to resume"):
        prepare_out_dir(tmp_path / "empty", resume=True, overwrite=False)
    log = out / "log.jsonl"
    log.write_text('{"step": 1}\n{"step": 5}\n{"step": 9}\n')
    truncate_log(log, 5)
    assert log.read_text() == '{"step": 1}\n{"step": 5}\n'


def test_layer_selection_and_position_interpolation(tmp_path):
    assert evenly_spaced(12, 6) == [1, 3, 5, 7, 9, 11]
    assert evenly_spaced(24, 8) == [2, 5, 8, 11, 14, 17, 20, 23]
    renamed = select_layers(
        {"beit3.encoder.layers.3.x": torch.ones(1), "beit3.encoder.layers.1.x": torch.zeros(1),
         "head.3.bias": torch.ones(2)},
        [3],
    )
    assert set(renamed) == {"beit3.encoder.layers.0.x", "head.3.bias"}

    source = _tiny(depth=4)
    save_checkpoint(tmp_path / "t.pth", source, answers=list("abcde"), tokenizer=None)
    student_config = get_config("beit3_tiny", img_size=64, num_answers=5)
    student = init_from_checkpoint(
        student_config, read_checkpoint(tmp_path / "t.pth"), answers=list("abcde")
    )
    assert student.config.depth == 2 and student.config.img_size == 64
    src, dst = source.state_dict(), student.state_dict()
    key = "self_attn.q_proj.A.weight"
    assert torch.equal(dst[f"beit3.encoder.layers.0.{key}"], src[f"beit3.encoder.layers.1.{key}"])
    assert torch.equal(dst[f"beit3.encoder.layers.1.{key}"], src[f"beit3.encoder.layers.3.{key}"])
    assert torch.equal(dst["head.3.weight"], src["head.3.weight"])
    assert dst["beit3.encoder.embed_positions.A.weight"].shape == (16 + 3, 64)
    with pytest.raises(ValueError, match="width 64 .* cannot initialise"):
        init_from_checkpoint(
            get_config("beit3_mini", num_answers=5), read_checkpoint(tmp_path / "t.pth"),
            answers=list("abcde"),
        )


def test_official_weights_keep_their_answer_layer_only_with_their_answer_list(tmp_path):
    source = _tiny()
    torch.save({"model": source.state_dict()}, tmp_path / "official.pth")
    official = read_checkpoint(tmp_path / "official.pth")
    config = get_config("beit3_tiny", num_answers=5)
    fresh = init_from_checkpoint(config, official, answers=list("abcde")).state_dict()
    assert torch.equal(fresh["head.0.weight"], source.state_dict()["head.0.weight"])
    assert not torch.equal(fresh["head.3.weight"], source.state_dict()["head.3.weight"])
    with pytest.warns(UserWarning, match="5 of 5 answers transplanted"):
        moved = init_from_checkpoint(
            config, official, answers=list("edcba"), init_answers=list("abcde")
        ).state_dict()
    assert torch.equal(moved["head.3.weight"], source.state_dict()["head.3.weight"].flip(0))
    with pytest.raises(ValueError, match="3 answers given for its 5 outputs"):
        init_from_checkpoint(config, official, answers=list("abcde"), init_answers=list("abc"))


def test_freezing_bottom_layers_and_unfreezing_schedule():
    model = _tiny(depth=3)
    frozen = apply_freeze(model, 2)
    assert "beit3.encoder.layers.1.ffn.A.fc1.weight" in frozen
    assert "beit3.text_embed.weight" in frozen
    unread = model.unread_parameters()
    assert "beit3.encoder.layers.2.ffn.B.fc1.weight" in unread
    assert not any(n.startswith(("beit3.encoder.layers.2.", "head.", "pooler."))
                   for n in frozen if n not in unread)
    assert apply_freeze(model, 0) == unread and unread[0] == "beit3.vision_embed.mask_token"
    assert [frozen_layers(3, 2, e) for e in range(8)] == [3, 3, 2, 2, 1, 1, 0, 0]
    assert frozen_layers(3, 0, 10) == 3 and frozen_layers(0, 1, 0) == 0


def test_answerable_is_one_minus_the_unanswerable_probability():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    answers = ["yes", "unanswerable", "no"]
    scores = answerable_scores(logits.numpy(), answers.index("unanswerable"))
    assert scores == pytest.approx([0.5, 1 - 1 / (1 + math.exp(-3))])
    samples = [VQASample(key=f"k{i}", image_path=None, question="q") for i in range(2)]
    predictions = to_predictions(logits, samples, answers)
    assert predictions[0]["answer"] == "yes" and predictions[1]["answer"] == "unanswerable"
    assert predictions[1]["answerable"] == pytest.approx(1 - 1 / (1 + math.exp(-3)))
    plain = to_predictions(logits, samples, ["a", "b", "c"])
    assert "answerable" not in plain[0]


def test_describe_sizes_match_what_is_saved_and_exported(tmp_path, capsys):
    """Oracles: the bytes torch.save writes for the fp32 weights, and the size of a real int8
    TorchScript bundle written by `python -m export` (its int8 Linear and text embedding)."""
    from export.__main__ import main as export_main
    from vqa.bundle import read_bundle
    from vqa.checkpoint import tokenizer_record
    from vqa.tokenizer import Tokenizer, train_sentencepiece

    config = get_config("beit3_tiny", num_answers=5)
    row = describe(config, text_len=16)
    torch.manual_seed(0)
    model = create_model(config)
    weights = tmp_path / "weights.pt"
    torch.save(model.state_dict(), weights)
    assert row["fp32_mb"] * 1e6 == pytest.approx(weights.stat().st_size, rel=0.01)

    spm = train_sentencepiece(["what color is it", "is it red"] * 20, tmp_path / "q.spm", 40)
    ckpt = tmp_path / "tiny.pth"
    save_checkpoint(ckpt, model, answers=list("abcde"),
                    tokenizer=tokenizer_record(Tokenizer(spm).model_bytes, 16))
    code = export_main([str(ckpt), "--format", "torchscript", "--int8", "--parity-inputs", "2",
                        "--min-top1", "0", "--max-abs-diff", "1000", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    exported = read_bundle(next(tmp_path.glob("tiny-torchscript-int8*"))).model_bytes()
    # The .ptl also holds the traced code and bytecode (a few hundred kB on this tiny model).
    assert row["int8_mb"] * 1e6 == pytest.approx(exported, rel=0.1)
    assert row["int8_mb"] < 0.35 * row["fp32_mb"]


def test_one_line_strips_dataloader_worker_tracebacks():
    wrapped = (
        "Caught BadImageError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        "call last):\n  File \"x.py\", line 1\nvqa.data.dataset.BadImageError: /a.jpg: cannot "
        "decode image: truncated"
    )
    assert one_line(ValueError(wrapped)) == "/a.jpg: cannot decode image: truncated"
    assert one_line(ValueError("two\n lines")) == "two lines"
