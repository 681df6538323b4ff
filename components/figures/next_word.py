"""The Next-word view's figures: the candidates' probabilities as bars, and one query's α′ row as columns."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.common import BLUES, escape, sizes, styled_figure
from model.readouts.next_word import Candidate

PLAIN = "#9ecae1"  # the model's own distribution (T = 1), behind the reshaped one


def next_word_figure(
    candidates: list[Candidate],
    labels: list[str],
    plain: np.ndarray,
    *,
    actual: int | None = None,
    title: str = "",
    plain_name: str = "T = 1",
    shaped_name: str = "T",
    presentation: bool = False,
) -> go.Figure:
    """The candidates as horizontal bars, most likely on top: the reshaped probabilities in front, the model's
    own (T = 1) behind them; the token that really follows (when it is among them) in orange.
    plain: [k] the probabilities at T = 1 of the same candidates."""
    s = sizes(presentation)
    y = [escape(label) for label in labels]
    shaped = [c.probability for c in candidates]
    colours = ["#e6550d" if c.token_id == actual else BLUES[3][1] for c in candidates]
    traces = [
        go.Bar(
            x=list(plain),
            y=y,
            orientation="h",
            name=plain_name,
            marker={"color": PLAIN},
            hovertemplate="%{y}: %{x:.1%}<extra>" + escape(plain_name) + "</extra>",
        ),
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
    top = max([*shaped, *plain, 0.05])
    layout = {
        "title": {"text": title},
        "barmode": "overlay",
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
