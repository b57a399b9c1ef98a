"""Checkpoints: official unilm layout, our format, strict loading and its messages."""

import argparse
import os
import random

import pytest
import torch

from vqa.checkpoint import (
    POS_EMBED_KEY,
    CheckpointError,
    interpolate_pos_embed,
    load_model,
    read_checkpoint,
    save_checkpoint,
    tokenizer_record,
)
from vqa.model import create_model


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return create_model("beit3_tiny", num_answers=5).eval()


def _inputs(img: int = 32):
    torch.manual_seed(1)
    question = torch.randint(4, 1000, (2, 12))
    padding_mask = torch.zeros(2, 12, dtype=torch.long)
    padding_mask[1, 8:] = 1
    return torch.randn(2, 3, img, img), question, padding_mask


def _save_official(path, state_dict, key="model"):
    args = argparse.Namespace(model="beit3_base_patch16_480_vqav2", lr=3e-5, input_size=480)
    torch.save({key: state_dict, "args": args, "epoch": 9}, path)


@pytest.mark.parametrize("key", ["model", "module"])
def test_official_layout_loads_strictly_and_logits_survive_round_trip(tmp_path, tiny, key):
    _save_official(tmp_path / "official.pth", tiny.state_dict(), key)
    loaded = load_model(tmp_path / "official.pth", arch="beit3_tiny")
    inputs = _inputs()
    expected = tiny(*inputs)
    assert torch.equal(loaded(*inputs), expected)
    assert not loaded.training
    ckpt = read_checkpoint(tmp_path / "official.pth")
    assert ckpt.kind == "official" and ckpt.args["input_size"] == 480

    save_checkpoint(
        tmp_path / "ours.pth", loaded, answers=list("abcde"),
        tokenizer=tokenizer_record(b"spm-bytes", 64), meta={"epoch": 3},
    )
    ours = read_checkpoint(tmp_path / "ours.pth")
    assert ours.kind == "ours" and ours.answers == list("abcde") and ours.meta == {"epoch": 3}
    assert ours.tokenizer["model"] == b"spm-bytes" and ours.config.name == "beit3_tiny"
    torch.load(tmp_path / "ours.pth", weights_only=True)  # loadable without unpickling code
    assert torch.equal(load_model(tmp_path / "ours.pth")(*inputs), expected)
    assert not list(tmp_path.glob(".*.tmp"))


def test_ddp_prefix_is_stripped(tmp_path, tiny):
    torch.save({"model": {f"module.{k}": v for k, v in tiny.state_dict().items()}},
               tmp_path / "ddp.pth")
    inputs = _inputs()
    assert torch.equal(load_model(tmp_path / "ddp.pth", arch="beit3_tiny")(*inputs), tiny(*inputs))


def test_missing_and_unexpected_keys_are_reported(tmp_path, tiny):
    state = dict(tiny.state_dict())
    del state["pooler.dense.weight"]
    state["pooler.extra.weight"] = torch.zeros(3)
    _save_official(tmp_path / "bad.pth", state)
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "bad.pth", arch="beit3_tiny")
    message = str(err.value)
    assert "bad.pth" in message
    assert "missing keys (1): pooler.dense.weight" in message
    assert "unexpected keys (1): pooler.extra.weight" in message


def test_shape_mismatch_is_reported(tmp_path, tiny):
    state = dict(tiny.state_dict())
    state["head.0.bias"] = torch.zeros(7)
    _save_official(tmp_path / "shape.pth", state)
    with pytest.raises(CheckpointError, match=r"shape mismatch for head.0.bias: checkpoint \[7\], "
                       r"model \[128\]"):
        load_model(tmp_path / "shape.pth", arch="beit3_tiny")


