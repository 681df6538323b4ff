"""The Playground view: a small multi-head attention model whose every setting is a control.

Each head h computes its own α′_h = normalize(q_h·k_hᵀ/√d_head) and b_h = α′_h·v_h; the heads'
outputs are laid side by side (concat), multiplied by W^O and added back to the input:

    output = LayerNorm(x + concat(b_1 … b_H)·W^O)

The weights are random but seeded (model/experiments/playground.py), so one set of settings always gives one
picture. Every control's key is a URL parameter (components/params.py). Figures are pure builders.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import streamlit as st

from components import ui
from components.axis import Axis, Window, axis_of
from components.cache import get_playground_trace
from components.context import ViewContext
from components.figures.common import mixing_figure, overview_png
from components.glossary import file_name
from components.overview import every_head
from components.params import PARAMS
from components.playground_state import playground_config, playground_traces, snap_heads
from model import PlaygroundConfig, valid_head_counts
from model.experiments.playground import layer_matrices
from model.trace import AttentionTrace

D_MODELS = (2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MAX_PANEL_CELLS = 2**16  # per panel of the concat · W^O · output figure


@functools.lru_cache(maxsize=16)
def w_o_shown(config: PlaygroundConfig, layer: int, stride: int) -> np.ndarray:
    """Every stride-th row and column of a layer's W^O (x·W convention: rows are concat dimensions)."""
    w_o = layer_matrices(config)[layer]["W_O"].numpy()[::stride, ::stride].copy()  # [d_model/s, d_model/s]
    w_o.flags.writeable = False
    return w_o


@st.cache_data(max_entries=32, show_spinner=False)
def overview_for(config: PlaygroundConfig, text: str) -> bytes:
    """The playground's every-head PNG for the overview (layers × heads)."""
    return overview_png(get_playground_trace(config, text).weights)


def _use_char_tokens() -> None:
    st.session_state["pg_char_tokens"] = True


