"""The Attention view: α′ of the chosen head as a heatmap and as lines, every head at a glance,
and the per-layer head average and rollout. A long text is shown through a window of positions."""

from __future__ import annotations

import streamlit as st

from components import ui
from components.cache import get_trace, selected_model_name
from components.controls import Controls
from components.figures import arc_figure, overview_png
from components.overview import every_head
from components.positions import Shown, Window, shown
from model.analysis import head_average, rollout
from model.trace import AttentionTrace


@st.cache_data(max_entries=64, show_spinner=False)
def overview_for(text: str, model_name: str) -> bytes:
    """The all-heads PNG of a text, kept because it is the slowest drawing at 512 tokens (90 ms).
    `model_name` is part of the cache key: get_trace traces with the session's chosen model."""
    return overview_png(get_trace(text).weights())


def render(ctx: Controls) -> None:
    trace = get_trace(ctx.text)
    ui.trace_notices(ctx.lang, trace)
    if not ctx.presentation:  # on a projector they wait behind a button in the header (app.py)
        ui.token_chips(trace.tokens, trace.is_special(), ctx.lang)
    positions = shown(trace, ctx.hide_special)
    window = ui.pick_window(ctx, positions)
    # Lazy sub-tabs: only the open one is computed and sent, so the first paint stays light.
    one_head, lines, whole_layer = st.tabs(
        [ctx.t("attention.tab_head"), ctx.t("attention.tab_lines"), ctx.t("attention.tab_layer")],
        key="attention_tab",
        on_change="rerun",
    )
    if one_head.open:
        with one_head:
            _render_head(ctx, trace, positions, window)
    if lines.open:
        with lines:
            _render_lines(ctx, trace, positions, window)
    if whole_layer.open:
        with whole_layer:
            _render_layer(ctx, trace, positions, window)


def _title(ctx: Controls, key: str, positions: Shown, window: Window, **values: object) -> str:
    """A figure title, with the window's positions when the figure shows only part of the text."""
    title = ctx.t(key, **values)
    if window.whole(len(positions)):
        return title
    q, k = window.queries, window.keys
    return title + ctx.t(
        "attention.window_part",
        q0=positions.positions[q[0]],
        q1=positions.positions[q[1]],
        k0=positions.positions[k[0]],
        k1=positions.positions[k[1]],
    )


def _render_head(ctx: Controls, trace: AttentionTrace, positions: Shown, window: Window) -> None:
    """The chosen head's α′, exact with hover values, beside the overview of every head."""
    layer, head = ctx.layer, ctx.head
    weights = positions.weights(trace.layers[layer].weights[head])  # [query_pos, key_pos]
    share, (left, right) = ui.beside_or_below(ctx, window)
    with left:
        title = _title(ctx, "attention.heatmap_title", positions, window, layer=layer, head=head)
        fig = ui.window_heatmap(ctx, weights, positions, window, title, share=share)
        download = ui.Download(f"alpha_layer{layer}_head{head}", weights, positions.files, positions.files)
        ui.figure(fig, ctx.t("attention.heatmap_caption"), key="heatmap", downloads=[download], lang=ctx.lang)
    with right:
        png = overview_for(ctx.text, selected_model_name())
        every_head(
            ctx, png, (trace.n_layers, trace.n_heads), (layer, head), "attention", key="overview", n=trace.n_positions
        )


def _render_lines(ctx: Controls, trace: AttentionTrace, positions: Shown, window: Window) -> None:
    """Lines from each query to its keys; for a long text, among the window's queries."""
    layer, head = ctx.layer, ctx.head
    weights = positions.weights(trace.layers[layer].weights[head])  # [query_pos, key_pos]
    part = Window(window.queries, window.queries)
    fig = arc_figure(
        weights[part.rows, part.cols],
        positions.labels[part.rows],
        title=_title(ctx, "attention.arc_title", positions, part, layer=layer, head=head),
        left_title=ctx.t("common.query"),
        right_title=ctx.t("common.key"),
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("attention.arc_caption"), key="arcs")


def _render_layer(ctx: Controls, trace: AttentionTrace, positions: Shown, window: Window) -> None:
    layer, p = ctx.layer, ctx.presentation
    all_weights = trace.weights()  # [layer, head, query_pos, key_pos]
    average = positions.weights(head_average(all_weights)[layer])  # [query_pos, key_pos]
    rolled = positions.weights(rollout(all_weights)[layer])  # [query_pos, key_pos]
    keys = window.keys[1] - window.keys[0] + 1
    share = 0.5 if keys <= ui.key_capacity(p, 0.5) else 1.0  # side by side while the keys fit half the page
    left, right = st.columns(2, gap="medium") if share < 1 else (st.container(), st.container())
    with left:
        title = _title(ctx, "attention.average_title", positions, window, layer=layer)
        fig = ui.window_heatmap(ctx, average, positions, window, title, share=share)
        ui.figure(fig, ctx.t("attention.average_caption", n_heads=trace.n_heads), key="average")
    with right:
        title = _title(ctx, "attention.rollout_title", positions, window, layer=layer)
        fig = ui.window_heatmap(
            ctx,
            rolled,
            positions,
            window,
            title,
            value_name=ctx.t("attention.rollout_value"),
            x_title=ctx.t("attention.rollout_source"),
            y_title=ctx.t("common.position"),
            share=share,
        )
        ui.figure(fig, ctx.t("attention.rollout_caption", layer=layer), key="rollout")
