"""Small Streamlit helpers every view shares: drawing a figure with its caption, token chips,
downloads, and running a view so that its failure stays inside it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from components.figures import PLOT_CONFIG, matrix_csv, plain_labels
from model.errors import AttentionLabError

log = logging.getLogger("attention_lab")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~&\"'=^@%])")


def md_escape(text: str) -> str:
    """Text that Streamlit's Markdown shows literally: no emphasis, links, LaTeX, :colour[] or emoji codes."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def figure(fig: go.Figure, caption: str, key: str) -> None:
    """A Plotly figure (its toolbar has the PNG download) with a one-line caption under it."""
    st.plotly_chart(fig, key=key, config=PLOT_CONFIG)
    st.caption(caption)


def token_chips(tokens: tuple[str, ...], special: np.ndarray, unknown: str = "[UNK]") -> None:
    """The tokens with their positions, as the model sees them."""
    chips = []
    for i, tok in enumerate(tokens):
        color = "gray" if special[i] else ("orange" if tok == unknown else "blue")
        chips.append(f":{color}-badge[{i}\u2009·\u2009{md_escape(tok)}]")
    st.markdown(" ".join(chips))


def matrix_downloads(name: str, matrix: np.ndarray, rows: list[str], cols: list[str], label_csv: str, label_json: str):
    """CSV and JSON downloads of a matrix on screen, with its row and column labels.

    The files are written only when a button is clicked (Streamlit calls the function then): at 512
    tokens each is a quarter of a million numbers, too slow to format on every rerun for nothing.
    """

    def as_json() -> str:
        payload = {"name": name, "rows": rows, "columns": cols, "values": np.round(np.asarray(matrix), 6).tolist()}
        return json.dumps(payload, ensure_ascii=False)

    c1, c2 = st.columns(2)
    c1.download_button(
        label_csv,
        lambda: matrix_csv(matrix, rows, cols),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv_{name}",
        on_click="ignore",
        icon=":material/download:",
    )
    c2.download_button(
        label_json,
        as_json,
        file_name=f"{name}.json",
        mime="application/json",
        key=f"json_{name}",
        on_click="ignore",
        icon=":material/data_object:",
    )


def labels_for_files(tokens: tuple[str, ...]) -> list[str]:
    return plain_labels(tokens)


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
