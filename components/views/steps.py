"""The Step-by-step view: one query row of one head, computed in front of the class with numbers.

The article's six steps for one output bᵢ, in its notation:

    ① qᵢ  = W^q·aᵢ                     the query of token i, as each model makes it (RoPEᵢ(W^q·RMSNorm(aᵢ)) on
                                       SmolLM2: components/formulas.py, from the model's Architecture)
    ② αᵢⱼ = qᵢ·kⱼ                      one dot product per key j (kⱼ = W^k·aⱼ, likewise)
    ③ the score αᵢⱼ ÷ √d_head                  (and ÷T when a temperature is set)
    ④ mask                             hidden keys become −∞ (the pretrained encoder has none)
    ⑤ α′ᵢⱼ = softmax_j(αᵢⱼ)            or ReLU, then divide by the row sum
    ⑥ bᵢ  = Σⱼ α′ᵢⱼ·vⱼ                 (vⱼ = W^v·aⱼ); bᵢ is row i of the head's z
    ⑦ concat over the heads, ·W^O, residual, norm, feed-forward: what the layer does with every head's bᵢ

The math is pure numpy in float64 (`attention_weights`, `query_step`, `step_frame`, `check_head`), so
it works on any trace, pretrained or playground, and the tests hold it against the model's torch code.
The view recomputes α′ from the trace's Q and K in float64 and shows how far the α′ drawn (float32) is from it,
and recomputes bᵢ and shows how far it is from the z the model's forward pass stored.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from components import ui
from components.axis import centred_range
from components.cache import get_model, get_trace
from components.context import ViewContext
from components.figures.common import mixing_figure, token_labels
from components.figures.steps import step_figure, step_frame
from components.formulas import feed_forward, key_notes, making_query
from components.glossary import file_name
from components.keys import QUERY_LIMIT
from components.session import checked_state, show_notices
from model.families.architecture import ARTICLE, Architecture, vector_formula
from model.readouts.analysis import layer_w_o
from model.readouts.steps import Check, QueryStep, check_head, full_w_o, trace_step
from model.trace import AttentionTrace

FIGURE_SHARE = 0.6  # the figure's column (3 of 2 + 3)
LISTED = 12  # hidden keys named one by one in step ④; the rest are counted
TOLERANCE = 1e-5  # float32 model vs float64 recomputation: agreement closer than this is a ✓
MAX_W_O_SIDE = 256  # W^O is drawn with at most this many rows and columns (every s-th of a wider one)


# ── The math, pure numpy ──────────────────────────────────────────────────────────────────────────


# ── The figure, pure Plotly ───────────────────────────────────────────────────────────────────────


# ── The view ──────────────────────────────────────────────────────────────────────────────────────


def _vector(x: np.ndarray) -> str:
    """A vector as rounded numbers for st.code, which shows it literally and wraps it to the column."""
    return " ".join(f"{v:+.2f}" for v in x)


def _token(tokens: tuple[str, ...], j: int) -> str:
    return f"“{ui.md_escape(tokens[j])}” ({j})"


def render(ctx: ViewContext) -> None:
    trace = get_trace(ctx.text)
    ui.trace_notices(ctx.lang, trace)
    loaded = get_model()
    i = render_trace(ctx, trace, ctx.layer, ctx.head, loaded.config.architecture, decoder=loaded.decoder)
    _render_after(ctx, trace, ctx.layer, ctx.head, i)


def render_trace(
    ctx: ViewContext,
    trace: AttentionTrace,
    layer: int,
    head: int,
    architecture: Architecture = ARTICLE,
    *,
    decoder: bool = False,
) -> int:
    """The six steps for the query picked in the widget "query", on any trace (pretrained or playground), in the
    formulas of its model's `architecture` (the article's by default); a trained `decoder` gets the attention-sink
    reading of step ②. Returns the query."""
    left, right = st.columns([2, 3], gap="medium")
    with left:
        i = _pick_query(ctx, trace)
        step = trace_step(trace, layer, head, i)
        _render_steps(ctx, trace, step, layer, head, i, architecture, decoder)
    with right:  # the figure first, so that it is on the first screen
        _render_figure(ctx, trace, step, layer, head, i)
        _render_checks(ctx, trace, check_head(trace, layer, head, step, i), i)
    _render_table(ctx, trace, step, i)
    return i


def _pick_query(ctx: ViewContext, trace: AttentionTrace) -> int:
    """The query picker (the widget "query", also stepped by < > while presenting)."""
    tokens, n = trace.tokens, trace.n_positions

    def label(j: int) -> str:  # the picker's labels, which follow the sentence
        return f"{j} {tokens[j]}"

    checked_state("query", high=n - 1, labels=label)
    st.session_state[QUERY_LIMIT] = n - 1
    show_notices(ctx.lang)  # the page's notices were already shown; a clamped query's must not wait a rerun
    i = st.selectbox(
        ctx.t("steps.query_picker"),
        options=range(n),
        key="query",
        format_func=label,
        help=ctx.t("steps.query_help"),
        persist_state="page",  # kept while another view is shown, so a shared link keeps its query
    )
    if ctx.hide_special:
        st.caption(ctx.t("steps.special_kept"))
    return i


def _render_steps(
    ctx: ViewContext,
    trace: AttentionTrace,
    step: QueryStep,
    layer: int,
    head: int,
    i: int,
    arch: Architecture,
    decoder: bool,
) -> None:
    """Steps ① to ⑥ in words, with the numbers of this query, in the formulas of the model's architecture."""
    tokens, n, d, rule = trace.tokens, trace.n_positions, trace.d_head, trace.layers[layer].rule
    if not trace.with_positions:  # traced without positions: RoPE was left out
        arch = replace(arch, rope=False)
    making = making_query(ctx.lang, arch, _token(tokens, i), d, trace.with_positions)
    st.markdown(ctx.t("steps.step1", q_formula=vector_formula(arch, "q", "i"), making=making, d=d, i=i))
    st.code(_vector(step.q), language=None, wrap_lines=True)
    if arch.qk_norm:
        _qk_norm_note(ctx, trace, layer, head, i)
    best = int(np.argmax(np.where(step.visible, step.dots, -np.inf)))
    dots = ctx.t(
        "steps.step2",
        n=n,
        k_formula=vector_formula(arch, "k", "j"),
        token=_token(tokens, best),
        value=f"{step.dots[best]:.2f}",
    )
    sink = ""
    if decoder and i > 0:  # a trained decoder; query 0 sees position 0 alone
        sink = ctx.t("steps.step2_sink" if best == 0 else "steps.step2_no_sink")
    st.markdown(ui.joined(ctx.lang, dots, sink, key_notes(ctx.lang, arch)))
    if rule.scaled:
        st.markdown(ctx.t("steps.step3", d=d, root=f"{1 / rule.scale:.3f}"))
    else:
        st.markdown(ctx.t("steps.step3_off"))
    if rule.temperature != 1.0:
        st.markdown(ctx.t("steps.temperature", t=f"{rule.temperature:g}"))
    hidden = np.flatnonzero(~step.visible)
    if rule.mask is None:
        st.markdown(ctx.t("steps.step4_none"))
    elif not len(hidden):
        st.markdown(ctx.t("steps.step4_all_visible"))
    else:
        shown = ", ".join(_token(tokens, j) for j in hidden[:LISTED])
        if len(hidden) > LISTED:
            shown += " " + ctx.t("steps.and_more", n=len(hidden) - LISTED)
        st.markdown(ctx.t("steps.step4_mask", hidden=len(hidden), n=n, tokens=shown))
    top = int(np.argmax(step.weights))
    values = {"total": f"{step.weights.sum():.3f}", "token": _token(tokens, top), "top": f"{step.weights[top]:.3f}"}
    st.markdown(ctx.t("steps.step5_relu" if rule.normalizer == "relu" else "steps.step5_softmax", **values))
    st.markdown(ctx.t("steps.step6", i=i, v_formula=vector_formula(arch, "v", "j")))
    st.code(_vector(step.output), language=None, wrap_lines=True)


