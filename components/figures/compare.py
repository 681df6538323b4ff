"""The Compare view's figure: two α′ matrices side by side on one colour scale."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.common import Panel, heatmap_grid


def pair_figure(
    matrices: tuple[np.ndarray, np.ndarray],
    labels: tuple[list[str], list[str]],
    panel_titles: tuple[str, str],
    *,
    title: str = "",
    x_title: str = "key",
    y_title: str = "query",
    annotate: bool = False,
    presentation: bool = False,
) -> go.Figure:
    """Two α′ matrices side by side on one 0 … 1 scale; each keeps its own token axes."""
    panels = [
        Panel(matrix, names, names, title=panel_title, x_title=x_title, y_title=y_title, name=panel_title)
        for matrix, names, panel_title in zip(matrices, labels, panel_titles, strict=True)
    ]
    return heatmap_grid(panels, title=title, annotate=annotate, presentation=presentation)
