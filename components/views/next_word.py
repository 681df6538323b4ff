"""The Next-word view (decoders only): what the model would write after any token of the sentence, how a
temperature reshapes that distribution (and a shrunk window changes it), and where the token looks to decide; a
click adds a predicted token, by its id, and "Write" lets the model go on greedily with its KV cache, timed against
recomputing everything, so a class writes with the model and sees what generation keeps and what it costs.

    p(next | tokens 0 … i) = softmax(logits_i / T),  logits_i = final_norm(x_i) · Eᵀ

The causal mask is what makes "after token i" mean something: position i's output, and so its prediction,
depends only on tokens 0 … i; and it is why the cache may keep the earlier keys and values. Figures are pure
builders; render() draws.
"""

from __future__ import annotations

import streamlit as st

from components import ui
from components.cache import get_model, get_trace, on_model_thread, selected_model_name, window_choice
from components.context import ViewContext
from components.figures.common import token_labels
from components.figures.next_word import cache_figure, looks_figure, next_word_figure
from components.params import PARAMS, Param
from components.session import checked_state
from model.generate import kv_cache_bytes, measure
from model.readouts.next_word import (
    Candidate,
    appended,
    cached_key_lengths,
    earlier_rows_change,
    position_logits,
    probabilities,
    top_candidates,
)
from model.tokens import BYTE_HEX, MAX_TOKENS, token_text
from model.trace import AttentionTrace

TOP_K = 10  # candidates drawn
ADDABLE = 5  # the most likely ones get a button that adds them to the sentence
WRITE_STEPS = (1, 2, 4, 8, 16)  # how many tokens "Write" may add at once
WRITTEN = "next_written"  # Session State: what the last addition expected the sentence to be (text, ids, before)


def quoted(text: str) -> str:
    """A token as a label: quoted, so that a leading space (" Paris") is seen."""
    return f"“{text}”"


def _write(new_ids: list[int], timings: dict | None = None) -> None:
    """Tokens the model wrote go onto the end of the sentence by their ids (a button's callback): the text becomes
    what decoding them adds, and what the page expected is kept, so the next run can say if reading the new text
    again splits it differently."""
    text = st.session_state["text"]
    before = get_trace(text, own_window=True)
    done = appended(get_model().tokenizer, text, list(before.token_ids), new_ids)
    st.session_state["text"] = done.text
    st.session_state["after"] = -1  # the prediction follows the new last token
    st.session_state[WRITTEN] = {
        "text": done.text,
        "ids": done.ids,
        "before": text,
        "dropped": done.written < len(new_ids),
        "timings": timings,
        "prompt": before.n_positions,
    }


def _write_greedily() -> None:
    """ "Write N tokens": greedy generation with the cache, measured against full recomputes (model.generate)."""
    steps = st.session_state.get("next_steps", 8)
    measured = on_model_thread(measure, get_model(), st.session_state["text"], int(steps))
    _write(measured.token_ids, measured.__dict__)


