"""The Attention view: α of the chosen head as a heatmap and as lines, every head at a glance,
and the per-layer head average and rollout."""

from __future__ import annotations

import numpy as np
import streamlit as st

from components import ui
from components.cache import get_model, get_trace, selected_model_name
from components.controls import Controls
from components.figures import arc_figure, font_size, heatmap_figure, overview_png, token_labels
from components.overview import overview
from model.analysis import head_average, renormalize_without, rollout
from model.trace import AttentionTrace


def visible(trace: AttentionTrace, matrix: np.ndarray, hide_special: bool) -> tuple[np.ndarray, list[str], list[str]]:
    """A [..., q, k] matrix and its labels, without the special tokens when asked (rows renormalized)."""
    labels = token_labels(trace.tokens)
    files = ui.labels_for_files(trace.tokens)
    special = trace.is_special()
    if not hide_special or not special.any() or special.all():
        return matrix, labels, files
    keep = ~special
    kept = [labels[i] for i in np.flatnonzero(keep)]
    kept_files = [files[i] for i in np.flatnonzero(keep)]
    return renormalize_without(matrix, special), kept, kept_files


def trace_notices(ctx: Controls, trace: AttentionTrace) -> None:
    """Tell the class when the model saw less than was typed, or could not read some of it."""
    if trace.device != get_model().device.type:
        st.warning(ctx.t("attention.device_fallback", device=get_model().device.type), icon="🖥️")
    if trace.truncated:
        st.warning(ctx.t("attention.truncated", n=trace.n_positions), icon="✂️")
    unknown = sum(tok == "[UNK]" for tok in trace.tokens)
    if unknown:
        st.info(ctx.t("attention.unknown_tokens", n=unknown), icon="🈚")


@st.cache_data(max_entries=64, show_spinner=False)
def overview_for(text: str, model_name: str) -> bytes:
    """The all-heads PNG of a text, kept because it is the slowest drawing at 512 tokens (90 ms).
    `model_name` is part of the cache key: get_trace traces with the session's chosen model."""
    return overview_png(get_trace(text).weights())


def _pick_head_from_overview() -> None:
    state = st.session_state.get("overview")
    pick = state.get("pick") if state is not None else None
    try:
        layer, head = int(pick["layer"]), int(pick["head"])
    except (TypeError, KeyError, ValueError):  # no click this run, or not what the page sends
        return
    # The sidebar clamps both to the model's range (controls.checked_state), as it does for the URL.
    st.session_state["layer"], st.session_state["head"] = layer, head


def render(ctx: Controls) -> None:
    trace = get_trace(ctx.text)
    trace_notices(ctx, trace)
    ui.token_chips(trace.tokens, trace.is_special())
    # Lazy sub-tabs: only the open one is computed and sent, so the first paint stays light.
    one_head, lines, whole_layer = st.tabs(
        [ctx.t("attention.tab_head"), ctx.t("attention.tab_lines"), ctx.t("attention.tab_layer")],
        key="attention_tab",
        on_change="rerun",
    )
    if one_head.open:
        with one_head:
            _render_head(ctx, trace)
    if lines.open:
        with lines:
            _render_lines(ctx, trace)
    if whole_layer.open:
        with whole_layer:
            _render_layer(ctx, trace)


def _render_head(ctx: Controls, trace: AttentionTrace) -> None:
    """The chosen head's α, exact with hover values, beside the overview of every head."""
    layer, head, p = ctx.layer, ctx.head, ctx.presentation
    weights, labels, file_labels = visible(trace, trace.layers[layer].weights[head], ctx.hide_special)
    # On a projector the two figures stack, each as wide as the screen.
    left, right = (st.container(), st.container()) if p else st.columns([3, 2])
    with left:
        fig = heatmap_figure(
            weights,
            labels,
            labels,
            title=ctx.t("attention.heatmap_title", layer=layer, head=head),
            x_title=ctx.t("common.key"),
            y_title=ctx.t("common.query"),
            presentation=p,
            annotate=len(labels) <= 12,
        )
        ui.figure(fig, ctx.t("attention.heatmap_caption"), key="heatmap")
        ui.matrix_downloads(
            f"alpha_layer{layer}_head{head}",
            weights,
            file_labels,
            file_labels,
            ctx.t("common.download_csv"),
            ctx.t("common.download_json"),
        )
    with right:
        overview(
            overview_for(ctx.text, selected_model_name()),
            trace.n_layers,
            trace.n_heads,
            layer,
            head,
            title=ctx.t("attention.overview_title"),
            layer_label=ctx.t("common.layer"),
            head_label=ctx.t("common.head"),
            font_px=font_size(p),
            key="overview",
            on_pick=_pick_head_from_overview,
        )
        st.caption(ctx.t("attention.overview_caption"))


def _render_lines(ctx: Controls, trace: AttentionTrace) -> None:
    layer, head = ctx.layer, ctx.head
    weights, labels, _ = visible(trace, trace.layers[layer].weights[head], ctx.hide_special)
    fig = arc_figure(
        weights,
        labels,
        title=ctx.t("attention.arc_title", layer=layer, head=head),
        left_title=ctx.t("common.query"),
        right_title=ctx.t("common.key"),
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("attention.arc_caption"), key="arcs")


def _render_layer(ctx: Controls, trace: AttentionTrace) -> None:
    layer, p = ctx.layer, ctx.presentation
    all_weights = trace.weights()  # [layer, head, query_pos, key_pos]
    average, labels, _ = visible(trace, head_average(all_weights)[layer], ctx.hide_special)
    rolled, _, _ = visible(trace, rollout(all_weights)[layer], ctx.hide_special)
    left, right = st.columns(2)
    with left:
        fig = heatmap_figure(
            average,
            labels,
            labels,
            title=ctx.t("attention.average_title", layer=layer),
            x_title=ctx.t("common.key"),
            y_title=ctx.t("common.query"),
            presentation=p,
        )
        ui.figure(fig, ctx.t("attention.average_caption"), key="average")
    with right:
        fig = heatmap_figure(
            rolled,
            labels,
            labels,
            title=ctx.t("attention.rollout_title", layer=layer),
            x_title=ctx.t("attention.rollout_source"),
            y_title=ctx.t("common.position"),
            value_name=ctx.t("attention.rollout_value"),
            presentation=p,
        )
        ui.figure(fig, ctx.t("attention.rollout_caption", layer=layer), key="rollout")
