"""The Compare view: two sentences in the same layer and head of the pretrained model, side by side,
with what every word found in both attends to in each; then one sentence on the playground model
without and with a causal mask, where every α′ above the diagonal becomes exactly 0; then the same
sentence on a real encoder and a real decoder (SmolLM2), which looks only backwards.

Figures come from the one heatmap builder (components/figures/common.py); render() draws.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np
import streamlit as st

from components import ui
from components.axis import Axis, axis_of
from components.cache import get_model, get_trace, is_loaded
from components.context import ViewContext
from components.figures.common import token_labels
from components.figures.compare import pair_figure
from components.glossary import file_name
from components.params import Param, clean_text
from components.playground_state import playground_config, playground_traces
from components.session import checked_state
from components.text import has_chinese
from model import PlaygroundConfig
from model.readouts.analysis import later_share, same_depth, top_other
from model.registry import CHINESE_DECODER, CHINESE_READER, DEFAULT_DECODER, DEFAULT_MODEL, model_names
from model.trace import AttentionTrace


@dataclass(frozen=True)
class Drawn:
    """One sentence's head as drawn: α′ on the positions shown (special tokens perhaps hidden, rows
    renormalized), the first `limit` of them."""

    weights: np.ndarray  # [query_pos, key_pos]
    axis: Axis


def shown_head(trace: AttentionTrace, layer: int, head: int, hide_special: bool, limit: int) -> Drawn:
    """α′ of one head, without [CLS]/[SEP] when asked, cut to the first `limit` positions."""
    axis = axis_of(trace, hide_special)
    weights = axis.weights(trace.layers[layer].weights[head])  # [query_pos, key_pos]
    return Drawn(weights[:limit, :limit], axis.first(limit))


def shared_summary(a: Drawn, b: Drawn) -> list[tuple[str, int, int | None, int, int | None]]:
    """For every word in both sentences (first occurrence in each, special tokens and bare punctuation
    left out), in A's order: (word, its position in A, the key it attends to most in A, the same two for B)."""
    first_b: dict[str, int] = {}
    for j, tok in enumerate(b.axis.tokens):
        if not b.axis.special[j]:
            first_b.setdefault(tok, j)
    rows, seen = [], set()
    for i, tok in enumerate(a.axis.tokens):
        if a.axis.special[i] or tok in seen or tok not in first_b or not any(ch.isalnum() for ch in tok):
            continue
        seen.add(tok)
        j = first_b[tok]
        top_a = top_other(a.weights, a.axis.special, i)
        rows.append((tok, i, top_a, j, top_other(b.weights, b.axis.special, j)))
    return rows


def _text_b_box(ctx: ViewContext) -> str:
    """The second sentence's box; its text is cleaned like the first one's, with the same notices. On a
    projector it shares a row with the paragraph's button, its label inside it."""
    text, notices = clean_text(st.session_state["text_b"])
    if text != st.session_state["text_b"]:
        st.session_state["text_b"] = text
    about, box = st.columns([2, 8], vertical_alignment="bottom") if ctx.presentation else (st.container(),) * 2
    with about:
        ui.intro(ctx, ctx.t("compare.intro"))
    box.text_input(
        ctx.t("compare.text_b"),
        key="text_b",
        persist_state="session",
        label_visibility="collapsed" if ctx.presentation else "visible",
        placeholder=ctx.t("compare.text_b"),
    )
    for notice in notices:
        st.warning(ctx.t(notice.key, **notice.values), icon="⚠️")
    return st.session_state["text_b"]


def render(ctx: ViewContext) -> None:
    text_b = _text_b_box(ctx)
    _render_sentences(ctx, text_b)
    st.divider()
    _render_causal(ctx)
    st.divider()
    _render_real_pair(ctx)


def encoder_and_decoder(selected: str, decoder_selected: bool, text: str) -> tuple[str, str]:
    """The two real models to set side by side: the session's own and the other kind, one that reads the text
    (for Chinese: e5 as the encoder, Gemma 3 as the decoder)."""
    if decoder_selected:
        return (CHINESE_READER if has_chinese(text) else DEFAULT_MODEL), selected
    return selected, (CHINESE_DECODER if has_chinese(text) else DEFAULT_DECODER)


def _render_real_pair(ctx: ViewContext) -> None:
    """The main sentence on a real encoder and on a real decoder, at the same relative depth: the decoder's
    α′ above the diagonal is exactly 0, the encoder's is not."""
    st.markdown(ctx.t("compare.real_heading"))
    loaded = get_model()
    names = encoder_and_decoder(loaded.name, loaded.decoder, ctx.text)
    if names[0] not in model_names() or names[1] not in model_names():
        return
    other = names[1] if not loaded.decoder else names[0]
    # Another model costs a load (seconds, the first time) and a trace per sentence on the one model thread
    # every student shares: it runs when the class asks, not on every visit.
    if not st.toggle(ctx.t("compare.real_show", model=other), key="cmp_real_on", persist_state="session"):
        return
    with st.spinner(ctx.t("models.loading", name=other)) if not is_loaded(other) else contextlib.nullcontext():
        traces = [get_trace(ctx.text, model_name=name) for name in names]
    depth = [same_depth(ctx.layer, loaded.config.n_layers, trace.n_layers) for trace in traces]
    heads = [min(ctx.head, trace.n_heads - 1) for trace in traces]
    limit = min(ui.row_capacity(ctx.presentation), ui.key_capacity(ctx.presentation, ctx.width, panels=2))
    matrices = [
        t.layers[layer].weights[head][:limit, :limit] for t, layer, head in zip(traces, depth, heads, strict=True)
    ]
    labels = [token_labels(t.tokens[:limit]) for t in traces]
    titles = [
        ctx.t("compare.real_panel", model=name, layer=layer, head=head)
        for name, layer, head in zip(names, depth, heads, strict=True)
    ]
    fig = pair_figure(
        (matrices[0], matrices[1]),
        (labels[0], labels[1]),
        (titles[0], titles[1]),
        title=ctx.t("compare.real_title"),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        annotate=max(map(len, labels)) <= 10,
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("compare.real_caption"), key="cmp_real", lang=ctx.lang)
    shares = [float(np.mean([later_share(lt.weights) for lt in trace.layers])) for trace in traces]  # layer by layer
    st.markdown(
        ctx.t(
            "compare.real_share",
            encoder=names[0],
            decoder=names[1],
            share=f"{shares[0]:.0%}",
            zero=f"{shares[1]:.3f}",
        )
    )