def _qk_norm_note(ctx: ViewContext, trace: AttentionTrace, layer: int, head: int, i: int) -> None:
    """QK-norm (Gemma 3): how long qᵢ is as W^q makes it, and after the head's RMSNorm (RoPE keeps the length)."""
    layer_input = trace.layers[layer - 1].output if layer else trace.token_embeddings  # [pos, d_model]
    parts = get_model().qk_norm_parts(layer, head, layer_input)  # each [pos, d_head]
    raw, normed = (float(np.linalg.norm(parts[name][i])) for name in ("q_raw", "q_normed"))
    st.caption(ctx.t("steps.qk_norm", raw=f"{raw:.2f}", normed=f"{normed:.2f}"))


def _render_checks(ctx: ViewContext, trace: AttentionTrace, check: Check, i: int) -> None:
    """The two badges: α′ and bᵢ recomputed from Q, K, V against the model's own."""
    n = trace.n_positions
    for value, ok, bad, values in (
        (check.alpha, "steps.check_alpha_ok", "steps.check_alpha_bad", {"n": n}),
        (check.output, "steps.check_output_ok", "steps.check_output_bad", {"i": i}),
    ):
        delta = f"{value:.1e}"
        if value < TOLERANCE:
            st.success(ctx.t(ok, delta=delta, **values), icon=":material/check_circle:")
        else:
            st.error(ctx.t(bad, delta=delta, **values), icon=":material/error:")


