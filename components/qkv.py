"""The Q · K · V view: one head's queries, keys and values, the slices of W^Q, W^K, W^V that make
them, and the scores Q·Kᵀ/√d_head, each with its shape in its title.

The article writes one token at a time, qᵢ = W^q·aᵢ; BERT computes every token at once as
Q = X·W^Qᵀ + b, X holding the tokens' vectors aᵢ as rows. Figures are pure builders; render() draws.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import ui
from components.attention import trace_notices
from components.cache import get_model, get_trace
from components.controls import Controls
from components.figures import DIVERGING, heatmap_figure, style, token_labels
from model.trace import AttentionTrace

PROJECTIONS = ("Q", "K", "V")


def panels_figure(
    matrices: list[np.ndarray],
    panel_titles: list[str],
    *,
    y_labels: list[str] | None = None,
    across: bool = True,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    value_name: str = "",
    presentation: bool = False,
    height: int | None = None,
) -> go.Figure:
    """Matrices as heatmaps in one figure, side by side (across=True, sharing the row axis) or stacked
    (sharing the column axis), on one diverging scale centred on zero so their colours compare.

    y_labels names the rows (token labels keep repeated tokens apart); otherwise rows are numbered,
    as columns always are.
    """
    n = len(matrices)
    fig = make_subplots(
        rows=1 if across else n,
        cols=n if across else 1,
        shared_yaxes=across,
        shared_xaxes=not across,
        subplot_titles=panel_titles,
        horizontal_spacing=0.03,
        vertical_spacing=0.09,
    )
    bound = max(float(np.abs(m).max()) for m in matrices) or 1.0
    for index, matrix in enumerate(matrices):
        matrix = np.asarray(matrix, dtype=np.float32)
        rows = y_labels if y_labels is not None else list(range(matrix.shape[0]))
        fig.add_trace(
            go.Heatmap(
                z=matrix,
                x=list(range(matrix.shape[1])),
                y=rows,
                coloraxis="coloraxis",
                hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{value_name} = %{{z:.3f}}<extra></extra>",
            ),
            row=1 if across else index + 1,
            col=index + 1 if across else 1,
        )
    fig.update_layout(
        title={"text": title},
        coloraxis={
            "colorscale": DIVERGING,
            "cmin": -bound,
            "cmax": bound,
            "cmid": 0.0,
            "colorbar": {"title": {"text": value_name}, "thickness": 12},
        },
    )
    fig.update_yaxes(autorange="reversed", type="category" if y_labels is not None else "linear")
    if across:
        fig.update_xaxes(title={"text": x_title})
        fig.update_yaxes(title={"text": y_title}, row=1, col=1)
    else:
        fig.update_xaxes(title={"text": x_title}, row=n, col=1)
        fig.update_yaxes(title={"text": y_title})
    if height is None:
        rows = len(y_labels) if y_labels is not None else sum(m.shape[0] for m in matrices)
        height = max(300, min(900, 140 + 22 * rows))
    fig = style(fig, presentation, height)
    fig.update_layout(margin={"t": 100 if presentation else 80})  # room for the title above the panel titles
    return fig


def visible_positions(trace: AttentionTrace, hide_special: bool) -> np.ndarray:
    """The positions to show: all, or all but [CLS]/[SEP] when asked (unless nothing else is left)."""
    special = trace.is_special()
    if not hide_special or not special.any() or special.all():
        return np.arange(trace.n_positions)
    return np.flatnonzero(~special)


def render(ctx: Controls) -> None:
    trace = get_trace(ctx.text)
    trace_notices(ctx, trace)
    st.markdown(ctx.t("qkv.intro", d_model=trace.d_model))
    # Lazy tabs, as in the Attention view: only the open one is computed and drawn.
    projections, weights = st.tabs(
        [ctx.t("qkv.tab_projections"), ctx.t("qkv.tab_weights")], key="qkv_tab", on_change="rerun"
    )
    if projections.open:
        with projections:
            _render_projections(ctx, trace)
    if weights.open:
        with weights:
            _render_weights(ctx, trace)


def _render_projections(ctx: Controls, trace: AttentionTrace) -> None:
    """Q, K, V of the head side by side, then Q·Kᵀ/√d_head, then their downloads."""
    layer, head, p = ctx.layer, ctx.head, ctx.presentation
    lt = trace.layers[layer]
    d = trace.d_head
    keep = visible_positions(trace, ctx.hide_special)
    n = len(keep)
    all_labels, all_files = token_labels(trace.tokens), ui.labels_for_files(trace.tokens)
    labels, files = [all_labels[j] for j in keep], [all_files[j] for j in keep]
    q, k, v = (m[head][keep] for m in (lt.q, lt.k, lt.v))  # each [pos, d_head]
    scores = lt.scores[head][np.ix_(keep, keep)]  # [query_pos, key_pos]

    fig = panels_figure(
        [q, k, v],
        [f"{name} = X·W<sup>{name}ᵀ</sup> + b  [{n} × {d}]" for name in PROJECTIONS],
        y_labels=labels,
        title=ctx.t("qkv.qkv_title", layer=layer, head=head),
        x_title=ctx.t("qkv.feature"),
        y_title=ctx.t("common.position"),
        presentation=p,
    )
    ui.figure(fig, ctx.t("qkv.qkv_caption", d=d, head=head, n=n), key="qkv")

    st.subheader(ctx.t("qkv.scores_heading"))
    fig = heatmap_figure(
        scores,
        labels,
        labels,
        title=ctx.t("qkv.scores_title", n=n, layer=layer, head=head),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        value_name="q·k/√d",
        signed=True,
        annotate=n <= 12,
        presentation=p,
    )
    # The key axis sits on top; this long title goes above its tick labels rather than over them.
    fig.update_layout(title={"automargin": True, "yref": "paper", "y": 1, "yanchor": "bottom"})
    ui.figure(fig, ctx.t("qkv.scores_caption", d=d, n=n), key="qkv_scores")

    st.subheader(ctx.t("qkv.downloads"))
    features = [f"d{j}" for j in range(d)]
    tables = [(name, matrix, features) for name, matrix in zip(PROJECTIONS, (q, k, v), strict=True)]
    tables.append(("scores", scores, files))
    for col, (name, matrix, columns) in zip(st.columns(len(tables)), tables, strict=True):
        with col:
            st.caption(f"{name}  [{matrix.shape[0]} × {matrix.shape[1]}]")
            ui.matrix_downloads(
                f"{name}_layer{layer}_head{head}",
                matrix,
                files,
                columns,
                "CSV",  # four pairs side by side: the caption above names the matrix
                "JSON",
            )


def _render_weights(ctx: Controls, trace: AttentionTrace) -> None:
    """The rows of W^Q, W^K, W^V that belong to the head, stacked on one column axis."""
    layer, head = ctx.layer, ctx.head
    d, d_model = trace.d_head, trace.d_model
    weights = get_model().head_weights(layer, head)  # each [d_head, d_model]
    first, last = head * d, (head + 1) * d - 1
    titles = [
        ctx.t("qkv.weight_panel", name=f"W<sup>{name}</sup>", first=first, last=last, rows=d, cols=d_model)
        for name in PROJECTIONS
    ]
    fig = panels_figure(
        [weights[f"W_{name}"] for name in PROJECTIONS],
        titles,
        across=False,
        title=ctx.t("qkv.weights_title", layer=layer, head=head),
        x_title=ctx.t("qkv.input_dimension"),
        y_title=ctx.t("qkv.feature"),
        presentation=ctx.presentation,
        height=620,
    )
    caption = ctx.t(
        "qkv.weights_caption", head=head, first=first, last=last, d=d, d_model=d_model, n_heads=trace.n_heads
    )
    ui.figure(fig, caption, key="qkv_weights")
