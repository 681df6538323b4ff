"""The Q · K · V view: one head's queries, keys and values, the slices of W^q, W^k, W^v that make
them, and the scores Q·Kᵀ/√d_head, each with its shape in its title.

The article writes one token at a time, qᵢ = W^q·aᵢ, and all of them as the columns of I (Q = W^q·I); the
models compute every token at once with the tokens as rows, X = Iᵀ holding the vectors aᵢ as rows, each in its
own way (Q = X·W^qᵀ + bias in BERT, RoPE(RMSNorm(X)·W^qᵀ) in SmolLM2): the titles and captions write the chosen
model's formulas, composed from its Architecture (components/formulas.py). Figures are pure builders; render()
draws.
"""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from components import ui
from components.axis import Axis, axis_of, marked
from components.cache import get_model, get_trace
from components.context import ViewContext
from components.figures.common import Mark, Panel, heatmap_figure, heatmap_grid
from components.formulas import feature_sentence, model_formulas, row_formula
from components.glossary import file_name
from model.families.architecture import Architecture
from model.trace import AttentionTrace

PROJECTIONS = ("Q", "K", "V")
QK_NORM_PANELS = {  # formulas, the same in both languages
    "q_raw": "q = W<sup>q</sup>·RMSNorm(a)",
    "q_normed": "RMSNorm<sub>head</sub>(q)",
    "k_raw": "k = W<sup>k</sup>·RMSNorm(a)",
    "k_normed": "RMSNorm<sub>head</sub>(k)",
}
MATRICES = {"Q": "q", "K": "k", "V": "v"}  # the glossary's W^q, W^k, W^v (code: W_Q, W_K, W_V)


def projection_title(name: str, n: int, d: int, arch: Architecture, with_positions: bool = True) -> str:
    """A panel's title, the model's own formula with the shape: "Q = X·W<sup>q</sup>ᵀ + bias  [n × d]",
    "Q = RoPE(RMSNorm(X)·W<sup>q</sup>ᵀ)  [n × d]"."""
    formula = re.sub(r"W\^([qkv])", r"W<sup>\1</sup>", row_formula(arch, name, with_positions))
    return f"{name} = {formula}  [{n} × {d}]"


def render(ctx: ViewContext) -> None:
    trace = get_trace(ctx.text)
    ui.trace_notices(ctx.lang, trace)
    arch = get_model().config.architecture
    formulas = model_formulas(ctx.lang, arch, trace.model_name, trace.with_positions)
    row = row_formula(arch, "Q", trace.with_positions)
    ui.intro(ctx, ctx.t("qkv.intro", d_model=trace.d_model, model_formulas=formulas, row=row))
    axis = axis_of(trace, ctx.hide_special)
    window = ui.pick_window(ctx, axis)
    # Lazy tabs, as in the Attention view: only the open one is computed and drawn.
    projections, weights = st.tabs(
        [ctx.t("qkv.tab_projections"), ctx.t("qkv.tab_weights")], key="qkv_tab", on_change="rerun"
    )
    if projections.open:
        with projections:
            _render_projections(ctx, trace, axis, window)
    if weights.open:
        with weights:
            _render_weights(ctx, trace)


def _render_projections(ctx: ViewContext, trace: AttentionTrace, axis: Axis, window) -> None:
    """Q, K, V of the head side by side, then Q·Kᵀ/√d_head, each with its downloads."""
    layer, head, p = ctx.layer, ctx.head, ctx.presentation
    lt = trace.layers[layer]
    d, n = trace.d_head, len(axis)
    q, k, v = (axis.rows(m[head]) for m in (lt.q, lt.k, lt.v))  # each [pos, d_head]
    arch = get_model().config.architecture
    scores = axis.cells(lt.scores[head])  # [query_pos, key_pos]
    rows = axis.labels[window.rows]
    features = list(range(d))
    marked_rows = marked(Mark(rows=ctx.mark.rows), axis, window.rows) if ctx.mark else None  # tokens' rows
    fig = heatmap_grid(
        [
            Panel(
                m[window.rows],
                features,
                rows,
                title=projection_title(name, n, d, arch, trace.with_positions),
                x_title=ctx.t("qkv.feature"),
                y_title=ctx.t("common.position"),
                name=name,
                mark=marked_rows,
            )
            for name, m in zip(PROJECTIONS, (q, k, v), strict=True)
        ],
        title=ctx.t("qkv.qkv_title", layer=layer, head=head),
        value_name=ctx.t("common.value"),
        scale="signed",
        share_y=True,
        presentation=p,
    )
    files = [f"d{j}" for j in features]
    downloads = [
        ui.Download(f"{name}_layer{layer}_head{head}", m, axis.files, files, label=name)
        for name, m in zip(PROJECTIONS, (q, k, v), strict=True)
    ]
    ui.figure(fig, ctx.t("qkv.qkv_caption", d=d, head=head, n=n), key="qkv", downloads=downloads, lang=ctx.lang)
    if arch.qk_norm:
        _render_qk_norm(ctx, trace, axis, window)

    st.subheader(ctx.t("qkv.scores_heading"))
    fig = heatmap_figure(
        scores[window.rows, window.cols],
        axis.labels[window.cols],
        rows,
        title=ctx.t("qkv.scores_title", n=n, layer=layer, head=head),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        value_name="α = q·k/√d",
        scale="signed",
        mark=marked(ctx.mark, axis, window.rows, window.cols),
        annotate=n <= 12,
        presentation=p,
    )
    download = ui.Download(file_name("score", layer=layer, head=head), scores, axis.files, axis.files)
    ui.figure(fig, ctx.t("qkv.scores_caption", d=d, n=n), key="qkv_scores", downloads=[download], lang=ctx.lang)


