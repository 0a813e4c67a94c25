"""Plotly figure builders used by the pages (pure functions: data in, figure out).

Keeping the figures here lets every page stay a short list of widgets, and lets
tests check a figure's content without a browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

HEAT_SCALE = "Inferno"  # colour scale for attention maps (matches vitcore.explain.overlay's default)
MATRIX_SCALE = "Blues"  # colour scale for confusion matrices
RUN_COLOURS = ("#4F46E5", "#DC2626", "#059669", "#D97706", "#7C3AED", "#0891B2", "#DB2777", "#65A30D")


def _layout(figure: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    figure.update_layout(
        title=title,
        height=height,
        margin=dict(l=40, r=20, t=50 if title else 20, b=40),
        legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),  # below the plot: never covers the title
        template="plotly_white",
    )
    return figure


def iteration_curves(iterations_by_run: dict[str, pd.DataFrame], smooth: int = 1) -> go.Figure:
    """Loss (left) and running accuracy (right) per iteration, one colour per run.

    Each frame has columns `progress` (epochs as a float, e.g. 1.25), `loss`, `running_acc`.
    """
    figure = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "running accuracy"))
    for index, (label, frame) in enumerate(iterations_by_run.items()):
        if frame.empty:
            continue
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        loss = frame["loss"].rolling(smooth, min_periods=1).mean() if smooth > 1 else frame["loss"]
        figure.add_trace(
            go.Scatter(x=frame["progress"], y=loss, name=label, mode="lines", line=dict(color=colour), legendgroup=label),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=frame["progress"],
                y=frame["running_acc"],
                name=label,
                mode="lines",
                line=dict(color=colour),
                legendgroup=label,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    figure.update_xaxes(title_text="epoch")
    figure.update_yaxes(range=[0, 1], row=1, col=2)
    return _layout(figure, height=400)


def epoch_accuracy(epochs_by_run: dict[str, pd.DataFrame]) -> go.Figure:
    """Per-epoch train (dashed) vs val (solid) accuracy: the gap between them is overfitting."""
    figure = go.Figure()
    for index, (label, frame) in enumerate(epochs_by_run.items()):
        if frame.empty:
            continue
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        if "train_acc" in frame:
            figure.add_trace(
                go.Scatter(
                    x=frame["epoch"], y=frame["train_acc"], name=f"{label} · train", mode="lines+markers",
                    line=dict(color=colour, dash="dash"),
                )
            )
        if "val_acc" in frame:
            figure.add_trace(
                go.Scatter(
                    x=frame["epoch"], y=frame["val_acc"], name=f"{label} · val", mode="lines+markers",
                    line=dict(color=colour),
                )
            )
    figure.update_xaxes(title_text="epoch", dtick=1)
    figure.update_yaxes(title_text="accuracy", range=[0, 1])
    return _layout(figure, "train vs val accuracy per epoch", height=420)


def confusion_matrix(
    matrix: np.ndarray, class_names: list[str], title: str, zmax: float, normalised: bool
) -> go.Figure:
    """Heatmap of a (C, C) confusion matrix, rows = true class, columns = predicted class.

    `zmax` is passed in so two matrices shown side by side share one colour scale.
    """
    text = [[f"{value:.2f}" if normalised else f"{int(value)}" for value in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=class_names,
            y=class_names,
            zmin=0,
            zmax=zmax,
            colorscale=MATRIX_SCALE,
            text=text,
            texttemplate="%{text}",
            hovertemplate="true %{y} → predicted %{x}: %{text}<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="predicted class", side="bottom")
    figure.update_yaxes(title_text="true class", autorange="reversed")
    return _layout(figure, title, height=420)


def probability_bar(probabilities: np.ndarray, class_names: list[str]) -> go.Figure:
    """Horizontal bar of class probabilities, most likely on top."""
    order = np.argsort(probabilities)
    figure = go.Figure(
        go.Bar(
            x=[float(probabilities[i]) for i in order],
            y=[class_names[i] for i in order],
            orientation="h",
            marker_color=["#4F46E5" if i == order[-1] else "#A5B4FC" for i in order],
            text=[f"{probabilities[i]:.1%}" for i in order],
            textposition="auto",
        )
    )
    figure.update_xaxes(range=[0, 1], title_text="probability")
    return _layout(figure, height=max(200, 50 * len(class_names)))


def attention_grid(cls_to_patch: np.ndarray, shared_scale: bool = False) -> go.Figure:
    """Layers x heads grid of small (g, g) heatmaps: where the summary token looks in each head."""
    num_layers, num_heads = cls_to_patch.shape[:2]
    figure = make_subplots(
        rows=num_layers,
        cols=num_heads,
        horizontal_spacing=0.01,
        vertical_spacing=0.02,
        row_titles=[f"L{layer + 1}" for layer in range(num_layers)],
        column_titles=[f"H{head + 1}" for head in range(num_heads)],
    )
    zmax = float(cls_to_patch.max()) if shared_scale else None
    for layer in range(num_layers):
        for head in range(num_heads):
            figure.add_trace(
                go.Heatmap(
                    z=cls_to_patch[layer, head],
                    colorscale=HEAT_SCALE,
                    showscale=False,
                    zmin=0 if shared_scale else None,
                    zmax=zmax,
                    hovertemplate=f"layer {layer + 1}, head {head + 1}<br>row %{{y}}, col %{{x}}: %{{z:.3f}}<extra></extra>",
                ),
                row=layer + 1,
                col=head + 1,
            )
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False, autorange="reversed")
    cell = 70
    figure.update_layout(
        height=max(240, cell * num_layers + 60),
        margin=dict(l=10, r=40, t=40, b=10),
        template="plotly_white",
    )
    return figure


def token_matrix(matrix: np.ndarray, num_prefix_tokens: int, title: str) -> go.Figure:
    """Full (N, N) attention of one head: row = query token, column = key token."""
    labels = ["CLS"] * num_prefix_tokens + [f"p{index}" for index in range(matrix.shape[0] - num_prefix_tokens)]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale=HEAT_SCALE,
            hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>",
        )
    )
    figure.update_xaxes(title_text="key (attended to)")
    figure.update_yaxes(title_text="query (attending)", autorange="reversed")
    return _layout(figure, title, height=440)


def single_heatmap(values: np.ndarray, title: str, colorscale: str = HEAT_SCALE, height: int = 320) -> go.Figure:
    """One small (g, g) map, e.g. attention rollout."""
    figure = go.Figure(go.Heatmap(z=values, colorscale=colorscale, hovertemplate="%{z:.3f}<extra></extra>"))
    figure.update_yaxes(autorange="reversed", showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), title=title, template="plotly_white")
    return figure


def class_counts_bar(counts: pd.DataFrame) -> go.Figure:
    """Grouped bars: images per class (x) for each split (colour). Columns: class, split, images."""
    figure = go.Figure()
    for index, (split, frame) in enumerate(counts.groupby("split", sort=False)):
        figure.add_trace(
            go.Bar(x=frame["class"], y=frame["images"], name=str(split), marker_color=RUN_COLOURS[index % len(RUN_COLOURS)])
        )
    figure.update_layout(barmode="group")
    figure.update_yaxes(title_text="images")
    return _layout(figure, height=320)


def timing_bar(seconds_by_variant: dict[str, float]) -> go.Figure:
    """Milliseconds per forward pass for each attention implementation."""
    names = list(seconds_by_variant)
    millis = [seconds_by_variant[name] * 1000 for name in names]
    figure = go.Figure(
        go.Bar(x=names, y=millis, text=[f"{value:.2f} ms" for value in millis], textposition="auto", marker_color="#4F46E5")
    )
    figure.update_yaxes(title_text="ms per forward pass")
    return _layout(figure, height=300)
