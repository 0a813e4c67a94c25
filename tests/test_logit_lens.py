"""The logit lens reads the residual stream after every block with the model's own classifier."""

import pytest
import torch

from vitcore.explain.logit_lens import LogitLens, logit_lens
from vitcore.models.config import ViTConfig
from vitcore.models.factory import build_model


def small_vit(attention: str, pooling: str, depth: int = 3) -> torch.nn.Module:
    config = ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=depth, num_heads=4,
                       attention=attention, pooling=pooling)
    return build_model(config).eval()


@pytest.mark.parametrize("pooling", ["cls", "seq"])
@pytest.mark.parametrize("attention", ["loop", "einsum", "fused"])
def test_the_last_layer_is_the_models_own_answer(attention, pooling):
    torch.manual_seed(0)
    model = small_vit(attention, pooling)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # (B, 3, S, S)
    lens = logit_lens(model, images)
    assert lens.logits.shape == (4, 3, 5) and lens.probabilities.shape == (4, 3, 5)
    with torch.no_grad():
        torch.testing.assert_close(lens.logits[:, -1], model(images), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lens.probabilities.sum(dim=-1), torch.ones(4, 3))
    assert not torch.allclose(lens.logits[:, 0], lens.logits[:, -1])  # earlier layers read something else


def test_each_layer_reads_the_stream_after_that_block():
    torch.manual_seed(0)
    model = small_vit("einsum", "cls", depth=4)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))  # (B, 3, S, S)
    lens = logit_lens(model, images)
    with torch.no_grad():  # a model cut after two blocks answers what the lens says for layer 2
        x = model.embed(images)
        for block in model.blocks[:2]:
            x, _ = block(x)
        torch.testing.assert_close(lens.logits[:, 1], model.read_out(x))


def test_settled_layer_is_where_the_final_answer_stays_on_top():
    logits = torch.tensor([
        [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0]],  # top class 1, 0, 1, 1: settled from layer 3
        [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]],  # always class 0: settled from layer 1
        [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]],  # changes at the end: only layer 4
    ])
    lens = LogitLens(logits=logits, probabilities=logits.softmax(dim=-1))
    assert lens.settled_layer() == [3, 1, 4]


def test_the_homework_models_lens_ends_at_its_own_logits():
    from vitcore.models.config import HomeworkBugs

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                       homework_bugs=HomeworkBugs())
    model = build_model(config).eval()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))  # (B, 3, S, S)
    lens = logit_lens(model, images)
    with torch.no_grad():
        torch.testing.assert_close(lens.logits[:, -1], model(images), atol=1e-5, rtol=1e-5)