def _controls(ctx: ViewContext, place) -> tuple[int, int]:
    """Every setting as a widget keyed by its URL parameter (Session State then describes the model); returns
    the layer and head on show. Three rows of four; on a projector folded in `place` under one line that
    says what is set."""
    if place is None:
        return _widgets(ctx)
    d_model, n_heads = int(st.session_state["pg_d_model"]), int(st.session_state["pg_n_heads"])
    summary = ctx.t("playground.settings_summary", d_model=d_model, n_heads=n_heads, d_head=d_model // n_heads)
    with place, st.expander(summary, icon=":material/tune:"):
        return _widgets(ctx)


def _widgets(ctx: ViewContext) -> tuple[int, int]:
    state = st.session_state
    keep = {"persist_state": "session"}
    # Three rows of four (the third column holds the mask's buttons); six rows of two in a projector's
    # narrower, larger-lettered panel.
    rows = [[1, 1]] * 6 if ctx.presentation else [[2.5, 2.5, 4.8, 2.2]] * 3
    if ctx.presentation:
        rows[3] = [2.6, 1]  # the mask's four buttons in larger letters need most of the row
    places = [place for widths in rows for place in st.columns(widths)]
    (at_d_model, at_heads, at_layers, at_layer, at_normalizer, at_temperature, at_mask, at_window) = places[:8]
    (at_scale, at_positions, at_chars, at_seed) = places[8:]
    d_options = sorted({*D_MODELS, int(state["pg_d_model"])})
    d_model = at_d_model.select_slider(
        ctx.t("playground.d_model"), d_options, key="pg_d_model", help=ctx.t("playground.d_model_help"), **keep
    )
    valid = valid_head_counts(d_model)
    snapped = snap_heads("pg_n_heads", valid)
    n_heads = at_heads.select_slider(
        ctx.t("playground.n_heads"), valid, key="pg_n_heads", help=ctx.t("playground.n_heads_help"), **keep
    )
    n_layers = at_layers.select_slider(ctx.t("playground.n_layers"), range(1, 5), key="pg_n_layers", **keep)
    for key, count in (("pg_layer", n_layers), ("pg_head", n_heads)):
        if not 0 <= int(state.get(key, 0)) < count:
            state[key] = min(max(int(state.get(key, 0)), 0), count - 1)
    layer = at_layer.select_slider(
        ctx.t("playground.layer"), range(n_layers), key="pg_layer", disabled=n_layers == 1, **keep
    )
    normalizer = at_normalizer.segmented_control(
        ctx.t("playground.normalizer"),
        ("softmax", "relu"),
        key="pg_normalizer",
        required=True,
        format_func=lambda v: {"softmax": "softmax", "relu": "ReLU"}[v],
        help=ctx.t("playground.normalizer_help"),
        **keep,
    )
    at_temperature.slider(
        ctx.t("playground.temperature"),
        0.05,
        10.0,
        step=0.05,
        key="pg_temperature",
        disabled=normalizer == "relu",
        help=ctx.t("playground.temperature_help"),
        **keep,
    )
    if normalizer == "relu":
        at_temperature.caption(ctx.t("playground.temperature_off"))
    mask = at_mask.segmented_control(
        ctx.t("playground.mask"),
        PARAMS["pg_mask"].choices,
        key="pg_mask",
        required=True,
        format_func=lambda v: ctx.t(f"playground.mask_{v}"),
        help=ctx.t("playground.mask_help"),
        **keep,
    )
    if mask in ("window", "window2"):
        at_window.number_input(
            ctx.t("playground.window"), 1, 512, step=1, key="pg_window", help=ctx.t("playground.window_help"), **keep
        )
    at_scale.toggle(
        ctx.t("playground.scale"),
        key="pg_scale",
        disabled=normalizer == "relu",
        help=ctx.t("playground.scale_help"),
        **keep,
    )
    if normalizer == "relu":
        at_scale.caption(ctx.t("playground.scale_off"))
    at_positions.toggle(
        ctx.t("playground.positions"), key="pg_positions", help=ctx.t("playground.positions_help"), **keep
    )
    at_chars.toggle(
        ctx.t("playground.char_tokens"), key="pg_char_tokens", help=ctx.t("playground.char_tokens_help"), **keep
    )
    at_seed.number_input(ctx.t("playground.seed"), 0, 2**31 - 1, step=1, key="pg_seed", **keep)
    if snapped:
        st.info(ctx.t("playground.heads_snapped", old=snapped[0], new=snapped[1], d_model=d_model), icon="🔧")
    return int(layer), int(state["pg_head"])


def render(ctx: ViewContext) -> None:
    # On a projector one row holds the paragraph and the tokens behind buttons, and the settings folded.
    top = st.columns([1.7, 6, 1.3]) if ctx.presentation else None
    with top[0] if top else st.container():
        ui.intro(ctx, ctx.t("playground.intro"))
    layer, head = _controls(ctx, top[1] if top else None)
    traced = playground_traces(ctx, ctx.text, lambda: [playground_config(st.session_state)])
    if traced is None:
        return
    ((config, trace),) = traced
    layer, head = min(layer, config.n_layers - 1), min(head, config.n_heads - 1)
    _render_tokens(ctx, config, trace, top)
    axis = axis_of(trace, False)
    window = ui.pick_window(ctx, axis)
    _render_heads(ctx, config, trace, axis, window, layer, head)
    _render_mixing(ctx, config, trace, layer)


def _render_tokens(ctx: ViewContext, config: PlaygroundConfig, trace: AttentionTrace, top: list | None) -> None:
    """The shapes, the tokens, and what the model could not read."""
    shapes = {"d_model": config.d_model, "n_heads": config.n_heads, "d_head": config.d_head, "n": trace.n_positions}
    if top is not None:  # the settings' line says the shapes
        with top[2]:
            ui.token_chips(trace, ctx.lang, folded=True)
    else:
        st.caption(ctx.t("playground.shapes", **shapes))
        ui.token_chips(trace, ctx.lang)
    unknown = sum(trace.unknown)
    if unknown and not config.char_tokens:
        st.info(ctx.t("playground.unknown_tokens", n=unknown), icon="🈚")
        st.button(ctx.t("playground.use_char_tokens"), key="pg_use_chars", on_click=_use_char_tokens)
    if trace.truncated:
        st.warning(ctx.t("playground.truncated", n=trace.n_positions), icon="✂️")


def _render_heads(
    ctx: ViewContext,
    config: PlaygroundConfig,
    trace: AttentionTrace,
    axis: Axis,
    window: Window,
    layer: int,
    head: int,
) -> None:
    """One head's α′ large, every label drawn, beside every head of every layer at a glance (click to pick)."""
    weights = trace.layers[layer].weights  # [head, query_pos, key_pos]
    share, (left, right) = ui.beside_or_below(ctx, window)
    with left:
        title = ctx.t("playground.head_title", layer=layer, head=head, n_heads=config.n_heads)
        fig = ui.window_heatmap(ctx, weights[head], axis, window, title, share=share, mark=ctx.mark)
        head_rows = [f"head {h} · {label}" for h in range(config.n_heads) for label in axis.files]
        download = ui.Download(
            file_name("weight", prefix="playground", layer=layer),
            weights.reshape(-1, trace.n_positions),  # [head · query_pos, key_pos]
            head_rows,
            axis.files,
            ctx.t("playground.all_heads"),
        )
        ui.figure(
            fig,
            ctx.t("playground.heads_caption", seed=config.seed),
            key="pg_heads",
            downloads=[download],
            lang=ctx.lang,
        )
    with right:
        png = overview_for(config, ctx.text)
        every_head(
            ctx,
            png,
            (config.n_layers, config.n_heads),
            (layer, head),
            "playground",
            key="pg_overview",
            n=trace.n_positions,
        )


def _render_mixing(ctx: ViewContext, config: PlaygroundConfig, trace: AttentionTrace, layer: int) -> None:
    """concat(b_0 … b_H) · W^O and the layer's output, for the first positions that fit with their labels."""
    lt = trace.layers[layer]
    rows = max(1, min(trace.n_positions, MAX_PANEL_CELLS // config.d_model, ui.row_capacity(ctx.presentation)))
    stride = max(1, math.ceil(config.d_model / math.isqrt(MAX_PANEL_CELLS)))
    w_dims = np.arange(0, config.d_model, stride)
    w_o = w_o_shown(config, layer, stride)  # [d_model/s, d_model/s]
    concat, output = lt.concat[:rows], lt.output[:rows]  # [pos, d_model] each
    axis = axis_of(trace, False).first(rows)
    titles = (
        f"concat(b<sup>(0)</sup> … b<sup>({config.n_heads - 1})</sup>)  [{rows} × {config.d_model}]",
        f"W<sup>O</sup>  [{config.d_model} × {config.d_model}]",
        ctx.t("playground.output_panel", n=rows, d=config.d_model),
    )
    fig = mixing_figure(
        concat,
        w_o,
        output,
        axis.labels,
        d_head=config.d_head,
        w_dims=w_dims,
        panel_titles=titles,
        title=ctx.t("playground.mixing_title", layer=layer),
        dim_title=ctx.t("playground.dimension"),
        in_title=ctx.t("playground.in_dimension"),
        out_title=ctx.t("playground.out_dimension"),
        presentation=ctx.presentation,
    )
    dims = [f"dim {d}" for d in range(config.d_model)]
    w_files = [f"dim {d}" for d in w_dims]
    downloads = [
        ui.Download(f"playground_concat_layer{layer}", concat, axis.files, dims, "concat"),
        ui.Download(file_name("w_o", prefix="playground", layer=layer), w_o, w_files, w_files, "W^O"),
        ui.Download(f"playground_output_layer{layer}", output, axis.files, dims, ctx.t("playground.output")),
    ]
    caption = ctx.t("playground.mixing_caption", n_heads=config.n_heads, d_head=config.d_head)
    ui.figure(fig, caption, key="pg_mixing", downloads=downloads, lang=ctx.lang)
    notes = []
    if rows < trace.n_positions:
        notes.append(ctx.t("playground.first_positions", shown=rows, n=trace.n_positions))
    if stride > 1:
        notes.append(ctx.t("playground.w_o_strided", stride=stride))
    if notes:
        st.caption(ui.joined(ctx.lang, *notes))
