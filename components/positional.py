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
from components.figures import Panel, escape, heatmap_figure, heatmap_grid, line_series, sizes, styled_figure
from components.params import Param
from model import sinusoidal_encoding
from model.analysis import cosine_similarity
from model.positional import rotary_np
from model.trace import AttentionTrace

BASES = (100.0, 1_000.0, 10_000.0, 100_000.0)
MAX_CELLS = 2**18  # values per heatmap sent to the browser: ~1.4 MB as base64 float32
MAX_WAVES = 6  # more lines than this on one chart cannot be told apart
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
    panel = Panel(z, [int(d) for d in dims], list(range(n_positions)), x_title=x_title, y_title=y_title)
    return heatmap_grid(
        [panel], title=title, value_name="PE", scale="signed", zmax=1.0, presentation=presentation, height=440
    )


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
    shares a colour, the sine solid and the cosine dashed. The y axis is PE's whole range, −1 … 1, so a
    slow dimension looks as flat as it is."""
    n_positions = pe.shape[0]
    mode = "lines+markers" if n_positions <= 32 else "lines"
    pairs = sorted({dim // 2 for dim in dims})
    s = sizes(presentation)
    legend_top = s.title * 2.2 + s.font * 1.6 * ((len(dims) + 1) // 2)  # the title, then the legend in rows of two
    traces = [
        go.Scatter(
            x=np.arange(n_positions),
            y=np.asarray(pe[:, dim], dtype=np.float32),
            mode=mode,
            name=name,
            line={
                "color": PALETTE[pairs.index(dim // 2) % len(PALETTE)],
                "dash": "dash" if dim % 2 else "solid",
                "width": 3,
            },
            marker={"size": 6},
            hovertemplate=f"{escape(name)}<br>{x_title} %{{x}}: %{{y:.3f}}<extra></extra>",
        )
        for dim, name in zip(dims, names, strict=True)
    ]
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}},
            "yaxis": {
                "title": {"text": y_title},
                "range": [-1.08, 1.08],
                "tickvals": [-1, -0.5, 0, 0.5, 1],
                "zeroline": True,
            },
            "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
            "margin": {"t": int(legend_top)},
            "plot_bgcolor": "white",
        },
        presentation,
        380 + int(legend_top),
    )


def similarity_figure(
    similarity: np.ndarray,
    *,
    title: str = "",
    axis_title: str = "position",
    presentation: bool = False,
) -> go.Figure:
    """PE·PEᵀ as a square heatmap, diverging around zero."""
    n = similarity.shape[0]
    return heatmap_figure(
        similarity,
        list(range(n)),
        list(range(n)),
        x_title=axis_title,
        y_title=axis_title,
        title=title,
        value_name="PE·PE",
        scale="signed",
        square=True,
        presentation=presentation,
        height=460,
    )


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
    labelled = len(layers) <= 12  # a number on every point while they have room (MiniLM's 6, e5's 12 layers)
    series = list(zip((with_positions, without_positions), names, SERIES_COLORS, strict=True))
    hover = "{name}<br>" + x_title + " %{x}: %{y:.4f}<extra></extra>"
    traces = line_series(
        layers, series, hover, mode="lines+markers+text" if labelled else "lines+markers", marker_size=9
    )
    for trace, place in zip(traces, ("bottom center", "top center"), strict=True):
        trace.update(
            text=[f"{v:.3f}" for v in trace.y], textposition=place, textfont={"size": sizes(presentation).tick}
        )
    low = float(min(with_positions.min(), without_positions.min()))
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {"title": {"text": x_title}, "tickvals": layers.tolist() if labelled else None},
            "yaxis": {"title": {"text": y_title}, "range": [min(low - 0.08, 0.9), 1.06]},
            "legend": {"orientation": "h", "y": -0.25, "yanchor": "top"},
        },
        presentation,
        460,
    )


def rope_shift_scores(
    q: np.ndarray, k: np.ndarray, m: int, n: int, base: float, shifts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """RoPE's promise in numbers: the score of a query at position m + s and a key at n + s, for every shift s,
    and, for contrast, with only the query moved (m + s and n). q, k: [d_head], before rotation.

    R(a)q · R(b)k = q · R(b − a)k: a rotation's angle is position × θᵢ, so only the offset b − a is left. The
    first series is flat, the second is not.  -> ([shift], [shift]), each q·k/√d_head"""
    d = q.shape[-1]
    both = rotary_np(np.stack([q] * len(shifts)), m + shifts, base) * rotary_np(
        np.stack([k] * len(shifts)), n + shifts, base
    )
    moved = rotary_np(np.stack([q] * len(shifts)), m + shifts, base) * rotary_np(k[None], [n], base)
    return both.sum(-1) / math.sqrt(d), moved.sum(-1) / math.sqrt(d)  # [shift] each


def rope_circle(x: np.ndarray, pair: int, positions: np.ndarray, base: float) -> np.ndarray:
    """Where one pair of a vector's numbers (x_i, x_{i + d/2}) goes at each position: it turns by position × θᵢ
    on a circle, its length unchanged.  x: [d_head] before rotation -> [pos, 2]"""
    d = x.shape[-1]
    turned = rotary_np(np.stack([x] * len(positions)), positions, base)  # [pos, d_head]
    return turned[:, [pair, pair + d // 2]]


def rope_figures(
    q: np.ndarray,
    k: np.ndarray,
    m: int,
    n: int,
    base: float,
    pair: int,
    names: dict[str, str],
    *,
    presentation: bool = False,
) -> tuple[go.Figure, go.Figure]:
    """Left: one pair of q's and k's numbers on its circle, turned by RoPE at every position up to the text's
    end, each at its own position drawn as an arrow. Right: the score with both positions shifted (flat) and
    with only the query moved. names: i18n'd labels (q, k, position, both, query, pair_title, shift_title,
    shift_axis, score_axis)."""
    s = sizes(presentation)
    positions = np.arange(max(m, n) + 1)
    around = np.linspace(0, 2 * np.pi, 97)
    traces, radii = [], []
    for label, vector, own, colour in (("q", q, m, SERIES_COLORS[0]), ("k", k, n, SERIES_COLORS[1])):
        path = rope_circle(vector, pair, positions, base)  # [pos, 2]
        radius = float(np.hypot(*path[0]))  # the same at every position: a turn keeps the length
        radii.append(radius)
        traces += [
            go.Scatter(
                x=radius * np.cos(around),
                y=radius * np.sin(around),
                mode="lines",
                showlegend=False,
                hoverinfo="skip",
                line={"color": colour, "width": 1},
                opacity=0.35,
            ),
            go.Scatter(
                x=path[:, 0],
                y=path[:, 1],
                mode="lines+markers",
                name=names[label],
                line={"color": colour, "width": 1.5, "dash": "dot"},
                marker={"size": 6, "color": colour},
                text=[f"{names['position']} {p}" for p in positions],
                hovertemplate="%{text}: (%{x:.2f}, %{y:.2f})<extra>" + escape(names[label]) + "</extra>",
            ),
            go.Scatter(
                x=[0, path[own, 0]],
                y=[0, path[own, 1]],
                mode="lines+markers+text",
                showlegend=False,
                line={"color": colour, "width": 4},
                marker={"size": [1, 12], "color": colour},
                text=["", escape(f"{names[label]} @ {own}")],
                textposition="top center",
                textfont={"size": s.tick},
                hoverinfo="skip",
            ),
        ]
    reach = [-1.3 * max(*radii, 1e-6), 1.3 * max(*radii, 1e-6)]
    circle = styled_figure(
        traces,
        {
            "title": {"text": names["pair_title"]},
            "xaxis": {"range": reach, "zeroline": True, "title": {"text": ""}},
            "yaxis": {"range": reach, "zeroline": True, "scaleanchor": "x", "title": {"text": ""}},
            "legend": {"orientation": "h", "y": -0.12, "yanchor": "top"},
            "plot_bgcolor": "white",
        },
        presentation,
        460,
    )
    shifts = np.arange(0, 65)
    both, moved = rope_shift_scores(q, k, m, n, base, shifts)
    series = ((both, names["both"], SERIES_COLORS[0]), (moved, names["query"], SERIES_COLORS[1]))
    lines = line_series(shifts, series, "s = %{x}: %{y:.4f}<extra>{name}</extra>")
    shift = styled_figure(
        lines,
        {
            "title": {"text": names["shift_title"]},
            "xaxis": {"title": {"text": names["shift_axis"]}},
            "yaxis": {"title": {"text": names["score_axis"]}},
            "legend": {"orientation": "h", "y": -0.25, "yanchor": "top"},
        },
        presentation,
        460,
    )
    return circle, shift


def _number(x: float) -> str:
    """3 significant digits below 1000, whole numbers with thin groups above: 6.28, 62.8, 47 100."""
    return f"{x:,.0f}".replace(",", "\u2009") if x >= 1000 else f"{x:.3g}"


def _base_label(base: float) -> str:
    return _number(base) if base >= 1000 or base != int(base) else f"{base:.0f}"


def pair_with_wavelength(target: float, d_model: int, base: float) -> int:
    """The sin/cos pair i whose wavelength 2π·base^(2i/d_model) is closest to `target` (on a log scale)."""
    pairs = max(1, d_model // 2)
    i = round(pairs * math.log(max(target, 2 * math.pi) / (2 * math.pi)) / math.log(base))
    return min(max(i, 0), pairs - 1)


def default_dims(d_model: int, n_positions: int, base: float) -> list[int]:
    """A few lines a class can tell apart over n_positions: the sine and cosine of the pair whose wave
    repeats about four times (the cosine a quarter-period ahead), the sine that makes about one period,
    and the slowest sine, almost flat. The very fastest pairs zigzag from one position to the next and are
    left for the class to add."""
    fast = 2 * pair_with_wavelength(n_positions / 4, d_model, base)
    once = 2 * pair_with_wavelength(n_positions, d_model, base)
    return sorted({d for d in (fast, fast + 1, once, d_model - 2) if 0 <= d < d_model})


def _dims_picker(ctx: Controls, d_model: int, n_positions: int, base: float) -> list[int]:
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


def render(ctx: Controls) -> None:
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


def _sliders(ctx: Controls) -> tuple[int, int, float]:
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


def _render_table(ctx: Controls, pe: np.ndarray) -> None:
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


def _render_waves(ctx: Controls, pe: np.ndarray, base: float) -> None:
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
    )
    ui.figure(fig, ctx.t("positional.waves_caption"), key="pe_waves")


def _render_similarity(ctx: Controls, pe: np.ndarray) -> None:
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


def _render_repeat(ctx: Controls) -> tuple[AttentionTrace, int, int] | None:
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
                "positional.repeat_result_rope" if trace.rope_base else "positional.repeat_result",
                token=ui.md_escape(tok_i.strip() or tok_i),
                low=f"{with_pos.min():.3f}",
                without=f"{without_pos.min():.3f}",
                model=ui.md_escape(trace.model_name),
            )
        )
    return trace, max(i, j), min(i, j)


def _render_rope(ctx: Controls, trace: AttentionTrace, m: int, n: int) -> None:
    """The decoder's answer to "how does the model know the order?": RoPE turns q and k by their positions.
    Shown on the sentence of the experiment above, for the later copy's query and the earlier copy's key."""
    if trace.rope_base is None:
        return
    st.markdown(ctx.t("positional.rope_heading"))
    ui.intro(ctx, ctx.t("positional.rope_intro", model=trace.model_name, base=_number(trace.rope_base)))
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
    q = rotary_np(lt.q[head], positions, trace.rope_base, inverse=True)[m]  # [d_head], before RoPE
    k = rotary_np(lt.k[head], positions, trace.rope_base, inverse=True)[n]  # [d_head]
    period = 2 * math.pi * trace.rope_base ** (2 * pair / d_head)
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
    circle, shift = rope_figures(q, k, m, n, trace.rope_base, pair, names, presentation=ctx.presentation)
    both, moved = rope_shift_scores(q, k, m, n, trace.rope_base, np.array([0, 7, 40]))
    left, right = st.columns(2, gap="medium")
    with left:
        ui.figure(circle, ctx.t("positional.rope_pair_caption"), key="rope_circle")
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
                spread=f"{np.ptp(rope_shift_scores(q, k, m, n, trace.rope_base, np.arange(65))[0]):.1e}",
            )
        )
