"""The Experiments view's figures: the article's example as LaTeX, √d's histograms and curve, reach per layer,
and attention against importance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from components.figures.common import BLUES, Panel, heatmap_grid, sizes, styled_figure
from model.experiments.hand import HandExample
from model.experiments.importance import Importance
from model.experiments.reach import REACH_KINDS, REACH_LAYERS, reach_table
from model.experiments.scaling import DotProductSpread, histogram


def latex_matrix(m: np.ndarray) -> str:
    """A matrix as a LaTeX bmatrix: whole numbers as they are, others to 2 decimals."""
    m = np.asarray(m, dtype=np.float64)
    whole = np.allclose(m, np.round(m))
    cells = [[f"{int(round(x))}" if whole else f"{x:.2f}" for x in row] for row in m]
    return r"\begin{bmatrix}" + r"\\".join(" & ".join(row) for row in cells) + r"\end{bmatrix}"


COLUMN_FORM = {  # step key → its formula in the article's column form
    "q": r"Q = W^q\, I",
    "k": r"K = W^k\, I",
    "v": r"V = W^v\, I",
    "a": r"A = K^{\top} Q",
    "a_scaled": r"A / \sqrt{d_k}",
    "a_prime": r"A' = \mathrm{softmax}_{\downarrow}",
    "o": r"O = V A'",
}


ROW_FORM = {  # step key → its formula in the row form, and the column-form twin it is the transpose of
    "q_row": r"Q_{\mathrm{row}} = I^{\top} W^{q\top} = Q^{\top}",
    "k_row": r"K_{\mathrm{row}} = I^{\top} W^{k\top} = K^{\top}",
    "v_row": r"V_{\mathrm{row}} = I^{\top} W^{v\top} = V^{\top}",
    "scores": r"S = Q_{\mathrm{row}} K_{\mathrm{row}}^{\top} = A^{\top}",
    "weights": r"\mathrm{softmax}_{\rightarrow}(S) = A'^{\top}",
    "z": r"Z = A'^{\top} V_{\mathrm{row}} = O^{\top}",
}


def hand_lines(example: HandExample) -> tuple[list[str], list[str]]:
    """The LaTeX of every computed step, column form and row form, each with its shape under it."""

    def line(formula: str, m: np.ndarray) -> str:
        return rf"{formula} = \underset{{[{m.shape[0]} \times {m.shape[1]}]}}{{{latex_matrix(m)}}}"

    steps = {step.key: step for step in example.steps()}
    scaled = rf"\left(A / \sqrt{{{example.d_k}}}\right)" if example.scale else "(A)"
    column = [
        line(COLUMN_FORM[key] + (scaled if key == "a_prime" else ""), steps[key].matrix)
        for key in COLUMN_FORM
        if key in steps
    ]
    row = [line(ROW_FORM[key], steps[key].matrix) for key in ROW_FORM]
    return column, row


def sqrt_d_figure(
    spread: DotProductSpread, names: tuple[str, str], *, title: str, x_title: str, y_title: str, presentation: bool
) -> go.Figure:
    """The two histograms of q·k at one width, unscaled and ÷√d_head, on shared bins."""
    centres, unscaled, scaled = histogram(spread)
    width = centres[1] - centres[0]
    bars = [
        go.Bar(
            x=centres,
            y=counts,
            width=width,
            name=name,
            marker={"color": colour, "opacity": 0.75},
            hovertemplate=f"{name}<br>%{{x:.2f}}: %{{y}}<extra></extra>",
        )
        for counts, name, colour in ((unscaled, names[0], "#e6550d"), (scaled, names[1], BLUES[3][1]))
    ]
    return styled_figure(
        bars,
        {
            "title": {"text": title},
            "barmode": "overlay",
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}},
            "legend": {"orientation": "h", "y": -0.25},
            "plot_bgcolor": "white",
        },
        presentation,
        400,
    )


def width_figure(
    all_spreads: Sequence[DotProductSpread],
    names: tuple[str, str],
    *,
    title: str,
    x_title: str,
    y_title: str,
    even: float,
    even_name: str,
    chosen: int,
    presentation: bool,
) -> go.Figure:
    """The mean largest softmax weight over 16 keys against d_head, unscaled and scaled; `even` is 1/16."""
    d = [s.d_head for s in all_spreads]
    lines = [
        go.Scatter(
            x=d,
            y=[getattr(s, field) for s in all_spreads],
            mode="lines+markers",
            name=name,
            line={"width": 3, "color": colour},
            hovertemplate=f"{name}<br>d_head %{{x}}: %{{y:.2f}}<extra></extra>",
        )
        for field, name, colour in (
            ("max_weight_unscaled", names[0], "#e6550d"),
            ("max_weight_scaled", names[1], BLUES[3][1]),
        )
    ]
    lines.append(
        go.Scatter(x=d, y=[even] * len(d), mode="lines", name=even_name, line={"dash": "dot", "color": "#888"})
    )
    return styled_figure(
        lines,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}, "type": "log", "tickvals": d, "ticktext": [str(x) for x in d]},
            "yaxis": {"title": {"text": y_title}, "range": [0, 1.02]},
            "legend": {"orientation": "h", "y": -0.3},
            "shapes": [
                {
                    "type": "line",
                    "x0": chosen,
                    "x1": chosen,
                    "y0": 0,
                    "y1": 1,
                    "yref": "paper",
                    "line": {"dash": "dash"},
                }
            ],
        },
        presentation,
        400,
    )


def reach_figure(
    labels: list[str],
    token: int,
    window: int,
    kind_names: dict[str, str],
    layer_names: list[str],
    *,
    title: str = "",
    presentation: bool = False,
    width_px: int | None = None,
) -> go.Figure:
    """For each kind, a panel of REACH_LAYERS rows: which positions `token` has heard from after 1, 2, 3 layers
    (1 = yes); the token's own column framed."""
    n = len(labels)
    panels = [
        Panel(
            reach_table(kind, n, token, REACH_LAYERS, window)[1:].astype(np.float32),  # [layer, pos]
            labels,
            layer_names,
            title=kind_names[kind],
            name=kind_names[kind],
            rules_x=(token - 0.5, token + 0.5),
        )
        for kind in REACH_KINDS
    ]
    fig = heatmap_grid(
        panels,
        columns=1,
        title=title,
        value_name="",
        zmax=1.0,
        share_x=True,
        presentation=presentation,
        width_px=width_px,
        cell_px=int(sizes(presentation).cell * 1.3),  # three rows a panel: room for their labels
    )
    fig.update_layout(coloraxis_showscale=False)  # dark or white: a colour bar would say nothing
    return fig


