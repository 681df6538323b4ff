"""The Attention view: α′ of the chosen head as a heatmap and as lines, every head at a glance, and the
per-layer head average and rollout. A long text is shown through a window of positions.

Beside the heatmap, three display settings (URL parameters att_show, att_scale, att_words): the heatmap shows
α′ or what each key actually sends, ‖α′ᵢⱼ·vⱼ·W^O‖ (value-weighted attention, Kobayashi et al. 2020), on a linear,
per-row or log colour scale, over sub-word pieces or over whole words (model/readouts/words.py: a split key's columns
summed, a split query's rows averaged).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from components import ui
from components.axis import Axis, Window, axis_of, word_axis
from components.cache import get_model, get_trace, selected_model_name, window_choice
from components.context import ViewContext
from components.figures.common import arc_figure, overview_png
from components.glossary import file_name
from components.overview import every_head
from model.readouts.analysis import rollout, row_share, trace_value_weighted, value_weighted_words
from model.readouts.words import Words, merge_words
from model.trace import AttentionTrace

SHOWS = ("weights", "sent")
SCALES = ("linear", "row", "log")
IMPORTANCE_TAB = "importance"  # the Experiments view's tab the "not an explanation" button opens


@st.cache_data(max_entries=64, show_spinner=False)
def overview_for(text: str, model_name: str, window: tuple = ()) -> bytes:
    """The all-heads PNG of a text, kept because it is the slowest drawing at 512 tokens (90 ms).
    `model_name` and `window` are part of the cache key: get_trace traces with the session's model and window."""
    return overview_png(get_trace(text).weights)


def strongest_key(weights: np.ndarray, sent: np.ndarray) -> tuple[int, float, float]:
    """The key that gets the most α′ on average over the queries, with its mean α′ and its mean share of what is
    sent.  weights, sent: [query_pos, key_pos], rows summing to 1 (or 0)."""
    mean_weight = weights.mean(axis=0)  # [key_pos]
    key = int(np.argmax(mean_weight))
    return key, float(mean_weight[key]), float(sent[:, key].mean())


SAME_SHARE = 0.1  # a key's share of what is sent within 10 % of its share of α′ (relative) reads "about the same"


def compare_shares(alpha: float, sent: float) -> str:
    """How a key's share of what is sent compares with its share of α′: "less", "more" or "same" (within
    SAME_SHARE of it, relative), so that the caption says what the numbers show."""
    if abs(sent - alpha) <= SAME_SHARE * alpha:
        return "same"
    return "less" if sent < alpha else "more"


def render(ctx: ViewContext) -> None:
    trace = get_trace(ctx.text)
    ui.trace_notices(ctx.lang, trace)
    words = None
    if st.session_state.get("att_words"):
        axis, words = word_axis(trace, ctx.hide_special)

        def merge(matrix: np.ndarray) -> np.ndarray:
            return merge_words(matrix, words)
    else:
        axis, merge = axis_of(trace, ctx.hide_special), _unchanged
    window = ui.pick_window(ctx, axis)
    # Lazy sub-tabs: only the open one is computed and sent, so the first paint stays light.
    one_head, lines, whole_layer = st.tabs(
        [ctx.t("attention.tab_head"), ctx.t("attention.tab_lines"), ctx.t("attention.tab_layer")],
        key="attention_tab",
        on_change="rerun",
    )
    if one_head.open:
        with one_head:
            _render_head(ctx, trace, axis, window, merge, words)
    if lines.open:
        with lines:
            _render_lines(ctx, trace, axis, window, merge)
    if whole_layer.open:
        with whole_layer:
            _render_layer(ctx, trace, axis, window, merge)


def _unchanged(matrix: np.ndarray) -> np.ndarray:
    return matrix