def _pick_position(ctx: ViewContext, trace: AttentionTrace) -> int:
    """After which token to predict: the last one unless the class picks another (-1 means the last). The
    labels change with the sentence, so the widget is handed its value on every run (checked_state's labels),
    and never shows a token of the sentence before."""
    n = trace.n_positions
    labels = dict(enumerate(token_labels(trace.tokens)))
    labels[-1] = ctx.t("next.last", token=labels[n - 1])
    checked_state("after", high=n - 1, labels=labels.get)
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
    _written_notices(ctx, trace)
    ui.intro(ctx, ctx.t("next.intro", model=trace.model_name))
    left, right = st.columns([3, 2], gap="medium")
    with right:
        position = _pick_position(ctx, trace)
        checked_state("next_t")
        low, high = PARAMS["next_t"].low, PARAMS["next_t"].high
        temperature = st.slider(
            ctx.t("next.temperature"), low, high, step=0.05, key="next_t", help=ctx.t("next.temperature_help")
        )
        ui.window_controls(ctx)
    logits = on_model_thread(position_logits, loaded, trace, position)  # [vocab], once for both temperatures
    candidates = top_candidates(logits, TOP_K, temperature)
    ids = [c.token_id for c in candidates]
    texts = [token_text(loaded.tokenizer, i) for i in ids]
    window = window_choice(selected_model_name())
    own_probs = None
    if window:  # the same position with the model's own window: what the shrunk window loses
        own = get_trace(ctx.text, own_window=True)
        own_probs = probabilities(on_model_thread(position_logits, loaded, own, position), temperature)
        reference = own_probs[ids]
        names = (ctx.t("next.window_name", w=window["window"]), ctx.t("next.own_window_name", w=_own_window()))
        note = ctx.t(
            "next.caption_window",
            w=window["window"],
            own=_own_window(),
            top=ui.md_escape(quoted(texts[0])),
            own_top=ui.md_escape(quoted(token_text(loaded.tokenizer, int(own_probs.argmax())))),
        )
    elif temperature != 1.0:
        reference = probabilities(logits, 1.0)[ids]
        names = (ctx.t("next.shaped", t=f"{temperature:g}"), ctx.t("next.plain"))
        note = ctx.t("next.caption_temperature", t=f"{temperature:g}")
    else:  # T = 1: the model's own distribution, one set of bars
        reference, names, note = None, (ctx.t("next.plain"), ""), ctx.t("next.caption_greedy")
    last = position == trace.n_positions - 1
    actual = None if last else trace.token_ids[position + 1]
    with left:
        fig = next_word_figure(
            candidates,
            [quoted(text) for text in texts],
            reference,
            actual=actual,
            title=ctx.t("next.title", token=token_labels(trace.tokens)[position]),
            shaped_name=names[0],
            reference_name=names[1],
            presentation=ctx.presentation,
        )
        caption = ui.joined(ctx.lang, ctx.t("next.caption", n=len(candidates), position=position), note)
        ui.figure(fig, caption, key="next_bars", lang=ctx.lang)
    with right:
        if last:
            _render_buttons(ctx, candidates, texts, trace.n_positions)
        else:
            plain_all = probabilities(logits, 1.0)
            real = token_text(loaded.tokenizer, actual)
            rank = int((plain_all > plain_all[actual]).sum())
            st.markdown(ctx.t("next.actual", token=ui.md_escape(quoted(real)), p=f"{plain_all[actual]:.1%}", rank=rank))
    _render_looks(ctx, trace, position)
    _render_cache(ctx, trace)


def _own_window() -> int:
    return int(get_model().config.sliding_window)


def _written_notices(ctx: ViewContext, trace: AttentionTrace) -> None:
    """After an addition: say when the new text, read again, splits differently from what the model wrote, or when
    a last half-character token was left out."""
    written = st.session_state.get(WRITTEN)
    if not written or written["text"] != ctx.text or window_choice(selected_model_name()):
        return
    if written["dropped"]:
        st.caption(ctx.t("next.dropped"))
    if list(trace.token_ids) != list(written["ids"]):
        tokenizer = get_model().tokenizer
        first = next(
            (i for i, (a, b) in enumerate(zip(trace.token_ids, written["ids"], strict=False)) if a != b),
            min(len(trace.token_ids), len(written["ids"])),
        )
        wrote = " ".join(quoted(token_text(tokenizer, i)) for i in written["ids"][first:])
        reads = " ".join(quoted(token) for token in trace.tokens[first:])
        st.info(ctx.t("next.retokenized", wrote=ui.md_escape(wrote), reads=ui.md_escape(reads)), icon="✂️")