def _render_qk_norm(ctx: ViewContext, trace: AttentionTrace, axis: Axis, window) -> None:
    """QK-norm (Gemma 3): the head's q and k as W^q, W^k make them and after each head's RMSNorm (before RoPE), side by
    side, with how long the vectors are and how large q·k gets on either side of the norm."""
    layer, head = ctx.layer, ctx.head
    layer_input = trace.layers[layer - 1].output if layer else trace.token_embeddings  # [pos, d_model]
    parts = get_model().qk_norm_parts(layer, head, layer_input)  # each [pos, d_head]
    names = ("q_raw", "q_normed", "k_raw", "k_normed")
    fig = heatmap_grid(
        [
            Panel(
                axis.rows(parts[name])[window.rows],
                list(range(trace.d_head)),
                axis.labels[window.rows],
                title=QK_NORM_PANELS[name],
                x_title=ctx.t("qkv.feature"),
                y_title=ctx.t("common.position"),
                name=name,
            )
            for name in names
        ],
        title=ctx.t("qkv.qk_norm_title", layer=layer, head=head),
        value_name=ctx.t("common.value"),
        scale="signed",
        share_y=True,
        presentation=ctx.presentation,
    )
    lengths = {name: np.linalg.norm(parts[name], axis=-1) for name in names}  # [pos] each
    dots = {side: np.abs(parts[f"q_{side}"] @ parts[f"k_{side}"].T).max() for side in ("raw", "normed")}
    caption = ctx.t(
        "qkv.qk_norm_caption",
        q_raw=f"{lengths['q_raw'].min():.1f}–{lengths['q_raw'].max():.1f}",
        q_normed=f"{lengths['q_normed'].min():.1f}–{lengths['q_normed'].max():.1f}",
        dot_raw=f"{dots['raw']:.1f}",
        dot_normed=f"{dots['normed']:.1f}",
        root=f"{1 / trace.layers[layer].rule.scale:g}",
    )
    ui.figure(fig, caption, key="qkv_qk_norm", lang=ctx.lang)


def _render_weights(ctx: ViewContext, trace: AttentionTrace) -> None:
    """The rows of W^q, W^k, W^v that belong to the head, stacked on one column axis. With grouped-query
    attention the head reads the rows of W^k and W^v of its key/value head, which other heads share."""
    layer, head = ctx.layer, ctx.head
    d, d_model = trace.d_head, trace.d_model
    weights = get_model().head_matrices(layer, head)  # each [d_head, d_model]
    first, last = head * d, (head + 1) * d - 1
    rows = {"Q": head * d, "K": trace.kv_head(head) * d, "V": trace.kv_head(head) * d}  # each matrix's first row
    fig = heatmap_grid(
        [
            Panel(
                weights[f"W_{name}"],
                list(range(d_model)),
                list(range(d)),
                title=ctx.t(
                    "qkv.weight_panel",
                    name=f"W<sup>{MATRICES[name]}</sup>",
                    first=rows[name],
                    last=rows[name] + d - 1,
                    rows=d,
                    cols=d_model,
                ),
                x_title=ctx.t("qkv.input_dimension"),
                y_title=ctx.t("qkv.feature"),
                name=f"W<sup>{MATRICES[name]}</sup>",
            )
            for name in PROJECTIONS
        ],
        columns=1,
        title=ctx.t("qkv.weights_title", layer=layer, head=head),
        value_name=ctx.t("common.value"),
        scale="signed",
        share_x=True,
        presentation=ctx.presentation,
    )
    arch = get_model().config.architecture
    caption = ctx.t(
        "qkv.weights_caption",
        head=head,
        first=first,
        last=last,
        d=d,
        d_model=d_model,
        n_heads=trace.n_heads,
        feature=feature_sentence(ctx.lang, arch, d, trace.with_positions),
    )
    shared = trace.n_heads // max(1, len(set(trace.kv_heads))) if trace.kv_heads else 1
    if shared > 1:
        caption = ui.joined(ctx.lang, caption, ctx.t("qkv.weights_shared", kv=trace.kv_head(head), group=shared))
    ui.figure(fig, caption, key="qkv_weights")
