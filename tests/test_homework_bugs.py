"""Each homework bug, switched on alone, has the effect it is documented to have."""

import math
from dataclasses import fields

import pytest
import torch

from vitcore.errors import VitcoreError
from vitcore.models import HomeworkBugs, HomeworkViT, ViTConfig, build_model, count_parameters
from vitcore.models.homework_vit import HomeworkAttentionHead, HomeworkFeedForward, HomeworkSelfAttention

NO_BUGS = dict(
    flattened_sequence_layers=False,
    softmax_over_queries=False,
    scale_after_softmax=False,
    no_output_projection=False,
    einsum_unsplit_heads=False,
)


SMALL = dict(hidden_dim=32, depth=2, num_heads=4)


def only(**switches) -> HomeworkBugs:
    """HomeworkBugs with every bug off except the ones named."""
    return HomeworkBugs(**{**NO_BUGS, **switches})


def _weights(bugs: HomeworkBugs, batch=2, tokens=17, dim=32, heads=4):
    """Attention weights (B, H, N, N) of one homework attention layer on random input."""
    torch.manual_seed(0)
    attention = HomeworkSelfAttention(tokens, dim, heads, bugs)
    out, weights = attention(torch.randn(batch, tokens, dim) * 2)
    assert out.shape == (batch, tokens, dim)
    return weights


def _homework_size_parameters(flattened: bool, sliced: bool, unsplit: bool) -> int:
    """The homework model's parameter count, derived independently of the code."""
    D, N, L, classes = 256, 17, 6, 5
    H = 1 if unsplit else 8
    d = D // H
    head_in = d if sliced else D
    if flattened:
        qkv_per_head = 3 * ((N * head_in) * (N * d) + N * d)
        ffn = (N * D) * (N * 2 * D) + N * 2 * D + (N * 2 * D) * (N * D) + N * D
    else:
        qkv_per_head = 3 * (head_in * d + d)
        ffn = D * 2 * D + 2 * D + 2 * D * D + D
    proj = 0 if sliced else D * D + D
    per_layer = H * qkv_per_head + proj + ffn + 2 * 2 * D
    return (3 * 16 * 16 * D + D) + D + N * D + L * per_layer + D * classes + classes


def test_correct_switches_give_proper_attention():
    weights = _weights(only())
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 17), atol=1e-6, rtol=0)


def test_softmax_over_queries_normalises_columns_not_rows():
    weights = _weights(only(softmax_over_queries=True))  # (B, H, N_query, N_key)
    column_sums = weights.sum(dim=-2)
    row_sums = weights.sum(dim=-1)
    torch.testing.assert_close(column_sums, torch.ones_like(column_sums), atol=1e-6, rtol=0)
    assert (row_sums - 1).abs().max() > 0.05  # what a query receives is no longer a weighted average


def test_scale_after_softmax_makes_rows_sum_to_one_over_sqrt_d():
    head_dim = 32 // 4
    weights = _weights(only(scale_after_softmax=True))
    expected = torch.full((2, 4, 17), 1 / math.sqrt(head_dim))
    torch.testing.assert_close(weights.sum(-1), expected, atol=1e-6, rtol=0)


def test_scale_after_softmax_feeds_unscaled_scores_to_the_softmax():
    torch.manual_seed(0)
    head = HomeworkAttentionHead(17, 8, 8, only(scale_after_softmax=True))
    x = torch.randn(2, 17, 8)
    q, k, v = head.project_qkv(x)
    z, weights = head(x)
    scale = 1 / math.sqrt(8)
    # DLStudio: Z = coeff * (softmax(Q K^T) @ V) -- the softmax saw Q K^T without 1/sqrt(d).
    torch.testing.assert_close(z, scale * ((q @ k.transpose(-2, -1)).softmax(-1) @ v), atol=1e-6, rtol=0)
    correct = (q @ k.transpose(-2, -1) * scale).softmax(-1)
    assert (weights / scale - correct).abs().max() > 1e-3


def test_both_softmax_bugs_together_make_columns_sum_to_one_over_sqrt_d():
    weights = _weights(only(softmax_over_queries=True, scale_after_softmax=True))
    torch.testing.assert_close(weights.sum(-2), torch.full((2, 4, 17), 1 / math.sqrt(8)), atol=1e-6, rtol=0)


def test_flattened_layers_explode_the_parameter_count():
    with torch.device("meta"):  # nothing is allocated
        buggy = build_model(ViTConfig(homework_bugs=HomeworkBugs()))
        correct_homework = build_model(ViTConfig(homework_bugs=only()))
        correct_vit = build_model(ViTConfig())
    buggy_count = count_parameters(buggy)
    assert buggy_count == _homework_size_parameters(flattened=True, sliced=True, unsplit=False)
    assert abs(buggy_count - 497e6) / 497e6 < 0.01
    one_layer = sum(p.numel() for p in buggy.blocks[0].parameters())
    assert abs(one_layer - 82.9e6) / 82.9e6 < 0.01
    assert count_parameters(correct_homework) == _homework_size_parameters(False, False, False)
    assert 4.5e6 < count_parameters(correct_vit) < 5.2e6
    assert buggy_count > 90 * count_parameters(correct_vit)


