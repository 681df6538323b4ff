"""Pure Plotly and image builders shared by the views: numpy in, go.Figure (or PNG) out.

Nothing here imports Streamlit. Axes are positions labelled "index token", so repeated tokens
("saw", "the") stay distinct, and every token is escaped before Plotly sees it: Plotly reads a
small HTML subset in labels, and a typed "<a href=…>" must show as text.
"""

from __future__ import annotations

import csv
import html
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

# Sequential ramp for α (white → deep blue), readable on a projector.
BLUES = [(0.0, "#f7fbff"), (0.25, "#c6dbef"), (0.5, "#6baed6"), (0.75, "#2171b5"), (1.0, "#08306b")]
# One shared colour axis for figures with several α panels, so equal weights get equal colours.
ALPHA_COLORAXIS = {"colorscale": BLUES, "cmin": 0.0, "cmax": 1.0, "colorbar": {"title": {"text": "α"}, "thickness": 12}}
DIVERGING = "RdBu_r"  # signed values (q, k, v, scores): red positive, blue negative, white zero
PLOT_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


def escape(token: str) -> str:
    """A token as Plotly shows it literally."""
    return html.escape(token, quote=False)


def token_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Unique axis labels: "0 [CLS]", "1 i", "2 saw" … keep repeated tokens apart."""
    return [f"{i} {escape(tok)}" for i, tok in enumerate(tokens)]


def font_size(presentation: bool) -> int:
    return 20 if presentation else 13


def style_layout(presentation: bool, height: int | None = None, titled: bool = True) -> dict:
    """Fonts, margins and height for the screen or, with presentation=True, for a projector at the back of a
    room, as a layout dict. Streamlit's chart theme sets its own tick and axis-title sizes; ours are stated so a
    projector gets them."""
    size = font_size(presentation)
    axis = {"tickfont": {"size": size - 1}, "title": {"font": {"size": size}}}
    return {
        "font": {"size": size},
        "title": {"font": {"size": size + 3}},
        "margin": {"l": 10, "r": 10, "t": 50 if titled else 10, "b": 10},
        "height": int(height * (1.35 if presentation else 1.0)) if height else None,
        "hoverlabel": {"font": {"size": size}},
        "xaxis": axis,
        "yaxis": axis,
    }


def merged(base: dict, extra: dict) -> dict:
    """`base` with `extra` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def styled_figure(data: list | go.Heatmap | go.Scatter, layout: dict, presentation: bool, height: int) -> go.Figure:
    """A figure built in one constructor call, styled as `style` would: Plotly validates every later
    update_layout by walking its property tree, which cost more than building the figure itself."""
    titled = bool(layout.get("title", {}).get("text"))
    return go.Figure(data, merged(style_layout(presentation, height, titled), layout))


def style(fig: go.Figure, presentation: bool, height: int | None = None) -> go.Figure:
    """`style_layout` applied to a finished figure, every subplot's axes included."""
    layout = style_layout(presentation, height, bool(fig.layout.title.text))
    axis = layout.pop("xaxis")
    del layout["yaxis"]
    fig.update_layout(layout)
    fig.update_xaxes(axis)
    fig.update_yaxes(axis)
    return fig


