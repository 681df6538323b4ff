"""The Atlas view's figures: every head of a model coloured by one statistic, with its labels' marks, and the
per-layer curve of special-token mass."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from components.figures.common import Panel, heatmap_grid, sizes, styled_figure
from model.experiments.atlas import FIELDS, SHARES, Atlas

MARKS = {"previous": "←", "next": "→", "self": "○", "special": "▣", "broad": "≈"}  # a label, drawn in its cell


ANNOTATE_CELLS = 150  # heads up to which each cell's label mark is drawn


def marks(atlas: Atlas) -> list[str]:
    """Each head's label marks ("←≈"), row-major."""
    return ["".join(MARKS[label] for label in names) for row in atlas.labels for names in row]


def atlas_figure(
    atlas: Atlas,
    field: str,
    *,
    title: str = "",
    value_name: str = "",
    layer_title: str = "layer",
    head_title: str = "head",
    hover_names: dict[str, str] | None = None,
    chosen: tuple[int, int] | None = None,
    presentation: bool = False,
    width_px: int | None = None,
) -> go.Figure:
    """The [layer, head] map of one statistic, each head's label marks in its cell, and an invisible marker on
    every cell that a click selects (its customdata is (layer, head)); `chosen` is outlined."""
    n_layers, n_heads = atlas.shape
    z = atlas.values[field]  # [layer, head]
    zmax = 1.0 if field in SHARES else float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    panel = Panel(z, list(range(n_heads)), list(range(n_layers)), x_title=head_title, y_title=layer_title)
    s = sizes(presentation)
    sizing = {
        "presentation": presentation,
        "width_px": width_px,
        # On a projector the map keeps to what the first screen leaves it: 30 layers' rows share 370 px there.
        "height": int(min(max(26 * n_layers, 220), 370 if presentation else 470)) + 150,
    }
    fig = heatmap_grid([panel], title=title, value_name=value_name, zmax=zmax, **sizing)
    layers, heads = np.divmod(np.arange(n_layers * n_heads), n_heads)  # [cell] each, row-major
    names = hover_names or {f: f for f in FIELDS}
    hover = "<br>".join(
        [f"{layer_title} %{{customdata[0]}} · {head_title} %{{customdata[1]}}"]
        + [f"{names[f]} = %{{customdata[{i + 2}]:.3f}}" for i, f in enumerate(FIELDS)]
        + ["%{text}"]
    )
    stats = np.stack([atlas.values[f].ravel() for f in FIELDS], axis=1)  # [cell, field]
    dark = np.nan_to_num(z.ravel() / zmax) > 0.6  # [cell]  white marks on dark cells
    fig.add_trace(
        go.Scatter(
            x=heads,
            y=layers,
            mode="markers+text" if n_layers * n_heads <= ANNOTATE_CELLS else "markers",
            text=marks(atlas),
            textfont={"size": s.tick + 2, "color": np.where(dark, "white", "#08306b").tolist()},
            marker={"symbol": "square", "size": 18, "opacity": 0.01, "color": "#000"},
            customdata=np.column_stack([layers, heads, stats]),
            hovertemplate=hover + "<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    # The markers must not widen the axes; layer 0 on top; every layer and head numbered while they are few.
    fig.update_xaxes(range=[-0.5, n_heads - 0.5], autorange=False, dtick=1 if n_heads <= 16 else 4)
    fig.update_yaxes(range=[n_layers - 0.5, -0.5], autorange=False, dtick=1 if n_layers <= 12 else 5)
    if chosen is not None:
        layer, head = chosen
        fig.add_shape(
            type="rect",
            x0=head - 0.5,
            x1=head + 0.5,
            y0=layer - 0.5,
            y1=layer + 0.5,
            line={"color": "#e8590c", "width": 3},
        )
    return fig


def curve_figure(
    curves: dict[str, np.ndarray],
    *,
    title: str = "",
    layer_title: str = "layer",
    value_title: str = "",
    presentation: bool = False,
) -> go.Figure:
    """Per-layer curves (name -> [layer]) on a 0 … 1 axis."""
    colours = ("#08306b", "#e6550d", "#31a354")
    n_layers = len(next(iter(curves.values())))
    traces = [
        go.Scatter(
            x=np.arange(len(values)),
            y=np.asarray(values, dtype=np.float64),
            mode="lines+markers",
            name=name,
            line={"width": 3, "color": colours[i % len(colours)]},
            hovertemplate=f"{layer_title} %{{x}}<br>{name} = %{{y:.2f}}<extra></extra>",
        )
        for i, (name, values) in enumerate(curves.items())
    ]
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {
                "title": {"text": layer_title},
                "dtick": 1 if n_layers <= 12 else 5,
                "range": [-0.5, n_layers - 0.5],
            },
            "yaxis": {"title": {"text": value_title}, "range": [0, 1.02]},
            "legend": {"orientation": "h", "y": -0.3},
        },
        presentation,
        340 if presentation else 320,
    )
