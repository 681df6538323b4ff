"""The Playground view: a small multi-head attention model whose every setting is a control.

Each head h computes its own α_h = normalize(q_h·k_hᵀ/√d_head) and b_h = α_h·v_h; the heads'
outputs are laid side by side (concat), multiplied by W^O and added back to the input:

    output = LayerNorm(x + concat(b_1 … b_H)·W^O)

The weights are random but seeded (model/playground.py), so one set of settings always gives one
picture. Every control's key is a URL parameter (components/params.py). Figures are pure builders.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import ui
from components.cache import get_playground_trace
from components.controls import Controls
from components.figures import ALPHA_COLORAXIS, DIVERGING, style, token_labels
from components.params import PARAMS
from model import PlaygroundConfig, valid_head_counts
from model.errors import EmptyTextError, InvalidConfigError
from model.playground import layer_weights

D_MODELS = (2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MAX_CELLS = 2**18  # α values per figure sent to the browser (~1.4 MB as base64 float32)
MAX_PANEL_CELLS = 2**16  # per panel of the concat · W^O · output figure
MAX_TICK_LABELS = 40  # beyond this many tokens the axes stay unlabelled; hover still names them
HEAD_COLUMNS = 4


def nearest(value: int, options: list[int]) -> int:
    """The option closest to value (the smaller one on a tie)."""
    return min(options, key=lambda option: (abs(option - value), option))


def state_config(state: Mapping[str, Any], **overrides: Any) -> PlaygroundConfig:
    """The PlaygroundConfig that the pg_* settings in `state` describe (defaults where missing).

    A head count that does not divide d_model is replaced by the nearest one that does.
    """

    def get(name: str) -> Any:
        return state.get(name, PARAMS[name].default)

    d_model = int(get("pg_d_model"))
    values = {
        "d_model": d_model,
        "n_heads": nearest(int(get("pg_n_heads")), valid_head_counts(d_model) or [1]),
        "n_layers": int(get("pg_n_layers")),
        "normalizer": get("pg_normalizer"),
        "temperature": float(get("pg_temperature")),
        "scale": bool(get("pg_scale")),
        "mask": get("pg_mask"),
        "window": int(get("pg_window")),
        "positions": bool(get("pg_positions")),
        "seed": int(get("pg_seed")),
        "char_tokens": bool(get("pg_char_tokens")),
    }
    return PlaygroundConfig(**{**values, **overrides})


def shown_positions(n_positions: int, n_panels: int, max_cells: int = MAX_CELLS) -> int:
    """How many positions fit n_panels square heatmaps within max_cells values."""
    return max(1, min(n_positions, math.isqrt(max_cells // max(n_panels, 1))))


def heads_figure(
    weights: np.ndarray,
    labels: list[str],
    panel_titles: list[str],
    *,
    title: str = "",
    x_title: str = "key",
    y_title: str = "query",
    presentation: bool = False,
) -> go.Figure:
    """Every head's α of one layer as a grid of heatmaps on one 0 … 1 scale.  [head, query_pos, key_pos] in."""
    n_heads, n, _ = weights.shape
    cols = min(n_heads, HEAD_COLUMNS)
    rows = math.ceil(n_heads / cols)
    panel = min(400, 1000 // cols)  # pixels per panel row: about square on a wide page
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=panel_titles,
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=min(0.08, 40 / (rows * panel)),
    )
    for h in range(n_heads):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(weights[h], dtype=np.float32),
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                hovertemplate=(
                    f"{panel_titles[h]}<br>{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>α = %{{z:.3f}}<extra></extra>"
                ),
            ),
            row=h // cols + 1,
            col=h % cols + 1,
        )
    fig.update_layout(
        title={"text": title},
        coloraxis=ALPHA_COLORAXIS,
    )
    ticks = n <= MAX_TICK_LABELS
    fig.update_xaxes(type="category", tickangle=-60)
    fig.update_yaxes(type="category", autorange="reversed")
    if not ticks:  # shared axes already label only the left column and the bottom row
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
    fig.update_xaxes(title={"text": x_title}, row=rows)
    fig.update_yaxes(title={"text": y_title}, col=1)
    height = 110 + rows * panel + (8 * max(map(len, labels)) if ticks else 0)
    return style(fig, presentation, height)


