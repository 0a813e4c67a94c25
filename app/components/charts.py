"""Plotly figure builders used by the pages (pure functions: data in, figure out).

Keeping the figures here lets every page stay a short list of widgets, and lets
tests check a figure's content without a browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

HEAT_SCALE_NAME = "Inferno"  # colour scale of attention maps (matches vitcore.explain.overlay's default)
MATRIX_SCALE_NAME = "Blues"  # colour scale of confusion matrices
TEMPLATE = "plotly_white"  # plotly template of every figure (white background, light grid)
GRID_GAP = 1  # NaN rows/columns between the tiles of the layers x heads mosaic (drawn as background)
STREAMLIT_PLACEHOLDER_COLOURS = frozenset(f"#{index:06d}" for index in range(1, 41))  # see streamlit_safe_scale
CELL_MARKER_PX = 36  # side of the invisible click target on each confusion-matrix cell
RUN_COLOURS = ("#4F46E5", "#DC2626", "#059669", "#D97706", "#7C3AED", "#0891B2", "#DB2777", "#65A30D")


def streamlit_safe_scale(name: str) -> list[list]:
    """Plotly's colour scale `name` as [position, "rgb(r, g, b)"] pairs, so Streamlit draws it as asked.

    Streamlit's chart theme sends its own colours to the browser as the placeholders #000001 ... #000040
    and the browser swaps every one of them in the figure for a theme colour, the figure's own traces
    included. Inferno starts at #000004, so the colour of 0 turned into a pale theme colour and the patches
    a head ignores looked brighter than the ones it reads. The same colours written as rgb() are never swapped.
    """
    scale = []
    for position, colour in plotly.colors.get_colorscale(name):  # (position in [0, 1], "#rrggbb" or "rgb(...)")
        if colour.startswith("#"):
            red, green, blue = plotly.colors.hex_to_rgb(colour)
            colour = f"rgb({red}, {green}, {blue})"
        scale.append([position, colour])
    return scale


HEAT_SCALE = streamlit_safe_scale(HEAT_SCALE_NAME)  # attention maps: black (0) -> purple -> yellow (largest)
MATRIX_SCALE = streamlit_safe_scale(MATRIX_SCALE_NAME)  # confusion matrices: white (0) -> dark blue


def _with_template(figure: go.Figure) -> go.Figure:
    """Attach the shared `plotly_white` template without plotly re-checking it (saves ~20 ms per figure).

    Plotly validates every property it is given; for the template that means copying and checking a
    large object that plotly itself ships and has already checked. Plotly skips that check for its
    default template in exactly the same way, so only the figure's own traces and layout are validated.
    """
    layout = figure.layout
    checking = layout._validate  # plotly's own switch (see BaseFigure._initialize_layout_template)
    layout._validate = False
    try:
        layout.template = pio.templates[TEMPLATE]
    finally:
        layout._validate = checking
    return figure


def _figure(traces: list, layout: dict) -> go.Figure:
    """Build a figure in ONE step (data + layout), instead of one update_* call per setting: each update is re-validated."""
    return _with_template(go.Figure(data=traces, layout=layout))


def _margin_legend(title: str | None, height: int) -> dict:
    """The layout settings every figure here shares: title, height, margins and a legend below the plot."""
    return dict(
        title=dict(text=title) if title else None,
        height=height,
        margin=dict(l=40, r=20, t=50 if title else 20, b=40),
        legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),  # below the plot: never covers the title
    )


def _layout(figure: go.Figure, title: str | None = None, height: int = 360) -> go.Figure:
    """Apply the shared layout to a figure built with make_subplots (one update call + the cheap template)."""
    figure.update_layout(**_margin_legend(title, height))
    return _with_template(figure)


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


MAX_EPOCH_TICKS = 12  # at most about this many labelled epochs on an x axis


def epoch_tick_step(last_epoch: int) -> int:
    """Epochs between two labelled ticks: every epoch for short runs, then 2, 5, 10, 20, 50, ... apart.

    One label per epoch looks fine for 12 epochs, but plotly measures every tick label's size each time
    it draws, so a 500-epoch run redrawn every 1.5 s by the live view made a watching tab's work grow
    with each epoch (bench/load.py: the teacher's Train tab reached a whole core within minutes).
    """
    steps = sorted(step * scale for step in (1, 2, 5) for scale in (1, 10, 100, 1000, 10_000))
    return next((step for step in steps if last_epoch / step <= MAX_EPOCH_TICKS), steps[-1])


MAX_MARKER_EPOCHS = 60  # runs up to this many epochs get a dot per epoch; longer ones are drawn as plain lines


def epoch_accuracy(epochs_by_run: dict[str, pd.DataFrame]) -> go.Figure:
    """Per-epoch train (dashed) vs val (solid) accuracy: the gap between them is overfitting.

    Each dot is its own SVG shape that plotly rebuilds on every redraw, so a run longer than MAX_MARKER_EPOCHS
    is drawn as lines only (bench/load.py's 500-epoch run: a watching Train tab spent about 11 % less CPU).
    """
    last_epoch = max((int(frame["epoch"].max()) for frame in epochs_by_run.values() if not frame.empty), default=1)
    mode = "lines+markers" if last_epoch <= MAX_MARKER_EPOCHS else "lines"
    figure = go.Figure()
    for index, (label, frame) in enumerate(epochs_by_run.items()):
        if frame.empty:
            continue
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        if "train_acc" in frame:
            figure.add_trace(
                go.Scatter(
                    x=frame["epoch"], y=frame["train_acc"], name=f"{label} · train", mode=mode,
                    line=dict(color=colour, dash="dash"),
                )
            )
        if "val_acc" in frame:
            figure.add_trace(
                go.Scatter(
                    x=frame["epoch"], y=frame["val_acc"], name=f"{label} · val", mode=mode,
                    line=dict(color=colour),
                )
            )
    figure.update_xaxes(title_text="epoch", tick0=0, dtick=epoch_tick_step(last_epoch))
    figure.update_yaxes(title_text="accuracy", range=[0, 1])
    return _layout(figure, "train vs val accuracy per epoch", height=420)


def confusion_matrix(
    matrix: np.ndarray, class_names: list[str], title: str, zmax: float, normalised: bool
) -> go.Figure:
    """Heatmap of a (C, C) confusion matrix, rows = true class, columns = predicted class; a cell can be clicked.

    `zmax` is passed in so two matrices shown side by side share one colour scale. Plotly cannot select the
    cells of a heatmap, so an invisible square marker sits on every cell: clicking a cell selects its marker,
    and Streamlit hands the page that point (x = predicted class, y = true class).
    """
    text = [[f"{value:.2f}" if normalised else f"{int(value)}" for value in row] for row in matrix]
    heatmap = go.Heatmap(
        z=matrix, x=class_names, y=class_names, zmin=0, zmax=zmax, colorscale=MATRIX_SCALE,
        text=text, texttemplate="%{text}", hoverinfo="skip",  # the markers below answer hovers and clicks
    )
    true_names = [true for true in class_names for _ in class_names]  # row of each cell, row by row
    predicted_names = [predicted for _ in class_names for predicted in class_names]  # column of each cell
    cell_markers = go.Scatter(
        x=predicted_names, y=true_names, mode="markers", showlegend=False,
        customdata=[value for row in text for value in row],
        marker=dict(symbol="square", size=CELL_MARKER_PX, color="rgba(0, 0, 0, 0)"),  # invisible, but clickable
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="true %{y} → predicted %{x}: %{customdata}<br>click to see these images<extra></extra>",
    )
    figure = go.Figure([heatmap, cell_markers])
    figure.update_xaxes(title_text="predicted class", side="bottom")
    figure.update_yaxes(title_text="true class", autorange="reversed")
    return _layout(figure, title, height=420)


def attention_mosaic(cls_to_patch: np.ndarray, gap: int = GRID_GAP) -> np.ndarray:
    """Tile the (L, H, g, g) maps into one (L*(g+gap)-gap, H*(g+gap)-gap) matrix, NaN between the tiles.

    Tile (layer, head) starts at row layer*(g+gap), column head*(g+gap); NaN cells are drawn as background.
    """
    num_layers, num_heads, grid, _ = cls_to_patch.shape
    step = grid + gap  # rows (or columns) from one tile's start to the next
    mosaic = np.full((num_layers * step - gap, num_heads * step - gap), np.nan)  # (L*step-gap, H*step-gap)
    for layer in range(num_layers):
        for head in range(num_heads):
            mosaic[layer * step : layer * step + grid, head * step : head * step + grid] = cls_to_patch[layer, head]
    return mosaic


def _mosaic_hover_text(num_layers: int, num_heads: int, grid: int, gap: int) -> list[list[str]]:
    """Hover label of every mosaic cell: "layer l, head h<br>patch p (row r, col c)"; empty in the gaps."""
    step = grid + gap
    rows, columns = num_layers * step - gap, num_heads * step - gap
    text = [[""] * columns for _ in range(rows)]
    for row in range(rows):
        layer, patch_row = divmod(row, step)
        if patch_row >= grid:
            continue
        for column in range(columns):
            head, patch_column = divmod(column, step)
            if patch_column < grid:
                patch = patch_row * grid + patch_column  # reading order, like p0..p15 in the token matrix
                text[row][column] = f"layer {layer + 1}, head {head + 1}<br>patch p{patch} (row {patch_row}, col {patch_column})"
    return text


def attention_grid(cls_to_patch: np.ndarray, shared_scale: bool = True) -> go.Figure:
    """Layers x heads grid of small (g, g) maps as ONE heatmap: where the summary token looks in each head.

    The (L, H, g, g) maps are tiled into one mosaic matrix with NaN gaps between the tiles, so the browser
    draws one trace (a grid of L*H subplots costs ~25x more to build and to send). Axis ticks at the tile
    centres name the heads (H1.. on top) and layers (L1.. on the left); hovering a cell names its layer,
    head and patch. With `shared_scale` (default) all tiles share one colour scale from 0 to the largest
    weight; otherwise each tile is scaled to its own maximum (the hover still shows the real weight).
    """
    num_layers, num_heads, grid, _ = cls_to_patch.shape
    step = grid + GRID_GAP
    weights = attention_mosaic(cls_to_patch)  # (L*step-gap, H*step-gap), NaN in the gaps
    if shared_scale:
        colours, zmax, colour_title = weights, float(np.nanmax(weights)), "weight"
    else:
        tile_max = cls_to_patch.max(axis=(2, 3), keepdims=True)  # (L, H, 1, 1)
        colours = attention_mosaic(cls_to_patch / np.where(tile_max > 0, tile_max, 1.0))  # each tile in [0, 1]
        zmax, colour_title = 1.0, "share of<br>tile max"
    text = _mosaic_hover_text(num_layers, num_heads, grid, GRID_GAP)
    heatmap = go.Heatmap(
        z=colours,
        customdata=weights,
        text=text,
        colorscale=HEAT_SCALE,
        zmin=0,
        zmax=zmax,
        hoverongaps=False,
        colorbar=dict(title=dict(text=colour_title), thickness=12),
        hovertemplate="%{text}: %{customdata:.3f}<extra></extra>",
    )
    centre = (grid - 1) / 2  # a tile's middle cell, where its tick label goes
    layout = dict(
        height=max(240, 70 * num_layers + 60),
        margin=dict(l=40, r=20, t=40, b=10),
        plot_bgcolor="white",  # the NaN gaps between the tiles
        xaxis=dict(
            tickvals=[head * step + centre for head in range(num_heads)],
            ticktext=[f"H{head + 1}" for head in range(num_heads)],
            side="top",
            showgrid=False,
            zeroline=False,
            constrain="domain",
        ),
        yaxis=dict(
            tickvals=[layer * step + centre for layer in range(num_layers)],
            ticktext=[f"L{layer + 1}" for layer in range(num_layers)],
            autorange="reversed",  # L1 on top, and each tile's row 0 at its top like the picture
            showgrid=False,
            zeroline=False,
            scaleanchor="x",  # square cells, like the picture's square patches
        ),
    )
    return _figure([heatmap], layout)


def token_matrix(matrix: np.ndarray, num_prefix_tokens: int, title: str) -> go.Figure:
    """Full (N, N) attention of one head: row = query token, column = key token."""
    labels = ["CLS"] * num_prefix_tokens + [f"p{index}" for index in range(matrix.shape[0] - num_prefix_tokens)]
    heatmap = go.Heatmap(
        z=matrix,
        x=labels,
        y=labels,
        colorscale=HEAT_SCALE,
        hovertemplate="query %{y} → key %{x}: %{z:.3f}<extra></extra>",
    )
    layout = _margin_legend(title, 440)
    layout["xaxis"] = dict(title=dict(text="key (attended to)"))
    layout["yaxis"] = dict(title=dict(text="query (attending)"), autorange="reversed")
    return _figure([heatmap], layout)


def single_heatmap(values: np.ndarray, title: str, colorscale: list | None = None, height: int = 320) -> go.Figure:
    """One small (g, g) map, e.g. attention rollout."""
    heatmap = go.Heatmap(z=values, colorscale=colorscale or HEAT_SCALE, hovertemplate="%{z:.3f}<extra></extra>")
    layout = dict(
        title=dict(text=title),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(showticklabels=False),
        yaxis=dict(autorange="reversed", showticklabels=False),
    )
    return _figure([heatmap], layout)


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


DIVERGING_SCALE = streamlit_safe_scale("RdBu")  # signed values (token features, scores): red < 0 < blue


def labelled_heatmap(
    values: np.ndarray, x_labels: list[str], y_labels: list[str], title: str, *, x_title: str = "", y_title: str = "",
    colorscale: list | None = None, zmin: float | None = None, zmax: float | None = None, height: int = 380,
) -> go.Figure:
    """A (rows, columns) heatmap with named rows and columns, row 0 on top; hover shows the row, column and value."""
    heatmap = go.Heatmap(
        z=values, x=x_labels, y=y_labels, colorscale=colorscale or HEAT_SCALE, zmin=zmin, zmax=zmax,
        hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>",
    )
    layout = _margin_legend(title, height)
    layout["xaxis"] = dict(title=dict(text=x_title))
    layout["yaxis"] = dict(title=dict(text=y_title), autorange="reversed")
    return _figure([heatmap], layout)


def tile_mosaic(tiles: np.ndarray, title: str, zmin: float, zmax: float, colour_title: str, height: int = 420) -> go.Figure:
    """(R, C, g, g) small maps as ONE heatmap with gaps (like the layers x heads grid), tiles in reading order."""
    mosaic = attention_mosaic(tiles)  # (R*(g+1)-1, C*(g+1)-1), NaN between the tiles
    heatmap = go.Heatmap(
        z=mosaic, colorscale=HEAT_SCALE, zmin=zmin, zmax=zmax, hoverongaps=False,
        colorbar=dict(title=dict(text=colour_title), thickness=12), hovertemplate="%{z:.2f}<extra></extra>",
    )
    layout = dict(
        title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
        xaxis=dict(showticklabels=False, showgrid=False, zeroline=False, constrain="domain"),
        yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x"),
    )
    return _figure([heatmap], layout)


def layer_bars(values_by_name: dict[str, np.ndarray], title: str, y_title: str) -> go.Figure:
    """Grouped bars, one group per layer (L1, L2, ...), one colour per named series of (L,) values."""
    traces = []
    for index, (name, values) in enumerate(values_by_name.items()):
        labels = [f"L{layer + 1}" for layer in range(len(values))]
        traces.append(go.Bar(x=labels, y=list(values), name=name, marker_color=RUN_COLOURS[index % len(RUN_COLOURS)]))
    layout = _margin_legend(title, 340)
    layout["barmode"] = "group"
    layout["yaxis"] = dict(title=dict(text=y_title))
    return _figure(traces, layout)


def accuracy_against_size(points: pd.DataFrame) -> go.Figure:
    """Validation accuracy against training pictures, one line per model (columns: model, train_images, val_acc, runs)."""
    figure = go.Figure()
    for index, (model, frame) in enumerate(points.groupby("model", sort=True)):
        frame = frame.sort_values("train_images")
        figure.add_trace(go.Scatter(
            x=frame["train_images"], y=frame["val_acc"], name=model, mode="lines+markers",
            line=dict(color=RUN_COLOURS[index % len(RUN_COLOURS)]), customdata=frame["runs"],
            hovertemplate="%{x} training pictures: %{y:.1%} (mean of %{customdata} run(s))<extra>" + model + "</extra>",
        ))
    figure.update_xaxes(title_text="training pictures", type="log")
    figure.update_yaxes(title_text="validation accuracy", range=[0, 1], tickformat=".0%")
    return _layout(figure, "validation accuracy against training-set size", height=400)
