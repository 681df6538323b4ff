"""Pure figure builders: labels stay distinct and literal, values survive, the overview is one image."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from components.figures.common import (
    LOG_FLOOR,
    PROJECTOR,
    SCREEN,
    Panel,
    arc_figure,
    colour_axis,
    colour_values,
    heatmap_figure,
    heatmap_grid,
    matrix_csv,
    overview_png,
    rows_that_fit,
    text_px,
    token_labels,
)
from components.text import md_escape

pytestmark = pytest.mark.fast


def test_repeated_tokens_get_distinct_labels_and_html_is_escaped():
    labels = token_labels(("[CLS]", "saw", "a", "saw", "<b>x</b>"))
    assert len(set(labels)) == 5
    assert labels[1] == "1 saw" and labels[3] == "3 saw"
    assert "<b>" not in labels[4] and "&lt;b&gt;" in labels[4]


def test_heatmap_keeps_values_and_hover_shows_three_decimals():
    weights = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    fig = heatmap_figure(weights, ["0 a", "1 b"], ["0 a", "1 b"], x_title="key", y_title="query")
    spec = json.loads(fig.to_json())
    trace = spec["data"][0]
    assert "%{z:.3f}" in trace["hovertemplate"] and "query" in trace["hovertemplate"]
    np.testing.assert_allclose(np.asarray(fig.data[0].z), weights)
    axis = spec["layout"]["coloraxis"]
    assert axis["cmin"] == 0 and axis["cmax"] == 1
    assert axis["colorbar"]["title"]["text"] == "α′"  # the article's name for the weights


def test_signed_heatmap_is_centred_on_zero():
    fig = heatmap_figure(np.array([[-2.0, 1.0]]), ["0 a", "1 b"], ["0 q"], scale="signed", value_name="α")
    axis = fig.layout.coloraxis
    assert axis.cmin == -2.0 and axis.cmax == 2.0 and axis.cmid == 0.0
    assert axis.colorbar.title.text == "α" and "α = %{z:.3f}" in fig.data[0].hovertemplate


def test_row_scale_colours_each_row_by_its_own_maximum_and_hovers_the_true_value():
    weights = np.array([[0.5, 0.25, 0.25], [0.02, 0.01, 0.97], [0.0, 0.0, 0.0]], dtype=np.float32)
    expected = np.array([[1.0, 0.5, 0.5], [0.02 / 0.97, 0.01 / 0.97, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(colour_values(weights, "row"), expected, rtol=1e-6)
    fig = heatmap_figure(weights, ["a", "b", "c"], ["x", "y", "z"], scale="row")
    np.testing.assert_allclose(np.asarray(fig.data[0].customdata), weights)
    assert "%{customdata:.3f}" in fig.data[0].hovertemplate
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0.0, 1.0)


def test_log_scale_spreads_small_weights_over_powers_of_ten():
    weights = np.array([[1.0, 0.1, 0.001, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(colour_values(weights, "log"), [[0.0, -1.0, -3.0, np.log10(LOG_FLOOR)]], atol=1e-6)
    axis = colour_axis([weights], "log")
    assert axis.cmin == np.log10(LOG_FLOOR) and axis.cmax == 0.0
    assert axis.tickvals == (-4.0, -3.0, -2.0, -1.0, 0.0) and axis.ticktext[-2:] == ("0.1", "1")


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError):
        colour_values(np.eye(2), "cubic")


def test_every_label_is_drawn_while_rows_fit_and_text_is_projector_sized():
    labels = [f"{i} tok" for i in range(16)]
    fig = heatmap_figure(np.eye(16), labels, labels, presentation=True)
    layout = fig.layout
    assert list(layout.yaxis.tickvals) == labels and list(layout.xaxis.tickvals) == labels
    assert layout.yaxis.tickfont.size == PROJECTOR.tick >= 16 and layout.coloraxis.colorbar.tickfont.size >= 16
    screen = heatmap_figure(np.eye(16), labels, labels)
    assert screen.layout.yaxis.tickfont.size == SCREEN.tick >= 16
    assert layout.height > screen.layout.height  # larger cells on a projector


def test_rows_that_fit_leave_room_for_the_title_and_the_column_labels():
    rows = rows_that_fit(PROJECTOR.screen, True)
    labels = [f"{i} because" for i in range(rows)]
    fig = heatmap_figure(np.eye(rows), labels, labels, title="α′", presentation=True)
    assert fig.layout.height <= PROJECTOR.screen
    assert rows >= 16  # the default sentence fits a 1280 × 720 projector whole


def test_text_width_counts_chinese_characters_as_wide():
    assert text_px("我看见", 10) == 30 and text_px("abc", 10) < 20 and text_px("&lt;", 10) == text_px("<", 10)


def test_a_grid_shares_rows_and_columns_and_labels_them_once():
    z = np.ones((3, 3))
    labels = ["0 a", "1 b", "2 c"]
    panels = [Panel(z, labels, labels, title=f"h{h}", name=f"h{h}") for h in range(3)]
    fig = heatmap_grid([*panels, None], columns=2, share_x=True, share_y=True)
    layout = fig.layout
    assert [a.text for a in layout.annotations] == ["h0", "h1", "h2"]
    assert layout.yaxis2.matches == "y" and layout.xaxis3.matches == "x"
    assert layout.yaxis.showticklabels and not layout.yaxis2.showticklabels  # rows labelled on the left only
    assert layout.xaxis2.showticklabels  # nothing under the second panel: its columns are labelled
    assert not layout.xaxis.showticklabels  # the third panel under the first carries the labels
    assert all("h" in t.hovertemplate.split("<br>")[0] for t in fig.data)


def test_arc_figure_draws_one_line_per_weight_above_threshold():
    weights = np.array([[0.9, 0.1, 0.0], [0.0, 0.5, 0.5], [0.01, 0.01, 0.98]])
    fig = arc_figure(weights, ["0 a", "1 b", "2 c"])
    segments = sum(list(t.x).count(None) for t in fig.data if t.mode == "lines")
    assert segments == int((weights >= 0.02).sum())


def test_overview_is_a_single_png_with_one_tile_per_head():
    weights = np.random.default_rng(0).dirichlet(np.ones(9), size=(6, 12, 9)).astype(np.float32)
    png = overview_png(weights, cell=56, gap=4)
    image = Image.open(io.BytesIO(png))
    assert image.size == (12 * (54 + 4), 6 * (54 + 4))  # 9 tokens × 6 px per token, plus the gap


def test_overview_tiles_show_each_heads_pattern_scaled_to_its_own_maximum():
    n, side, gap = 8, 64, 4
    weights = np.full((2, 3, n, n), 1 / n, dtype=np.float32)  # [layer, head, query_pos, key_pos]
    weights[1, 2] = np.eye(n) * 0.5  # a faint diagonal still reaches the darkest colour: its own maximum
    rgb = np.asarray(Image.open(io.BytesIO(overview_png(weights, cell=side, gap=gap))).convert("RGB"))
    darkest, lightest = (0x08, 0x30, 0x6B), (0xF7, 0xFB, 0xFF)  # the ends of BLUES
    top, left, px = (side + gap) + gap // 2, 2 * (side + gap) + gap // 2, side // n
    tile = rgb[top : top + side, left : left + side]
    assert tuple(tile[px // 2, px // 2]) == darkest and tuple(tile[-1, -1]) == darkest  # on the diagonal
    assert tuple(tile[px // 2, px + px // 2]) == lightest  # off it
    assert (rgb[gap // 2 : gap // 2 + side, gap // 2 : gap // 2 + side] == darkest).all()  # uniform: all at max
    assert tuple(rgb[0, 0]) == (255, 255, 255)  # white between the tiles


def test_overview_of_a_long_text_keeps_a_one_key_pattern_visible():
    """512 tokens in a 64-pixel tile: each pixel stands for 8 × 8 cells. A head that puts its weight on the
    previous token must still draw a dark diagonal, not a wash of pale blue (rows scaled to their maximum,
    then max pooling rather than averaging), even beside a column that takes far more weight."""
    n = 512
    weights = np.full((1, 1, n, n), 0.1 / n, dtype=np.float32)  # [layer, head, query_pos, key_pos]
    weights[0, 0, np.arange(1, n), np.arange(n - 1)] = 0.3
    weights[0, 0, 1:, -1] = 0.6  # most of each row on the last token, as heads do on [SEP]
    rgb = np.asarray(Image.open(io.BytesIO(overview_png(weights, cell=64, gap=4))).convert("RGB"))
    tile = rgb[2:66, 2:66]
    middle = (0x6B, 0xAE, 0xD6)  # half of the row's maximum: the 0.5 stop of BLUES
    assert all(tuple(tile[i, i]) == middle for i in range(1, 63))  # the diagonal holds half of each row
    assert all(tuple(tile[i, -1]) == (0x08, 0x30, 0x6B) for i in range(1, 64))  # the column holds the most
    assert tuple(tile[40, 5]) == (0xF7, 0xFB, 0xFF)  # far from both, white


def test_overview_at_512_tokens_stays_small():
    weights = np.random.default_rng(0).dirichlet(np.ones(512), size=(6, 12, 512)).astype(np.float32)
    assert len(overview_png(weights)) < 3_000_000


def test_csv_has_labels_and_defuses_formulas():
    text = matrix_csv(np.eye(2), ["=cmd", "1 b"], ["=cmd", "1 b"])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["", "'=cmd", "1 b"]
    assert rows[1][0] == "'=cmd" and float(rows[1][1]) == 1.0


def test_markdown_escape_leaves_no_active_syntax():
    escaped = md_escape("**b** [x](javascript:alert(1)) $x$ :red[y] <i>")
    for active in ("**b**", "[x](", "$x$", ":red[", "<i>"):
        assert active not in escaped


def test_figures_drawn_while_another_session_first_imports_pandas_do_not_fail():
    """Sessions run on threads: one's first visit to Steps imports pandas while others draw. Plotly looks pandas up
    in sys.modules without importing it, so a half-imported pandas broke their figures (39 failed views in a
    class of 200); components.figures.common imports it whole first. A fresh interpreter, as a new server."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import threading, numpy as np
