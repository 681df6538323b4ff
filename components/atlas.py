"""The Head atlas view: what every head of the chosen model does over the shipped corpus (assets/corpus/), a
label for each in the manner of Clark et al. 2019, the per-layer curve of the mass on special tokens and on
position 0, and a click on a head that opens it in the Attention view.

The statistics are model/heads.py's. For the built-in models they ship as JSON (assets/heads/, made with
`python -m model.heads`): computing them takes 0.7 s for all-MiniLM-L6-v2, 1.6 s for multilingual-e5-small and
10 s for SmolLM2-135M-Instruct on one CPU thread, and those 10 s would hold the one model thread every student
shares. A model the operator added is computed here once per corpus (cached for the process), sentence by
sentence on the model thread, so other students' traces interleave. A corpus is offered when its statistics ship
or can be computed; all-MiniLM-L6-v2 cannot read Chinese (most characters become [UNK]), so it has none for zh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from components import ui
from components.cache import get_model, load_model, on_model_thread, selected_model_name
from components.controls import Controls
from components.figures import PLOT_CONFIG, Panel, heatmap_grid, sizes, styled_figure
from model import trace_any
from model.heads import FIELDS, LABELS, THRESHOLDS, corpus_stats, precomputed, read_sentences
from model.registry import BUILT_IN

CORPUS_DIR = Path(__file__).resolve().parent.parent / "assets" / "corpus"
CORPORA = ("en", "zh")
SHARES = ("prev", "next", "self", "special", "punct", "first", "breadth")  # fields in 0 … 1; entropy is in nats
MARKS = {"previous": "←", "next": "→", "self": "○", "special": "▣", "broad": "≈"}  # a label, drawn in its cell
ANNOTATE_CELLS = 150  # heads up to which each cell's label mark is drawn


@dataclass(frozen=True)
class Atlas:
    """One model's head statistics over one corpus, as arrays."""

    model: str
    corpus: str
    n_sentences: int
    values: dict[str, np.ndarray]  # field -> [layer, head]; NaN where undefined
    labels: tuple[tuple[tuple[str, ...], ...], ...]  # [layer][head] -> the head's labels
    unknown: float | None  # share of tokens the model could not read, where known

    @property
    def shape(self) -> tuple[int, int]:
        return self.values["self"].shape

    def labelled(self, label: str) -> list[tuple[int, int, float]]:
        """(layer, head, value) of every head with `label`, strongest first."""
        field = next(f for f, name in LABELS.items() if name == label)
        found = [
            (layer, head, float(self.values[field][layer, head]))
            for layer, row in enumerate(self.labels)
            for head, names in enumerate(row)
            if label in names
        ]
        return sorted(found, key=lambda x: -x[2])

    def by_layer(self, field: str) -> np.ndarray:
        """A field's mean over each layer's heads.  # [layer]"""
        return np.nanmean(self.values[field], axis=1)


def atlas_from_json(payload: dict, corpus: str) -> Atlas:
    """The JSON of `python -m model.heads` (its last line) as an Atlas. Heads come in any order; a missing or
    null number is NaN."""
    heads = payload["heads"]
    n_layers = 1 + max(h["layer"] for h in heads)
    n_heads = 1 + max(h["head"] for h in heads)
    values = {field: np.full((n_layers, n_heads), np.nan) for field in FIELDS}
    labels = [[() for _ in range(n_heads)] for _ in range(n_layers)]
    for h in heads:
        for field in FIELDS:
            if h.get(field) is not None:
                values[field][h["layer"], h["head"]] = h[field]
        labels[h["layer"]][h["head"]] = tuple(h.get("labels", ()))
    return Atlas(
        model=payload["model"],
        corpus=corpus,
        n_sentences=int(payload["n_sentences"]),
        values=values,
        labels=tuple(tuple(row) for row in labels),
        unknown=payload.get("unknown"),
    )


@st.cache_data(max_entries=16, show_spinner=False)
def computed(model_name: str, corpus: str) -> dict:
    """`python -m model.heads` of a model without shipped statistics, traced here sentence by sentence on the
    model thread; with the share of tokens it could not read ("unknown")."""
    loaded = load_model(model_name)
    unknown = total = 0

    def traces():
        nonlocal unknown, total
        for sentence in read_sentences(CORPUS_DIR / f"{corpus}.txt"):
            trace = on_model_thread(trace_any, loaded, sentence)
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


def marks(atlas: Atlas) -> list[str]:
    """Each head's label marks ("←≈"), row-major."""
    return ["".join(MARKS[label] for label in names) for row in atlas.labels for names in row]


