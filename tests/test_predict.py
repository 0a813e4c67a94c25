"""predict_image on real JPEG files with the real ViT, a CNN-like model, and bad input."""

import io
import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vitcore.data.dataset import to_float
from vitcore.data.images import decode_image, image_to_uint8_tensor
from vitcore.errors import ImageInputError, VitcoreError
from vitcore.explain.predict import overlay_for_prediction, predict_image
from vitcore.models.config import ViTConfig
from vitcore.models.vit import VisionTransformer

CLASS_NAMES = ["cat", "dog", "pizza", "train", "zebra"]
CPU = torch.device("cpu")


def small_vit(pooling: str = "cls") -> VisionTransformer:
    model = VisionTransformer(ViTConfig(hidden_dim=32, depth=2, num_heads=4, num_classes=5, pooling=pooling))
    with torch.no_grad():  # spread the logits so the top-k order is clear
        model.head.weight.normal_(0.0, 1.0)
    return model


class TinyCNN(nn.Module):
    """A model without attention: forward(images) only."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 4, kernel_size=8, stride=8)
        self.classify = nn.Linear(4 * 8 * 8, 5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(images).flatten(1))  # (B, 5)


def jpeg_bytes(width: int, height: int, seed: int = 0) -> bytes:
    """A real JPEG with smooth gradients plus noise (like a photo, unlike pure noise)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 / max(width, 1), ys * 255 / max(height, 1), (xs + ys) % 256], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_predict_from_jpeg_bytes_path_and_image_agree(tmp_path):
    data = jpeg_bytes(96, 80)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    model = small_vit()
    from_bytes = predict_image(model, data, CLASS_NAMES, image_size=64, device=CPU)
    from_path = predict_image(model, path, CLASS_NAMES, image_size=64, device=CPU)
    from_image = predict_image(model, Image.open(path), CLASS_NAMES, image_size=64, device=CPU)
    for other in (from_path, from_image):
        np.testing.assert_allclose(other.probabilities, from_bytes.probabilities, atol=1e-6)
        assert torch.equal(other.input_tensor, from_bytes.input_tensor)


def test_prediction_contents_match_the_model(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(120, 90, seed=4))
    model = small_vit()
    prediction = predict_image(model, path, CLASS_NAMES, image_size=64, device=CPU, top_k=3)

    expected_input = image_to_uint8_tensor(decode_image(path, draft_size=64), 64)  # (3, 64, 64)
    assert prediction.input_tensor.dtype == torch.uint8 and prediction.input_tensor.shape == (3, 64, 64)
    assert torch.equal(prediction.input_tensor, expected_input)

    model.eval()
    with torch.no_grad():
        expected = model(to_float(expected_input[None])).softmax(-1)[0].double().numpy()  # (C,)
    np.testing.assert_allclose(prediction.probabilities, expected, atol=1e-6)
    assert prediction.probabilities.sum() == pytest.approx(1.0)

    order = np.argsort(-expected)
    assert [name for name, _ in prediction.top_k] == [CLASS_NAMES[i] for i in order[:3]]
    assert [p for _, p in prediction.top_k] == sorted((p for _, p in prediction.top_k), reverse=True)
    assert prediction.predicted == CLASS_NAMES[order[0]] == prediction.top_k[0][0]
    assert prediction.predicted_index == order[0]

    maps = prediction.attention
    assert maps is not None and maps.grid_size == 4 and maps.num_prefix_tokens == 1
    assert maps.full.shape == (2, 4, 17, 17)
    assert maps.rollout.sum() == pytest.approx(1.0)


def test_top_k_is_capped_by_the_number_of_classes():
    prediction = predict_image(small_vit(), jpeg_bytes(64, 64), CLASS_NAMES, 64, CPU, top_k=10)
    assert len(prediction.top_k) == 5


def test_cnn_prediction_has_no_attention_and_keeps_training_mode():
    model = TinyCNN().train()
    prediction = predict_image(model, jpeg_bytes(70, 50), CLASS_NAMES, 64, CPU)
    assert model.training
    assert prediction.attention is None
    assert prediction.probabilities.shape == (5,)
    with pytest.raises(VitcoreError):
        overlay_for_prediction(prediction, Image.new("RGB", (70, 50)))


@pytest.mark.parametrize("bad", [b"", b"this is not an image", jpeg_bytes(64, 64)[:300]])
def test_bad_bytes_raise_image_input_error(bad):
    with pytest.raises(ImageInputError):
        predict_image(small_vit(), bad, CLASS_NAMES, 64, CPU)


def test_wrong_number_of_class_names_is_a_clear_error():
    with pytest.raises(VitcoreError):
        predict_image(small_vit(), jpeg_bytes(64, 64), ["cat", "dog"], 64, CPU)


@pytest.mark.parametrize("source", ["rollout", "last_layer_mean"])
def test_overlay_for_prediction_has_the_original_size(source):
    data = jpeg_bytes(150, 110, seed=2)
    original = decode_image(data)
    prediction = predict_image(small_vit(pooling="seq"), original, CLASS_NAMES, 64, CPU)
    assert prediction.attention.cls_mode == "mean_received"
    transparent = overlay_for_prediction(prediction, original, opacity=0.0, source=source)
    assert transparent.size == (150, 110)
    np.testing.assert_array_equal(np.asarray(transparent), np.asarray(original))
    painted = overlay_for_prediction(prediction, original, opacity=0.7, source=source)
    assert not np.array_equal(np.asarray(painted), np.asarray(original))
    with pytest.raises(VitcoreError):
        overlay_for_prediction(prediction, original, source="gradcam")


def large_jpeg_bytes(width: int = 4000, height: int = 3000) -> bytes:
    """A big photo-like JPEG made quickly: a small noisy picture upscaled (smooth but detailed)."""
    small = Image.open(io.BytesIO(jpeg_bytes(width // 8, height // 8, seed=5)))
    buffer = io.BytesIO()
    small.resize((width, height), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_large_photo_decode_predict_overlay_latency():
    data = large_jpeg_bytes()
    model = small_vit()
    predict_image(model, jpeg_bytes(64, 64), CLASS_NAMES, 64, CPU)  # warm-up
    start = time.perf_counter()
    original = decode_image(data)
    prediction = predict_image(model, original, CLASS_NAMES, 64, CPU)
    overlay = overlay_for_prediction(prediction, original, opacity=0.5)
    seconds = time.perf_counter() - start
    assert overlay.size == (1024, 768)
    assert seconds < 5.0, f"decode + predict + overlay of a 4000x3000 JPEG took {seconds:.2f} s"
