"""The model matches unilm's BEiT-3 VQA layout and numerics where they can be checked offline."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchscale.architecture.config import EncoderConfig
from torchscale.model.BEiT3 import BEiT3

from vqa.configs import UnknownArchError, get_config, list_configs
from vqa.model import (
    config_macs,
    config_parameters,
    count_parameters,
    create_model,
    reinit_for_scratch,
    set_attention,
)


def _inputs(batch: int = 2, img: int = 32, length: int = 16, real: int = 6):
    torch.manual_seed(0)
    image = torch.randn(batch, 3, img, img)
    question = torch.randint(4, 1000, (batch, length))
    padding_mask = torch.zeros(batch, length, dtype=torch.long)
    padding_mask[:, real:] = 1
    question[:, real:] = 1
    return image, question, padding_mask


def test_state_dict_names_match_unilm_vqa_layout():
    """Keys and shapes equal those of unilm's beit3_base_patch16_480_vqav2 (torchscale + heads)."""
    unilm_args = EncoderConfig(
        img_size=480, patch_size=16, vocab_size=64010, multiway=True, layernorm_embedding=False,
        normalize_output=False, no_output_layer=True, drop_path_rate=0.0, encoder_embed_dim=768,
        encoder_attention_heads=12, encoder_ffn_embed_dim=3072, encoder_layers=12,
    )
    with torch.device("meta"):
        reference = {f"beit3.{k}": v.shape for k, v in BEiT3(unilm_args).state_dict().items()}
        ours = create_model("beit3_base").state_dict()
    heads = {
        "pooler.norm.weight": (768,), "pooler.norm.bias": (768,),
        "pooler.dense.weight": (768, 768), "pooler.dense.bias": (768,),
        "head.0.weight": (1536, 768), "head.0.bias": (1536,),
        "head.1.weight": (1536,), "head.1.bias": (1536,),
        "head.3.weight": (3129, 1536), "head.3.bias": (3129,),
    }
    reference.update({k: torch.Size(v) for k, v in heads.items()})
    assert {k: v.shape for k, v in ours.items()} == reference
    assert ours["beit3.encoder.embed_positions.A.weight"].shape == (900 + 3, 768)
    assert "beit3.encoder.layer_norm.A.weight" not in ours  # no output LayerNorm for VQA


def test_named_configs():
    assert {"beit3_tiny", "beit3_base", "beit3_large"} <= set(list_configs())
    large = get_config("beit3_large")
    assert (large.embed_dim, large.depth, large.num_heads, large.mlp_dim) == (1024, 24, 16, 4096)
    base = get_config("beit3_base", img_size=384)
    assert (base.embed_dim, base.depth, base.num_heads, base.mlp_dim) == (768, 12, 12, 3072)
    assert base.img_size == 384 and base.vocab_size == 64010 and base.patch_size == 16
    with pytest.raises(UnknownArchError, match="beit3_huge.*known: "):
        get_config("beit3_huge")
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        get_config("beit3_base", img_size=100)


def test_forward_shape_and_padding_mask_hides_pads():
    model = create_model("beit3_tiny", num_answers=7).eval()
    image, question, padding_mask = _inputs()
    logits = model(image, question, padding_mask)
    assert logits.shape == (2, 7)
    changed = question.clone()
    changed[:, 6:] = torch.randint(4, 1000, changed[:, 6:].shape)
    torch.testing.assert_close(model(image, changed, padding_mask), logits, rtol=0, atol=1e-5)
    unmasked = model(image, changed, torch.zeros_like(padding_mask))
    assert not torch.allclose(unmasked, logits, atol=1e-4)


@pytest.mark.parametrize("kind", ["fused", "headwise"])
def test_attention_keeps_unilm_parity_on_held_out_inputs(kind):
    """The fused (SDPA) and the head-by-head attention against torchscale's own unfused code, the
    reference: the same weights, held-out random inputs with padding of every length, batch sizes
    1 and 3."""
    torch.manual_seed(1)
    model = create_model("beit3_small_6l", img_size=32, num_answers=11).eval()
    names = list(model.state_dict())
    assert set_attention(model, "explicit") == model.config.depth
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(1234)
    cases = []
    for batch, real in ((1, 1), (3, 5), (3, 16)):
        image = torch.randn(batch, 3, 32, 32, generator=generator) * 2
        question = torch.randint(4, 1000, (batch, 16), generator=generator)
        padding_mask = (torch.arange(16) >= torch.tensor([real, 2, 9][:batch])[:, None]).long()
        cases.append((image, question, padding_mask))
    with torch.no_grad():
        unfused = [model(*case) for case in cases]
        assert set_attention(model, kind) == model.config.depth
        fused = [model(*case) for case in cases]
    assert list(model.state_dict()) == names  # checkpoints load unchanged
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
    for a, b in zip(fused, unfused, strict=True):
        assert (a - b).abs().max() <= 1e-5


def test_fused_attention_trains_like_the_unfused_one():
    model = create_model("beit3_tiny", num_answers=7).train()
    image, question, padding_mask = _inputs()
    grads = []
    for fused in (False, True):
        set_attention(model, "fused" if fused else "explicit")
        model.zero_grad()
        torch.manual_seed(0)  # the same stochastic depth draws in both
        model(image, question, padding_mask).square().sum().backward()
        grads.append(model.beit3.encoder.layers[0].self_attn.q_proj.A.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_macs_equal_flop_counter_and_parameters():
    model = create_model("beit3_tiny").eval()
    set_attention(model, "explicit")  # the counter has no formula for CPU's fused SDPA kernel
    image, question, padding_mask = _inputs(batch=1, length=64)
    with FlopCounterMode(display=False) as counter:
        model(image, question, padding_mask)
    assert counter.get_total_flops() == 2 * config_macs(model.config, text_len=64)
    assert config_parameters(model.config) == count_parameters(model)
    base = get_config("beit3_base")
    assert 99e9 < config_macs(base) < 100e9  # 480 px, 64 text tokens
    assert config_macs(base.replace(img_size=384)) < config_macs(base)


def test_init_follows_unilm_truncated_normal():
    model = create_model("beit3_tiny")
    weight = model.head[0].weight
    assert weight.abs().max() <= 0.02 + 1e-7
    assert 0.005 < weight.std() < 0.02
    assert torch.equal(model.head[1].weight, torch.ones_like(model.head[1].weight))


def test_scratch_init_puts_tables_and_linears_at_std_002():
    model = create_model("beit3_tiny")
    assert model.beit3.encoder.embed_positions.A.weight.std() > 0.5  # unilm leaves N(0, 1)
    reinit_for_scratch(model)
    for name in ("beit3.encoder.embed_positions.A.weight", "beit3.text_embed.weight",
                 "beit3.encoder.layers.0.ffn.A.fc1.weight", "head.3.weight"):
        weight = dict(model.named_parameters())[name]
        assert weight.abs().max() <= 0.04 + 1e-7, name
        assert 0.015 < weight.std() < 0.02, name
    assert model.beit3.vision_embed.cls_token.abs().max() < 1e-4
    assert torch.equal(model.head[1].weight, torch.ones_like(model.head[1].weight))