def atlas_figure(
    atlas: Atlas,
    field: str,
    *,
    title: str = "",
    value_name: str = "",
    layer_title: str = "layer",
    head_title: str = "head",
    hover_names: dict[str, str] | None = None,
    chosen: tuple[int, int] | None = None,
    presentation: bool = False,
    width_px: int | None = None,
) -> go.Figure:
    """The [layer, head] map of one statistic, each head's label marks in its cell, and an invisible marker on
    every cell that a click selects (its customdata is (layer, head)); `chosen` is outlined."""
    n_layers, n_heads = atlas.shape
    z = atlas.values[field]  # [layer, head]
    zmax = 1.0 if field in SHARES else float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    panel = Panel(z, list(range(n_heads)), list(range(n_layers)), x_title=head_title, y_title=layer_title)
    s = sizes(presentation)
    sizing = {
        "presentation": presentation,
        "width_px": width_px,
        "height": int(min(max(26 * n_layers, 220), 470)) + 150,
    }
    fig = heatmap_grid([panel], title=title, value_name=value_name, zmax=zmax, **sizing)
    layers, heads = np.divmod(np.arange(n_layers * n_heads), n_heads)  # [cell] each, row-major
    names = hover_names or {f: f for f in FIELDS}
    hover = "<br>".join(
        [f"{layer_title} %{{customdata[0]}} · {head_title} %{{customdata[1]}}"]
        + [f"{names[f]} = %{{customdata[{i + 2}]:.3f}}" for i, f in enumerate(FIELDS)]
        + ["%{text}"]
    )
    stats = np.stack([atlas.values[f].ravel() for f in FIELDS], axis=1)  # [cell, field]
    dark = np.nan_to_num(z.ravel() / zmax) > 0.6  # [cell]  white marks on dark cells
    fig.add_trace(
        go.Scatter(
            x=heads,
            y=layers,
            mode="markers+text" if n_layers * n_heads <= ANNOTATE_CELLS else "markers",
            text=marks(atlas),
            textfont={"size": s.tick + 2, "color": np.where(dark, "white", "#08306b").tolist()},
            marker={"symbol": "square", "size": 18, "opacity": 0.01, "color": "#000"},
            customdata=np.column_stack([layers, heads, stats]),
            hovertemplate=hover + "<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_traces(hoverinfo="skip", hovertemplate=None, selector={"type": "heatmap"})
    # The markers must not widen the axes; layer 0 on top; every layer and head numbered while they are few.
    fig.update_xaxes(range=[-0.5, n_heads - 0.5], autorange=False, dtick=1 if n_heads <= 16 else 4)
    fig.update_yaxes(range=[n_layers - 0.5, -0.5], autorange=False, dtick=1 if n_layers <= 12 else 5)
    if chosen is not None:
        layer, head = chosen
        fig.add_shape(
            type="rect",
            x0=head - 0.5,
            x1=head + 0.5,
            y0=layer - 0.5,
            y1=layer + 0.5,
            line={"color": "#e8590c", "width": 3},
        )
    return fig


def curve_figure(
    curves: dict[str, np.ndarray],
    *,
    title: str = "",
    layer_title: str = "layer",
    value_title: str = "",
    presentation: bool = False,
) -> go.Figure:
    """Per-layer curves (name -> [layer]) on a 0 … 1 axis."""
    colours = ("#08306b", "#e6550d", "#31a354")
    n_layers = len(next(iter(curves.values())))
    traces = [
        go.Scatter(
            x=np.arange(len(values)),
            y=np.asarray(values, dtype=np.float64),
            mode="lines+markers",
            name=name,
            line={"width": 3, "color": colours[i % len(colours)]},
            hovertemplate=f"{layer_title} %{{x}}<br>{name} = %{{y:.2f}}<extra></extra>",
        )
        for i, (name, values) in enumerate(curves.items())
    ]
    return styled_figure(
        traces,
        {
            "title": {"text": title},
            "xaxis": {
                "title": {"text": layer_title},
                "dtick": 1 if n_layers <= 12 else 5,
                "range": [-0.5, n_layers - 0.5],
            },
            "yaxis": {"title": {"text": value_title}, "range": [0, 1.02]},
            "legend": {"orientation": "h", "y": -0.3},
        },
        presentation,
        340 if presentation else 320,
    )


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


def render(ctx: Controls) -> None:
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


def _render_map(ctx: Controls, atlas: Atlas, field: str) -> None:
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
            width_px=int(ui.PAGE_PX[ctx.presentation] * 0.6),
        )
        st.plotly_chart(fig, key="atlas_map", config=PLOT_CONFIG, on_select=_open_head, selection_mode="points")
        caption = ctx.t("atlas.map_caption", **{f"mark_{k}": v for k, v in MARKS.items()})
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


def _render_labels(ctx: Controls, atlas: Atlas) -> None:
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