@pytest.mark.parametrize("flattened", [True, False])
def test_flattened_layers_mix_tokens_before_attention(flattened):
    torch.manual_seed(0)
    head = HomeworkAttentionHead(17, 8, 8, only(flattened_sequence_layers=flattened))
    ffn = HomeworkFeedForward(17, 8, flattened=flattened)
    x = torch.randn(1, 17, 8)
    perturbed = x.clone()
    perturbed[:, 5] += 1.0  # change token 5 only
    q_before, q_after = head.project_qkv(x)[0], head.project_qkv(perturbed)[0]  # (1, N, d)
    f_before, f_after = ffn(x), ffn(perturbed)  # (1, N, D)
    others = [i for i in range(17) if i != 5]
    q_changed = (q_after[:, others] - q_before[:, others]).abs().max()
    f_changed = (f_after[:, others] - f_before[:, others]).abs().max()
    assert (q_after[:, 5] - q_before[:, 5]).abs().max() > 1e-4
    if flattened:
        assert q_changed > 1e-4 and f_changed > 1e-4  # other tokens' queries and FFN outputs moved
    else:
        assert q_changed == 0 and f_changed == 0  # token-wise layers: nothing else moves


def test_flattened_layers_only_accept_the_fixed_sequence_length():
    head = HomeworkAttentionHead(17, 8, 8, only(flattened_sequence_layers=True))
    with pytest.raises(RuntimeError):
        head(torch.randn(1, 16, 8))
    token_wise = HomeworkAttentionHead(17, 8, 8, only())
    assert token_wise(torch.randn(1, 16, 8))[0].shape == (1, 16, 8)


def test_no_output_projection_slices_features_and_has_no_proj():
    torch.manual_seed(0)
    buggy = HomeworkSelfAttention(17, 32, 4, only(no_output_projection=True))
    correct = HomeworkSelfAttention(17, 32, 4, only())
    assert not any("proj" in name for name, _ in buggy.named_parameters())
    assert any(name.startswith("proj.") for name, _ in correct.named_parameters())
    assert buggy.heads[0].WQ.in_features == 8 and correct.heads[0].WQ.in_features == 32

    x = torch.randn(1, 17, 32)
    perturbed = x.clone()
    perturbed[:, :, 0:8] += 1.0  # only head 0's slice of the features
    for module, isolated in ((buggy, True), (correct, False)):
        before, after = module(x)[0], module(perturbed)[0]
        untouched_heads = (after[:, :, 8:] - before[:, :, 8:]).abs().max()
        if isolated:
            assert untouched_heads == 0  # heads 1..3 never saw features 0..7
            assert (after[:, :, :8] - before[:, :, :8]).abs().max() > 1e-4
        else:
            assert untouched_heads > 1e-4


def test_einsum_unsplit_heads_gives_one_head():
    weights = _weights(only(einsum_unsplit_heads=True))
    assert weights.shape == (2, 1, 17, 17)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 1, 17), atol=1e-6, rtol=0)
    model = build_model(ViTConfig(homework_bugs=HomeworkBugs(einsum_unsplit_heads=True), **SMALL))
    _, attention = model(torch.rand(1, 3, 64, 64), return_attention=True)
    assert all(w.shape == (1, 1, 17, 17) for w in attention)
    assert len(model.blocks[0].attention.heads) == 1


def test_unsplit_heads_parameter_count_at_homework_size():
    with torch.device("meta"):
        model = build_model(ViTConfig(homework_bugs=HomeworkBugs(einsum_unsplit_heads=True)))
    assert count_parameters(model) == _homework_size_parameters(flattened=True, sliced=True, unsplit=True)


@pytest.mark.parametrize("switch", [f.name for f in fields(HomeworkBugs)])
def test_each_switch_alone_builds_and_runs(switch):
    model = build_model(ViTConfig(homework_bugs=only(**{switch: True}), **SMALL))
    assert isinstance(model, HomeworkViT)
    logits, attention = model(torch.rand(2, 3, 64, 64), return_attention=True)
    assert logits.shape == (2, 5) and len(attention) == 2
    heads = 1 if switch == "einsum_unsplit_heads" else 4
    assert all(w.shape == (2, heads, 17, 17) for w in attention)
    assert model.num_prefix_tokens == 1 and model.grid_size == 4


def test_all_bugs_small_model_forward_and_backward():
    model = build_model(ViTConfig(homework_bugs=HomeworkBugs(), **SMALL))
    logits = model(torch.rand(3, 3, 64, 64))
    assert logits.shape == (3, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_homework_model_refuses_options_it_does_not_have():
    with pytest.raises(VitcoreError, match="homework ViT"):
        build_model(ViTConfig(homework_bugs=HomeworkBugs(), pooling="seq", **SMALL))
