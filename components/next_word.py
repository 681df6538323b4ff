"""The Next-word view (decoders only): what the model would write after any token of the sentence, how a
temperature reshapes that distribution, and where the token looks to decide; a click adds a predicted token
to the sentence, so a class writes with the model one token at a time and watches its attention change.

    p(next | tokens 0 … i) = softmax(logits_i / T),  logits_i = final_norm(x_i) · Eᵀ

The causal mask is what makes "after token i" mean something: position i's output, and so its prediction,
depends only on tokens 0 … i. Figures are pure builders; render() draws.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from components import ui
from components.cache import get_model, get_trace, on_model_thread
from components.controls import Controls, checked_state
from components.figures import BLUES, escape, sizes, styled_figure, token_labels
from components.params import PARAMS
from model.layers import BYTE_HEX, show_byte_tokens
from model.next_word import Candidate, position_logits, probabilities, top_candidates
from model.trace import AttentionTrace

TOP_K = 10  # candidates drawn
ADDABLE = 5  # the most likely ones get a button that adds them to the sentence
PLAIN = "#9ecae1"  # the model's own distribution (T = 1), behind the reshaped one


def token_text(tokenizer, token_id: int) -> str:
    """How a vocabulary entry reads on its own: its text, or ⟨E9 94⟩ when it holds only part of a character."""
    piece = tokenizer.id_to_token(token_id)
    if piece is None:
        return f"#{token_id}"
    text = tokenizer.decode([token_id], skip_special_tokens=False)
    if text and "\ufffd" not in text:
        return text
    return show_byte_tokens([piece])[0]


def shown(text: str) -> str:
    """A token as a label: quoted, so that a leading space (" Paris") is seen."""
    return f"“{text}”"


def next_word_figure(
    candidates: list[Candidate],
    labels: list[str],
    plain: np.ndarray,
    *,
    actual: int | None = None,
    title: str = "",
    plain_name: str = "T = 1",
    shaped_name: str = "T",
    presentation: bool = False,
) -> go.Figure:
    """The candidates as horizontal bars, most likely on top: the reshaped probabilities in front, the model's
    own (T = 1) behind them; the token that really follows (when it is among them) in orange.
    plain: [k] the probabilities at T = 1 of the same candidates."""
    s = sizes(presentation)
    y = [escape(label) for label in labels]
    shaped = [c.probability for c in candidates]
    colours = ["#e6550d" if c.token_id == actual else BLUES[3][1] for c in candidates]
    traces = [
        go.Bar(
            x=list(plain),
            y=y,
            orientation="h",
            name=plain_name,
            marker={"color": PLAIN},
            hovertemplate="%{y}: %{x:.1%}<extra>" + escape(plain_name) + "</extra>",
        ),
        go.Bar(
            x=shaped,
            y=y,
            orientation="h",
            name=shaped_name,
            marker={"color": colours},
            width=0.5,
            text=[f"{p:.1%}" for p in shaped],
            textposition="outside",
            cliponaxis=False,
            textfont={"size": s.tick},
            hovertemplate="%{y}: %{x:.1%}<extra>" + escape(shaped_name) + "</extra>",
        ),
    ]
    top = max([*shaped, *plain, 0.05])
    layout = {
        "title": {"text": title},
        "barmode": "overlay",
        "xaxis": {"range": [0, min(1.0, top * 1.25)], "tickformat": ".0%", "title": {"text": ""}},
        "yaxis": {"autorange": "reversed", "type": "category"},
        "legend": {"orientation": "h", "y": -0.08, "x": 0},
        "plot_bgcolor": "white",
    }
    return styled_figure(traces, layout, presentation, 150 + len(candidates) * (s.cell + 14))


def looks_figure(
    weights: np.ndarray, labels: list[str], *, title: str = "", value_name: str = "α′", presentation: bool = False
) -> go.Figure:
    """One query's α′ over the keys it may see (a decoder's: itself and those before it), as columns."""
    s = sizes(presentation)
    trace = go.Bar(
        x=labels,
        y=weights,
        marker={"color": BLUES[3][1]},
        hovertemplate="%{x}: " + value_name + " = %{y:.3f}<extra></extra>",
    )
    layout = {
        "title": {"text": title},
        "xaxis": {"type": "category", "tickangle": -60},
        "yaxis": {"range": [0, 1], "title": {"text": value_name}},
        "plot_bgcolor": "white",
    }
    return styled_figure([trace], layout, presentation, 300 + 4 * s.tick)


def _add_token(addition: str) -> None:
    """A button's callback: the predicted token goes onto the end of the sentence."""
    st.session_state["text"] = st.session_state["text"] + addition
    st.session_state["after"] = -1  # the prediction follows the new last token


