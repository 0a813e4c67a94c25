"""The Attention page's figures (one-heatmap layers x heads mosaic, one-step small figures) and the Train page's clamped defaults."""


import json
import re

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from app.components import charts
from app.services.paths import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")


def random_maps(num_layers=3, num_heads=2, grid=4, seed=0) -> np.ndarray:
    """(L, H, g, g) positive maps, each summing to 1 like real CLS->patch attention."""
    maps = np.random.default_rng(seed).random((num_layers, num_heads, grid, grid)) + 0.01
    return maps / maps.sum(axis=(2, 3), keepdims=True)


def test_attention_grid_is_one_heatmap_holding_every_tile_with_gaps():
    maps = random_maps(num_layers=3, num_heads=2)
    figure = charts.attention_grid(maps)
    assert len(figure.data) == 1 and figure.data[0].type == "heatmap"
    weights = np.asarray(figure.data[0].customdata, dtype=float)  # the real weights (hover)
    colours = np.asarray(figure.data[0].z, dtype=float)  # what is painted
    step = 4 + charts.GRID_GAP
    assert weights.shape == colours.shape == (3 * step - 1, 2 * step - 1)
    for layer in range(3):
        for head in range(2):
            tile = weights[layer * step : layer * step + 4, head * step : head * step + 4]
            np.testing.assert_allclose(tile, maps[layer, head])
    assert np.isnan(weights[4, :]).all() and np.isnan(weights[:, 4]).all()  # separator row / column
    assert np.isnan(weights).sum() == weights.size - maps.size
    np.testing.assert_allclose(colours, weights, equal_nan=True)  # shared scale: painted = weights
    assert figure.data[0].zmin == 0 and figure.data[0].zmax == pytest.approx(maps.max())


def test_attention_grid_labels_tiles_at_their_centres_and_hover_names_layer_head_patch():
    maps = random_maps(num_layers=2, num_heads=3)
    figure = charts.attention_grid(maps)
    assert list(figure.layout.xaxis.ticktext) == ["H1", "H2", "H3"]
    assert list(figure.layout.yaxis.ticktext) == ["L1", "L2"]
    assert list(figure.layout.xaxis.tickvals) == [1.5, 6.5, 11.5]  # middle of columns 0-3, 5-8, 10-13
    assert list(figure.layout.yaxis.tickvals) == [1.5, 6.5]
    assert figure.layout.yaxis.autorange == "reversed"  # L1 on top
    text = figure.data[0].text
    assert text[5 + 2][10 + 3] == "layer 2, head 3<br>patch p11 (row 2, col 3)"
    assert text[4][0] == "" and text[0][4] == ""  # the gaps have no hover label
    assert figure.data[0].hoverongaps is False


def test_attention_grid_can_scale_each_tile_on_its_own():
    maps = random_maps(num_layers=2, num_heads=2, seed=3)
    maps[0, 0] *= 0.1  # a faint head: with its own scale it still reaches full brightness
    figure = charts.attention_grid(maps, shared_scale=False)
    colours = np.asarray(figure.data[0].z, dtype=float)
    assert figure.data[0].zmax == 1.0
    assert colours[0:4, 0:4].max() == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(figure.data[0].customdata, dtype=float)[0:4, 0:4], maps[0, 0])


def test_no_figure_carries_a_colour_streamlit_would_swap_for_a_theme_colour():
    """Streamlit's chart theme replaces the colours #000001 ... #000040 anywhere in a figure; Inferno starts at #000004."""
    maps = random_maps(num_layers=2, num_heads=2)
    matrix = np.array([[3, 1], [0, 4]], dtype=float)
    figures = [
        charts.attention_grid(maps), charts.attention_grid(maps, shared_scale=False),
        charts.token_matrix(np.random.default_rng(1).random((17, 17)), 1, "t"), charts.single_heatmap(maps[0, 0], "r"),
        charts.confusion_matrix(matrix, ["a", "b"], "m", 4.0, False),
    ]
    for figure in figures:
        sent = json.dumps(figure.to_plotly_json()["data"]).lower()  # the traces exactly as the page sends them
        swapped = set(re.findall(r"#0000[0-4][0-9]\b", sent)) & charts.STREAMLIT_PLACEHOLDER_COLOURS
        assert not swapped, swapped
    assert charts.HEAT_SCALE[0] == [0.0, "rgb(0, 0, 4)"]  # Inferno's own black, written so that it is kept
    assert len(charts.HEAT_SCALE) == len(plotly.colors.get_colorscale("Inferno"))