def _render_sentences(ctx: ViewContext, text_b: str) -> None:
    layer, head, p = ctx.layer, ctx.head, ctx.presentation
    if not text_b.strip():
        st.info(ctx.t("compare.empty_b"), icon="✍️")
        return
    limit = min(
        ui.row_capacity(p), ui.key_capacity(p, ctx.width, panels=2)
    )  # two panels side by side, every label drawn
    trace_a, trace_b = get_trace(ctx.text), get_trace(text_b)
    ui.unknown_notice(ctx.lang, trace_a if any(trace_a.unknown) else trace_b)
    a = shown_head(trace_a, layer, head, ctx.hide_special, limit)
    b = shown_head(trace_b, layer, head, ctx.hide_special, limit)
    n = max(len(a.axis), len(b.axis))
    fig = pair_figure(
        (a.weights, b.weights),
        (a.axis.labels, b.axis.labels),
        (ctx.t("compare.sentence_a"), ctx.t("compare.sentence_b")),
        title=ctx.t("compare.pair_title", layer=layer, head=head),
        x_title=ctx.t("common.key"),
        y_title=ctx.t("common.query"),
        annotate=n <= 10,
        presentation=p,
    )
    downloads = [
        ui.Download(
            file_name("weight", prefix=name, layer=layer, head=head),
            drawn.weights,
            drawn.axis.files,
            drawn.axis.files,
            label,
        )
        for drawn, name, label in ((a, "compare_a", "A"), (b, "compare_b", "B"))
    ]
    ui.figure(fig, ctx.t("compare.pair_caption"), key="cmp_pair", downloads=downloads, lang=ctx.lang)
    if max(trace_a.n_positions, trace_b.n_positions) > limit:
        st.caption(ctx.t("compare.first_positions", shown=limit))
    _render_summary(ctx, a, b)


def _render_summary(ctx: ViewContext, a: Drawn, b: Drawn) -> None:
    """Every word found in both sentences, one row each: what it attends to most in A and in B."""
    rows = shared_summary(a, b)
    st.markdown(ctx.t("compare.summary_heading", n=len(rows)))
    if not rows:
        st.caption(ctx.t("compare.no_shared"))
        return
    header = [ctx.t("compare.word"), ctx.t("compare.in_a"), ctx.t("compare.in_b")]
    lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- |"]
    lines += [
        f"| **{ui.md_escape(word)}** | {_attends(ctx, a, i, top_a)} | {_attends(ctx, b, j, top_b)} |"
        for word, i, top_a, j, top_b in rows
    ]
    st.markdown("\n".join(lines))
    st.caption(ctx.t("compare.summary_caption"))


def _attends(ctx: ViewContext, drawn: Drawn, query: int, top_word: int | None) -> str:
    """ "**5 river** (α′ = 0.24)", or "**0 [CLS]** (α′ = 0.62), then **5 river** (α′ = 0.24)" when the
    strongest key is a special token or the word itself. Keys carry their position, as on the axes."""

    def key(k: int) -> str:
        files = drawn.axis.files
        return ctx.t("compare.top", token=ui.md_escape(files[k]), alpha=f"{drawn.weights[query, k]:.2f}")

    top_any = int(np.argmax(drawn.weights[query]))
    if top_word is None or top_word == top_any:
        return key(top_any)
    return ctx.t("compare.top_then", first=key(top_any), then=key(top_word))


def _render_causal(ctx: ViewContext) -> None:
    """The playground model on the main sentence, without and with a causal mask."""
    st.markdown(ctx.t("compare.causal_heading"))

    def configs() -> list[PlaygroundConfig]:
        config = playground_config(st.session_state)
        return [replace(config, mask="none"), replace(config, mask="causal")]

    traced = playground_traces(ctx, ctx.text, configs)
    if traced is None:
        return
    (config, plain), (_, causal) = traced
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
    limit = min(ui.row_capacity(ctx.presentation), ui.key_capacity(ctx.presentation, ctx.width, panels=2))
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
    files = axis_of(plain, False).files[:limit]
    downloads = [
        ui.Download(file_name("weight", prefix=name, layer=layer, head=head), matrix, files, files, ctx.t(label))
        for matrix, name, label in (
            (before, "playground_no_mask", "compare.no_mask"),
            (after, "playground_causal", "compare.causal_mask"),
        )
    ]
    ui.figure(fig, ctx.t("compare.causal_caption"), key="cmp_causal", downloads=downloads, lang=ctx.lang)
    if plain.n_positions > limit:
        st.caption(ctx.t("compare.first_positions", shown=limit))
    upper = np.triu(np.ones_like(after, dtype=bool), k=1)  # [query_pos, key_pos] above the diagonal
    if upper.any():
        st.markdown(
            ctx.t(
                "compare.upper",
                before=f"{before[upper].sum() / len(before):.0%}",
                after=f"{after[upper].max():.3f}",
            )
        )
