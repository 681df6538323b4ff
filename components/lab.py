"""The Experiments view: four experiments no attention tool offers, one tab each.

    by hand      the article's example with small integer matrices, in its column form and in the row form the
                 models and every heatmap of this app use (model/hand.py)
    why √d       q·k of random vectors as the head widens, scaled and unscaled, and what softmax makes of them
                 (model/scaling.py)
    reach        which tokens a token can have heard from after 1, 2, 3 layers of self-attention, of a window,
                 and of an RNN, with their step and operation counts (model/reach.py)
    importance   for the chosen layer, head and query, each key removed in turn and the model re-run: does the
                 key with the most α′ matter most? (model/importance.py)

Only the open tab is computed. The re-runs of the importance test are bounded (MAX_KEYS) and cached per
model, text, layer, head and query; each runs on the model thread, so other students' traces interleave.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import ui
from components.cache import get_trace, load_model, on_model_thread, selected_model_name
from components.controls import Controls, checked_state
from components.figures import BLUES, Panel, heatmap_grid, plain_labels, sizes, styled_figure, token_labels
from components.params import Param
from model import trace_any
from model.errors import AttentionLabError
from model.hand import DEFAULT_INPUTS, DEFAULT_W_K, DEFAULT_W_Q, DEFAULT_W_V, HandExample, hand_example
from model.importance import Importance, ablation_effects
from model.reach import operations, reach_table, steps_to_connect
from model.scaling import DotProductSpread, spread_by_width
from model.trace import AttentionTrace

TABS = ("hand", "sqrt_d", "reach", "importance")
WIDTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)  # the head widths the √d experiment offers
BINS = 61  # histogram bins, over ±4 standard deviations of the unscaled scores
REACH_KINDS = ("none", "causal", "window2", "window", "rnn")
REACH_LAYERS = 3
MAX_KEYS = 24  # keys the importance test removes at most (one re-run of the model each)
HAND_RANGE = (-9, 9)  # the integers the hand example's editors take


def render(ctx: Controls) -> None:
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


def _editor(ctx: Controls, key: str, title: str, values: np.ndarray, columns: list[str], rows: list[str]) -> list:
    """One small integer matrix the class can edit; returns its rows (None for an emptied cell is 0)."""
    frame = pd.DataFrame(np.asarray(values, dtype=np.int64), columns=columns, index=rows)
    low, high = HAND_RANGE
    config = {c: st.column_config.NumberColumn(c, min_value=low, max_value=high, step=1, format="%d") for c in columns}
    st.markdown(title)
    edited = st.data_editor(frame, key=key, column_config=config, num_rows="fixed", width="content")
    return np.nan_to_num(pd.DataFrame(edited).to_numpy(dtype=np.float64, na_value=0.0)).tolist()


def _render_hand(ctx: Controls) -> None:
    st.markdown(ctx.t("lab.hand_intro"))
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


def histogram(spread: DotProductSpread, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres, counts unscaled, counts scaled) of q·k on shared bins over ±4·√d_head, the unscaled spread."""
    bound = 4 * math.sqrt(spread.d_head)
    edges = np.linspace(-bound, bound, bins + 1)  # [bins + 1]
    unscaled, _ = np.histogram(np.clip(spread.unscaled, -bound, bound), edges)  # [bins]
    scaled, _ = np.histogram(np.clip(spread.scaled, -bound, bound), edges)  # [bins]
    return (edges[:-1] + edges[1:]) / 2, unscaled, scaled


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


def _render_sqrt_d(ctx: Controls) -> None:
    st.markdown(ctx.t("lab.sqrt_intro"))
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
        ui.figure(fig, ctx.t("lab.sqrt_hist_caption", n=len(spread.unscaled), keys=spread.n_keys), key="sqrt_hist")
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
        st.caption(ctx.t("lab.sqrt_table_caption", keys=spread.n_keys, even=f"{1 / spread.n_keys:.3f}"))
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


