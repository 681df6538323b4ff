"""The Experiments view: four experiments no attention tool offers, one tab each.

    by hand      the article's example with small integer matrices, in its column form and in the row form the
                 models and every heatmap of this app use (model/experiments/hand.py)
    why √d       q·k of random vectors as the head widens, scaled and unscaled, and what softmax makes of them
                 (model/experiments/scaling.py)
    reach        which tokens a token can have heard from after 1, 2, 3 layers of self-attention, of a window,
                 and of an RNN, with their step and operation counts (model/experiments/reach.py)
    importance   for the chosen layer, head and query, each key removed in turn from that query's output (or, the
                 second choice, from every query of the head) and the model re-run: does the key with the most α′
                 matter most? (model/experiments/importance.py)

Only the open tab is computed. The re-runs of the importance test are bounded (MAX_KEYS) and cached per
model, text, layer, head, query and scope; each runs on the model thread, so other students' traces interleave.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from components import ui
from components.cache import get_trace, selected_model_name, trace_uncached, window_choice
from components.context import ViewContext
from components.figures.common import plain_labels, token_labels
from components.figures.experiments import hand_lines, importance_figure, reach_figure, sqrt_d_figure, width_figure
from components.params import Param
from components.session import checked_state
from model.errors import AttentionLabError
from model.experiments.hand import DEFAULT_INPUTS, DEFAULT_W_K, DEFAULT_W_Q, DEFAULT_W_V, hand_example
from model.experiments.importance import Importance, ablation_effects, reading
from model.experiments.reach import REACH_KINDS, REACH_LAYERS, cheaper, reach_rows
from model.experiments.scaling import DotProductSpread, spread_by_width
from model.families.blocks import ABLATION_SCOPES
from model.trace import AttentionTrace

TABS = ("hand", "sqrt_d", "reach", "importance")
WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # the head widths the √d experiment offers
MAX_KEYS = 24  # keys the importance test removes at most (one re-run of the model each)
HAND_RANGE = (-9, 9)  # the integers the hand example's editors take


def render(ctx: ViewContext) -> None:
    labels = [ctx.t(f"lab.tab_{tab}") for tab in TABS]
    asked = st.session_state.pop("lab_open", None)  # another view's button asked for a tab (Attention → importance)
    if asked in TABS:
        st.session_state["lab_tab"] = labels[TABS.index(asked)]
    tabs = st.tabs(labels, key="lab_tab", on_change="rerun")
    for name, tab in zip(TABS, tabs, strict=True):
        if tab.open:
            with tab:
                {
                    "hand": _render_hand,
                    "sqrt_d": _render_sqrt_d,
                    "reach": _render_reach,
                    "importance": _render_importance,
                }[name](ctx)


# ── The article's example by hand ──────────────────────────────────────────────────────────────────


def _editor(ctx: ViewContext, key: str, title: str, values: np.ndarray, columns: list[str], rows: list[str]) -> list:
    """One small integer matrix the class can edit; returns its rows (None for an emptied cell is 0)."""
    frame = pd.DataFrame(np.asarray(values, dtype=np.int64), columns=columns, index=rows)
    low, high = HAND_RANGE
    config = {c: st.column_config.NumberColumn(c, min_value=low, max_value=high, step=1, format="%d") for c in columns}
    st.markdown(title)
    edited = st.data_editor(frame, key=key, column_config=config, num_rows="fixed", width="content")
    return np.nan_to_num(pd.DataFrame(edited).to_numpy(dtype=np.float64, na_value=0.0)).tolist()


def _render_hand(ctx: ViewContext) -> None:
    ui.intro(ctx, ctx.t("lab.hand_intro"))
    at_n, at_scale, _ = st.columns([1.2, 2, 3], vertical_alignment="bottom")
    n = at_n.segmented_control(ctx.t("lab.hand_tokens"), (3, 4), key="hand_n", required=True, default=4)
    scale = at_scale.toggle(ctx.t("lab.hand_scale"), key="hand_scale", help=ctx.t("lab.hand_scale_help"))
    n = int(n or 4)
    tokens = [f"a{'₀₁₂₃'[i]}" for i in range(n)]
    dims = [str(i) for i in range(len(DEFAULT_INPUTS))]
    places = st.columns([1.3, 1, 1, 1])
    with places[0]:
        inputs = _editor(
            ctx, f"hand_I_{n}", r"$I$ " + ctx.t("lab.hand_inputs"), np.array(DEFAULT_INPUTS)[:, :n], tokens, dims
        )
    matrices = {}
    for place, name, default in zip(places[1:], ("q", "k", "v"), (DEFAULT_W_Q, DEFAULT_W_K, DEFAULT_W_V), strict=True):
        with place:
            rows = [str(i) for i in range(len(default))]
            matrices[name] = _editor(ctx, f"hand_W_{name}", rf"$W^{name}$", np.array(default), dims, rows)
    try:
        example = hand_example(inputs, matrices["q"], matrices["k"], matrices["v"], scale=bool(scale))
    except ValueError as err:
        st.warning(ctx.t("lab.hand_invalid", detail=str(err)), icon="⚠️")
        return
    column, row = hand_lines(example)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(ctx.t("lab.hand_column_title"))
        for latex in column:
            st.latex(latex)
        st.caption(ctx.t("lab.hand_column_caption"))
    with right:
        st.markdown(ctx.t("lab.hand_row_title"))
        for latex in row:
            st.latex(latex)
        st.caption(ctx.t("lab.hand_row_caption"))
    if example.row_form_is_transpose():
        st.success(ctx.t("lab.hand_transpose_ok"), icon=":material/check_circle:")


# ── Why √d ─────────────────────────────────────────────────────────────────────────────────────────


@st.cache_data(max_entries=2, show_spinner=False)
def spreads() -> list[DotProductSpread]:
    """q·k at every offered width (seeded: the same numbers for every student), drawn once per process."""
    return spread_by_width(WIDTHS)


def _render_sqrt_d(ctx: ViewContext) -> None:
    ui.intro(ctx, ctx.t("lab.sqrt_intro"))
    checked_state("lab_d_head", Param("choice", 64, choices=WIDTHS))
    d = st.select_slider(ctx.t("lab.sqrt_d_head"), WIDTHS, key="lab_d_head")
    all_spreads = spreads()
    spread = all_spreads[WIDTHS.index(d)]
    names = (ctx.t("lab.sqrt_unscaled"), ctx.t("lab.sqrt_scaled"))
    left, right = st.columns([3, 2], gap="medium")
    with left:
        fig = sqrt_d_figure(
            spread,
            names,
            title=ctx.t("lab.sqrt_hist_title", d=d),
            x_title=ctx.t("lab.sqrt_score"),
            y_title=ctx.t("lab.sqrt_count"),
            presentation=ctx.presentation,
        )
        outside = float(np.mean(np.abs(spread.unscaled) > math.sqrt(d)))  # beyond one standard deviation
        caption = ctx.t("lab.sqrt_hist_caption", n=len(spread.unscaled), keys=spread.n_keys, outside=f"{outside:.0%}")
        ui.figure(fig, caption, key="sqrt_hist")
    with right:
        header = ["", names[0], names[1]]
        rows = [
            (ctx.t("lab.sqrt_variance", d=d), f"{spread.var_unscaled:.1f}", f"{spread.var_scaled:.2f}"),
            (ctx.t("lab.sqrt_max_weight"), f"{spread.max_weight_unscaled:.2f}", f"{spread.max_weight_scaled:.2f}"),
            (
                ctx.t("lab.sqrt_entropy", even=f"{math.log(spread.n_keys):.2f}"),
                f"{spread.entropy_unscaled:.2f}",
                f"{spread.entropy_scaled:.2f}",
            ),
        ]
        lines = ["| " + " | ".join(header) + " |", "| --- | ---: | ---: |"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        st.markdown("\n".join(lines))
        st.caption(ctx.t("lab.sqrt_table_caption", keys=spread.n_keys, even=f"{1 / spread.n_keys:.4g}"))  # 1/16: 0.0625
    fig = width_figure(
        all_spreads,
        names,
        title=ctx.t("lab.sqrt_width_title"),
        x_title="d_head",
        y_title=ctx.t("lab.sqrt_max_weight"),
        even=1 / spread.n_keys,
        even_name=ctx.t("lab.sqrt_even"),
        chosen=d,
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("lab.sqrt_width_caption"), key="sqrt_width")


# ── Self-attention vs a window vs an RNN ───────────────────────────────────────────────────────────


def _sentence_trace(ctx: ViewContext, intro: str) -> AttentionTrace | None:
    """A tab's paragraph, then the sentence's trace; None (with a hint) when the sentence box is empty."""
    ui.intro(ctx, ctx.t(intro))
    if not ctx.text.strip():
        st.info(ctx.t("app.empty_text"), icon="✍️")
        return None
    return get_trace(ctx.text)


def _render_reach(ctx: ViewContext) -> None:
    trace = _sentence_trace(ctx, "lab.reach_intro")
    if trace is None:
        return
    n = min(trace.n_positions, ui.key_capacity(ctx.presentation, ctx.width, row_label="00 xxxxxxxxxxxx"))
    labels = token_labels(trace.tokens[:n])
    at_token, at_window = st.columns(2)
    checked_state("lab_token", Param("int", n // 2, 0, n - 1))  # the middle: a window's reach shows on both sides
    names = plain_labels(trace.tokens[:n])
    token = at_token.select_slider(ctx.t("lab.reach_token"), range(n), key="lab_token", format_func=names.__getitem__)
    checked_state("lab_window", Param("int", 3, 1, 9))
    window = at_window.slider(ctx.t("lab.reach_window"), 1, 9, key="lab_window", help=ctx.t("lab.reach_window_help"))
    kind_names = {kind: ctx.t(f"lab.reach_kind_{kind}", w=window) for kind in REACH_KINDS}
    layer_names = [ctx.t("lab.reach_after_one")] + [ctx.t("lab.reach_after", n=k) for k in range(2, REACH_LAYERS + 1)]
    fig = reach_figure(
        labels,
        int(token),
        int(window),
        kind_names,
        layer_names,
        title=ctx.t("lab.reach_title", token=labels[int(token)]),
        presentation=ctx.presentation,
        width_px=ui.page_px(ctx),
    )
    caption = ctx.t("lab.reach_caption")
    if n < trace.n_positions:
        caption = ui.joined(ctx.lang, caption, ctx.t("lab.reach_first", n=n, total=trace.n_positions))
    ui.figure(fig, caption, key="reach")
    d = trace.d_model
    columns = ("kind", "seen", "connect", "path", "pairs", "work", "sequential")
    header = [ctx.t(f"lab.reach_col_{c}", d=d) for c in columns]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
    never = ctx.t("lab.reach_never")
    for row in reach_rows(n, int(window), d):
        cells = (
            kind_names[row.kind],
            str(row.seen),
            never if row.layers is None else str(row.layers),
            never if row.path is None else str(row.path),
            str(row.pairs),
            f"{row.multiply_adds:,}",
            str(row.sequential),
        )
        lines.append("| " + " | ".join(cells) + " |")
    st.markdown(ctx.t("lab.reach_table_title", n=n))
    st.markdown("\n".join(lines))
    verdict = ctx.t(f"lab.reach_cheaper_{cheaper(n, d)}", n=n, d=d)
    st.caption(ui.joined(ctx.lang, ctx.t("lab.reach_table_caption"), verdict))
    st.caption(ctx.t("lab.reach_changed"))


# ── Attention vs importance ────────────────────────────────────────────────────────────────────────


@st.cache_data(max_entries=64, show_spinner=False)
def importance_for(
    model_name: str,
    text: str,
    layer: int,
    head: int,
    query: int,
    max_keys: int = MAX_KEYS,
    scope: str = "query",
    window: tuple = (),
) -> Importance:
    """`ablation_effects` of one query of one head: the model re-run once per key (at most max_keys), each run
    on the model thread, against the sentence's cached trace; cached, since a class asks for the same query again
    and again. scope: "query" removes each key from this query's output alone, "head" from every query's. window:
    the (name, value) pairs of the window the session gave a sliding-window model (`window_choice`), () for its own."""

    def run(ablate):
        if ablate is None:
            return get_trace(text, model_name=model_name)
        return trace_uncached(model_name, text, ablate=ablate, **dict(window))

    return ablation_effects(run, layer, head, query, max_keys, scope)


def _render_importance(ctx: ViewContext) -> None:
    trace = _sentence_trace(ctx, "lab.importance_intro")
    if trace is None:
        return
    layer, head, n = ctx.layer, ctx.head, trace.n_positions
    labels = token_labels(trace.tokens)
    checked_state("lab_query", Param("int", min(1, n - 1), 0, n - 1))
    checked_state("lab_scope", Param("choice", ABLATION_SCOPES[0], choices=ABLATION_SCOPES))
    at_query, at_scope, at_run = st.columns([1.4, 2.6, 2.4], vertical_alignment="bottom")
    query = int(
        at_query.selectbox(
            ctx.t("lab.importance_query"), range(n), key="lab_query", format_func=lambda j: f"{j} {trace.tokens[j]}"
        )
    )
    scope = ui.choice(ctx, "lab.importance_scope", ABLATION_SCOPES, "lab_scope", place=at_scope)
    visible = int(trace.layers[layer].rule.visible(n)[query].sum())
    runs = min(visible, MAX_KEYS)
    name = selected_model_name()
    asked = (name, ctx.text, layer, head, query, MAX_KEYS, scope, tuple(sorted(window_choice(name).items())))
    if at_run.button(ctx.t("lab.importance_run", n=runs), key="lab_run", icon=":material/science:", type="primary"):
        st.session_state["lab_asked"] = asked
    if st.session_state.get("lab_asked") != asked:
        st.caption(ctx.t("lab.importance_waiting", layer=layer, head=head, n=runs))
        return
    try:
        with st.spinner(ctx.t("lab.importance_running", n=runs)):
            result = importance_for(*asked)
    except (AttentionLabError, ValueError) as err:
        st.warning(str(err), icon="⚠️")
        return
    left, right = st.columns([3, 2], gap="medium")
    with left:
        fig = importance_figure(
            result,
            labels,
            title=ctx.t("lab.importance_title", token=labels[query], layer=layer, head=head),
            weight_title="α′",
            effect_title=ctx.t("lab.importance_effect"),
            key_title=ctx.t("lab.importance_removed"),
            presentation=ctx.presentation,
        )
        caption = ui.joined(ctx.lang, ctx.t(f"lab.importance_caption_{scope}"), ctx.t("lab.importance_changed"))
        ui.figure(fig, caption, key="importance")
    with right:
        rho = "—" if math.isnan(result.spearman_l2) else f"{result.spearman_l2:+.2f}"
        st.markdown(f"#### {ctx.t('lab.importance_rho')}", help=ctx.t("lab.importance_rho_help"))
        st.markdown(f"## ρ = {rho}")
        top_weight = int(result.keys[np.argmax(result.weights)])
        top_effect = int(result.keys[np.argmax(result.l2)])
        st.markdown(
            ctx.t(
                "lab.importance_summary",
                weight=ui.md_escape(f"{top_weight} {trace.tokens[top_weight]}"),
                effect=ui.md_escape(f"{top_effect} {trace.tokens[top_effect]}"),
            )
        )
        read = reading(result.spearman_l2)
        if read is not None:
            st.markdown(ctx.t(f"lab.importance_reading_{read}"))
        if result.skipped:
            st.caption(ctx.t("lab.importance_skipped", n=result.skipped, kept=len(result.keys)))
        st.caption(ctx.t("lab.importance_one_of_many"))
