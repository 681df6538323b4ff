"""The Next-word view's figures: the candidates' probabilities as bars, and one query's α′ row as columns."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.common import BLUES, Panel, escape, heatmap_grid, sizes, styled_figure
from model.readouts.next_word import Candidate

PLAIN = "#9ecae1"  # the reference distribution (T = 1, or the model's own window), behind the one asked for


def next_word_figure(
    candidates: list[Candidate],
    labels: list[str],
    reference: np.ndarray | None = None,
    *,
    actual: int | None = None,
    title: str = "",
    reference_name: str = "T = 1",
    shaped_name: str = "T",
    presentation: bool = False,
) -> go.Figure:
    """The candidates as horizontal bars, most likely on top, the token that really follows (when it is among them)
    in orange; behind them, light and wider, the same candidates under a `reference` distribution (the model's own
    T = 1, or its own window) when there is one to compare with, with a legend naming both.
    reference: [k] the reference probabilities of the same candidates."""
    s = sizes(presentation)
    y = [escape(label) for label in labels]
    shaped = [c.probability for c in candidates]
    colours = ["#e6550d" if c.token_id == actual else BLUES[3][1] for c in candidates]
    behind = [] if reference is None else list(reference)
    traces = (
        [
            go.Bar(
                x=behind,
                y=y,
                orientation="h",
                name=reference_name,
                marker={"color": PLAIN},
                hovertemplate="%{y}: %{x:.1%}<extra>" + escape(reference_name) + "</extra>",
            )
        ]
        if behind
        else []
    )
    traces += [
        go.Bar(
            x=shaped,
            y=y,
            orientation="h",
            name=shaped_name,
            marker={"color": colours},
            width=0.5,
            text=[f"{p:.1%}" for p in shaped],
            textposition="outside",
            cliponaxis=False,
            textfont={"size": s.tick},
            hovertemplate="%{y}: %{x:.1%}<extra>" + escape(shaped_name) + "</extra>",
        ),
    ]
    top = max([*shaped, *behind, 0.05])
    layout = {
        "title": {"text": title},
        "barmode": "overlay",
        "showlegend": bool(behind),
        "xaxis": {"range": [0, min(1.0, top * 1.25)], "tickformat": ".0%", "title": {"text": ""}},
        "yaxis": {"autorange": "reversed", "type": "category"},
        "legend": {"orientation": "h", "y": -0.08, "x": 0},
        "plot_bgcolor": "white",
    }
    return styled_figure(traces, layout, presentation, 150 + len(candidates) * (s.cell + 14))


def looks_figure(
    weights: np.ndarray, labels: list[str], *, title: str = "", value_name: str = "α′", presentation: bool = False
) -> go.Figure:
    """One query's α′ over the keys it may see (a decoder's: itself and those before it), as columns."""
    s = sizes(presentation)
    trace = go.Bar(
        x=labels,
        y=weights,
        marker={"color": BLUES[3][1]},
        hovertemplate="%{x}: " + value_name + " = %{y:.3f}<extra></extra>",
    )
    layout = {
        "title": {"text": title},
        "xaxis": {"type": "category", "tickangle": -60},
        "yaxis": {"range": [0, 1], "title": {"text": value_name}},
        "plot_bgcolor": "white",
    }
    return styled_figure([trace], layout, presentation, 300 + 4 * s.tick)


def cache_figure(
    lengths: np.ndarray,
    token_labels: list[str],
    written_from: int | None,
    *,
    title: str = "",
    head_title: str = "key/value head {g}",
    layer_title: str = "layer",
    value_name: str = "‖k‖",
    presentation: bool = False,
    width_px: int | None = None,
) -> go.Figure:
    """What a decoder's KV cache holds: one panel per key/value head, a row per layer and a column per cached token,
    coloured by the length of its key; a line where the tokens the model wrote begin (written_from, a position).
    lengths: [kv_head, layer, pos]"""
    n_kv, n_layers, _ = lengths.shape
    rules = () if written_from is None else (written_from - 0.5,)
    panels = [
        Panel(
            lengths[g],
            token_labels,
            [str(i) for i in range(n_layers)],
            title=head_title.format(g=g) if n_kv > 1 else "",
            y_title=layer_title if g == 0 else "",
            name=head_title.format(g=g),
            rules_x=rules,
        )
        for g in range(n_kv)
    ]
    s = sizes(presentation)
    return heatmap_grid(
        panels,
        columns=1,
        title=title,
        value_name=value_name,
        zmax=float(lengths.max()) or 1.0,
        share_x=True,
        presentation=presentation,
        height=int(min(120 + n_kv * n_layers * 9, 560) + 6 * s.tick),
        width_px=width_px,
    )
