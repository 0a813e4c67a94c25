"""DeiT: a distillation token beside CLS, hard labels from a CNN teacher, the mean of both heads at inference."""

import numpy as np
import pytest
import torch
from torch import nn

from vitcore.data.synthetic import generate_synthetic
from vitcore.errors import VitcoreError
from vitcore.explain.attention_maps import extract_attention
from vitcore.explain.logit_lens import logit_lens
from vitcore.explain.walkthrough import walk_through
from vitcore.models.config import CNNConfig, ViTConfig, config_to_dict
from vitcore.models.factory import build_model
from vitcore.runs.store import RunStore
from vitcore.train.config import TrainConfig
from vitcore.train.engine import fit
from vitcore.train.teacher import load_teacher


def distilled_vit(attention: str = "fused", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                                 attention=attention, distillation=True))


def pictures(count: int = 3) -> torch.Tensor:
    return torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(7))  # (B, 3, S, S)


def test_the_distillation_token_is_one_more_prefix_token_and_the_answer_is_the_mean_of_both_heads():
    model = distilled_vit().eval()
    assert model.num_prefix_tokens == 2 and model.pos_embed.shape[1] == 2 + 16
    with torch.no_grad():
        class_logits, distilled_logits = model.forward_heads(pictures())
        torch.testing.assert_close(model(pictures()), (class_logits + distilled_logits) / 2)
        assert not torch.allclose(class_logits, distilled_logits)  # two heads, two tokens
    with pytest.raises(VitcoreError, match="pooling='cls'"):
        build_model(ViTConfig(image_size=32, patch_size=8, hidden_dim=32, depth=1, num_heads=4, pooling="seq", distillation=True))


def test_the_prefix_rows_fast_path_and_every_attention_variant_agree():
    reference = distilled_vit("einsum").eval()
    for attention in ("loop", "fused"):  # fused computes only the two prefix rows in its last block
        model = distilled_vit(attention).eval()
        model.load_state_dict(reference.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(model(pictures()), reference(pictures()), atol=1e-5, rtol=1e-5)


def test_attention_views_treat_the_distillation_token_like_cls():
    model = distilled_vit().eval()
    maps = extract_attention(model, pictures(1))
    assert maps.num_prefix_tokens == 2 and maps.full.shape[-1] == 18
    np.testing.assert_allclose(maps.full.sum(axis=-1), 1.0, atol=1e-5)  # every row still a distribution
    np.testing.assert_allclose(maps.cls_to_patch.sum(axis=(-2, -1)), 1.0, atol=1e-5)  # over the 16 patches only
    assert maps.rollout.shape == (4, 4) and abs(maps.rollout.sum() - 1) < 1e-6
    walk = walk_through(model, pictures(1))
    assert walk.num_prefix_tokens == 2 and walk.tokens.shape == (18, 32)
    with torch.no_grad():
        np.testing.assert_allclose(walk.probabilities, model(pictures(1)).softmax(-1)[0].numpy(), atol=1e-5)
        torch.testing.assert_close(logit_lens(model, pictures()).logits[:, -1], model(pictures()), atol=1e-5, rtol=1e-5)


class AlwaysClassTwo(nn.Module):
    """A teacher with one opinion: every picture is class 2."""

    def forward(self, images, return_attention=False):
        logits = torch.zeros(images.shape[0], 5)
        logits[:, 2] = 1.0
        return logits


def test_the_distillation_head_learns_the_teachers_answers_and_the_cls_head_the_labels():
    data = generate_synthetic(train_per_class=24, val_per_class=4, image_size=32, seed=1)
    model = distilled_vit()
    config = TrainConfig(epochs=6, batch_size=20, lr=3e-3, device="cpu", seed=0, record_timelapse=False)
    assert fit(model, data, config, teacher=AlwaysClassTwo()).status == "finished"
    model.eval()
    with torch.no_grad():
        class_logits, distilled_logits = model.forward_heads(data.train.images[:60].float() / 255)
    assert (distilled_logits.argmax(dim=1) == 2).float().mean() > 0.9  # the teacher's one answer
    assert (class_logits.argmax(dim=1) == 2).float().mean() < 0.6  # the labels, which are spread over 5 classes


def test_a_teacher_for_a_vit_without_the_token_is_refused():
    data = generate_synthetic(train_per_class=4, val_per_class=2, image_size=32, seed=1)
    torch.manual_seed(0)
    plain = build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=1, num_heads=4))
    result = fit(plain, data, TrainConfig(epochs=1, batch_size=10, device="cpu"), teacher=AlwaysClassTwo())
    assert result.status == "failed" and "distillation token" in result.message


def test_load_teacher_refuses_a_vit_another_dataset_other_classes_and_an_unfinished_run(tmp_path):
    data = generate_synthetic(train_per_class=4, val_per_class=2, image_size=32, seed=1)
    store = RunStore(tmp_path / "runs")

    def cnn_run(name, dataset_id=data.dataset_id, classes=data.class_names, status="finished", kind="cnn"):
        config = CNNConfig(arch="hw4", image_size=32, num_classes=len(classes))
        model_config = config_to_dict(config) if kind == "cnn" else {"kind": "vit"}
        run = store.create_run(name, model_config, {}, classes, dataset_id, "test")
        run.save_checkpoint({"model": build_model(config).state_dict(), "model_config": config_to_dict(config),
                             "class_names": list(classes)})
        run.set_status(status, "")
        return run.id

    good = cnn_run("good")
    assert not load_teacher(store, good, data, torch.device("cpu")).training
    for run_id, message in (
        (cnn_run("vit", kind="vit"), "must be a CNN run"),
        (cnn_run("elsewhere", dataset_id="folder-other"), "another dataset"),
        (cnn_run("running", status="running"), "has not finished"),
        (cnn_run("classes", classes=["a", "b", "c", "d", "e"]), "other classes"),
    ):
        with pytest.raises(VitcoreError, match=message):
            load_teacher(store, run_id, data, torch.device("cpu"))


def test_teacher_answers_are_the_teachers_argmax_in_nhwc_and_bf16_barely_moves_them():
    from vitcore.train.teacher import teacher_answers

    torch.manual_seed(0)
    teacher = build_model(CNNConfig(image_size=32, num_classes=5, arch="resnet9")).eval()
    images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(3))  # (B, 3, S, S)
    with torch.no_grad():
        plain = teacher(images)  # (B, C) float32, NCHW
    answers = teacher_answers(teacher.to(memory_format=torch.channels_last), images, None)
    assert answers.dtype == torch.long and answers.shape == (64,)
    torch.testing.assert_close(answers, plain.argmax(dim=1))  # NHWC: the same maths
    rounded = teacher_answers(teacher, images, torch.bfloat16)
    margin = plain.topk(2, dim=1).values.diff(dim=1).abs().squeeze(1)  # (B,) gap between the two best classes
    clear = margin > 0.05 * plain.abs().max()  # pictures the teacher is not torn about
    assert clear.sum() >= 10
    assert torch.equal(rounded[clear], plain.argmax(dim=1)[clear])  # bf16 rounding does not flip a clear answer