def mixing_figure(
    concat: np.ndarray,
    w_o: np.ndarray,
    output: np.ndarray,
    labels: list[str],
    *,
    d_head: int,
    w_dims: np.ndarray,
    panel_titles: tuple[str, str, str],
    title: str = "",
    dim_title: str = "dimension",
    in_title: str = "concat dimension",
    out_title: str = "output dimension",
    presentation: bool = False,
) -> go.Figure:
    """concat [pos, d_model] · W^O [d_model, d_model] → output [pos, d_model], side by side.

    Lines mark where one head's block ends: columns of concat, rows of W^O. w_dims names the rows
    and columns of W^O that are drawn (all of them, or every s-th for a large d_model).
    """
    d_model = concat.shape[1]
    fig = make_subplots(rows=1, cols=3, subplot_titles=panel_titles, horizontal_spacing=0.08)
    dims = np.arange(d_model)
    panels = [
        (concat, dims, labels, "coloraxis", dim_title, ""),
        (w_o, w_dims, w_dims, "coloraxis2", out_title, in_title),
        (output, dims, labels, "coloraxis3", dim_title, ""),
    ]
    for col, (matrix, x, y, axis, x_name, y_name) in enumerate(panels, start=1):
        row_name = f"{y_name} %{{y}}" if y_name else "%{y}"
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(matrix, dtype=np.float32),
                x=x,
                y=y,
                coloraxis=axis,
                hovertemplate=f"{row_name}<br>{x_name} %{{x}}<br>%{{z:.3f}}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        bound = float(np.abs(matrix).max()) or 1.0
        domain = fig.layout[f"xaxis{col if col > 1 else ''}"].domain
        fig.layout[axis] = {
            "colorscale": DIVERGING,
            "cmin": -bound,
            "cmax": bound,
            "cmid": 0.0,
            "colorbar": {
                "orientation": "h",
                "x": (domain[0] + domain[1]) / 2,
                "xanchor": "center",
                "len": (domain[1] - domain[0]) * 0.8,
                "y": -0.22,
                "yanchor": "top",
                "thickness": 10,
            },
        }
    for h in range(1, d_model // d_head):
        edge = h * d_head - 0.5
        fig.add_vline(x=edge, row=1, col=1, line={"color": "black", "width": 1.5})
        fig.add_hline(y=edge, row=1, col=2, line={"color": "black", "width": 1.5})
    ticks = len(labels) <= MAX_TICK_LABELS
    fig.update_layout(title={"text": title})
    for col in (1, 3):  # the output's rows are the same tokens as concat's: labelled once, on the left
        fig.update_yaxes(type="category", autorange="reversed", showticklabels=ticks and col == 1, row=1, col=col)
        fig.update_xaxes(title={"text": dim_title}, row=1, col=col)
    fig.update_yaxes(autorange="reversed", title={"text": in_title}, row=1, col=2)
    fig.update_xaxes(title={"text": out_title}, row=1, col=2)
    fig = style(fig, presentation, max(420, min(680, 260 + 16 * len(labels))))
    fig.update_layout(margin={"b": 90})  # room for the colour bars under the panels
    return fig


@functools.lru_cache(maxsize=16)
def w_o_shown(config: PlaygroundConfig, layer: int, stride: int) -> np.ndarray:
    """Every stride-th row and column of a layer's W^O (x·W convention: rows are concat dimensions)."""
    w_o = layer_weights(config)[layer]["W_O"].numpy()[::stride, ::stride].copy()  # [d_model/s, d_model/s]
    w_o.flags.writeable = False
    return w_o


def _snap_heads(d_model: int) -> tuple[int, int] | None:
    """Move pg_n_heads to a head count that divides d_model; (old, new) when it had to move."""
    valid = valid_head_counts(d_model)
    old = int(st.session_state["pg_n_heads"])
    if old in valid:
        return None
    st.session_state["pg_n_heads"] = nearest(old, valid)
    return old, st.session_state["pg_n_heads"]


def _use_char_tokens() -> None:
    st.session_state["pg_char_tokens"] = True


def _grid(presentation: bool) -> list:
    """Twelve places for the controls: three rows of four on a screen, six rows of two on a projector."""
    widths = [1, 1] if presentation else [3, 3, 3.5, 2.5]  # the third column holds the mask's three buttons
    return [place for _ in range(12 // len(widths)) for place in st.columns(widths)]


def _controls(ctx: Controls) -> tuple[PlaygroundConfig, int]:
    """Every setting as a widget keyed by its URL parameter; returns the config and the layer on show."""
    state = st.session_state
    keep = {"persist_state": "session"}
    (
        at_d_model,
        at_heads,
        at_layers,
        at_layer,
        at_normalizer,
        at_temperature,
        at_mask,
        at_window,
        at_scale,
        at_positions,
        at_chars,
        at_seed,
    ) = _grid(ctx.presentation)
    d_options = sorted({*D_MODELS, int(state["pg_d_model"])})
    d_model = at_d_model.select_slider(
        ctx.t("playground.d_model"), d_options, key="pg_d_model", help=ctx.t("playground.d_model_help"), **keep
    )
    snapped = _snap_heads(d_model)
    n_heads = at_heads.select_slider(
        ctx.t("playground.n_heads"),
        valid_head_counts(d_model),
        key="pg_n_heads",
        help=ctx.t("playground.n_heads_help"),
        **keep,
    )
    n_layers = at_layers.select_slider(ctx.t("playground.n_layers"), range(1, 5), key="pg_n_layers", **keep)
    if int(state["pg_layer"]) >= n_layers:
        state["pg_layer"] = n_layers - 1
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
        ("none", "causal", "window"),
        key="pg_mask",
        required=True,
        format_func=lambda v: ctx.t(f"playground.mask_{v}"),
        help=ctx.t("playground.mask_help"),
        **keep,
    )
    if mask == "window":
        at_window.number_input(
            ctx.t("playground.window"), 1, 512, step=1, key="pg_window", help=ctx.t("playground.window_help"), **keep
        )
    at_scale.toggle(ctx.t("playground.scale"), key="pg_scale", help=ctx.t("playground.scale_help"), **keep)
    at_positions.toggle(
        ctx.t("playground.positions"), key="pg_positions", help=ctx.t("playground.positions_help"), **keep
    )
    at_chars.toggle(
        ctx.t("playground.char_tokens"), key="pg_char_tokens", help=ctx.t("playground.char_tokens_help"), **keep
    )
    at_seed.number_input(ctx.t("playground.seed"), 0, 2**31 - 1, step=1, key="pg_seed", **keep)
    if snapped:
        st.info(ctx.t("playground.heads_snapped", old=snapped[0], new=snapped[1], d_model=d_model), icon="🔧")
    config = state_config(state, n_heads=n_heads)
    return config, min(int(layer), config.n_layers - 1)


def render(ctx: Controls) -> None:
    st.markdown(ctx.t("playground.intro"))
    try:
        config, layer = _controls(ctx)
        trace = get_playground_trace(config, ctx.text)
    except InvalidConfigError as err:
        st.warning(ctx.t("playground.invalid", detail=str(err)), icon="⚠️")
        return
    except EmptyTextError:
        st.info(ctx.t("playground.no_tokens"), icon="✍️")
        return
    p = ctx.presentation
    st.caption(
        ctx.t(
            "playground.shapes",
            d_model=config.d_model,
            n_heads=config.n_heads,
            d_head=config.d_head,
            n=trace.n_positions,
        )
    )
    ui.token_chips(trace.tokens, trace.is_special())
    unknown = sum(tok == "[UNK]" for tok in trace.tokens)
    if unknown and not config.char_tokens:
        st.info(ctx.t("playground.unknown_tokens", n=unknown), icon="🈚")
        st.button(ctx.t("playground.use_char_tokens"), key="pg_use_chars", on_click=_use_char_tokens)
    if trace.truncated:
        st.warning(ctx.t("playground.truncated", n=trace.n_positions), icon="✂️")

    lt = trace.layers[layer]
    n = shown_positions(trace.n_positions, config.n_heads)
    labels = token_labels(trace.tokens[:n])
    files = ui.labels_for_files(trace.tokens[:n])
    if n < trace.n_positions:
        st.caption(ctx.t("playground.first_positions", shown=n, n=trace.n_positions))
    weights = lt.weights[:, :n, :n]  # [head, query_pos, key_pos]
    fig = heads_figure(
        weights,
        labels,
        [ctx.t("playground.head_panel", head=h) for h in range(config.n_heads)],
        title=ctx.t("playground.heads_title", layer=layer, n_heads=config.n_heads),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        presentation=p,
    )
    ui.figure(fig, ctx.t("playground.heads_caption", seed=config.seed), key="pg_heads")

    rows = max(1, min(trace.n_positions, MAX_PANEL_CELLS // config.d_model))
    stride = max(1, math.ceil(config.d_model / math.isqrt(MAX_PANEL_CELLS)))
    w_dims = np.arange(0, config.d_model, stride)
    w_o = w_o_shown(config, layer, stride)  # [d_model/s, d_model/s]
    concat, output = lt.concat[:rows], lt.output[:rows]  # [pos, d_model] each
    fig = mixing_figure(
        concat,
        w_o,
        output,
        token_labels(trace.tokens[:rows]),
        d_head=config.d_head,
        w_dims=w_dims,
        panel_titles=(
            f"concat(b<sub>0</sub> … b<sub>{config.n_heads - 1}</sub>)  [{rows} × {config.d_model}]",
            f"W<sup>O</sup>  [{config.d_model} × {config.d_model}]",
            ctx.t("playground.output_panel", n=rows, d=config.d_model),
        ),
        title=ctx.t("playground.mixing_title", layer=layer),
        dim_title=ctx.t("playground.dimension"),
        in_title=ctx.t("playground.in_dimension"),
        out_title=ctx.t("playground.out_dimension"),
        presentation=p,
    )
    ui.figure(fig, ctx.t("playground.mixing_caption", n_heads=config.n_heads, d_head=config.d_head), key="pg_mixing")
    notes = []
    if rows < trace.n_positions:
        notes.append(ctx.t("playground.first_positions", shown=rows, n=trace.n_positions))
    if stride > 1:
        notes.append(ctx.t("playground.w_o_strided", stride=stride))
    if notes:
        st.caption(" ".join(notes))

    st.subheader(ctx.t("playground.downloads"))
    w_files = [f"dim {d}" for d in w_dims]
    d_files = [f"dim {d}" for d in range(config.d_model)]
    row_files = ui.labels_for_files(trace.tokens[:rows])
    head_rows = [f"head {h} · {label}" for h in range(config.n_heads) for label in files]
    tables = [
        (f"pg_alpha_layer{layer}", weights.reshape(-1, n), head_rows, files),
        (f"pg_concat_layer{layer}", concat, row_files, d_files),
        (f"pg_W_O_layer{layer}", w_o, w_files, w_files),
        (f"pg_output_layer{layer}", output, row_files, d_files),
    ]
    cols = st.columns(2)
    for index, (name, matrix, row_names, col_names) in enumerate(tables):
        with cols[index % 2]:
            st.caption(f"{name}  [{matrix.shape[0]} × {matrix.shape[1]}]")
            ui.matrix_downloads(
                name, matrix, row_names, col_names, ctx.t("common.download_csv"), ctx.t("common.download_json")
            )