def reach_rows(n: int, window: int) -> list[tuple[str, int, int | None, int, int]]:
    """Per kind: (kind, positions one layer lets the last token read, layers until the last token has heard from
    the first (None: never), query·key pairs or updates per layer, steps that must run one after another)."""
    rows = []
    for kind in REACH_KINDS:
        ops = operations(kind, n, window)
        seen = int(reach_table(kind, n, n - 1, 1, window)[1].sum())
        rows.append((kind, seen, steps_to_connect(kind, n, window), ops.pairs, ops.sequential))
    return rows


def _sentence_trace(ctx: Controls, intro: str) -> AttentionTrace | None:
    """A tab's paragraph, then the sentence's trace; None (with a hint) when the sentence box is empty."""
    st.markdown(ctx.t(intro))
    if not ctx.text.strip():
        st.info(ctx.t("app.empty_text"), icon="✍️")
        return None
    return get_trace(ctx.text)


def _render_reach(ctx: Controls) -> None:
    trace = _sentence_trace(ctx, "lab.reach_intro")
    if trace is None:
        return
    n = min(trace.n_positions, ui.key_capacity(ctx.presentation, row_label="00 xxxxxxxxxxxx"))
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
        width_px=ui.PAGE_PX[ctx.presentation],
    )
    caption = ctx.t("lab.reach_caption")
    if n < trace.n_positions:
        caption = ui.joined(ctx.lang, caption, ctx.t("lab.reach_first", n=n, total=trace.n_positions))
    ui.figure(fig, caption, key="reach")
    header = [ctx.t(f"lab.reach_col_{c}") for c in ("kind", "seen", "connect", "pairs", "sequential")]
    lines = ["| " + " | ".join(header) + " |", "| --- | ---: | ---: | ---: | ---: |"]
    for kind, seen, connect, pairs, sequential in reach_rows(n, int(window)):
        steps = ctx.t("lab.reach_never") if connect is None else str(connect)
        lines.append(f"| {kind_names[kind]} | {seen} | {steps} | {pairs} | {sequential} |")
    st.markdown(ctx.t("lab.reach_table_title", n=n))
    st.markdown("\n".join(lines))
    st.caption(ctx.t("lab.reach_table_caption"))


# ── Attention vs importance ────────────────────────────────────────────────────────────────────────


@st.cache_data(max_entries=64, show_spinner=False)
def importance_for(
    model_name: str, text: str, layer: int, head: int, query: int, max_keys: int = MAX_KEYS
) -> Importance:
    """`ablation_effects` of one query of one head: the model re-run once per key (at most max_keys), each run
    on the model thread, against the sentence's cached trace; cached, since a class asks for the same query again
    and again."""
    loaded = load_model(model_name)

    def run(ablate):
        if ablate is None:
            return get_trace(text, model_name=model_name)
        return on_model_thread(trace_any, loaded, text, ablate=ablate)

    return ablation_effects(run, layer, head, query, max_keys)


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


def _render_importance(ctx: Controls) -> None:
    trace = _sentence_trace(ctx, "lab.importance_intro")
    if trace is None:
        return
    layer, head, n = ctx.layer, ctx.head, trace.n_positions
    labels = token_labels(trace.tokens)
    checked_state("lab_query", Param("int", min(1, n - 1), 0, n - 1))
    at_query, at_run = st.columns([3, 2], vertical_alignment="bottom")
    query = int(
        at_query.selectbox(
            ctx.t("lab.importance_query"), range(n), key="lab_query", format_func=lambda j: f"{j} {trace.tokens[j]}"
        )
    )
    visible = n if trace.mask is None else int(trace.mask[query].sum())
    runs = min(visible, MAX_KEYS)
    asked = (selected_model_name(), ctx.text, layer, head, query)
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
        ui.figure(fig, ctx.t("lab.importance_caption"), key="importance")
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
        if result.skipped:
            st.caption(ctx.t("lab.importance_skipped", n=result.skipped, kept=len(result.keys)))
        st.caption(ctx.t("lab.importance_reading"))
