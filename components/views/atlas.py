"""The Head atlas view: what every head of the chosen model does over the shipped corpus (assets/corpus/), a
label for each in the manner of Clark et al. 2019, the per-layer curve of the mass on special tokens and on
position 0, and a click on a head that opens it in the Attention view.

The statistics are model/experiments/atlas.py's. For the built-in models they ship as JSON (assets/heads/, made with
`python -m model.heads --regenerate`): computing them takes 0.7 s for all-MiniLM-L6-v2, 1.6 s for multilingual-e5-small and
10 s for SmolLM2-135M-Instruct on one CPU thread, and those 10 s would hold the one model thread every student
shares. A model the operator added is computed here once per corpus (cached for the process), sentence by
sentence on the model thread, so other students' traces interleave. A corpus is offered when its statistics ship
or can be computed; all-MiniLM-L6-v2 cannot read Chinese (most characters become [UNK]), so it has none for zh.
"""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

from components import ui
from components.cache import get_model, selected_model_name, trace_uncached
from components.context import ViewContext
from components.figures.atlas import ANNOTATE_CELLS, MARKS, atlas_figure, curve_figure
from components.figures.common import PLOT_CONFIG
from model.experiments.atlas import (
    FIELDS,
    LABELS,
    THRESHOLDS,
    Atlas,
    atlas_from_json,
    corpus_stats,
    precomputed,
    read_sentences,
)
from model.registry import BUILT_IN

CORPUS_DIR = Path(__file__).resolve().parents[2] / "assets" / "corpus"
CORPORA = ("en", "zh")


@st.cache_data(max_entries=16, show_spinner=False)
def computed(model_name: str, corpus: str) -> dict:
    """`python -m model.heads` of a model without shipped statistics, traced here sentence by sentence on the
    model thread; with the share of tokens it could not read ("unknown")."""
    unknown = total = 0

    def traces():
        nonlocal unknown, total
        for sentence in read_sentences(CORPUS_DIR / f"{corpus}.txt"):
            trace = trace_uncached(model_name, sentence)
            unknown += sum(trace.unknown)
            total += trace.n_positions
            yield trace

    payload = corpus_stats(traces(), model=model_name).to_json()
    return {**payload, "unknown": unknown / max(total, 1)}


def available(model_name: str) -> list[str]:
    """The corpora the atlas offers for a model: a built-in model's shipped ones, any for another."""
    if model_name in BUILT_IN:
        return [c for c in CORPORA if precomputed(model_name, c) is not None]
    return list(CORPORA)


def atlas_for(model_name: str, corpus: str) -> Atlas:
    shipped = precomputed(model_name, corpus)
    return atlas_from_json(shipped if shipped is not None else computed(model_name, corpus), corpus)


# ── Figures, pure Plotly ──────────────────────────────────────────────────────────────────────────


# ── The view ──────────────────────────────────────────────────────────────────────────────────────


def _open_head() -> None:
    """A click on a cell: that head, in the Attention view."""
    state = st.session_state.get("atlas_map")
    try:
        point = state["selection"]["points"][0]
        layer, head = int(round(point["y"])), int(round(point["x"]))
    except (TypeError, KeyError, IndexError, ValueError):
        return
    st.session_state["layer"], st.session_state["head"] = layer, head
    st.session_state["view"] = "attention"


def render(ctx: ViewContext) -> None:
    name = selected_model_name()
    corpora = available(name)
    ui.intro(ctx, ctx.t("atlas.intro"))
    if not corpora:
        st.info(ctx.t("atlas.no_corpus", model=name), icon="🗺️")
        return
    at_corpus, at_field = st.columns([1.3, 5], vertical_alignment="bottom")
    if st.session_state.get("atlas_corpus") not in corpora:  # a link's corpus this model has no statistics for
        st.session_state["atlas_corpus"] = corpora[0]
    corpus = ui.choice(ctx, "atlas.corpus", corpora, "atlas_corpus", place=at_corpus, helped=False)
    field = ui.choice(ctx, "atlas.statistic", FIELDS, "atlas_field", place=at_field)
    if "zh" not in corpora:
        st.caption(ctx.t("atlas.no_chinese", model=name))
    with st.spinner(ctx.t("atlas.computing", model=name)):
        atlas = atlas_for(name, corpus)
    if atlas.unknown is not None and atlas.unknown > 0.05:
        st.warning(ctx.t("atlas.unknown", share=f"{atlas.unknown:.0%}", model=name), icon="🈚")
    _render_map(ctx, atlas, field)


def _render_map(ctx: ViewContext, atlas: Atlas, field: str) -> None:
    n_layers, n_heads = atlas.shape
    chosen = (ctx.layer, ctx.head) if ctx.layer < n_layers and ctx.head < n_heads else None
    left, right = st.columns([3, 2], gap="medium")
    names = {f: ctx.t(f"atlas.statistic_{f}") for f in FIELDS}
    with left:
        fig = atlas_figure(
            atlas,
            field,
            title=ctx.t("atlas.map_title", stat=names[field], n=atlas.n_sentences),
            value_name=names[field],
            layer_title=ctx.t("common.layer"),
            head_title=ctx.t("common.head"),
            hover_names=names,
            chosen=chosen,
            presentation=ctx.presentation,
            width_px=int(ui.page_px(ctx) * 0.6),
        )
        st.plotly_chart(fig, key="atlas_map", config=PLOT_CONFIG, on_select=_open_head, selection_mode="points")
        cuts = {f"cut_{field}": f"{cut:g}" for field, cut in THRESHOLDS.items()}
        caption = ctx.t("atlas.map_caption", **{f"mark_{k}": v for k, v in MARKS.items()}, **cuts)
        if n_layers * n_heads > ANNOTATE_CELLS:
            caption = ui.joined(ctx.lang, caption, ctx.t("atlas.marks_off", n=n_layers * n_heads))
        st.caption(caption)
    with right:
        curves = {
            ctx.t("atlas.curve_special"): atlas.by_layer("special"),
            ctx.t("atlas.curve_first"): atlas.by_layer("first"),
        }
        fig = curve_figure(
            curves,
            title=ctx.t("atlas.curve_title"),
            layer_title=ctx.t("common.layer"),
            value_title=ctx.t("atlas.curve_value"),
            presentation=ctx.presentation,
        )
        ui.figure(fig, ctx.t("atlas.curve_caption"), key="atlas_curve")
        _render_labels(ctx, atlas)


def _render_labels(ctx: ViewContext, atlas: Atlas) -> None:
    """Each label with how many heads carry it and the strongest few, "layer · head (value)"."""
    lines = []
    for field, label in LABELS.items():
        found = atlas.labelled(label)
        strongest = ctx.t("atlas.list_sep").join(
            ctx.t("atlas.head_value", layer=layer, head=head, value=f"{value:.2f}") for layer, head, value in found[:4]
        )
        more = ctx.t("atlas.and_more", n=len(found) - 4) if len(found) > 4 else ""
        lines.append(
            ctx.t(
                f"atlas.label_{label}",
                mark=MARKS[label],
                n=len(found),
                cut=f"{THRESHOLDS[field]:g}",
                heads=(strongest + more) or "—",
            )
        )
    st.markdown("\n".join(f"- {line}" for line in lines))
    st.caption(ctx.t("atlas.labels_caption", sentences=atlas.n_sentences, total=math.prod(atlas.shape)))
    if get_model().decoder:
        st.caption(ctx.t("atlas.decoder_note"))
    st.caption(ctx.t("atlas.breadth_changed"))
