"""Keyboard steps while presenting: ← → the head, ↑ ↓ the layer, < > the query, with a small legend; during a
lesson PageDown and PageUp (what a presenter's clicker sends) move to the next and previous step, and so do → and ←
where the view does not step the head with them.

A Streamlit component without an iframe (like components/overview.py): its script listens to keydown on
the page and sends {"what": "head", "by": 1}; the callback moves the setting within its range before
the page is drawn again. Keys typed into a text box, a slider or any other control are left alone, as
are keys with Ctrl, Alt or ⌘. Everything inside is constant code; the data it receives are key names
and interface strings, set as text, never as HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
SETTINGS = ("layer", "head", "query", "step")  # "step": the lesson's step
LESSON_KEYS = {"PageDown": 1, "PageUp": -1, "ArrowRight": 1, "ArrowLeft": -1}  # → ← only where no setting has them
# A clicker's keys work even while a button has the focus (the lesson's Next, just clicked with the mouse); only a
# control that reads them itself (a text box, a slider) keeps them.
THROUGH_BUTTONS = ("PageDown", "PageUp")


def key_map(settings: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """key → (setting, step) for the settings the page steps: KEYS', then the lesson's keys that are still free."""
    keys = {key: step for key, step in KEYS.items() if step[0] in settings}
    if "step" in settings:
        for key, by in LESSON_KEYS.items():
            keys.setdefault(key, ("step", by))
    return keys


_HTML = '<div class="keys" aria-hidden="true"></div>'
_CSS = """
.keys { font-family: "Source Sans Pro", sans-serif; color: #555; font-size: 0.9rem; line-height: 1.9; }
.keys .group { white-space: nowrap; }
.keys kbd { border: 1px solid #bbb; border-radius: 4px; padding: 0 4px; margin: 0 1px; background: #f6f6f6;
  font-family: inherit; color: #31333f; }
.keys .sep { margin: 0 0 0 5px; color: #aaa; }
"""
_JS = """
const SKIP = /^(INPUT|TEXTAREA|SELECT|BUTTON)$/;
const ROLES = new Set(["slider", "textbox", "combobox", "listbox", "option", "spinbutton", "radio", "tab", "menuitem"]);
const TYPING = '[role="slider"], [role="textbox"], [role="combobox"], [role="listbox"], [role="spinbutton"], [contenteditable="true"]';

export default function ({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".keys");
  root.replaceChildren();
  data.legend.forEach(([keys, label], i) => {
    const group = document.createElement("span");  // a setting's keys and name stay on one line; the legend may wrap
    group.className = "group";
    keys.forEach((k) => { const kbd = document.createElement("kbd"); kbd.textContent = k; group.appendChild(kbd); });
    group.appendChild(document.createTextNode(" " + label));
    if (i < data.legend.length - 1) {  // the dot ends a group, so that a wrapped line starts with keys
      const sep = document.createElement("span"); sep.className = "sep"; sep.textContent = "·"; group.appendChild(sep);
    }
    root.appendChild(group);
    root.appendChild(document.createTextNode(" "));  // where a narrow column may break the legend
  });
  const onKey = (event) => {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target;
    const through = (data.through || []).includes(event.key);
    if (target && target !== document.body) {
      if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
      if (target.closest && target.closest(TYPING)) return;
      const role = target.getAttribute && target.getAttribute("role");
      if (!through && (SKIP.test(target.tagName) || ROLES.has(role))) return;
      if (through && ["slider", "textbox", "combobox", "listbox", "spinbutton"].includes(role)) return;
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


def keyboard(
    legend: list[tuple[list[str], str]],
    settings: tuple[str, ...],
    n_layers: int,
    n_heads: int,
    lesson_step: Callable[[int], None] | None = None,
) -> None:
    """The legend, and the listener for the keys of `settings` (a subset of SETTINGS); layer and head stay
    within the model, the query within the text (Session State's QUERY_LIMIT); a lesson's step is moved by
    `lesson_step(by)`."""
    keys = key_map(settings)

    def on_step() -> None:
        state = st.session_state
        sent = sent_step(state)
        if sent is not None and sent[0] == "step":
            if lesson_step is not None and "step" in settings:
                lesson_step(sent[1])
            return
        step_setting(state, {"layer": n_layers - 1, "head": n_heads - 1, "query": int(state.get(QUERY_LIMIT, 0))})

    data = {"legend": legend, "keys": keys, "through": list(THROUGH_BUTTONS)}
    _keys(key="keys", data=data, on_step_change=on_step, width="content")


def sent_step(state) -> tuple[str, int] | None:
    """The step the page sent this run (state["keys"].step) as (setting, ±1), or None when there is none or it
    is not what the page sends."""
    sent = state.get("keys")
    step = sent.get("step") if sent is not None else None
    try:
        what, by = str(step["what"]), int(step["by"])
    except (TypeError, KeyError, ValueError):  # nothing this run, or not what the page sends
        return None
    return (what, by) if by in (-1, 1) else None


def step_setting(state, limits: Mapping[str, int]) -> None:
    """Apply the step the page sent (state["keys"].step) to its setting, kept inside 0 … its limit."""
    sent = sent_step(state)
    if sent is None or sent[0] not in limits:
        return
    what, by = sent
    state[what] = min(max(int(state.get(what, 0)) + by, 0), limits[what])
