"""The Compare view: two sentences in the same layer and head of the pretrained model, side by side,
with what a word found in both attends to in each; then one sentence on the playground model
without and with a causal mask, where every α above the diagonal becomes exactly 0.

Figures are pure builders; render() draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import ui
from components.cache import get_playground_trace, get_trace
from components.controls import Controls, checked_state
from components.figures import ALPHA_COLORAXIS, style, token_labels
from components.params import Param, clean_text
from components.playground import MAX_TICK_LABELS, state_config
from model.analysis import renormalize_without
from model.errors import EmptyTextError, InvalidConfigError
from model.trace import AttentionTrace

MAX_CELLS = 2**17  # α values per panel sent to the browser (~0.7 MB as base64 float32)
MAX_SHARED = 6  # words listed in the summary


@dataclass(frozen=True)
class Shown:
    """One head's α as drawn: positions kept (special tokens perhaps hidden), their tokens and labels."""

    weights: np.ndarray  # [query_pos, key_pos]
    tokens: tuple[str, ...]
    special: np.ndarray  # [pos] bool
    labels: list[str]  # for Plotly, escaped
    files: list[str]  # for downloads, plain


def shown_head(trace: AttentionTrace, layer: int, head: int, hide_special: bool, limit: int) -> Shown:
    """α of one head, without [CLS]/[SEP] when asked (rows renormalized), cut to the first `limit` positions."""
    weights = trace.layers[layer].weights[head]  # [query_pos, key_pos]
    special = trace.is_special()
    keep = np.arange(trace.n_positions)
    if hide_special and special.any() and not special.all():
        weights = renormalize_without(weights, special)  # [query_pos', key_pos']
        keep = np.flatnonzero(~special)
    keep = keep[:limit]
    weights = weights[: len(keep), : len(keep)]
    labels = token_labels(trace.tokens)
    files = ui.labels_for_files(trace.tokens)
    return Shown(
        weights=weights,
        tokens=tuple(trace.tokens[i] for i in keep),
        special=special[keep],
        labels=[labels[i] for i in keep],
        files=[files[i] for i in keep],
    )


def top_other(weights: np.ndarray, special: np.ndarray, query: int) -> int | None:
    """The key a query gives most α to, leaving out itself and special tokens (None if none is left)."""
    row = np.where(special, -np.inf, np.asarray(weights[query], dtype=np.float64))  # [key_pos]
    row[query] = -np.inf
    best = int(np.argmax(row))
    return None if not np.isfinite(row[best]) else best


def shared_summary(a: Shown, b: Shown, limit: int = MAX_SHARED) -> list[tuple[str, int, int | None, int, int | None]]:
    """For each word in both sentences (first occurrence in each, special tokens left out):
    (word, its position in A, the key it attends to most in A, the same two for B)."""
    first_b: dict[str, int] = {}
    for j, tok in enumerate(b.tokens):
        if not b.special[j]:
            first_b.setdefault(tok, j)
    rows, seen = [], set()
    for i, tok in enumerate(a.tokens):
        if a.special[i] or tok in seen or tok not in first_b or not any(ch.isalnum() for ch in tok):
            continue
        seen.add(tok)
        j = first_b[tok]
        rows.append((tok, i, top_other(a.weights, a.special, i), j, top_other(b.weights, b.special, j)))
    return rows[:limit]


def pair_figure(
    matrices: tuple[np.ndarray, np.ndarray],
    labels: tuple[list[str], list[str]],
    panel_titles: tuple[str, str],
    *,
    title: str = "",
    x_title: str = "key",
    y_title: str = "query",
    annotate: bool = False,
    presentation: bool = False,
) -> go.Figure:
    """Two α matrices side by side on one 0 … 1 scale; each keeps its own token axes."""
    # The right panel's token labels sit in the gap: widen it with the longest label and the font.
    longest = max((len(name) for names in labels for name in names), default=1)
    gap = min(0.3, 0.04 + 0.007 * longest * (1.5 if presentation else 1.0))
    fig = make_subplots(rows=1, cols=2, subplot_titles=panel_titles, horizontal_spacing=gap)
    for col, (matrix, names) in enumerate(zip(matrices, labels, strict=True), start=1):
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(matrix, dtype=np.float32),
                x=names,
                y=names,
                coloraxis="coloraxis",
                texttemplate="%{z:.2f}" if annotate else None,
                hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>α = %{{z:.3f}}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    n = max(len(names) for names in labels)
    ticks = n <= MAX_TICK_LABELS
    fig.update_layout(
        title={"text": title},
        coloraxis=ALPHA_COLORAXIS,
    )
    fig.update_xaxes(type="category", tickangle=-60, showticklabels=ticks, title={"text": x_title})
    fig.update_yaxes(type="category", autorange="reversed", showticklabels=ticks)
    fig.update_yaxes(title={"text": y_title}, col=1)
    return style(fig, presentation, max(360, min(760, 200 + 24 * n)))


def _text_b_box(ctx: Controls) -> str:
    """The second sentence's box; its text is cleaned like the first one's, with the same notices."""
    text, notices = clean_text(st.session_state["text_b"])
    if text != st.session_state["text_b"]:
        st.session_state["text_b"] = text
    st.text_input(ctx.t("compare.text_b"), key="text_b", persist_state="session")
    for notice in notices:
        st.warning(ctx.t(notice.key, **notice.values), icon="⚠️")
    return st.session_state["text_b"]


def render(ctx: Controls) -> None:
    st.markdown(ctx.t("compare.intro"))
    text_b = _text_b_box(ctx)
    _render_sentences(ctx, text_b)
    st.divider()
    _render_causal(ctx)


