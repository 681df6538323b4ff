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
import plotly.graph_objects as go
import streamlit as st

from components import ui
from components.cache import get_trace
from components.controls import Controls, checked_state
from components.figures import DIVERGING, escape, style
from components.params import Param
from model import sinusoidal_encoding
from model.analysis import cosine_similarity
from model.trace import AttentionTrace

BASES = (100.0, 1_000.0, 10_000.0, 100_000.0)
MAX_CELLS = 2**18  # values per heatmap sent to the browser: ~1.4 MB as base64 float32
MAX_WAVES = 8
ALL_DIMS = tuple(range(1024))  # what the dimensions picker may hold, at any d_model
FALLBACK_TEXT = "I saw a saw"
SERIES_COLORS = ("#e6550d", "#3182bd")  # with positions, without positions
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")  # one colour per sin/cos pair


def encoding_similarity(pe: np.ndarray) -> np.ndarray:
    """Dot product of every two positions' encodings.  [pos, d_model] -> [pos, pos]"""
    pe = np.asarray(pe, dtype=np.float64)
    return (pe @ pe.T).astype(np.float32)  # [pos, pos]


def wavelength(dim: int, d_model: int, base: float) -> float:
    """The period, in positions, of dimension `dim`: 2π·base^(2i/d_model) for the pair i = dim // 2."""
    return 2 * math.pi * base ** ((dim - dim % 2) / d_model)


def display_dims(n_positions: int, d_model: int, max_cells: int = MAX_CELLS) -> tuple[np.ndarray, int]:
    """The dimensions to draw and the stride over sin/cos pairs that keeps pos × dims under max_cells.

    Whole pairs are kept (0, 1, then 4, 5 for stride 2 …) so sines and cosines still alternate.
    """
    stride = max(1, math.ceil(n_positions * d_model / max_cells))
    dims = np.arange(d_model)  # [d_model]
    return dims[(dims // 2) % stride == 0], stride


def repeated_pair(tokens: tuple[str, ...], special: np.ndarray) -> tuple[int, int] | None:
    """The first two positions holding the same word (special and unknown tokens left out).

    Words with a letter or digit are preferred over repeated punctuation.
    """
    for wordy in (True, False):
        seen: dict[str, int] = {}
        for i, tok in enumerate(tokens):
            if special[i] or tok == "[UNK]" or (wordy and not any(ch.isalnum() for ch in tok)):
                continue
            if tok in seen:
                return seen[tok], i
            seen[tok] = i
    return None


def repeat_similarity(trace: AttentionTrace, i: int, j: int) -> np.ndarray:
    """cos(output[i], output[j]) after every layer.  # [layer]"""
    return np.array([cosine_similarity(layer.output[i], layer.output[j]) for layer in trace.layers])


def encoding_figure(
    pe: np.ndarray,
    dims: np.ndarray,
    *,
    title: str = "",
    x_title: str = "dimension",
    y_title: str = "position",
    presentation: bool = False,
) -> go.Figure:
    """The [pos, d_model] table as a heatmap on a fixed −1 … 1 diverging scale; only `dims` are drawn."""
    n_positions = pe.shape[0]
    z = np.asarray(pe, dtype=np.float32)[:, dims]  # [pos, shown dims]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=dims,
            y=np.arange(n_positions),
            colorscale=DIVERGING,
            zmin=-1.0,
            zmax=1.0,
            zmid=0.0,
            colorbar={"title": {"text": "PE"}, "thickness": 12},
            hovertemplate=f"{y_title} %{{y}}<br>{x_title} %{{x}}<br>PE = %{{z:.3f}}<extra></extra>",
        ),
        layout={
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}, "autorange": "reversed"},
        },
    )
    return style(fig, presentation, max(320, min(620, 140 + 3 * n_positions)))