def heatmap_figure(
    matrix: np.ndarray,
    x_labels: list[str],
    y_labels: list[str],
    *,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    value_name: str = "α",
    signed: bool = False,
    zmax: float | None = None,
    annotate: bool = False,
    presentation: bool = False,
    height: int | None = None,
) -> go.Figure:
    """One matrix as a heatmap; hover names the row, the column and the value to 3 decimals.

    signed=True uses a diverging scale centred on zero (for q, k, v and scores); otherwise the
    scale runs from 0 to zmax (1 for α). annotate writes each value in its cell (small matrices).
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    n_rows, n_cols = matrix.shape
    if signed:
        bound = float(np.abs(matrix).max()) or 1.0
        scale = {"colorscale": DIVERGING, "zmin": -bound, "zmax": bound, "zmid": 0.0}
    else:
        scale = {"colorscale": BLUES, "zmin": 0.0, "zmax": zmax if zmax is not None else 1.0}
    hover = f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{value_name} = %{{z:.3f}}<extra></extra>"
    trace = go.Heatmap(
        z=matrix,
        x=x_labels,
        y=y_labels,
        hovertemplate=hover,
        colorbar={"title": {"text": value_name}, "thickness": 12},
        texttemplate="%{z:.2f}" if annotate else None,
        **scale,
    )
    auto_height = height or max(260, min(900, 120 + 22 * n_rows))
    # Every label while they fit (Plotly would otherwise skip every other one); Plotly's choice beyond.
    all_ticks = {"tickmode": "array", "tickvals": list(x_labels)} if n_cols <= 40 else {}
    layout = {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}, "tickangle": -60, "type": "category", **all_ticks},
        "yaxis": {"title": {"text": y_title}, "autorange": "reversed", "type": "category"},
    }
    return styled_figure(trace, layout, presentation, auto_height)


def arc_figure(
    weights: np.ndarray,
    labels: list[str],
    *,
    title: str = "",
    left_title: str = "query",
    right_title: str = "key",
    presentation: bool = False,
    min_weight: float = 0.02,
) -> go.Figure:
    """Queries on the left, keys on the right, a line for each α ≥ min_weight, darker and thicker
    where α is larger. Lines are grouped into a few strength bands, one trace each, so the figure
    stays light however many tokens there are."""
    n = len(labels)
    y = -np.arange(n)
    bands = [(0.02, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 1.01)]
    traces = []
    for low, high in bands:
        low = max(low, min_weight)
        qs, ks = np.nonzero((weights >= low) & (weights < high))
        xs, ys = [], []
        for q, k in zip(qs, ks, strict=True):
            xs += [0.0, 1.0, None]
            ys += [y[q], y[k], None]
        mid = (low + min(high, 1.0)) / 2
        traces.append(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"width": 1 + 7 * mid, "color": f"rgba(8, 48, 107, {0.15 + 0.85 * mid:.2f})"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    for x, side in ((0.0, "left"), (1.0, "right")):
        traces.append(
            go.Scatter(
                x=[x] * n,
                y=y,
                mode="markers+text",
                text=labels,
                textposition=f"middle {side}",
                marker={"size": 6, "color": "#08306b"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {
                "range": [-0.8, 1.8],
                "showgrid": False,
                "zeroline": False,
                "tickvals": [0, 1],
                "ticktext": [left_title, right_title],
                "side": "bottom",
            },
            "yaxis": {"visible": False, "range": [-n + 0.3, 0.7]},
            "plot_bgcolor": "white",
        },
        presentation,
        max(260, min(900, 120 + 22 * n)),
    )


def _ramp(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to RGB through the BLUES stops.  [...] -> [..., 3] uint8"""
    stops = np.array([s for s, _ in BLUES])
    colors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in BLUES], dtype=np.float64)
    rgb = np.stack([np.interp(values, stops, colors[:, ch]) for ch in range(3)], axis=-1)
    return rgb.astype(np.uint8)


_LEVELS = 255  # palette entries 0-254 hold the α ramp, 255 the white between the tiles
_PALETTE = np.concatenate([_ramp(np.linspace(0.0, 1.0, _LEVELS)), [[255, 255, 255]]]).astype(np.uint8)


def overview_png(weights: np.ndarray, cell: int = 64, gap: int = 4) -> bytes:
    """Every head's α as one PNG grid, layers as rows and heads as columns.

    Each thumbnail is scaled to its own maximum so faint heads still show their pattern; the
    chosen head is drawn exactly (with hover values) in its own heatmap. Tiles are at most `cell`
    pixels (the browser scales them up). The image is a 256-colour palette PNG: one byte a pixel
    and long runs of equal bytes, so it is quick to encode and several times smaller than RGB.
    [layer, head, q, k] in.
    """
    n_layers, n_heads, n, _ = weights.shape
    side = min(cell, max(n, 8) * max(1, cell // max(n, 1)))
    pitch = side + gap  # each tile sits centred in a pitch × pitch cell, so cell centres fall on integers
    canvas = np.full((n_layers * pitch, n_heads * pitch), _LEVELS, dtype=np.uint8)
    peak = weights.max(axis=(2, 3), keepdims=True)  # [layer, head, 1, 1]
    levels = np.rint(weights / np.where(peak > 0, peak, 1.0) * (_LEVELS - 1)).astype(np.uint8)  # [layer, head, q, k]
    resample = Image.Resampling.NEAREST if side >= n else Image.Resampling.BOX
    for layer in range(n_layers):
        for head in range(n_heads):
            tile = np.asarray(Image.fromarray(levels[layer, head]).resize((side, side), resample))
            top, left = layer * pitch + gap // 2, head * pitch + gap // 2
            canvas[top : top + side, left : left + side] = tile
    image = Image.fromarray(canvas, mode="P")
    image.putpalette(_PALETTE.tobytes())
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # speed over the last few bytes
    return buf.getvalue()


def matrix_csv(matrix: np.ndarray, row_labels: list[str], col_labels: list[str]) -> str:
    """A labelled matrix as CSV text. Labels are quoted, so tokens with commas survive, and a label that
    a spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["", *map(_cell, col_labels)])
    for label, row in zip(row_labels, np.asarray(matrix), strict=True):
        writer.writerow([_cell(label), *(f"{v:.6g}" for v in row)])
    return buf.getvalue()


def _cell(label: str) -> str:
    return "'" + label if label[:1] in ("=", "+", "-", "@") else label


def plain_labels(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """Like token_labels but unescaped, for files rather than Plotly."""
    return [f"{i} {tok}" for i, tok in enumerate(tokens)]
