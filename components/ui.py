"""Small Streamlit helpers every view shares: drawing a figure with its downloads and caption, token
chips (folded for long texts and on a projector), the notices about a trace, and running a view so
that its failure stays inside it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from components.axis import Axis, Window, fit_range, marked
from components.cache import get_model
from components.figures.common import (
    PLOT_CONFIG,
    PROJECTOR,
    Mark,
    columns_that_fit,
    heatmap_figure,
    long_text,
    matrix_csv,
    rows_that_fit,
)
from components.i18n import t
from components.params import WINDOW_KEYS, WINDOWS, Param
from components.session import checked_state, use_model
from components.text import has_chinese, joined, md_escape
from model.errors import AttentionLabError
from model.registry import CHINESE_DECODER, CHINESE_READER, model_names, sliding_layers
from model.tokens import BYTE_HEX, BYTE_PART
from model.trace import AttentionTrace

if TYPE_CHECKING:
    from components.context import ViewContext

log = logging.getLogger("attention_lab")


@dataclass(frozen=True)
class Download:
    """A matrix on screen offered as CSV and JSON, with its row and column labels."""

    name: str  # the file's name, e.g. "alpha_prime_layer3_head1" (glossary.file_name; never shown in the page)
    matrix: np.ndarray
    rows: list[str]
    cols: list[str]
    label: str = ""  # what the buttons call the matrix, when a figure offers several ("Q", "W^O")


def figure(
    fig: go.Figure,
    caption: str,
    key: str,
    downloads: Sequence[Download] = (),
    lang: str = "en",
) -> None:
    """A Plotly figure (its toolbar has the PNG download), the CSV/JSON downloads of what it shows right
    under it, then a one-line caption."""
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)
    if downloads:
        with st.container(horizontal=True, gap="small", key=f"{key}_downloads"):
            for download in downloads:
                matrix_downloads(download, lang)
    st.caption(caption)


def token_chips(trace: AttentionTrace, lang: str, folded: bool = False) -> None:
    """The tokens with their positions, as the model sees them (special ones grey, unknown ones orange); a long
    text's chips (more than FOLD_CHIPS) fold into a summary that opens on demand, and `folded` puts them behind
    a button (a projector's header)."""
    tokens, special, unknown = trace.tokens, trace.is_special(), trace.unknown or (False,) * trace.n_positions
    chips = []
    for i, tok in enumerate(tokens):
        color = "gray" if special[i] else ("orange" if unknown[i] else "blue")
        chips.append(f":{color}-badge[{i}\u2009·\u2009{md_escape(tok)}]")
    if folded:
        with st.popover(t(lang, "app.tokens_button", n=len(tokens)), width="stretch", key="token_chips"):
            st.markdown(" ".join(chips))
    elif len(tokens) <= FOLD_CHIPS:
        st.markdown(" ".join(chips))
    else:
        with st.expander(t(lang, "app.tokens_folded", n=len(tokens)), key="token_chips"):
            st.markdown(" ".join(chips))


FOLD_CHIPS = 40  # more tokens than this and the chips fold: a long text's chips would push the figure away


def matrix_downloads(download: Download, lang: str) -> None:
    """CSV and JSON buttons for one matrix (prefixed by its label when it has one).

    The files are written only when a button is clicked (Streamlit calls the function then): at 512
    tokens each is a quarter of a million numbers, too slow to format on every rerun for nothing.
    """
    name, matrix, rows, cols = download.name, download.matrix, download.rows, download.cols

    def as_json() -> str:
        payload = {"name": name, "rows": rows, "columns": cols, "values": np.round(np.asarray(matrix), 6).tolist()}
        return json.dumps(payload, ensure_ascii=False)

    prefix = f"{download.label} · " if download.label else ""
    formats = (
        ("csv", lambda: matrix_csv(matrix, rows, cols), "text/csv", ":material/download:"),
        ("json", as_json, "application/json", ":material/data_object:"),
    )
    for ext, write, mime, icon in formats:
        st.download_button(
            prefix + t(lang, f"common.download_{ext}"),
            write,
            file_name=f"{name}.{ext}",
            mime=mime,
            key=f"{ext}_{name}",
            on_click="ignore",
            icon=icon,
            type="tertiary",
        )


PAGE_PX = {False: 1000, True: 1160}  # about how wide the page's main column is: a 1400-px window, a projector


def page_px(ctx: ViewContext) -> int:
    """About how wide the view is drawn: the page's main column, or the part a lesson's words leave it."""
    return int(PAGE_PX[ctx.presentation] * ctx.width)


BESIDE = 0.58  # the share of it a heatmap gets beside the overview (columns 3 : 2)


def window_heatmap(
    ctx: ViewContext,
    matrix: np.ndarray,
    axis: Axis,
    window: Window,
    title: str,
    *,
    share: float = BESIDE,
    value_name: str = "α′",
    x_title: str = "",
    y_title: str = "",
    scale: str = "linear",
    mark: Mark | None = None,
    visible: np.ndarray | None = None,
) -> go.Figure:
    """The window of a [query_pos, key_pos] matrix over the shown positions, every label drawn, in a
    figure `share` of the page wide, on a linear, per-row or log colour `scale`; values written in the cells
    of a short sentence. `mark` (trace positions) outlines the rows, columns or cells a lesson points at;
    `visible` (a sliding window's cells, over trace positions) draws the window's band."""
    return heatmap_figure(
        matrix[window.rows, window.cols],
        axis.labels[window.cols],
        axis.labels[window.rows],
        mark=marked(mark, axis, window.rows, window.cols, visible),
        title=title,
        x_title=x_title or ctx.t("common.key"),
        y_title=y_title or ctx.t("common.query"),
        value_name=value_name,
        scale=scale,
        annotate=len(axis) <= 12,
        presentation=ctx.presentation,
        width_px=int(page_px(ctx) * share),
    )


WINDOW_SLIDERS_PX = 90  # the window's two range sliders, with their labels, on a projector


def row_capacity(presentation: bool) -> int:
    """Rows of a heatmap with every label readable: on a projector as many as fit the first screen, on a
    screen 32 (a taller heatmap scrolls)."""
    return rows_that_fit(PROJECTOR.screen, True) if presentation else 32


def key_capacity(presentation: bool, share: float = 1.0, panels: int = 1, row_label: str = "00 xxxxxx") -> int:
    """Columns of a heatmap with every label readable, in a figure `share` of the page wide (split into
    `panels` side by side, each with its own row labels like `row_label`)."""
    return columns_that_fit(int(PAGE_PX[presentation] * share), presentation, row_label, panels)


def beside_or_below(ctx: ViewContext, window: Window) -> tuple[float, tuple]:
    """Where a heatmap and its companion go: side by side (columns 3 : 2) while the window's keys fit the
    narrower place, otherwise the heatmap the whole width and the companion under it. (share, places)"""
    keys = window.keys[1] - window.keys[0] + 1
    if keys <= key_capacity(ctx.presentation, BESIDE * ctx.width):
        return BESIDE, tuple(st.columns([3, 2], gap="medium"))
    return 1.0, (st.container(), st.container())


def pick_window(ctx: ViewContext, axis: Axis) -> Window:
    """The block of α′ to draw: all of it while every label fits, otherwise the queries and keys picked
    with two range sliders (kept in the URL as win_q, win_k), at most as many as fit the page."""
    n = len(axis)
    rows, cols = row_capacity(ctx.presentation), key_capacity(ctx.presentation, ctx.width)
    if n <= min(rows, cols):
        for key in WINDOW_KEYS:  # nothing to pick: keep the link free of a stale window
            st.session_state[key] = None
        return Window((0, n - 1), (0, n - 1))
    if ctx.presentation:  # the two sliders take a row of the first screen from the heatmap below them
        rows = rows_that_fit(PROJECTOR.screen - WINDOW_SLIDERS_PX, True)
    index = axis.positions.tolist()
    names = dict(zip(index, axis.files, strict=True))
    caption = ctx.t("attention.window_caption", n=n, rows=rows, cols=cols)
    if long_text(n):
        caption = joined(ctx.lang, caption, ctx.t("attention.window_faint"))
    at_queries, at_keys = st.columns(2)
    for place, key, label, capacity in (
        (at_queries, "win_q", "attention.window_queries", rows),
        (at_keys, "win_k", "attention.window_keys", cols),
    ):
        # The window lives under `key` (a URL parameter); the slider only shows it, and starts over from it
        # whenever it shows something else (a new text, a link, a range cut to what fits).
        window = st.session_state[key] = _fitted(st.session_state.get(key), axis, capacity)
        slider = f"{key}_slider"
        if st.session_state.get(slider) is not None and tuple(st.session_state[slider]) != window:
            del st.session_state[slider]
        place.select_slider(
            ctx.t(label, n=capacity),
            options=index,
            value=window,
            key=slider,
            format_func=names.get,
            on_change=_take_window,
            args=(key, axis, capacity),
            help=caption if ctx.presentation and key == "win_q" else None,  # on a projector: behind the "?"
        )
    if not ctx.presentation:
        st.caption(caption)
    return Window(*(_as_indices(st.session_state[key], axis) for key in WINDOW_KEYS))


def _as_indices(pair: object, axis: Axis) -> tuple[int, int]:
    """Trace positions (first, last) as indices into the shown positions."""
    try:
        first, last = (int(v) for v in pair)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return 0, 0
    at = np.searchsorted(axis.positions, [first, last])
    return int(min(at[0], len(axis) - 1)), int(min(at[1], len(axis) - 1))


def _fitted(asked: object, axis: Axis, capacity: int) -> tuple[int, int]:
    """A window (trace positions first, last) inside the text and at most `capacity` wide (a link or a
    drag may ask for more)."""
    indices = _as_indices(asked, axis) if asked is not None else None
    first, last = fit_range(indices, len(axis), capacity)
    return int(axis.positions[first]), int(axis.positions[last])


def _take_window(key: str, axis: Axis, capacity: int) -> None:
    """The slider moved: its range, fitted, becomes the window (anything but a pair of positions is ignored)."""
    moved = st.session_state.get(f"{key}_slider")
    if isinstance(moved, tuple | list) and len(moved) == 2:
        st.session_state[key] = _fitted(moved, axis, capacity)


def choice(ctx: ViewContext, strings: str, options: Sequence, key: str, place=st, helped: bool = True):
    """A segmented control kept under its URL parameter `key`: labelled by the i18n string `strings`, each option v
    by `strings`_v, its help (when `helped`) by `strings`_help. Returns the option chosen."""
    chosen = place.segmented_control(
        ctx.t(strings),
        options,
        key=key,
        required=True,
        format_func=lambda v: ctx.t(f"{strings}_{v}"),
        help=ctx.t(f"{strings}_help") if helped else None,
        persist_state="session",
    )
    return options[0] if chosen is None else chosen


def window_controls(ctx: ViewContext) -> None:
    """A sliding-window model's window, for the class to shrink (2 … 64, or the model's own), on its sliding layers
    or on every layer; the traces of this session follow it (cache.window_choice). Nothing on other models."""
    loaded = get_model()
    sliding = sliding_layers(loaded)
    if not sliding:
        return
    own = loaded.config.sliding_window
    checked_state("window", Param("choice", 0, choices=WINDOWS))
    # One under the other: side by side, the settings column beside a heatmap clipped "every layer" at 1280-1366 px.
    st.select_slider(
        ctx.t("attention.window_w"),
        options=WINDOWS,
        key="window",
        format_func=lambda w: str(w) if w else ctx.t("attention.window_own", w=own),
        help=ctx.t("attention.window_help", own=own, sliding=len(sliding), layers=loaded.config.n_layers),
    )
    choice(ctx, "attention.window_layers", ("sliding", "all"), "window_layers")


def window_note(ctx: ViewContext, trace: AttentionTrace, layer: int) -> str:
    """What the band on a layer's heatmap is, or that this layer has none: '' on a model without windows."""
    if not sliding_layers(get_model()):
        return ""
    w = trace.layers[layer].rule.window
    if w is None:
        return ctx.t("attention.window_global", layer=layer)
    if w >= trace.n_positions:
        return ctx.t("attention.window_wider", layer=layer, w=w, n=trace.n_positions)
    return ctx.t("attention.window_band", layer=layer, w=w, before=w - 1)


def intro(ctx: ViewContext, text: str) -> None:
    """A view's opening paragraph; on a projector behind a small button (the teacher says it), so the
    figure fits the first screen."""
    if ctx.presentation:
        with st.popover(ctx.t("app.about_view"), icon=":material/info:"):
            st.markdown(text)
    else:
        st.markdown(text)


def trace_notices(lang: str, trace: AttentionTrace) -> None:
    """Tell the class when the model saw less than was typed, or could not read some of it."""
    if trace.device != get_model().device.type:
        st.warning(t(lang, "attention.device_fallback", device=get_model().device.type), icon="🖥️")
    if trace.truncated:
        st.warning(t(lang, "attention.truncated", n=trace.n_positions), icon="✂️")
    unknown_notice(lang, trace)
    if any(BYTE_PART in tok or BYTE_HEX in tok for tok in trace.tokens):
        st.caption(t(lang, "models.byte_tokens"))
        chinese_decoder_offer(lang, trace)


def chinese_decoder_offer(lang: str, trace: AttentionTrace) -> None:
    """Chinese read as bytes by a decoder: one click shows the text on the decoder that reads it as words."""
    if trace.model_name == CHINESE_DECODER or not has_chinese(st.session_state.get("text", "")):
        return
    if CHINESE_DECODER not in model_names():
        return
    st.info(t(lang, "models.chinese_on_bytes", model=trace.model_name, other=CHINESE_DECODER), icon="🈶")
    st.button(
        t(lang, "models.use_model", name=CHINESE_DECODER),
        key=f"use_decoder_{trace.model_name}",
        on_click=use_model,
        args=(CHINESE_DECODER,),
        icon=":material/translate:",
    )


def unknown_notice(lang: str, trace: AttentionTrace) -> None:
    """How many tokens the model could not read, with a button to show the text on a model that reads Chinese."""
    unknown = sum(trace.unknown)
    if not unknown:
        return
    st.info(t(lang, "models.unknown_tokens", n=unknown, model=trace.model_name), icon="🈚")
    if trace.model_name != CHINESE_READER and has_chinese("".join(trace.tokens) + st.session_state.get("text", "")):
        st.button(
            t(lang, "models.use_model", name=CHINESE_READER),
            key=f"use_reader_{trace.model_name}",
            on_click=use_model,
            args=(CHINESE_READER,),
            icon=":material/translate:",
        )


def guarded(render: Callable[[], None], message: str) -> None:
    """Run one view; if it fails, say so in its place and let the rest of the page live.

    Errors raised on purpose (AttentionLabError) carry a message written for the user. Anything
    else is a bug: logged with its traceback for the operator, a short notice for the class.
    Streamlit's own rerun/stop signals are BaseExceptions and pass through untouched.
    """
    try:
        render()
    except AttentionLabError as err:
        st.warning(str(err), icon="⚠️")
    except Exception as err:  # noqa: BLE001 - one view's bug must not take the page down
        log.exception("view failed")
        st.error(f"{message} ({type(err).__name__})", icon="🚧")