def importance_figure(
    result: Importance,
    labels: list[str],
    *,
    title: str,
    weight_title: str,
    effect_title: str,
    key_title: str,
    presentation: bool,
) -> go.Figure:
    """Two rows of bars over the keys removed: α′ on top, how far the query's last vector moved below."""
    x = [labels[k] for k in result.keys]
    s = sizes(presentation)
    traces = [
        go.Bar(x=x, y=result.weights, marker={"color": BLUES[3][1]}, name=weight_title, yaxis="y",
               hovertemplate=f"%{{x}}<br>{weight_title} = %{{y:.3f}}<extra></extra>"),
        go.Bar(x=x, y=result.relative, marker={"color": "#e6550d"}, name=effect_title, yaxis="y2",
               hovertemplate=f"%{{x}}<br>{effect_title} = %{{y:.3f}}<extra></extra>"),
    ]  # fmt: skip
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "showlegend": False,
            "xaxis": {"title": {"text": key_title}, "tickangle": -60, "tickfont": {"size": s.tick}, "anchor": "y2"},
            "yaxis": {"domain": [0.55, 1.0], "title": {"text": weight_title}, "rangemode": "tozero"},
            "yaxis2": {"domain": [0.0, 0.45], "title": {"text": effect_title}, "rangemode": "tozero",
                       "anchor": "x", "tickfont": {"size": s.tick}},
            "plot_bgcolor": "white",
        },
        presentation,
        520,
    )  # fmt: skip
