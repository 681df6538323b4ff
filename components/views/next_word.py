"""The Next-word view (decoders only): what the model would write after any token of the sentence, how a
temperature reshapes that distribution, and where the token looks to decide; a click adds a predicted token
to the sentence, so a class writes with the model one token at a time and watches its attention change.

    p(next | tokens 0 … i) = softmax(logits_i / T),  logits_i = final_norm(x_i) · Eᵀ

The causal mask is what makes "after token i" mean something: position i's output, and so its prediction,
depends only on tokens 0 … i. Figures are pure builders; render() draws.
"""

from __future__ import annotations

import streamlit as st

from components import ui
from components.cache import get_model, get_trace, on_model_thread
from components.context import ViewContext
from components.figures.common import token_labels
from components.figures.next_word import looks_figure, next_word_figure
from components.params import PARAMS
from components.session import checked_state
from model.readouts.next_word import Candidate, position_logits, probabilities, top_candidates
from model.tokens import BYTE_HEX, token_text
from model.trace import AttentionTrace

TOP_K = 10  # candidates drawn
ADDABLE = 5  # the most likely ones get a button that adds them to the sentence


def quoted(text: str) -> str:
    """A token as a label: quoted, so that a leading space (" Paris") is seen."""
    return f"“{text}”"


def _add_token(addition: str) -> None:
    """A button's callback: the predicted token goes onto the end of the sentence."""
    st.session_state["text"] = st.session_state["text"] + addition
    st.session_state["after"] = -1  # the prediction follows the new last token


def _pick_position(ctx: ViewContext, trace: AttentionTrace) -> int:
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


def render(ctx: ViewContext) -> None:
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
            [quoted(text) for text in texts],
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
            st.markdown(ctx.t("next.actual", token=ui.md_escape(quoted(real)), p=f"{plain_all[actual]:.1%}", rank=rank))
    _render_looks(ctx, trace, position)


def _render_buttons(ctx: ViewContext, candidates: list[Candidate], texts: list[str]) -> None:
    """A button for each of the most likely tokens; a token that is only part of a character cannot be added."""
    st.markdown(ctx.t("next.add_heading"))
    with st.container(horizontal=True, gap="small"):
        for candidate, text in zip(candidates[:ADDABLE], texts[:ADDABLE], strict=True):
            partial = text.startswith(BYTE_HEX)
            st.button(
                quoted(text),
                key=f"add_{candidate.token_id}",
                on_click=_add_token,
                args=(text,),
                disabled=partial,
                help=ctx.t("next.partial") if partial else ctx.t("next.add_help", p=f"{candidate.probability:.1%}"),
            )


def _render_looks(ctx: ViewContext, trace: AttentionTrace, position: int) -> None:
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