def _pick_position(ctx: Controls, trace: AttentionTrace) -> int:
    """After which token to predict: the last one unless the class picks another (-1 means the last)."""
    n = trace.n_positions
    labels = dict(enumerate(token_labels(trace.tokens)))
    labels[-1] = ctx.t("next.last", token=labels[n - 1])
    checked_state("after", high=n - 1)
    after = st.select_slider(
        ctx.t("next.after"),
        options=[*range(n - 1), -1],
        key="after",
        format_func=labels.get,
        help=ctx.t("next.after_help"),
    )
    return n - 1 if after == -1 else after


def render(ctx: Controls) -> None:
    loaded = get_model()
    trace = get_trace(ctx.text)
    ui.trace_notices(ctx.lang, trace)
    ui.intro(ctx, ctx.t("next.intro", model=trace.model_name))
    left, right = st.columns([3, 2], gap="medium")
    with right:
        position = _pick_position(ctx, trace)
        checked_state("next_t")
        low, high = PARAMS["next_t"].low, PARAMS["next_t"].high
        temperature = st.slider(
            ctx.t("next.temperature"), low, high, step=0.05, key="next_t", help=ctx.t("next.temperature_help")
        )
    logits = on_model_thread(position_logits, loaded, trace, position)  # [vocab], once for both temperatures
    candidates = top_candidates(logits, TOP_K, temperature)
    plain_all = probabilities(logits, 1.0)  # [vocab]
    plain = plain_all[[c.token_id for c in candidates]]
    texts = [token_text(loaded.tokenizer, c.token_id) for c in candidates]
    last = position == trace.n_positions - 1
    actual = None if last else trace.token_ids[position + 1]
    with left:
        fig = next_word_figure(
            candidates,
            [shown(text) for text in texts],
            plain,
            actual=actual,
            title=ctx.t("next.title", token=token_labels(trace.tokens)[position]),
            plain_name=ctx.t("next.plain"),
            shaped_name=ctx.t("next.shaped", t=f"{temperature:g}"),
            presentation=ctx.presentation,
        )
        ui.figure(fig, ctx.t("next.caption", n=len(candidates), position=position), key="next_bars", lang=ctx.lang)
    with right:
        if last:
            _render_buttons(ctx, candidates, texts)
        else:
            real = token_text(loaded.tokenizer, actual)
            rank = int((plain_all > plain_all[actual]).sum())
            st.markdown(ctx.t("next.actual", token=ui.md_escape(shown(real)), p=f"{plain_all[actual]:.1%}", rank=rank))
    _render_looks(ctx, trace, position)


def _render_buttons(ctx: Controls, candidates: list[Candidate], texts: list[str]) -> None:
    """A button for each of the most likely tokens; a token that is only part of a character cannot be added."""
    st.markdown(ctx.t("next.add_heading"))
    with st.container(horizontal=True, gap="small"):
        for candidate, text in zip(candidates[:ADDABLE], texts[:ADDABLE], strict=True):
            partial = text.startswith(BYTE_HEX)
            st.button(
                shown(text),
                key=f"add_{candidate.token_id}",
                on_click=_add_token,
                args=(text,),
                disabled=partial,
                help=ctx.t("next.partial") if partial else ctx.t("next.add_help", p=f"{candidate.probability:.1%}"),
            )


def _render_looks(ctx: Controls, trace: AttentionTrace, position: int) -> None:
    """Where the predicting token looks in the sidebar's layer and head: its α′ row, up to itself."""
    layer, head = ctx.layer, ctx.head
    row = trace.layers[layer].weights[head][position, : position + 1]  # [key_pos]; keys after it are masked
    labels = token_labels(trace.tokens[: position + 1])
    fig = looks_figure(
        row,
        labels,
        title=ctx.t("next.looks_title", token=token_labels(trace.tokens)[position], layer=layer, head=head),
        presentation=ctx.presentation,
    )
    ui.figure(fig, ctx.t("next.looks_caption"), key="next_looks", lang=ctx.lang)