def _render_figure(ctx: ViewContext, trace: AttentionTrace, step: QueryStep, layer: int, head: int, i: int) -> None:
    """The step figure; a long text's key columns around the query, every label readable."""
    labels = token_labels(trace.tokens)
    n = trace.n_positions
    capacity = ui.key_capacity(ctx.presentation, FIGURE_SHARE * ctx.width, row_label="00") - 1  # and the sum's column
    focus = [i, *(j for j in (ctx.mark.cols if ctx.mark else ()) if 0 <= j < n)]  # a lesson's key stays in sight
    span = max(focus) - min(focus)
    first, last = centred_range((min(focus) + max(focus)) // 2 if span < capacity else i, n, capacity)
    fig = step_figure(
        step,
        labels,
        sum_label=ctx.t("steps.sum_label", i=i),
        title=ctx.t("steps.figure_title", token=labels[i], layer=layer, head=head),
        weight_title=ctx.t("steps.weight_axis"),
        values_title=ctx.t("steps.values_axis"),
        key_title=ctx.t("common.key"),
        dim_title=ctx.t("steps.dimension"),
        presentation=ctx.presentation,
        keys=slice(first, last + 1),
        width_px=int(ui.page_px(ctx) * FIGURE_SHARE),
        marked_keys=tuple(j for j in (ctx.mark.cols if ctx.mark else ()) if first <= j <= last),
    )
    ui.figure(fig, ctx.t("steps.figure_caption"), key="steps_figure")
    if last - first + 1 < n:
        st.caption(ctx.t("steps.keys_window", first=first, last=last, n=n))


def _render_table(ctx: ViewContext, trace: AttentionTrace, step: QueryStep, i: int) -> None:
    """Every key's numbers for this query: a scrolling table on a screen, a large plain one on a projector."""
    st.subheader(ctx.t("steps.table_title", token=_token(trace.tokens, i)))
    frame = step_frame(step, trace.tokens).rename(
        columns={"token": ctx.t("steps.col_token"), "mask": ctx.t("steps.col_mask")}
    )
    number = "%.4f"
    if ctx.presentation:  # drawn as HTML, so the page's projector-sized text applies (a data grid keeps its own)
        numbers = list(frame.columns[1:])
        st.table(frame.reset_index().style.format("{:.4f}", subset=numbers).hide(axis="index"))
    else:
        st.dataframe(
            frame,
            column_config={
                "q·k": st.column_config.NumberColumn(format=number),
                "÷√d": st.column_config.NumberColumn(format=number),
                ctx.t("steps.col_mask"): st.column_config.NumberColumn(format=number),
                "α′": st.column_config.ProgressColumn(format="%.4f", min_value=0.0, max_value=1.0),
                "‖α′·v‖": st.column_config.NumberColumn(format=number),
            },
            height=min(600, 38 + 35 * trace.n_positions),
            key="steps_table",
        )
    st.caption(ctx.t("steps.table_caption"))


def _render_after(ctx: ViewContext, trace: AttentionTrace, layer: int, head: int, i: int) -> None:
    """⑦ What the layer does with every head's bᵢ: concatenate, ·W^O (the chosen model's, drawn), residual, norm,
    feed-forward. The figure shows the rows around the query: concat, W^O, and concat·W^O (before any bias)."""
    lt = trace.layers[layer]
    n_heads, d_head, d_model = trace.n_heads, trace.d_head, trace.d_model
    loaded = get_model()
    w_o = full_w_o(layer_w_o(loaded.head_matrices, layer, n_heads))  # [head · d_head, d_model]
    width = w_o.shape[0]
    st.subheader(ctx.t("steps.after_title"))
    values = {"n_heads": n_heads, "d": d_head, "width": width, "d_model": d_model, "last": n_heads - 1}
    arch = loaded.config.architecture
    story = "steps.after_pre_norm" if arch.norm_first else "steps.after_post_norm"
    after = ctx.t(story, next=layer + 1, norm=arch.norm_name, ff=feed_forward(ctx.lang, arch))
    st.markdown(ui.joined(ctx.lang, ctx.t("steps.step7", **values), after))
    rows = min(trace.n_positions, ui.row_capacity(ctx.presentation))
    first, last = centred_range(i, trace.n_positions, rows)
    concat = lt.concat[first : last + 1]  # [rows, head · d_head]
    output = concat @ w_o  # [rows, d_model]
    row_stride = max(1, -(-width // MAX_W_O_SIDE))
    col_stride = max(1, -(-d_model // MAX_W_O_SIDE))
    labels = token_labels(trace.tokens)[first : last + 1]
    fig = mixing_figure(
        concat,
        w_o[::row_stride, ::col_stride],
        output,
        labels,
        d_head=d_head,
        w_dims=np.arange(0, width, row_stride),
        w_cols=np.arange(0, d_model, col_stride),
        panel_titles=(
            f"concat(b<sup>(0)</sup> … b<sup>({n_heads - 1})</sup>)  [{last - first + 1} × {width}]",
            f"W<sup>O</sup>  [{width} × {d_model}]",
            ctx.t("steps.after_output", n=last - first + 1, d=d_model),
        ),
        title=ctx.t("steps.after_figure_title", layer=layer),
        dim_title=ctx.t("steps.dimension"),
        in_title=ctx.t("steps.concat_dimension"),
        out_title=ctx.t("steps.output_dimension"),
        presentation=ctx.presentation,
    )
    caption = ctx.t("steps.after_caption", head=head, first=head * d_head, last=(head + 1) * d_head - 1)
    if row_stride > 1 or col_stride > 1:
        caption = ui.joined(ctx.lang, caption, ctx.t("steps.w_o_strided", stride=max(row_stride, col_stride)))
    downloads = [
        ui.Download(
            file_name("w_o", layer=layer),
            w_o,
            [f"in {d}" for d in range(width)],
            [f"out {d}" for d in range(d_model)],
            "W^O",
        )
    ]
    ui.figure(fig, caption, key="steps_after", downloads=downloads, lang=ctx.lang)