def _render_buttons(ctx: ViewContext, candidates: list[Candidate], texts: list[str], n_tokens: int) -> None:
    """A button for each of the most likely tokens (added by id); a token that is only part of a character cannot
    be added alone. Then "Write N tokens", the model going on by itself."""
    st.markdown(ctx.t("next.add_heading"))
    with st.container(horizontal=True, gap="small"):
        for candidate, text in zip(candidates[:ADDABLE], texts[:ADDABLE], strict=True):
            partial = text.startswith(BYTE_HEX)
            st.button(
                quoted(text),
                key=f"add_{candidate.token_id}",
                on_click=_write,
                args=([candidate.token_id],),
                disabled=partial,
                help=ctx.t("next.partial") if partial else ctx.t("next.add_help", p=f"{candidate.probability:.1%}"),
            )
    checked_state("next_steps", Param("choice", 8, choices=WRITE_STEPS))
    at_steps, at_write = st.columns([3, 2], vertical_alignment="bottom")
    steps = at_steps.select_slider(ctx.t("next.write_steps"), options=WRITE_STEPS, key="next_steps")
    too_long = n_tokens + steps > MAX_TOKENS
    at_write.button(
        ctx.t("next.write", n=steps),
        key="next_write",
        on_click=_write_greedily,
        icon=":material/edit:",
        type="primary",
        disabled=too_long,
        help=ctx.t("next.write_too_long", steps=steps, max=MAX_TOKENS) if too_long else ctx.t("next.write_help"),
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


def _render_cache(ctx: ViewContext, trace: AttentionTrace) -> None:
    """The KV cache of the sentence: what it holds per layer and key/value head, its bytes shared and unshared, and,
    after "Write", the times measured and that the earlier rows of α′ did not change."""
    st.subheader(ctx.t("next.cache_heading"), divider="gray")
    config = get_model().config
    written = st.session_state.get(WRITTEN)
    fresh = written is not None and written["text"] == ctx.text
    left, right = st.columns([3, 2], gap="medium")
    with left:
        fig = cache_figure(
            cached_key_lengths(trace),
            token_labels(trace.tokens),
            written["prompt"] if fresh else None,
            title=ctx.t("next.cache_title"),
            head_title=ctx.t("next.cache_head"),
            layer_title=ctx.t("next.cache_layer"),
            presentation=ctx.presentation,
            width_px=int(ui.page_px(ctx) * ui.BESIDE),
        )
        ui.figure(fig, ctx.t("next.cache_caption"), key="next_cache", lang=ctx.lang)
    with right:
        n = trace.n_positions
        shared, unshared = kv_cache_bytes(config, n), kv_cache_bytes(config, n, shared=False)
        st.markdown(
            ctx.t(
                "next.bytes_table",
                n=n,
                kv=config.n_kv_heads,
                heads=config.n_heads,
                layers=config.n_layers,
                d=config.d_head,
                shared=f"{shared:,}",
                unshared=f"{unshared:,}",
                ratio=f"{unshared / shared:g}",
            )
        )
        if fresh:
            change = earlier_rows_change(get_trace(written["before"]), trace)
            if change is not None:
                st.caption(ctx.t("next.earlier_rows", diff=f"{change:.1e}"))
        if fresh and written["timings"]:
            _timings(ctx, written["timings"], written["prompt"], n)


def _timings(ctx: ViewContext, m: dict, prompt: int, n: int) -> None:
    """The live figures of the last "Write": per token with the cache against a full recompute, and one parallel
    pass over the prompt against the same tokens one at a time."""
    ms = {k: f"{m[k]:.0f}" for k in ("ms_per_token_cached", "ms_per_token_full", "layers_ms_cached", "layers_ms_full")}
    st.markdown(
        ctx.t(
            "next.timings",
            n=n,
            prompt=prompt,
            cached_layers=ms["layers_ms_cached"],
            full_layers=ms["layers_ms_full"],
            cached=ms["ms_per_token_cached"],
            full=ms["ms_per_token_full"],
            prefill=f"{m['prefill_ms']:.0f}",
            sequential=f"{m['sequential_ms']:.0f}",
            diff=f"{m['cached_vs_full_max_diff']:.1e}",
            speedup=f"{m['sequential_ms'] / max(m['prefill_ms'], 1e-9):.1f}",
        )
    )