def _title(ctx: ViewContext, key: str, axis: Axis, window: Window, **values: object) -> str:
    """A figure title, with the window's positions when the figure shows only part of the text."""
    title = ctx.t(key, **values)
    if st.session_state.get("att_words"):
        title += ctx.t("attention.words_part")
    if window.whole(len(axis)):
        return title
    q, k = window.queries, window.keys
    return title + ctx.t(
        "attention.window_part",
        q0=axis.positions[q[0]],
        q1=axis.positions[q[1]],
        k0=axis.positions[k[0]],
        k1=axis.positions[k[1]],
    )


def _render_head(
    ctx: ViewContext,
    trace: AttentionTrace,
    axis: Axis,
    window: Window,
    merge: Callable[[np.ndarray], np.ndarray],
    words: Words | None = None,
) -> None:
    """The chosen head's α′ (or what each key sends), exact with hover values, beside the display settings and
    the overview of every head. Over words, what a word sends is its pieces' vectors summed, then measured."""
    layer, head = ctx.layer, ctx.head
    weights = axis.weights(merge(trace.layers[layer].weights[head]))  # [query_pos, key_pos]
    mark = None if st.session_state.get("att_words") else ctx.mark  # a lesson's mark names token positions
    share, (left, right) = ui.beside_or_below(ctx, window)
    with right:
        show, scale = _display_settings(ctx)
        ui.window_controls(ctx)
    rule = trace.layers[layer].rule
    shrinks = rule.window is not None and rule.window < trace.n_positions  # a band only where the window hides keys
    band = rule.visible(trace.n_positions) if words is None and shrinks else None
    with left:
        if show == "sent":
            if words is None:
                sent_all = trace_value_weighted(trace, layer, get_model().head_matrices)[head]  # [query, key]
            else:  # the pieces' vectors summed before the norm: [query_word, key_word]
                lt, w_o = trace.layers[layer], get_model().head_matrices(layer, head)["W_O"]
                sent_all = value_weighted_words(lt.weights[head][None], lt.v[head][None], w_o[None], words)[0]
            sent = row_share(axis.cells(sent_all))  # [query_pos, key_pos]
            title = _title(ctx, "attention.sent_title", axis, window, layer=layer, head=head)
            fig = ui.window_heatmap(
                ctx,
                sent,
                axis,
                window,
                title,
                share=share,
                value_name=ctx.t("attention.sent_value"),
                scale=scale,
                mark=mark,
                visible=band,
            )
            key, alpha, part = strongest_key(weights, sent)
            reading = ctx.t(
                f"attention.sent_{compare_shares(alpha, part)}",
                token=axis.files[key],
                alpha=f"{alpha:.1%}",
                sent=f"{part:.1%}",
            )
            caption = ui.joined(ctx.lang, ctx.t("attention.sent_caption"), reading)
            if words is not None:
                caption = ui.joined(ctx.lang, caption, ctx.t("attention.sent_words"))
            download = ui.Download(file_name("value_weighted", layer=layer, head=head), sent, axis.files, axis.files)
        else:
            title = _title(ctx, "attention.heatmap_title", axis, window, layer=layer, head=head)
            fig = ui.window_heatmap(
                ctx, weights, axis, window, title, share=share, scale=scale, mark=mark, visible=band
            )
            caption = ctx.t("attention.heatmap_caption")
            download = ui.Download(file_name("weight", layer=layer, head=head), weights, axis.files, axis.files)
        if scale != "linear":
            caption = ui.joined(ctx.lang, caption, ctx.t(f"attention.scale_note_{scale}"))
        if axis.hidden:
            caption = ui.joined(ctx.lang, caption, ctx.t("attention.hidden_note"))
        caption = ui.joined(ctx.lang, caption, ui.window_note(ctx, trace, layer))
        ui.figure(fig, caption, key="heatmap", downloads=[download], lang=ctx.lang)
        _not_an_explanation(ctx)
    with right:
        name = selected_model_name()
        png = overview_for(ctx.text, name, tuple(sorted(window_choice(name).items())))
        every_head(
            ctx,
            png,
            (trace.n_layers, trace.n_heads),
            (layer, head),
            "attention",
            key="overview",
            n=trace.n_positions,
            kv_heads=trace.kv_heads,
        )


