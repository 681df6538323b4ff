"""Keyboard steps while presenting: ← → the head, ↑ ↓ the layer, < > the query, with a small legend.

A Streamlit component without an iframe (like components/overview.py): its script listens to keydown on
the page and sends {"what": "head", "by": 1}; the callback moves the setting within its range before
the page is drawn again. Keys typed into a text box, a slider or any other control are left alone, as
are keys with Ctrl, Alt or ⌘. Everything inside is constant code; the data it receives are key names
and interface strings, set as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

KEYS = {  # key → (setting, step)
    "ArrowLeft": ("head", -1),
    "ArrowRight": ("head", 1),
    "ArrowUp": ("layer", -1),
    "ArrowDown": ("layer", 1),
    ",": ("query", -1),
    "<": ("query", -1),
    ".": ("query", 1),
    ">": ("query", 1),
}
SETTINGS = ("layer", "head", "query")

_HTML = '<div class="keys" aria-hidden="true"></div>'
_CSS = """
.keys { font-family: "Source Sans Pro", sans-serif; color: #555; font-size: 0.9rem; white-space: nowrap; }
.keys kbd { border: 1px solid #bbb; border-radius: 4px; padding: 0 4px; margin: 0 1px; background: #f6f6f6;
  font-family: inherit; color: #31333f; }
.keys .sep { margin: 0 5px; color: #aaa; }
"""
_JS = """
const SKIP = /^(INPUT|TEXTAREA|SELECT|BUTTON)$/;
const ROLES = new Set(["slider", "textbox", "combobox", "listbox", "option", "spinbutton", "radio", "tab", "menuitem"]);

export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".keys");
  root.replaceChildren();
  data.legend.forEach(([keys, label], i) => {
    if (i > 0) { const sep = document.createElement("span"); sep.className = "sep"; sep.textContent = "·"; root.appendChild(sep); }
    keys.forEach((k) => { const kbd = document.createElement("kbd"); kbd.textContent = k; root.appendChild(kbd); });
    root.appendChild(document.createTextNode(" " + label));
  });
  const onKey = (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target;
    if (target && target !== document.body) {
      if (target.isContentEditable || SKIP.test(target.tagName)) return;
      if (target.closest && target.closest('[role="slider"], [role="textbox"], [role="combobox"], [role="listbox"], [contenteditable="true"]')) return;
      if (ROLES.has(target.getAttribute && target.getAttribute("role"))) return;
    }
    const step = data.keys[event.key];
    if (!step) return;
    event.preventDefault();
    setTriggerValue("step", { what: step[0], by: step[1] });
  };
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
}
"""

_keys = st.components.v2.component("attention_lab_keys", html=_HTML, css=_CSS, js=_JS)


QUERY_LIMIT = "_query_limit"  # the last query position of the text on show, left here by the view that picks it


def keyboard(legend: list[tuple[list[str], str]], settings: tuple[str, ...], n_layers: int, n_heads: int) -> None:
    """The legend, and the listener for the keys of `settings` (a subset of SETTINGS); layer and head stay
    within the model, the query within the text (Session State's QUERY_LIMIT)."""
    keys = {key: step for key, step in KEYS.items() if step[0] in settings}

    def on_step() -> None:
        state = st.session_state
        step_setting(state, {"layer": n_layers - 1, "head": n_heads - 1, "query": int(state.get(QUERY_LIMIT, 0))})

    _keys(key="keys", data={"legend": legend, "keys": keys}, on_step_change=on_step, width="content")


def step_setting(state, limits: Mapping[str, int]) -> None:
    """Apply the step the page sent (state["keys"].step) to its setting, kept inside 0 … its limit."""
    sent = state.get("keys")
    step = sent.get("step") if sent is not None else None
    try:
        what, by = str(step["what"]), int(step["by"])
    except (TypeError, KeyError, ValueError):  # nothing this run, or not what the page sends
        return
    if what not in limits or by not in (-1, 1):
        return
    state[what] = min(max(int(state.get(what, 0)) + by, 0), limits[what])
