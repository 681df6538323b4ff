"""The glossary dialog: the page's notation (α score, α′ weight, b a head's output …) in one table, opened
from a button in the sidebar that every view shows (components/views.py draws it with the view).

The table comes from assets/glossary.toml through components/glossary.py; only the drawing is here.
"""

from __future__ import annotations

import streamlit as st

from components.glossary import glossary_table
from components.i18n import t
from components.ui import md_escape


def glossary_button(lang: str) -> None:
    """The sidebar's "Glossary · 术语表" button; a click opens the dialog."""
    with st.sidebar:
        if st.button(t(lang, "app.glossary"), key="glossary_open", icon=":material/menu_book:", width="stretch"):
            _dialog(lang)


def _dialog(lang: str) -> None:
    @st.dialog(t(lang, "app.glossary"), width="large")
    def show() -> None:
        st.markdown(t(lang, "app.glossary_intro"))
        header = [t(lang, "app.glossary_symbol"), t(lang, "app.glossary_name"), t(lang, "app.glossary_meaning")]
        lines = ["| " + " | ".join(header) + " |", "| --- | --- | --- |"]
        lines += [
            f"| {md_escape(symbol) or '—'} | **{md_escape(name)}** | {md_escape(definition)} |"
            for symbol, name, definition in glossary_table(lang)
        ]
        st.markdown("\n".join(lines))

    show()