def test_every_confusion_matrix_cell_has_a_click_target_at_its_centre():
    matrix = np.array([[5, 1, 0], [2, 7, 1], [0, 3, 6]], dtype=float)
    figure = charts.confusion_matrix(matrix, ["cat", "dog", "bus"], "ViT", 7.0, normalised=False)
    heatmap, targets = figure.data
    assert heatmap.type == "heatmap" and targets.type == "scatter" and targets.mode == "markers"
    cells = list(zip(targets.y, targets.x, targets.customdata))  # (true, predicted, shown count)
    assert len(cells) == 9 and len(set(cells)) == 9
    assert ("dog", "bus", "1") in cells and ("bus", "dog", "3") in cells and ("cat", "cat", "5") in cells
    assert targets.marker.symbol == "square" and targets.marker.color == "rgba(0, 0, 0, 0)"  # invisible on the colours


def test_small_figures_are_valid_plotly_with_the_white_template():
    maps = random_maps(num_layers=2, num_heads=2)
    full = np.random.default_rng(1).random((17, 17))
    figures = {
        "grid": charts.attention_grid(maps),
        "tokens": charts.token_matrix(full, 1, "layer 1, head 1"),
        "rollout": charts.single_heatmap(maps[0, 0], "rollout"),
    }
    for name, figure in figures.items():
        as_dict = figure.to_dict()
        go.Figure(as_dict)  # plotly's full validation accepts what the page sends
        assert as_dict["layout"]["template"]["layout"]["plot_bgcolor"] == "white", name
    tokens = figures["tokens"]
    assert tokens.layout.title.text == "layer 1, head 1" and tokens.data[0].x[0] == "CLS" and tokens.data[0].x[-1] == "p15"
    assert tokens.layout.yaxis.autorange == "reversed"
    assert figures["rollout"].layout.title.text == "rollout" and figures["rollout"].layout.xaxis.showticklabels is False


def test_attention_grid_is_one_mosaic_trace_not_a_subplot_per_head():
    """6 layers x 4 heads used to be 24 subplots (slow to build and to draw); the mosaic is one heatmap trace."""
    figure = charts.attention_grid(random_maps(num_layers=6, num_heads=4))
    assert [trace.type for trace in figure.data] == ["heatmap"]
    assert not any(key.startswith("xaxis2") for key in figure.to_dict()["layout"])  # no second subplot axis


@pytest.mark.parametrize(
    "overrides, expected",
    [('{"epochs": 800}', {"train_epochs_vit_classroom": 500}), ('{"epochs": 3, "batch_size": 9000}', {"train_batch_vit_classroom": 4096})],
)
def test_train_page_clamps_out_of_range_defaults(app_env, monkeypatch, overrides, expected):
    monkeypatch.setenv("VIT_CLASSROOM_TRAIN_OVERRIDES", overrides)
    at = AppTest.from_file(HOME, default_timeout=120).run()
    at.switch_page("views/train.py").run()
    assert not at.exception, [item.value for item in at.exception]
    for key, value in expected.items():
        assert at.number_input(key=key).value == value
    assert any("allowed range" in item.value for item in at.caption)


@pytest.mark.parametrize("last_epoch", [1, 10, 55, 60, 61, 500])
def test_epoch_chart_draws_a_dot_per_epoch_only_for_runs_a_class_can_count(last_epoch):
    # Each marker is an SVG shape rebuilt on every live redraw: long runs are plain lines.
    import pandas as pd

    epochs = pd.DataFrame({"epoch": np.arange(1, last_epoch + 1), "train_acc": 0.5, "val_acc": 0.4})
    modes = {trace.mode for trace in charts.epoch_accuracy({"run": epochs, "other": epochs.head(3)}).data}
    assert modes == ({"lines+markers"} if last_epoch <= charts.MAX_MARKER_EPOCHS else {"lines"})


@pytest.mark.parametrize("last_epoch, most_ticks", [(1, 1), (12, 12), (55, 12), (500, 12), (20_000, 12)])
def test_epoch_chart_labels_at_most_a_dozen_epochs_however_long_the_run(last_epoch, most_ticks):
    # Plotly measures every tick label on each redraw; one label per epoch made a watching tab's work
    # grow with every epoch of a long run (the live view redraws every 1.5 s).
    import pandas as pd

    epochs = pd.DataFrame({"epoch": np.arange(1, last_epoch + 1), "train_acc": 0.5, "val_acc": 0.4})
    figure = charts.epoch_accuracy({"run": epochs})
    axis = figure.layout.xaxis
    labelled = [tick for tick in np.arange(axis.tick0, last_epoch + 1, axis.dtick) if 1 <= tick <= last_epoch]
    assert 1 <= len(labelled) <= most_ticks, f"{len(labelled)} labelled epochs for a {last_epoch}-epoch run"
    assert axis.dtick == int(axis.dtick) and str(int(axis.dtick)).rstrip("0") in ("1", "2", "5"), "a round step: 1, 2, 5, 10, 20, ..."
    if last_epoch <= charts.MAX_EPOCH_TICKS:
        assert axis.dtick == 1, "short runs label every epoch"