def test_wrong_arch_names_both(tmp_path, tiny):
    _save_official(tmp_path / "tiny.pth", tiny.state_dict())
    with pytest.raises(CheckpointError, match=r"holds beit3_tiny .*requested architecture is "
                       r"beit3_mini"):
        load_model(tmp_path / "tiny.pth", arch="beit3_mini")
    with pytest.raises(CheckpointError, match=r"does not say its architecture.*beit3_tiny"):
        load_model(tmp_path / "tiny.pth")
    save_checkpoint(tmp_path / "ours.pth", tiny, answers=None, tokenizer=None)
    with pytest.raises(CheckpointError, match=r"holds beit3_tiny .*requested architecture is "
                       r"beit3_base"):
        load_model(tmp_path / "ours.pth", arch="beit3_base")


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickled_code_is_refused_unless_trusted(tmp_path, tiny):
    torch.save({"model": tiny.state_dict(), "hook": _Payload()}, tmp_path / "code.pth")
    with pytest.raises(CheckpointError, match=r"code.pth: refusing to load: the file needs "
                       r"arbitrary unpickling.*trust_pickle=True"):
        load_model(tmp_path / "code.pth", arch="beit3_tiny")
    model = load_model(tmp_path / "code.pth", arch="beit3_tiny", trust_pickle=True)
    assert model.config.num_answers == 5


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"definitely not torch")
    with pytest.raises(CheckpointError, match="junk.pth: not a readable PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        read_checkpoint(tmp_path / "absent.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pth: the file is empty \(0 bytes\)"):
        read_checkpoint(tmp_path / "empty.pth")
    (tmp_path / "noise.pth").write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(CheckpointError, match="noise.pth: not a readable") as raised:
        read_checkpoint(tmp_path / "noise.pth")
    assert "weights_only" not in str(raised.value)  # never advise running the file's code
    (tmp_path / "run").mkdir()
    with pytest.raises(CheckpointError, match="run: is a folder"):
        read_checkpoint(tmp_path / "run")
    torch.save({"optimizer": {"lr": 1}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="no state dict found under 'model' or 'module'"):
        read_checkpoint(tmp_path / "other.pth")


def test_interpolation_224_to_480_keeps_three_leading_rows(tmp_path):
    torch.manual_seed(0)
    model224 = create_model("beit3_tiny", img_size=224, num_answers=5).eval()
    table = model224.state_dict()[POS_EMBED_KEY]
    assert table.shape[0] == 14 * 14 + 3
    _save_official(tmp_path / "224.pth", model224.state_dict())
    model480 = load_model(tmp_path / "224.pth", arch="beit3_tiny", img_size=480)
    resized = model480.state_dict()[POS_EMBED_KEY]
    assert resized.shape == (30 * 30 + 3, 64)
    assert torch.equal(resized[:3], table[:3])
    image = torch.randn(1, 3, 480, 480)
    question, padding_mask = torch.randint(4, 99, (1, 8)), torch.zeros(1, 8, dtype=torch.long)
    assert model480(image, question, padding_mask).shape == (1, 5)
    # A grid that is constant along rows stays so; corners of a ramp keep its range.
    ramp = torch.linspace(0, 1, 14).repeat_interleave(14).unsqueeze(1).repeat(1, 4)
    grid = interpolate_pos_embed(torch.cat([torch.zeros(3, 4), ramp]), 30 * 30)[3:]
    rows = grid.reshape(30, 30, 4)
    assert torch.allclose(rows, rows[:, :1, :].expand_as(rows), atol=1e-6)
    assert rows[0, 0, 0].abs() < 0.02 and (rows[-1, 0, 0] - 1).abs() < 0.02


def test_head_transplant_by_answer_and_reinit_warning(tmp_path, tiny):
    save_checkpoint(tmp_path / "ours.pth", tiny, answers=list("abcde"), tokenizer=None)
    ckpt = read_checkpoint(tmp_path / "ours.pth")
    from vqa.checkpoint import model_from_state_dict

    config = ckpt.config.replace(num_answers=4)
    with pytest.warns(UserWarning, match="2 of 4 answers transplanted"):
        moved = model_from_state_dict(config, ckpt.state_dict, source="x",
                                      answers=list("abcde"), target_answers=["e", "z", "a", "y"])
    old = tiny.state_dict()["head.3.weight"]
    new = moved.state_dict()["head.3.weight"]
    assert torch.equal(new[0], old[4]) and torch.equal(new[2], old[0])
    assert not torch.equal(new[1], old[1])
    with pytest.warns(UserWarning, match="answer head re-initialised: the checkpoint has 5 "
                      "answers, the model 4"):
        fresh = model_from_state_dict(config, ckpt.state_dict, source="x")
    assert fresh.head[3].weight.shape == (4, 128)
    torch.testing.assert_close(fresh.head[0].weight, tiny.head[0].weight)