def _display_settings(ctx: ViewContext) -> tuple[str, str]:
    """What the heatmap shows, its colour scale, and words instead of pieces: one compact block."""
    show = ui.choice(ctx, "attention.show", SHOWS, "att_show")
    scale = ui.choice(ctx, "attention.scale", SCALES, "att_scale")
    keep = {"persist_state": "session"}  # on a row of its own: beside the colours it covered "log" at 1280 px
    st.toggle(ctx.t("attention.words"), key="att_words", help=ctx.t("attention.words_help"), **keep)
    return show, scale


def _open_importance() -> None:
    st.session_state["view"] = "lab"
    st.session_state["lab_open"] = IMPORTANCE_TAB  # the Experiments view opens this tab on its next run


def _not_an_explanation(ctx: ViewContext) -> None:
    """α′ is where a head looks, not why the model decides: said under the heatmap, with the way to the test."""
    st.caption(ctx.t("attention.not_explanation"))
    st.button(
        ctx.t("attention.to_importance"),
        key="to_importance",
        on_click=_open_importance,
        icon=":material/science:",
        type="tertiary",
    )


def _render_lines(
    ctx: ViewContext, trace: AttentionTrace, axis: Axis, window: Window, merge: Callable[[np.ndarray], np.ndarray]
) -> None:
    """Lines from each query to its keys; for a long text, among the window's queries."""
    layer, head = ctx.layer, ctx.head
    weights = axis.weights(merge(trace.layers[layer].weights[head]))  # [query_pos, key_pos]
    part = Window(window.queries, window.queries)
    fig = arc_figure(
        weights[part.rows, part.cols],
        axis.labels[part.rows],
        title=_title(ctx, "attention.arc_title", axis, part, layer=layer, head=head),
        left_title=ctx.t("common.query"),
        right_title=ctx.t("common.key"),
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("attention.arc_caption"), key="arcs")


def _render_layer(
    ctx: ViewContext, trace: AttentionTrace, axis: Axis, window: Window, merge: Callable[[np.ndarray], np.ndarray]
) -> None:
    layer, p = ctx.layer, ctx.presentation
    scale = st.session_state.get("att_scale") or SCALES[0]
    # Each layer's α′ is computed from its q and k when read: only the layers up to this one, one head average each.
    averages = np.stack([lt.weights.mean(axis=0) for lt in trace.layers[: layer + 1]])  # [layer, query_pos, key_pos]
    average = axis.weights(merge(averages[layer]))  # [query_pos, key_pos]
    rolled = axis.weights(merge(rollout(averages[:, None])[layer]))  # [query_pos, key_pos]  one "head": the mean
    keys = window.keys[1] - window.keys[0] + 1
    share = 0.5 if keys <= ui.key_capacity(p, 0.5 * ctx.width) else 1.0  # side by side while the keys fit half the page
    left, right = st.columns(2, gap="medium") if share < 1 else (st.container(), st.container())
    with left:
        title = _title(ctx, "attention.average_title", axis, window, layer=layer)
        fig = ui.window_heatmap(ctx, average, axis, window, title, share=share, scale=scale)
        download = ui.Download(
            file_name("head_average", layer=layer), average, axis.files, axis.files, ctx.t("attention.mean")
        )
        caption = ctx.t("attention.average_caption", n_heads=trace.n_heads)
        ui.figure(fig, caption, key="average", downloads=[download], lang=ctx.lang)
    with right:
        title = _title(ctx, "attention.rollout_title", axis, window, layer=layer)
        fig = ui.window_heatmap(
            ctx,
            rolled,
            axis,
            window,
            title,
            value_name=ctx.t("attention.rollout_value"),
            x_title=ctx.t("attention.rollout_source"),
            y_title=ctx.t("common.position"),
            share=share,
            scale=scale,
        )
        download = ui.Download(
            file_name("rollout", layer=layer), rolled, axis.files, axis.files, ctx.t("attention.rollout")
        )
        ui.figure(
            fig, ctx.t("attention.rollout_caption", layer=layer), key="rollout", downloads=[download], lang=ctx.lang
        )