errors = []
def first_visit():
    import components.views.steps  # noqa: F401 - imports pandas
def draw():
    try:
        from components.figures.common import heatmap_figure
        for _ in range(20):
            heatmap_figure(np.eye(3), ["a", "b", "c"], ["a", "b", "c"])
    except Exception as err:  # noqa: BLE001
        errors.append(repr(err))
threads = [threading.Thread(target=first_visit)] + [threading.Thread(target=draw) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""
    root = Path(__file__).resolve().parent.parent
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
        assert out.stdout.strip().startswith("0 "), out.stdout


def test_a_window_band_is_outlined_on_the_borders_of_the_cells_it_lets_a_query_see():
    from components.figures.common import band_border

    inside = np.tril(np.ones((4, 4), dtype=bool)) & ~np.tril(np.ones((4, 4), dtype=bool), -2)  # w = 2, causal
    path = band_border(inside)
    moves = path.split("M")[1:]
    # rows see keys {0}, {0, 1}, {1, 2}, {2, 3}: five borders inside a row (the diagonal's right edge in rows 0-2,
    # the window's left edge in rows 2 and 3; row 3's right edge is the panel's) and five between rows
    assert len(moves) == 10
    assert "M0.5,-0.5L0.5,0.5" in path  # row 0 sees only key 0: the border right of it
    assert "M0.5,1.5L0.5,2.5" in path  # row 2 sees keys 1 and 2: the border left of key 1
    assert band_border(np.ones((3, 3), dtype=bool)) == ""  # nothing hidden: no border


def test_a_heatmap_draws_a_band_as_one_dotted_path():
    from components.figures.common import BAND_COLOUR, Mark, heatmap_figure

    band = tuple(tuple(bool(0 <= r - c < 2) for c in range(4)) for r in range(4))
    fig = heatmap_figure(np.eye(4), list("abcd"), list("abcd"), mark=Mark(band=band))
    (path,) = [s for s in fig.to_plotly_json()["layout"]["shapes"] if s["type"] == "path"]
    assert path["line"]["color"] == BAND_COLOUR and path["line"]["dash"] == "dot"


def test_figures_built_without_validation_hold_to_plotlys_schema():
    """heatmap_grid and styled_figure skip Plotly's validation for speed; here every kind they build is checked
    against the schema once (a wrong property name or value raises)."""
    import plotly.graph_objects as go

    from components.figures.common import Bars, Mark, Panel, heatmap_grid, styled_figure, unchecked_figure
    from components.figures.next_word import cache_figure, looks_figure, next_word_figure
    from model.readouts.next_word import Candidate

    z = np.random.default_rng(0).random((5, 5)).astype(np.float32)
    labels = [f"{i} w" for i in range(5)]
    band = tuple(tuple(bool(0 <= r - c < 2) for c in range(5)) for r in range(5))
    panels = [Panel(z, labels, labels, title="A", mark=Mark(rows=(1,), cells=((2, 2),), band=band)), None]
    figures = [
        heatmap_grid(panels, columns=2, annotate=True, scale=scale, presentation=p, shared_scale=shared)
        for scale in ("linear", "row", "log", "signed")
        for p in (False, True)
        for shared in (True, False)
    ]
    figures.append(heatmap_grid([Panel(z, labels, labels)], bars=Bars(labels, z[0], ("#000",) * 5, "α′", "t")))
    figures.append(styled_figure([{"type": "scatter", "x": [0, 1], "y": [1, 2]}], {"title": {"text": "t"}}, True, 300))
    candidates = [Candidate(i, 0.5 / (i + 1), 1.0) for i in range(3)]
    figures += [
        next_word_figure(candidates, ["a", "b", "c"], np.array([0.4, 0.2, 0.1]), actual=1, title="t"),
        next_word_figure(candidates, ["a", "b", "c"]),
        looks_figure(np.array([0.5, 0.5]), ["a", "b"], title="t"),
        cache_figure(np.ones((2, 3, 4), dtype=np.float32), ["a", "b", "c", "d"], 2, title="t"),
    ]
    for fig in figures:
        go.Figure(fig.to_dict())  # validates every property
    with pytest.raises(ValueError):  # the check can fail: what validation would have refused
        go.Figure(unchecked_figure([{"type": "heatmap", "zz": [[1]]}], {}).to_dict())
