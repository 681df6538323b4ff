"""The model and traces, cached for every user of the server.

The model is loaded once per process (st.cache_resource) and never changed. Traces are cached by
text and settings (st.cache_data, bounded), so choosing a layer, head or query re-slices a cached
trace and never re-runs the model.
"""

from __future__ import annotations

import streamlit as st

import model
from model.playground import PlaygroundConfig

TRACE_CACHE_ENTRIES = 48


@st.cache_resource(show_spinner=False)
def get_model() -> model.PretrainedModel:
    return model.load_pretrained()


@st.cache_data(max_entries=TRACE_CACHE_ENTRIES, show_spinner=False)
def get_trace(text: str, positions: bool = True) -> model.AttentionTrace:
    return model.trace(get_model(), text, positions=positions)


@st.cache_data(max_entries=TRACE_CACHE_ENTRIES, show_spinner=False)
def get_playground_trace(config: PlaygroundConfig, text: str) -> model.AttentionTrace:
    pretrained = None if config.char_tokens else get_model()
    return model.trace_playground(config, text, pretrained)
