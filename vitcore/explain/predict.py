"""Classify one picture and, for a ViT, keep its attention maps for explanation.

``predict_image`` takes whatever the user gave (a PIL image, raw bytes, or a
file path), prepares it exactly like the training data (decode -> RGB ->
bilinear resize to S x S -> uint8 -> float in [0, 1]), runs the model once in
eval mode without gradients, and returns a ``Prediction``: class
probabilities, the top-k classes and, when the model is a Vision Transformer,
its ``AttentionMaps`` from that same forward pass.

``overlay_for_prediction`` paints the attention (rollout, or the last layer's
head-averaged CLS map) over the ORIGINAL picture. Because the model input is the
whole picture squeezed to S x S (no cropping), the (g, g) grid maps onto the
whole original picture.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from vitcore.data.dataset import to_float
from vitcore.data.images import decode_image, image_to_uint8_tensor
from vitcore.errors import VitcoreError
from vitcore.explain.attention_maps import AttentionMaps, forward_with_attention, is_attention_model
from vitcore.explain.overlay import DEFAULT_MAX_SIDE, render_overlay

OVERLAY_SOURCES = ("rollout", "last_layer_mean")  # the heat maps overlay_for_prediction can paint


@dataclass
class Prediction:
    """The model's answer for one picture."""

    probabilities: np.ndarray  # (C,) float64 softmax probabilities, index = class index
    top_k: list[tuple[str, float]]  # the k most likely (class name, probability), most likely first
    predicted: str  # name of the most likely class
    predicted_index: int  # index of the most likely class in class_names
    attention: AttentionMaps | None  # attention maps of this forward pass (ViTs), None for CNNs
    input_tensor: torch.Tensor  # (3, S, S) uint8 CPU: exactly the pixels the model saw


def prepare_input(image: Image.Image | bytes | str | Path, image_size: int) -> torch.Tensor:
    """Any accepted picture -> (3, S, S) uint8, the same way training images are prepared.

    Bytes and paths go through ``decode_image`` (which raises ImageInputError for
    bad input) with a JPEG draft hint, as the dataset loader does.
    """
    if isinstance(image, Image.Image):
        picture = image
    else:
        picture = decode_image(image, draft_size=image_size)
    return image_to_uint8_tensor(picture, image_size)  # (3, S, S)


def predict_image(
    model: nn.Module,
    image: Image.Image | bytes | str | Path,
    class_names: list[str],
    image_size: int,
    device: torch.device,
    top_k: int = 3,
) -> Prediction:
    """Classify one picture; ViTs also return their attention maps (one forward pass).

    The model must already be on ``device``; its train/eval mode is left as it was.
    """
    input_tensor = prepare_input(image, image_size)  # (3, S, S) uint8
    images = to_float(input_tensor.unsqueeze(0)).to(device)  # (1, 3, S, S) float in [0, 1]
    attention = None
    if is_attention_model(model):
        logits, attention = forward_with_attention(model, images)  # (1, C)
    else:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                logits = model(images)  # (1, C)
        finally:
            model.train(was_training)
    probabilities = torch.softmax(logits[0].detach().to("cpu", torch.float64), dim=-1).numpy()  # (C,)
    if len(class_names) != probabilities.shape[0]:
        raise VitcoreError(
            f"the model has {probabilities.shape[0]} outputs but {len(class_names)} class names were given."
        )
    order = np.argsort(-probabilities, kind="stable")  # (C,) most likely first
    k = max(1, min(int(top_k), len(class_names)))
    return Prediction(
        probabilities=probabilities,
        top_k=[(class_names[i], float(probabilities[i])) for i in order[:k]],
        predicted=class_names[int(order[0])],
        predicted_index=int(order[0]),
        attention=attention,
        input_tensor=input_tensor,
    )


def heat_for_prediction(prediction: Prediction, source: str = "rollout") -> np.ndarray:
    """The (g, g) map to paint: the rollout, or the last layer's head-averaged CLS->patch map."""
    if prediction.attention is None:
        raise VitcoreError("this model has no attention maps to show (only Vision Transformers do).")
    if source == "rollout":
        return prediction.attention.rollout  # (g, g)
    if source == "last_layer_mean":
        return prediction.attention.layer_mean(-1)  # (g, g)
    raise VitcoreError(f"overlay source must be one of {', '.join(OVERLAY_SOURCES)}, got {source!r}.")


def overlay_for_prediction(
    prediction: Prediction,
    original_image: Image.Image,
    opacity: float = 0.5,
    source: str = "rollout",
    colormap: str = "inferno",
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> Image.Image:
    """The prediction's attention painted over the original picture (see ``render_overlay`` for sizes)."""
    heat = heat_for_prediction(prediction, source)  # (g, g)
    return render_overlay(original_image, heat, opacity=opacity, colormap=colormap, max_side=max_side)
