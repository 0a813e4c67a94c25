"""The walkthrough's numbers agree with the model's own forward pass, for every attention variant and pooling."""

import numpy as np
import pytest
import torch

from vitcore.explain.attention_maps import extract_attention
from vitcore.explain.walkthrough import walk_through
from vitcore.models.config import ViTConfig
from vitcore.models.factory import build_model


@pytest.mark.parametrize("tokenizer", ["patch", "conv_stem"])
@pytest.mark.parametrize("pooling", ["cls", "seq"])
@pytest.mark.parametrize("attention", ["loop", "einsum", "fused"])
def test_the_walkthrough_is_the_models_own_forward_pass(attention, pooling, tokenizer):
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=3, num_heads=4,
                       attention=attention, pooling=pooling, tokenizer=tokenizer)
    model = build_model(config).eval()
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))  # (1, 3, S, S)
    walk = walk_through(model, image)
    tokens = 16 + walk.num_prefix_tokens
    assert walk.tokens.shape == (tokens, 32) and walk.scores.shape == (3, 4, tokens, tokens)
    with torch.no_grad():
        probabilities = model(image).softmax(dim=-1)[0].numpy()  # (C,)
    np.testing.assert_allclose(walk.probabilities, probabilities, atol=1e-5)
    np.testing.assert_allclose(walk.lens[-1], probabilities, atol=1e-5)  # the logit lens ends at the answer
    np.testing.assert_allclose(walk.attention, extract_attention(model, image).full, atol=1e-5)  # the model's own weights
    np.testing.assert_allclose(walk.attention.sum(axis=-1), 1.0, atol=1e-5)  # softmax over the keys
    assert walk.attention_distance.shape == (3, 4) and (walk.attention_distance > 0).all()
    assert walk.attention_update.shape == (3,) and (walk.attention_update > 0).all() and (walk.mlp_update > 0).all()
    assert walk.position_similarity.shape == (16, 4, 4) and 1 <= walk.settled_layer <= 3
    if tokenizer == "patch":
        assert walk.patch_filters.shape == (32, 3, 8, 8) and walk.stem_maps == []
    else:
        assert walk.patch_filters is None and len(walk.stem_maps) >= 1
        assert walk.stem_maps[0].shape[1:] == (16, 16)  # the first stride-2 stage halves the 32 px picture


def small_homework_model(**bugs) -> torch.nn.Module:
    from vitcore.models.config import HomeworkBugs

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                       homework_bugs=HomeworkBugs(**bugs))
    return build_model(config).eval()


def test_the_homework_model_with_every_bug_walks_through_and_shows_them():
    model = small_homework_model(flattened_sequence_layers=True, softmax_over_queries=True,
                                 scale_after_softmax=True, no_output_projection=True)
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))  # (1, 3, S, S)
    walk = walk_through(model, image)
    assert walk.bugs == ("flattened_sequence_layers", "softmax_over_queries", "scale_after_softmax", "no_output_projection")
    with torch.no_grad():
        probabilities = model(image).softmax(dim=-1)[0].numpy()  # (C,)
    np.testing.assert_allclose(walk.probabilities, probabilities, atol=1e-5)
    np.testing.assert_allclose(walk.lens[-1], probabilities, atol=1e-5)
    np.testing.assert_allclose(walk.attention, extract_attention(model, image).full, atol=1e-5)
    scale = 1 / np.sqrt(32 // 4)
    # softmax over the queries: the COLUMNS sum to 1 (times the scale applied after the softmax), the rows do not
    np.testing.assert_allclose(walk.attention.sum(axis=-2), scale, atol=1e-5)
    assert not np.allclose(walk.attention.sum(axis=-1), scale, atol=1e-3)
    # the scores the softmax saw were not divided by √d: the weights are their softmax over the query axis, times the scale
    softmax_over_queries = torch.from_numpy(walk.scores).softmax(dim=-2).numpy() * scale
    np.testing.assert_allclose(walk.attention, softmax_over_queries, atol=1e-5)


def test_the_homework_model_with_its_bugs_fixed_has_rows_that_sum_to_one():
    model = small_homework_model(flattened_sequence_layers=False, softmax_over_queries=False,
                                 scale_after_softmax=False, no_output_projection=False)
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))  # (1, 3, S, S)
    walk = walk_through(model, image)
    assert walk.bugs == ()
    np.testing.assert_allclose(walk.attention.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(torch.from_numpy(walk.scores).softmax(dim=-1).numpy(), walk.attention, atol=1e-5)
