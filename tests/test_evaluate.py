"""evaluate(): accuracy, loss, sklearn confusion matrix, per-class scores, misclassified list."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from vitcore.data.dataset import ImageSplit
from vitcore.evaluate import evaluate, loss_and_accuracy


class ColourVoteModel(nn.Module):
    """Predicts the brightest channel: logits = 10 * mean colour per channel (a hand-made classifier)."""

    def forward(self, images, return_attention=False):
        return images.mean(dim=(2, 3)) * 10.0  # (B, 3)


def solid_split(colours, labels) -> ImageSplit:
    images = torch.tensor(colours, dtype=torch.uint8)[:, :, None, None].expand(-1, -1, 8, 8).contiguous()  # (N, 3, 8, 8)
    return ImageSplit(images=images, labels=torch.tensor(labels), names=[f"img{i}.jpg" for i in range(len(labels))])


def test_confusion_and_per_class_scores_on_a_hand_made_model():
    # brightest channel = prediction: 0, 1, 1, 1, 2, 0 ; true labels: 0, 0, 1, 1, 2, 2
    colours = [[200, 0, 0], [0, 200, 0], [0, 200, 0], [10, 250, 0], [0, 0, 200], [255, 0, 0]]
    labels = [0, 0, 1, 1, 2, 2]
    split = solid_split(colours, labels)
    result = evaluate(ColourVoteModel(), split, ["red", "green", "blue"], torch.device("cpu"), batch_size=4)

    assert result.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(result.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    np.testing.assert_array_equal(result.predictions, [0, 1, 1, 1, 2, 0])
    assert result.per_class["class"] == ["red", "green", "blue"]
    assert result.per_class["precision"] == pytest.approx([0.5, 2 / 3, 1.0])
    assert result.per_class["recall"] == pytest.approx([0.5, 1.0, 0.5])
    assert result.per_class["f1"] == pytest.approx([0.5, 0.8, 2 / 3])
    assert result.per_class["support"] == [2, 2, 2]
    assert result.probabilities.shape == (6, 3)
    np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, rtol=1e-6)

    logits = torch.tensor(colours, dtype=torch.float32) / 255.0 * 10.0
    expected_loss = nn.functional.cross_entropy(logits, torch.tensor(labels)).item()
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert loss_and_accuracy(ColourVoteModel(), split, torch.device("cpu"), batch_size=5) == pytest.approx(
        (expected_loss, 4 / 6), rel=1e-5
    )

    assert [m["index"] for m in result.misclassified] == [5, 1]  # most confident mistake first
    assert result.misclassified[0] == {
        "index": 5, "name": "img5.jpg", "true": "blue", "pred": "red",
        "confidence": pytest.approx(float(result.probabilities[5].max())),
    }
    as_dict = result.to_dict()
    assert as_dict["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]] and as_dict["accuracy"] == pytest.approx(4 / 6)


def test_class_without_images_gets_zero_scores_not_an_error():
    split = solid_split([[200, 0, 0], [0, 200, 0]], [0, 1])
    result = evaluate(ColourVoteModel(), split, ["red", "green", "blue"], torch.device("cpu"))
    assert result.confusion.shape == (3, 3) and result.accuracy == 1.0
    assert result.per_class["support"] == [1, 1, 0] and result.per_class["precision"][2] == 0.0
    assert result.misclassified == []


def test_model_is_left_in_its_training_mode():
    model = ColourVoteModel().train()
    evaluate(model, solid_split([[1, 2, 3]], [2]), ["a", "b", "c"], torch.device("cpu"))
    assert model.training
    empty = ImageSplit(images=torch.zeros(0, 3, 8, 8, dtype=torch.uint8), labels=torch.zeros(0, dtype=torch.long), names=[])
    loss, accuracy = loss_and_accuracy(model, empty, torch.device("cpu"))
    assert math.isnan(loss) and math.isnan(accuracy)


class LeftHalfModel(nn.Module):
    """Votes by where the light is: class 0 when the left half is brighter, class 1 when the right half is."""

    def forward(self, images, return_attention=False):
        half = images.shape[-1] // 2
        left, right = images[..., :half].mean(dim=(1, 2, 3)), images[..., half:].mean(dim=(1, 2, 3))  # (B,), (B,)
        return torch.stack([left - right, right - left], dim=1) * 10.0  # (B, 2)


def test_flip_tta_adds_the_mirror_images_logits():
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    images[0, :, :, :4] = 200  # bright on the left
    images[1, :, :, :3] = 90  # a little light on the far left
    images[1, :, :, 6:] = 250  # and more on the far right
    split = ImageSplit(images=images, labels=torch.tensor([0, 1]), names=["a.png", "b.png"])
    from vitcore.evaluate import predict_logits

    plain = predict_logits(LeftHalfModel(), split, torch.device("cpu"))
    mirrored = predict_logits(LeftHalfModel(), ImageSplit(images=images.flip(-1), labels=split.labels, names=split.names),
                              torch.device("cpu"))
    with_tta = predict_logits(LeftHalfModel(), split, torch.device("cpu"), flip_tta=True)
    torch.testing.assert_close(with_tta, plain + mirrored)  # each picture's logits plus its mirror's
    assert loss_and_accuracy(LeftHalfModel(), split, torch.device("cpu"))[1] == 1.0
    assert loss_and_accuracy(LeftHalfModel(), split, torch.device("cpu"), flip_tta=True)[1] == 0.5  # a mirror-symmetric vote
    assert evaluate(LeftHalfModel(), split, ["left", "right"], torch.device("cpu"), flip_tta=True).accuracy == 0.5
