"""The Training view's figures: the α′ grid of every head on the fixed example, and the scores over the steps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.common import Panel, heatmap_grid, line_series, styled_figure, token_labels
from model.experiments.train import SYMBOLS

GRID_PX = 820  # the α′ grid's panels share about this many pixels of a row (a wide page less labels and colour bar)
PANEL_PX = (150, 300)  # each square panel's side stays within these


def symbol_labels(tokens: tuple[int, ...]) -> list[str]:
    """Axis labels for the fixed example: "0 C", "1 A", … ."""
    return token_labels([SYMBOLS[t] for t in tokens])


def alpha_grid_figure(
    weights: np.ndarray,
    expected: np.ndarray,
    labels: list[str],
    panel_titles: list[str],
    row_titles: list[str],
    *,
    expected_title: str,
    best: tuple[int, int] | None = None,
    title: str = "",
    x_title: str = "key",
    y_title: str = "query",
    presentation: bool = False,
) -> go.Figure:
    """Every layer × head's α′ beside the expected pattern, on one 0 … 1 colour scale.

    weights [layer, head, query_pos, key_pos]; expected [query_pos, key_pos] (0/1). Each layer is
    a row of heads; the expected pattern ends the first row. panel_titles are row-major, one per head;
    row_titles ("layer 0", …) name each row; `best` (layer, head) is outlined.
    """
    n_layers, n_heads, n, _ = weights.shape
    panel = min(max(int(GRID_PX / (n_heads + 1)), PANEL_PX[0]), PANEL_PX[1])  # square panels
    slots: list[Panel | None] = []
    for layer in range(n_layers):
        for head in range(n_heads):
            name = panel_titles[layer * n_heads + head]
            slots.append(
                Panel(
                    weights[layer, head],  # [query_pos, key_pos]
                    labels,
                    labels,
                    title=name,
                    x_title=x_title,
                    y_title=f"{row_titles[layer]} · {y_title}",
                    name=f"{row_titles[layer]} · {name}",
                    outline=best == (layer, head),
                )
            )
        slots.append(
            Panel(expected, labels, labels, title=expected_title, x_title=x_title, name=expected_title)
            if layer == 0
            else None
        )
    return heatmap_grid(
        slots,
        columns=n_heads + 1,
        title=title,
        share_x=True,
        share_y=True,
        presentation=presentation,
        cell_px=panel // max(n, 1),  # about square panels on a page of ordinary width
    )


def scores_figure(
    steps: list[int],
    pattern_scores: list[float],
    accuracies: list[float],
    *,
    total_steps: int,
    marker_step: int | None = None,
    uniform: float | None = None,
    names: tuple[str, str] = ("pattern score", "accuracy"),
    uniform_name: str = "uniform α′",
    title: str = "",
    x_title: str = "step",
    presentation: bool = False,
) -> go.Figure:
    """Pattern score and held-out accuracy over the training steps (0 … 1), a line at `marker_step`."""
    colors = ("#e6550d", "#2171b5")
    series = zip((pattern_scores, accuracies), names, colors, strict=True)
    hover = x_title + " %{x}<br>{name} = %{y:.0%}<extra></extra>"
    traces = line_series(steps, list(series), hover, mode="lines+markers", marker_size=5)
    shapes, annotations = [], []
    if uniform is not None:
        line = {"color": colors[0], "dash": "dot", "width": 1.5}
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": uniform, "y1": uniform, "line": line})
        annotations.append(
            {
                "text": uniform_name,
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": uniform,
                "yanchor": "top",
                "showarrow": False,
                "font": {"color": colors[0]},
            }
        )
    if marker_step is not None:
        line = {"color": "#444444", "dash": "dash", "width": 2}
        shapes.append(
            {"type": "line", "yref": "paper", "x0": marker_step, "x1": marker_step, "y0": 0, "y1": 1, "line": line}
        )
    grid = {"gridcolor": "#eeeeee"}
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}, "range": [0, total_steps * 1.01], **grid},
            "yaxis": {"range": [0, 1.05], "tickformat": ".0%", **grid},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
            "plot_bgcolor": "white",
            "shapes": shapes,
            "annotations": annotations,
        },
        presentation,
        340,
    )