def _render_sentences(ctx: Controls, text_b: str) -> None:
    layer, head, p = ctx.layer, ctx.head, ctx.presentation
    if not text_b.strip():
        st.info(ctx.t("compare.empty_b"), icon="✍️")
        return
    limit = math.isqrt(MAX_CELLS)
    trace_a, trace_b = get_trace(ctx.text), get_trace(text_b)
    unknown = sum(tok == "[UNK]" for tok in trace_a.tokens + trace_b.tokens)
    if unknown:
        st.info(ctx.t("attention.unknown_tokens", n=unknown), icon="🈚")
    a = shown_head(trace_a, layer, head, ctx.hide_special, limit)
    b = shown_head(trace_b, layer, head, ctx.hide_special, limit)
    n = max(len(a.tokens), len(b.tokens))
    fig = pair_figure(
        (a.weights, b.weights),
        (a.labels, b.labels),
        (ctx.t("compare.sentence_a"), ctx.t("compare.sentence_b")),
        title=ctx.t("compare.pair_title", layer=layer, head=head),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        annotate=n <= 10,
        presentation=p,
    )
    ui.figure(fig, ctx.t("compare.pair_caption"), key="cmp_pair")
    if max(trace_a.n_positions, trace_b.n_positions) > limit:
        st.caption(ctx.t("compare.first_positions", shown=limit))

    rows = shared_summary(a, b)
    st.markdown(ctx.t("compare.summary_heading"))
    if not rows:
        st.caption(ctx.t("compare.no_shared"))
    lines = [
        ctx.t(
            "compare.summary_line", word=ui.md_escape(word), a=_attends(ctx, a, i, top_a), b=_attends(ctx, b, j, top_b)
        )
        for word, i, top_a, j, top_b in rows
    ]
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
        st.caption(ctx.t("compare.summary_caption"))
    c1, c2 = st.columns(2)
    for col, shown, name in ((c1, a, "compare_a"), (c2, b, "compare_b")):
        with col:
            st.caption(f"{name}_layer{layer}_head{head}  [{len(shown.tokens)} × {len(shown.tokens)}]")
            ui.matrix_downloads(
                f"{name}_layer{layer}_head{head}",
                shown.weights,
                shown.files,
                shown.files,
                ctx.t("common.download_csv"),
                ctx.t("common.download_json"),
            )


def _attends(ctx: Controls, shown: Shown, query: int, top_word: int | None) -> str:
    """ "**5 river** (α = 0.24)", or "**0 [CLS]** (α = 0.62), then **5 river** (α = 0.24)" when the
    strongest key is a special token or the word itself. Keys carry their position, as on the axes."""

    def key(k: int) -> str:
        return ctx.t("compare.top", token=ui.md_escape(shown.files[k]), alpha=f"{shown.weights[query, k]:.2f}")

    top_any = int(np.argmax(shown.weights[query]))
    if top_word is None or top_word == top_any:
        return key(top_any)
    return ctx.t("compare.top_then", first=key(top_any), then=key(top_word))


def _render_causal(ctx: Controls) -> None:
    """The playground model on the main sentence, without and with a causal mask."""
    st.markdown(ctx.t("compare.causal_heading"))
    try:
        config = replace(state_config(st.session_state), mask="none")
        plain = get_playground_trace(config, ctx.text)
        causal = get_playground_trace(replace(config, mask="causal"), ctx.text)
    except InvalidConfigError as err:
        st.warning(ctx.t("compare.invalid", detail=str(err)), icon="⚠️")
        return
    except EmptyTextError:
        st.info(ctx.t("compare.no_tokens"), icon="✍️")
        return
    st.caption(
        ctx.t(
            "compare.config",
            d_model=config.d_model,
            n_heads=config.n_heads,
            normalizer=config.normalizer,
            seed=config.seed,
        )
    )
    layer = min(int(st.session_state.get("pg_layer", 0)), config.n_layers - 1)
    checked_state("cmp_head", Param("int", 0, 0, config.n_heads - 1))
    head = st.segmented_control(
        ctx.t("compare.pg_head"), range(config.n_heads), key="cmp_head", required=True, persist_state="session"
    )
    limit = math.isqrt(MAX_CELLS)
    before = plain.layers[layer].weights[head][:limit, :limit]  # [query_pos, key_pos]
    after = causal.layers[layer].weights[head][:limit, :limit]  # [query_pos, key_pos]
    labels = token_labels(plain.tokens[:limit])
    fig = pair_figure(
        (before, after),
        (labels, labels),
        (ctx.t("compare.no_mask"), ctx.t("compare.causal_mask")),
        title=ctx.t("compare.causal_title", layer=layer, head=head),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        annotate=len(labels) <= 10,
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("compare.causal_caption"), key="cmp_causal")
    upper = np.triu(np.ones_like(after, dtype=bool), k=1)  # [query_pos, key_pos] above the diagonal
    if upper.any():
        st.markdown(
            ctx.t(
                "compare.upper",
                before=f"{before[upper].sum() / len(before):.0%}",
                after=f"{after[upper].max():.3f}",
            )
        )
    files = ui.labels_for_files(plain.tokens[:limit])
    c1, c2 = st.columns(2)
    for col, matrix, name in ((c1, before, "pg_no_mask"), (c2, after, "pg_causal")):
        with col:
            ui.matrix_downloads(
                f"{name}_layer{layer}_head{head}",
                matrix,
                files,
                files,
                ctx.t("common.download_csv"),
                ctx.t("common.download_json"),
            )
