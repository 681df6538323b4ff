"""The Positions view's figures: the sinusoidal table, its waves, PE·PE, "I saw a saw" per layer, and RoPE's circle
and shift check; and which of the table's dimensions to draw."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from components.figures.common import Panel, escape, heatmap_figure, heatmap_grid, line_series, sizes, styled_figure
from model.positional import rope_circle, rope_shift_scores

MAX_CELLS = 2**18  # values per heatmap sent to the browser: ~1.4 MB as base64 float32


SERIES_COLORS = ("#e6550d", "#3182bd")  # with positions, without positions


PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")  # one colour per sin/cos pair


def display_dims(n_positions: int, d_model: int, max_cells: int = MAX_CELLS) -> tuple[np.ndarray, int]:
    """The dimensions to draw and the stride over sin/cos pairs that keeps pos × dims under max_cells.

    Whole pairs are kept (0, 1, then 4, 5 for stride 2 …) so sines and cosines still alternate.
    """
    stride = max(1, math.ceil(n_positions * d_model / max_cells))
    dims = np.arange(d_model)  # [d_model]
    return dims[(dims // 2) % stride == 0], stride


def encoding_figure(
    pe: np.ndarray,
    dims: np.ndarray,
    *,
    title: str = "",
    x_title: str = "dimension",
    y_title: str = "position",
    presentation: bool = False,
) -> go.Figure:
    """The [pos, d_model] table as a heatmap on a fixed −1 … 1 diverging scale; only `dims` are drawn."""
    n_positions = pe.shape[0]
    z = np.asarray(pe, dtype=np.float32)[:, dims]  # [pos, shown dims]
    panel = Panel(z, [int(d) for d in dims], list(range(n_positions)), x_title=x_title, y_title=y_title)
    return heatmap_grid(
        [panel], title=title, value_name="PE", scale="signed", zmax=1.0, presentation=presentation, height=440
    )


def waves_figure(
    pe: np.ndarray,
    dims: list[int],
    names: list[str],
    *,
    title: str = "",
    x_title: str = "position",
    y_title: str = "PE",
    presentation: bool = False,
    width_px: int | None = None,
) -> go.Figure:
    """Chosen columns of the table as lines over position, one trace per dimension: a sin/cos pair
    shares a colour, the sine solid and the cosine dashed. The y axis is PE's whole range, −1 … 1, so a
    slow dimension looks as flat as it is. The legend sits above the plot, two names a row, or one in a
    figure narrower than `width_px` 500 (the room above is made for its rows)."""
    n_positions = pe.shape[0]
    mode = "lines+markers" if n_positions <= 32 else "lines"
    pairs = sorted({dim // 2 for dim in dims})
    s = sizes(presentation)
    per_row = 1 if width_px is not None and width_px < 500 else 2
    legend_top = s.title * 2.2 + s.font * 1.6 * -(-len(dims) // per_row)  # the title, then the legend's rows
    traces = [
        go.Scatter(
            x=np.arange(n_positions),
            y=np.asarray(pe[:, dim], dtype=np.float32),
            mode=mode,
            name=name,
            line={
                "color": PALETTE[pairs.index(dim // 2) % len(PALETTE)],
                "dash": "dash" if dim % 2 else "solid",
                "width": 3,
            },
            marker={"size": 6},
            hovertemplate=f"{escape(name)}<br>{x_title} %{{x}}: %{{y:.3f}}<extra></extra>",
        )
        for dim, name in zip(dims, names, strict=True)
    ]
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {
                "title": {"text": y_title},
                "range": [-1.08, 1.08],
                "tickvals": [-1, -0.5, 0, 0.5, 1],
                "zeroline": True,
            },
            "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
            "margin": {"t": int(legend_top)},
            "plot_bgcolor": "white",
        },
        presentation,
        380 + int(legend_top),
    )


def similarity_figure(
    similarity: np.ndarray,
    *,
    title: str = "",
    axis_title: str = "position",
    presentation: bool = False,
) -> go.Figure:
    """PE·PEᵀ as a square heatmap, diverging around zero."""
    n = similarity.shape[0]
    return heatmap_figure(
        similarity,
        list(range(n)),
        list(range(n)),
        x_title=axis_title,
        y_title=axis_title,
        title=title,
        value_name="PE·PE",
        scale="signed",
        square=True,
        presentation=presentation,
        height=460,
    )


def repeat_figure(
    with_positions: np.ndarray,
    without_positions: np.ndarray,
    names: tuple[str, str],
    *,
    title: str = "",
    x_title: str = "layer",
    y_title: str = "cosine",
    presentation: bool = False,
) -> go.Figure:
    """Cosine similarity of two positions per layer, with and without position information."""
    layers = np.arange(len(with_positions))
    labelled = len(layers) <= 12  # a number on every point while they have room (MiniLM's 6, e5's 12 layers)
    series = list(zip((with_positions, without_positions), names, SERIES_COLORS, strict=True))
    hover = "{name}<br>" + x_title + " %{x}: %{y:.4f}<extra></extra>"
    traces = line_series(
        layers, series, hover, mode="lines+markers+text" if labelled else "lines+markers", marker_size=9
    )
    for trace, place in zip(traces, ("bottom center", "top center"), strict=True):
        trace.update(
            text=[f"{v:.3f}" for v in trace.y], textposition=place, textfont={"size": sizes(presentation).tick}
        )
    low = float(min(with_positions.min(), without_positions.min()))
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}, "tickvals": layers.tolist() if labelled else None},
            "yaxis": {"title": {"text": y_title}, "range": [min(low - 0.08, 0.9), 1.06]},
            "legend": {"orientation": "h", "y": -0.25, "yanchor": "top"},
        },
        presentation,
        460,
    )


def rope_figures(
    q: np.ndarray,
    k: np.ndarray,
    m: int,
    n: int,
    base: float,
    pair: int,
    names: dict[str, str],
    *,
    presentation: bool = False,
) -> tuple[go.Figure, go.Figure]:
    """Left: one pair of q's and k's numbers on its circle, turned by RoPE at every position from 0 to max(m, n)
    (the later copy of the word, which the caption names), each at its own position drawn as an arrow. Right: the score with both positions shifted (flat) and
    with only the query moved. names: i18n'd labels (q, k, position, both, query, pair_title, shift_title,
    shift_axis, score_axis)."""
    s = sizes(presentation)
    positions = np.arange(max(m, n) + 1)
    around = np.linspace(0, 2 * np.pi, 97)
    traces, radii = [], []
    for label, vector, own, colour in (("q", q, m, SERIES_COLORS[0]), ("k", k, n, SERIES_COLORS[1])):
        path = rope_circle(vector, pair, positions, base)  # [pos, 2]
        radius = float(np.hypot(*path[0]))  # the same at every position: a turn keeps the length
        radii.append(radius)
        traces += [
            go.Scatter(
                x=radius * np.cos(around),
                y=radius * np.sin(around),
                mode="lines",
                showlegend=False,
                hoverinfo="skip",
                line={"color": colour, "width": 1},
                opacity=0.35,
            ),
            go.Scatter(
                x=path[:, 0],
                y=path[:, 1],
                mode="lines+markers",
                name=names[label],
                line={"color": colour, "width": 1.5, "dash": "dot"},
                marker={"size": 6, "color": colour},
                text=[f"{names['position']} {p}" for p in positions],
                hovertemplate="%{text}: (%{x:.2f}, %{y:.2f})<extra>" + escape(names[label]) + "</extra>",
            ),
            go.Scatter(
                x=[0, path[own, 0]],
                y=[0, path[own, 1]],
                mode="lines+markers+text",
                showlegend=False,
                line={"color": colour, "width": 4},
                marker={"size": [1, 12], "color": colour},
                text=["", escape(f"{names[label]} @ {own}")],
                textposition="top center",
                textfont={"size": s.tick},
                hoverinfo="skip",
            ),
        ]
    reach = [-1.3 * max(*radii, 1e-6), 1.3 * max(*radii, 1e-6)]
    circle = styled_figure(
        traces,
        {
            "title": {"text": names["pair_title"]},
            "xaxis": {"range": reach, "zeroline": True, "title": {"text": ""}},
            "yaxis": {"range": reach, "zeroline": True, "scaleanchor": "x", "title": {"text": ""}},
            "legend": {"orientation": "h", "y": -0.12, "yanchor": "top"},
            "plot_bgcolor": "white",
        },
        presentation,
        460,
    )
    shifts = np.arange(0, 65)
    both, moved = rope_shift_scores(q, k, m, n, base, shifts)
    series = ((both, names["both"], SERIES_COLORS[0]), (moved, names["query"], SERIES_COLORS[1]))
    lines = line_series(shifts, series, "s = %{x}: %{y:.4f}<extra>{name}</extra>")
    shift = styled_figure(
        lines,
        {
            "title": {"text": names["shift_title"]},
            "xaxis": {"title": {"text": names["shift_axis"]}},
            "yaxis": {"title": {"text": names["score_axis"]}},
            "legend": {"orientation": "h", "y": -0.25, "yanchor": "top"},
        },
        presentation,
        460,
    )
    return circle, shift


def pair_with_wavelength(target: float, d_model: int, base: float) -> int:
    """The sin/cos pair i whose wavelength 2π·base^(2i/d_model) is closest to `target` (on a log scale)."""
    pairs = max(1, d_model // 2)
    i = round(pairs * math.log(max(target, 2 * math.pi) / (2 * math.pi)) / math.log(base))
    return min(max(i, 0), pairs - 1)


def default_dims(d_model: int, n_positions: int, base: float) -> list[int]:
    """A few lines a class can tell apart over n_positions: the sine and cosine of the pair whose wave
    repeats about four times (the cosine a quarter-period ahead), the sine that makes about one period,
    and the slowest sine, almost flat. The very fastest pairs zigzag from one position to the next and are
    left for the class to add."""
    fast = 2 * pair_with_wavelength(n_positions / 4, d_model, base)
    once = 2 * pair_with_wavelength(n_positions, d_model, base)
    return sorted({d for d in (fast, fast + 1, once, d_model - 2) if 0 <= d < d_model})