def waves_figure(
    pe: np.ndarray,
    dims: list[int],
    names: list[str],
    *,
    title: str = "",
    x_title: str = "position",
    y_title: str = "PE",
    presentation: bool = False,
) -> go.Figure:
    """Chosen columns of the table as lines over position, one trace per dimension: a sin/cos pair
    shares a colour, the sine solid and the cosine dashed."""
    n_positions = pe.shape[0]
    mode = "lines+markers" if n_positions <= 32 else "lines"
    pairs = sorted({dim // 2 for dim in dims})
    traces = [
        go.Scatter(
            x=np.arange(n_positions),
            y=np.asarray(pe[:, dim], dtype=np.float32),
            mode=mode,
            name=name,
            line={"color": PALETTE[pairs.index(dim // 2) % len(PALETTE)], "dash": "dash" if dim % 2 else "solid"},
            marker={"size": 5},
            hovertemplate=f"{escape(name)}<br>{x_title} %{{x}}: %{{y:.3f}}<extra></extra>",
        )
        for dim, name in zip(dims, names, strict=True)
    ]
    fig = go.Figure(
        traces,
        layout={
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {"title": {"text": y_title}, "range": [-1.1, 1.1], "zeroline": True},
            "legend": {"orientation": "h", "y": -0.2},
        },
    )
    return style(fig, presentation, 420)


def similarity_figure(
    similarity: np.ndarray,
    *,
    title: str = "",
    axis_title: str = "position",
    presentation: bool = False,
) -> go.Figure:
    """PE·PEᵀ as a square heatmap, diverging around zero."""
    n = similarity.shape[0]
    bound = float(np.abs(similarity).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(similarity, dtype=np.float32),
            x=np.arange(n),
            y=np.arange(n),
            colorscale=DIVERGING,
            zmin=-bound,
            zmax=bound,
            zmid=0.0,
            colorbar={"title": {"text": "PE·PE"}, "thickness": 12},
            hovertemplate=f"{axis_title} %{{y}} · {axis_title} %{{x}}<br>PE·PE = %{{z:.3f}}<extra></extra>",
        ),
        layout={
            "title": {"text": title},
            "xaxis": {"title": {"text": axis_title}, "range": [-0.5, n - 0.5], "constrain": "domain"},
            "yaxis": {
                "title": {"text": axis_title},
                "range": [n - 0.5, -0.5],
                "constrain": "domain",
                "scaleanchor": "x",
            },
        },
    )
    return style(fig, presentation, 460)


def repeat_figure(
    with_positions: np.ndarray,
    without_positions: np.ndarray,
    names: tuple[str, str],
    *,
    title: str = "",
    x_title: str = "layer",
    y_title: str = "cosine",
    presentation: bool = False,
) -> go.Figure:
    """Cosine similarity of two positions per layer, with and without position information."""
    layers = np.arange(len(with_positions))
    traces = [
        go.Scatter(
            x=layers,
            y=values,
            name=name,
            mode="lines+markers+text",
            text=[f"{v:.3f}" for v in values],
            textposition="top center" if index == 1 else "bottom center",
            line={"color": color, "width": 3},
            marker={"size": 9},
            hovertemplate=f"{escape(name)}<br>{x_title} %{{x}}: %{{y:.4f}}<extra></extra>",
        )
        for index, (values, name, color) in enumerate(
            zip((with_positions, without_positions), names, SERIES_COLORS, strict=True)
        )
    ]
    low = float(min(with_positions.min(), without_positions.min()))
    fig = go.Figure(
        traces,
        layout={
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}, "tickvals": layers.tolist()},
            "yaxis": {"title": {"text": y_title}, "range": [min(low - 0.08, 0.9), 1.06]},
            "legend": {"orientation": "h", "y": -0.25},
        },
    )
    return style(fig, presentation, 420)


def _number(x: float) -> str:
    """3 significant digits below 1000, whole numbers with thin groups above: 6.28, 62.8, 47 100."""
    return f"{x:,.0f}".replace(",", "\u2009") if x >= 1000 else f"{x:.3g}"


def _base_label(base: float) -> str:
    return _number(base) if base >= 1000 or base != int(base) else f"{base:.0f}"


def _default_dims(d_model: int) -> list[int]:
    """The fastest pair, a pair a quarter of the way in (wavelength 2π·base^¼) and the slowest pair."""
    quarter = 2 * (d_model // 8)
    return sorted({d for d in (0, 1, quarter, quarter + 1, d_model - 2, d_model - 1) if 0 <= d < d_model})


def _dims_picker(ctx: Controls, d_model: int) -> list[int]:
    """The multiselect of dimensions; it follows d_model while the class has not changed the defaults."""
    last_d_model = st.session_state.get("_pe_dims_d_model")
    chosen = checked_state("pe_dims", Param("list", _default_dims(d_model), choices=ALL_DIMS))
    if last_d_model != d_model and sorted(chosen) == _default_dims(last_d_model or d_model):
        chosen = _default_dims(d_model)
    chosen = [d for d in chosen if d < d_model] or _default_dims(d_model)
    st.session_state["pe_dims"] = chosen
    st.session_state["_pe_dims_d_model"] = d_model
    return st.multiselect(
        ctx.t("positional.dims"),
        range(d_model),
        key="pe_dims",
        format_func=lambda d: ctx.t("positional.dim_sin" if d % 2 == 0 else "positional.dim_cos", dim=d),
        max_selections=MAX_WAVES,
        persist_state="session",
    )


def _two_places(presentation: bool) -> tuple:
    """Two columns on a screen; one below the other on a projector, where figures need the width."""
    return (st.container(), st.container()) if presentation else tuple(st.columns(2))


def render(ctx: Controls) -> None:
    p = ctx.presentation
    st.markdown(ctx.t("positional.intro"))
    base_options = sorted({*BASES, float(st.session_state["pe_base"])})
    c1, c2, c3 = st.columns(3)
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
    pe = sinusoidal_encoding(n_positions, d_model, base).numpy()  # [pos, d_model]
    dims, stride = display_dims(n_positions, d_model)
    dim_title, pos_title = ctx.t("positional.dimension"), ctx.t("common.position")

    left, right = _two_places(p)
    with left:
        fig = encoding_figure(
            pe,
            dims,
            title=ctx.t("positional.table_title", n=n_positions, d=d_model),
            x_title=dim_title,
            y_title=pos_title,
            presentation=p,
        )
        ui.figure(fig, ctx.t("positional.table_caption"), key="pe_table")
        if stride > 1:
            st.caption(ctx.t("positional.strided", stride=stride, shown=len(dims), d=d_model))
    with right:
        chosen = _dims_picker(ctx, d_model)
        names = [
            ctx.t(
                "positional.wave_name",
                dim=d,
                fn="sin" if d % 2 == 0 else "cos",
                wavelength=_number(wavelength(d, d_model, base)),
            )
            for d in chosen
        ]
        fig = waves_figure(pe, chosen, names, title=ctx.t("positional.waves_title"), x_title=pos_title, presentation=p)
        ui.figure(fig, ctx.t("positional.waves_caption"), key="pe_waves")

    similarity = encoding_similarity(pe)  # [pos, pos]
    left, right = _two_places(p)
    with left:
        fig = similarity_figure(
            similarity, title=ctx.t("positional.similarity_title"), axis_title=pos_title, presentation=p
        )
        ui.figure(fig, ctx.t("positional.similarity_caption", half=f"{d_model / 2:g}"), key="pe_similarity")
    with right:
        _render_repeat(ctx)

    st.subheader(ctx.t("positional.downloads"))
    rows = [f"pos {i}" for i in range(n_positions)]
    tables = [
        ("positional_encoding", pe, [f"dim {d}" for d in range(d_model)]),
        ("positional_similarity", similarity, rows),
    ]
    for col, (name, matrix, cols) in zip(st.columns(len(tables)), tables, strict=True):
        with col:
            st.caption(f"{name}  [{matrix.shape[0]} × {matrix.shape[1]}]")
            ui.matrix_downloads(name, matrix, rows, cols, ctx.t("common.download_csv"), ctx.t("common.download_json"))


def _pick_positions(ctx: Controls, trace: AttentionTrace, text: str, default: tuple[int, int]) -> tuple[int, int]:
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


def _render_repeat(ctx: Controls) -> None:
    """The "I saw a saw" experiment: two copies of a word, traced with and without positions."""
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
        return
    bag = get_trace(text, positions=False)
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
    elif trace.mask is not None:  # a decoder: the later copy also sees more keys, positions or not
        caption = "positional.repeat_caption_causal"
    else:
        caption = "positional.repeat_caption"
    ui.figure(fig, ctx.t(caption), key="pe_repeat")
    if same:
        st.markdown(
            ctx.t(
                "positional.repeat_result",
                token=ui.md_escape(tok_i),
                low=f"{with_pos.min():.3f}",
                without=f"{without_pos.min():.3f}",
                model=ui.md_escape(trace.model_name),
            )
        )
    ui.matrix_downloads(
        "saw_cosine",
        np.stack([with_pos, without_pos]),  # [series, layer]
        list(names),
        [f"layer {layer}" for layer in range(len(with_pos))],
        ctx.t("common.download_csv"),
        ctx.t("common.download_json"),
    )
