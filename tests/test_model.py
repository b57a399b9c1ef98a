"""The model matches unilm's BEiT-3 VQA layout and numerics where they can be checked offline."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchscale.architecture.config import EncoderConfig
from torchscale.architecture.encoder import EncoderLayer
from torchscale.model.BEiT3 import BEiT3

from vqa.configs import UnknownArchError, get_config, list_configs
from vqa.model import (
    FirstTokenEncoderLayer,
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


def _grad(param: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(param) if param.grad is None else param.grad.clone()


def _torchscale_logits(model, image, question, padding_mask):
    """torchscale's whole BEiT3 forward (every token through every layer: its own last layer),
    then pooler and head."""
    last = model.beit3.encoder.layers[-1]
    last.__class__ = EncoderLayer
    try:
        out = model.beit3(
            textual_tokens=question, visual_tokens=image, text_padding_position=padding_mask
        )
    finally:
        last.__class__ = FirstTokenEncoderLayer
    assert out["encoder_out"].shape[1] > 1
    return model.head(model.pooler(out["encoder_out"]))


@pytest.mark.parametrize("kind", ["explicit", "fused", "headwise"])
def test_first_token_last_layer_equals_torchscale_full_encoder(kind):
    """The forward runs its last layer for the pooled token only; logits and every gradient equal
    those of torchscale's full encoder with its own attention and layer, at batch 1 and 3 with
    padding."""
    torch.manual_seed(2)
    model = create_model("beit3_small_6l", img_size=32, num_answers=11).eval()
    for batch, real in ((1, 16), (3, 4)):
        image, question, padding_mask = _inputs(batch=batch, real=real)
        padding_mask[0, :] = 0
        set_attention(model, "explicit")
        model.zero_grad()
        reference = _torchscale_logits(model, image, question, padding_mask)
        reference.square().sum().backward()
        expected = {n: _grad(p) for n, p in model.named_parameters()}
        set_attention(model, kind)
        model.zero_grad()
        logits = model(image, question, padding_mask)
        logits.square().sum().backward()
        assert (logits - reference).abs().max() <= 1e-5
        for name, param in model.named_parameters():
            torch.testing.assert_close(_grad(param), expected[name], rtol=1e-4, atol=1e-6)
        unread = {n for n, p in model.named_parameters() if p.grad is None}
        assert unread == set(model.unread_parameters())  # what training freezes
    last = model.beit3.encoder.layers[-1]
    assert last.ffn.B.fc1.weight.grad is None  # the text expert after attention is not run
    assert last.self_attn.k_proj.B.weight.grad.abs().sum() > 0  # text keys are


def test_first_token_layer_keeps_activation_checkpointing():
    """torchscale wraps each layer's forward for activation checkpointing when asked; the last
    layer still runs for the first token, with the gradients of the plain model."""
    image, question, padding_mask = _inputs()
    models = []
    for checkpointing in (False, True):
        torch.manual_seed(3)
        model = create_model("beit3_tiny", num_answers=7, checkpoint_activations=checkpointing)
        model.train().zero_grad()
        model(image, question, padding_mask).square().sum().backward()
        models.append(model)
    plain, checkpointed = (dict(m.named_parameters()) for m in models)
    for name, param in checkpointed.items():
        torch.testing.assert_close(_grad(param), _grad(plain[name]), rtol=1e-5, atol=1e-7)
    assert {n for n, p in checkpointed.items() if p.grad is None} == set(
        models[1].unread_parameters())


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
    assert 92e9 < config_macs(base) < 93e9  # 480 px, 64 text tokens
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
