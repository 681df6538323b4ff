"""The Positional-encoding view: the sine/cosine table, a few of its dimensions as waves, how alike
two positions' encodings are, and the "I saw a saw" experiment on the pretrained model.

    PE[pos, 2i]   = sin(pos / base^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / base^(2i / d_model))

Attention alone treats its input as a bag of tokens: without a position signal the two "saw" in
"I saw a saw" get identical vectors in every layer. Figures are pure builders; render() draws.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from components import ui
from components.cache import get_trace
from components.context import ViewContext
from components.figures.common import escape
from components.figures.positions import (
    default_dims,
    display_dims,
    encoding_figure,
    repeat_figure,
    rope_figures,
    similarity_figure,
    waves_figure,
)
from components.params import Param
from components.session import checked_state
from model import sinusoidal_encoding
from model.positional import encoding_similarity, rope_shift_scores, rotary_np, wavelength
from model.readouts.analysis import repeat_similarity, repeated_pair
from model.trace import AttentionTrace

BASES = (100.0, 1_000.0, 10_000.0, 100_000.0)
MAX_WAVES = 6  # more lines than this on one chart cannot be told apart
ALL_DIMS = tuple(range(1024))  # what the dimensions picker may hold, at any d_model
FALLBACK_TEXT = "I saw a saw"


def _number(x: float) -> str:
    """3 significant digits below 1000, whole numbers with thin groups above: 6.28, 62.8, 47 100."""
    return f"{x:,.0f}".replace(",", "\u2009") if x >= 1000 else f"{x:.3g}"


def _base_label(base: float) -> str:
    return _number(base) if base >= 1000 or base != int(base) else f"{base:.0f}"


def _dims_picker(ctx: ViewContext, d_model: int, n_positions: int, base: float) -> list[int]:
    """The multiselect of dimensions; it follows the sliders while the class has not changed the defaults."""
    shape = (d_model, n_positions, base)
    last = st.session_state.get("_pe_dims_for")
    chosen = checked_state("pe_dims", Param("list", default_dims(*shape), choices=ALL_DIMS))
    if chosen is None or (last != shape and sorted(chosen) == default_dims(*(last or shape))):
        chosen = default_dims(*shape)
    chosen = [d for d in chosen if d < d_model] or default_dims(*shape)
    st.session_state["pe_dims"] = chosen
    st.session_state["_pe_dims_for"] = shape
    return st.multiselect(
        ctx.t("positional.dims"),
        range(d_model),
        key="pe_dims",
        format_func=lambda d: f"{d} · {'cos' if d % 2 else 'sin'}",  # short, so no chip is cut
        max_selections=MAX_WAVES,
        persist_state="session",
    )


def render(ctx: ViewContext) -> None:
    ui.intro(ctx, ctx.t("positional.intro"))
    d_model, n_positions, base = _sliders(ctx)
    pe = sinusoidal_encoding(n_positions, d_model, base).numpy()  # [pos, d_model]
    left, right = st.columns(2, gap="medium")
    with left:
        _render_table(ctx, pe)
    with right:
        _render_waves(ctx, pe, base)
    left, right = st.columns(2, gap="medium")
    with left:
        _render_similarity(ctx, pe)
    with right:
        pair = _render_repeat(ctx)
    if pair is not None:
        _render_rope(ctx, *pair)


def _sliders(ctx: ViewContext) -> tuple[int, int, float]:
    """d_model, the number of positions and the base, in one row."""
    base_options = sorted({*BASES, float(st.session_state["pe_base"])})
    c1, c2, c3 = st.columns(3, gap="medium")
    d_model = c1.slider(ctx.t("positional.d_model"), 2, 1024, key="pe_d_model", persist_state="session")
    n_positions = c2.slider(ctx.t("positional.positions"), 1, 512, key="pe_positions", persist_state="session")
    base = c3.select_slider(
        ctx.t("positional.base"),
        base_options,
        key="pe_base",
        format_func=_base_label,
        help=ctx.t("positional.base_help"),
        persist_state="session",
    )
    return d_model, n_positions, base


def _render_table(ctx: ViewContext, pe: np.ndarray) -> None:
    n_positions, d_model = pe.shape
    dims, stride = display_dims(n_positions, d_model)
    fig = encoding_figure(
        pe,
        dims,
        title=ctx.t("positional.table_title", n=n_positions, d=d_model),
        x_title=ctx.t("positional.dimension"),
        y_title=ctx.t("common.position"),
        presentation=ctx.presentation,
    )
    rows = [f"pos {i}" for i in range(n_positions)]
    download = ui.Download("positional_encoding", pe, rows, [f"dim {d}" for d in range(d_model)])
    ui.figure(fig, ctx.t("positional.table_caption"), key="pe_table", downloads=[download], lang=ctx.lang)
    if stride > 1:
        st.caption(ctx.t("positional.strided", stride=stride, shown=len(dims), d=d_model))


def _render_waves(ctx: ViewContext, pe: np.ndarray, base: float) -> None:
    d_model = pe.shape[1]
    chosen = _dims_picker(ctx, d_model, pe.shape[0], base)
    names = [
        ctx.t(
            "positional.wave_name",
            dim=d,
            fn="sin" if d % 2 == 0 else "cos",
            wavelength=_number(wavelength(d, d_model, base)),
        )
        for d in chosen
    ]
    fig = waves_figure(
        pe,
        chosen,
        names,
        title=ctx.t("positional.waves_title"),
        x_title=ctx.t("common.position"),
        presentation=ctx.presentation,
        width_px=ui.page_px(ctx) // 2,
    )
    ui.figure(fig, ctx.t("positional.waves_caption"), key="pe_waves")


def _render_similarity(ctx: ViewContext, pe: np.ndarray) -> None:
    similarity = encoding_similarity(pe)  # [pos, pos]
    fig = similarity_figure(
        similarity,
        title=ctx.t("positional.similarity_title"),
        axis_title=ctx.t("common.position"),
        presentation=ctx.presentation,
    )
    rows = [f"pos {i}" for i in range(pe.shape[0])]
    download = ui.Download("positional_similarity", similarity, rows, rows)
    caption = ctx.t(
        "positional.similarity_caption",
        half=" – ".join(
            dict.fromkeys(f"{v:.4g}" for v in (np.diagonal(similarity).min(), np.diagonal(similarity).max()))
        ),
    )
    ui.figure(fig, caption, key="pe_similarity", downloads=[download], lang=ctx.lang)


def _pick_positions(ctx: ViewContext, trace: AttentionTrace, text: str, default: tuple[int, int]) -> tuple[int, int]:
    """Two position pickers; they start on the first repeated word and follow the sentence."""
    options = [i for i in range(trace.n_positions) if not trace.is_special()[i]] or list(range(trace.n_positions))
    if st.session_state.get("_pe_pair_text") != text:
        st.session_state["pe_i"], st.session_state["pe_j"] = default
        st.session_state["_pe_pair_text"] = text
    label = dict(enumerate(f"{i} {tok}" for i, tok in enumerate(trace.tokens)))
    for key, value in zip(("pe_i", "pe_j"), default, strict=True):
        checked_state(key, Param("choice", value, choices=tuple(options)), labels=label.get)
    c1, c2 = st.columns(2)
    i = c1.selectbox(ctx.t("positional.first"), options, key="pe_i", format_func=label.get, persist_state="session")
    j = c2.selectbox(ctx.t("positional.second"), options, key="pe_j", format_func=label.get, persist_state="session")
    return i, j


def _render_repeat(ctx: ViewContext) -> tuple[AttentionTrace, int, int] | None:
    """The "I saw a saw" experiment: two copies of a word, traced with and without positions. Returns the trace
    and the two positions shown (None when they are one), for the RoPE panel."""
    st.markdown(ctx.t("positional.repeat_heading"))
    text = ctx.text if ctx.text.strip() else FALLBACK_TEXT
    trace = get_trace(text)
    pair = repeated_pair(trace.tokens, trace.is_special())
    if pair is None:
        if ctx.text.strip():
            st.caption(ctx.t("positional.no_repeat", example=FALLBACK_TEXT))
        text = FALLBACK_TEXT
        trace = get_trace(text)
        pair = repeated_pair(trace.tokens, trace.is_special())
    i, j = _pick_positions(ctx, trace, text, pair)
    if i == j:
        st.info(ctx.t("positional.same_position"), icon="↔️")
        return None
    bag = get_trace(text, with_positions=False)
    with_pos, without_pos = repeat_similarity(trace, i, j), repeat_similarity(bag, i, j)  # [layer] each
    tok_i, tok_j = trace.tokens[i], trace.tokens[j]
    names = (ctx.t("positional.with_positions"), ctx.t("positional.without_positions"))
    fig = repeat_figure(
        with_pos,
        without_pos,
        names,
        title=ctx.t("positional.repeat_title", a=f"{i} {escape(tok_i)}", b=f"{j} {escape(tok_j)}"),
        x_title=ctx.t("common.layer"),
        y_title=ctx.t("positional.cosine"),
        presentation=ctx.presentation,
    )
    same = tok_i == tok_j
    if not same:
        caption = "positional.repeat_caption_different"
    elif trace.layers[0].rule.mask is not None:  # a decoder: the later copy also sees more keys, positions or not
        caption = "positional.repeat_caption_causal"
    else:
        caption = "positional.repeat_caption"
    download = ui.Download(
        "saw_cosine",
        np.stack([with_pos, without_pos]),  # [series, layer]
        list(names),
        [f"layer {layer}" for layer in range(len(with_pos))],
    )
    ui.figure(fig, ctx.t(caption), key="pe_repeat", downloads=[download], lang=ctx.lang)
    if same:
        st.markdown(
            ctx.t(
                "positional.repeat_result_rope" if trace.layers[0].rule.rope_base else "positional.repeat_result",
                token=ui.md_escape(tok_i.strip() or tok_i),
                low=f"{with_pos.min():.3f}",
                without=f"{without_pos.min():.3f}",
                model=ui.md_escape(trace.model_name),
            )
        )
    return trace, max(i, j), min(i, j)


def _render_rope(ctx: ViewContext, trace: AttentionTrace, m: int, n: int) -> None:
    """The decoder's answer to "how does the model know the order?": RoPE turns q and k by their positions.
    Axis on the sentence of the experiment above, for the later copy's query and the earlier copy's key."""
    if trace.layers[0].rule.rope_base is None:
        return
    st.markdown(ctx.t("positional.rope_heading"))
    ui.intro(ctx, ctx.t("positional.rope_intro", model=trace.model_name, base=_number(trace.layers[0].rule.rope_base)))
    d_head = trace.d_head
    for key, high in (
        ("rope_layer", trace.n_layers - 1),
        ("rope_head", trace.n_heads - 1),
        ("rope_pair", d_head // 2 - 1),
    ):
        checked_state(key, high=high)
    c1, c2, c3 = st.columns(3, gap="medium")
    layer = c1.select_slider(ctx.t("common.layer"), range(trace.n_layers), key="rope_layer", persist_state="session")
    head = c2.select_slider(ctx.t("common.head"), range(trace.n_heads), key="rope_head", persist_state="session")
    pair = c3.select_slider(
        ctx.t("positional.rope_pair"),
        range(d_head // 2),
        key="rope_pair",
        help=ctx.t("positional.rope_pair_help"),
        persist_state="session",
    )
    positions = np.arange(trace.n_positions)
    lt = trace.layers[layer]
    base = lt.rule.rope_base  # this layer's own: layers of one model may turn at different rates
    q = rotary_np(lt.q[head], positions, base, inverse=True)[m]  # [d_head], before RoPE
    k = rotary_np(lt.k[head], positions, base, inverse=True)[n]  # [d_head]
    period = 2 * math.pi * base ** (2 * pair / d_head)
    names = {
        "q": f"q ({trace.tokens[m]})",
        "k": f"k ({trace.tokens[n]})",
        "position": ctx.t("common.position"),
        "both": ctx.t("positional.rope_both", m=m, n=n),
        "query": ctx.t("positional.rope_query", m=m, n=n),
        "pair_title": ctx.t("positional.rope_pair_title", pair=pair, period=_number(period)),
        "shift_title": ctx.t("positional.rope_shift_title"),
        "shift_axis": ctx.t("positional.rope_shift_axis"),
        "score_axis": "q·k/√d",
    }
    circle, shift = rope_figures(q, k, m, n, base, pair, names, presentation=ctx.presentation)
    both, moved = rope_shift_scores(q, k, m, n, base, np.array([0, 7, 40]))
    left, right = st.columns(2, gap="medium")
    with left:
        ui.figure(circle, ctx.t("positional.rope_pair_caption", end=max(m, n)), key="rope_circle")
    with right:
        ui.figure(shift, ctx.t("positional.rope_shift_caption"), key="rope_shift")
        st.markdown(
            ctx.t(
                "positional.rope_proof",
                m=m,
                n=n,
                s0=f"{both[0]:.4f}",
                s7=f"{both[1]:.4f}",
                s40=f"{both[2]:.4f}",
                q7=f"{moved[1]:.4f}",
                spread=f"{np.ptp(rope_shift_scores(q, k, m, n, base, np.arange(65))[0]):.1e}",
            )
        )
