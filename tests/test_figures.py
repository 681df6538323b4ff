"""Pure figure builders: labels stay distinct and literal, values survive, the overview is one image."""

import csv
import io
import json

import numpy as np
from PIL import Image

from components.figures import (
    arc_figure,
    heatmap_figure,
    matrix_csv,
    overview_png,
    token_labels,
)
from components.ui import md_escape


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
    assert trace["zmin"] == 0 and trace["zmax"] == 1


def test_signed_heatmap_is_centred_on_zero():
    fig = heatmap_figure(np.array([[-2.0, 1.0]]), ["0 a", "1 b"], ["0 q"], signed=True)
    assert fig.data[0].zmin == -2.0 and fig.data[0].zmax == 2.0 and fig.data[0].zmid == 0.0


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
