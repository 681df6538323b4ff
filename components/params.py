"""The app's shareable state: every URL query parameter, its type, range and default.

Pure (no Streamlit), so parsing a tampered URL is tested directly. Each parameter's name is also
the key of the widget that shows it, so the URL, Session State and the widgets share one name.
A value that is malformed is dropped and one that is out of range is clamped; either way a notice
says so, and nothing raises. `check_value` does the same for a value already in Session State (put
there by a widget, a tampered websocket message or an earlier run), which a widget takes as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.text import has_chinese
from components.views import DEFAULT_VIEW
from components.views import VIEWS as VIEW_TABLE
from model.attention import MASK_KINDS, NORMALIZERS
from model.experiments.atlas import FIELDS as HEAD_FIELDS
from model.experiments.playground import D_MODEL_RANGE, N_HEADS_RANGE, N_LAYERS_RANGE, SEED_RANGE, TEMPERATURE_RANGE
from model.registry import CHINESE_READER, DEFAULT_MODEL

VIEWS: tuple[str, ...] = tuple(VIEW_TABLE)
MAX_CHARS = 5_000  # longer text is cut with a notice; 512 tokens of English is ~2,500 characters
MAX_POSITIONS = 512
MAX_LABELLED = 4096  # a labelled number setting (a position) is looked up among at most this many labels
DEFAULT_TEXT = "The animal didn't cross the street because it was too tired."
DEFAULT_TEXT_B = "The animal didn't cross the street because it was too wide."


@dataclass(frozen=True)
class Param:
    """One setting: kind is "str", "int", "float", "bool", "choice" (one of `choices`), "list" (a list of
    distinct `choices`, as a multiselect holds) or "range" (two whole numbers first–last, written "3-18" in a
    URL, for a window of positions; None when the view picks it). low/high bound numbers; high also bounds a
    str's length in a URL."""

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()


WINDOWS = (0, 2, 4, 8, 16, 32, 64)  # the windows a class may give a sliding-window model (0: the model's own)
WINDOW_KEYS = ("win_q", "win_k")  # the α′ heatmap's window of queries and keys, as trace positions

PARAMS: dict[str, Param] = {
    "lang": Param("choice", "en", choices=("en", "zh")),
    "view": Param("choice", DEFAULT_VIEW, choices=VIEWS),
    "model": Param("str", DEFAULT_MODEL, high=200),  # checked against the operator's list once it is read
    "text": Param("str", DEFAULT_TEXT, high=MAX_CHARS),
    "text_b": Param("str", DEFAULT_TEXT_B, high=MAX_CHARS),
    # Layer 3, head 1 of MiniLM links "it" to "animal" in the default sentence (α′ ≈ 0.68).
    "layer": Param("int", 3, 0, 63),  # clamped again to the model's layers once it is known
    "head": Param("int", 1, 0, 63),
    "query": Param("int", 1, 0, MAX_POSITIONS - 1),
    "win_q": Param("range", None, 0, MAX_POSITIONS - 1),  # the α′ heatmap's window of queries (long texts)
    "win_k": Param("range", None, 0, MAX_POSITIONS - 1),  # … and of keys
    "after": Param("int", -1, -1, MAX_POSITIONS - 1),  # Next word: the token to predict after; -1 the last
    "next_t": Param("float", 1.0, 0.1, 2.0),  # Next word: the temperature that reshapes the distribution
    "window": Param("int", 0, 0, MAX_POSITIONS),  # a sliding-window model's window for the class (0: its own)
    "window_layers": Param("choice", "sliding", choices=("sliding", "all")),  # … on its sliding layers, or on all
    "rope_layer": Param("int", 0, 0, 63),  # Positional: the RoPE panel's layer, head and pair of numbers
    "rope_head": Param("int", 0, 0, 63),
    "rope_pair": Param("int", 0, 0, 511),
    "cmp_real_on": Param("bool", False),  # Compare: the sentence on a real encoder and decoder too
    "hide_special": Param("bool", False),
    "att_show": Param("choice", "weights", choices=("weights", "sent")),  # α′, or ‖α′·v·W^O‖ (what each key sends)
    "att_scale": Param("choice", "linear", choices=("linear", "row", "log")),  # the α′ heatmap's colour scale
    "att_words": Param("bool", False),  # the Attention view's matrices over words instead of sub-word pieces
    "atlas_corpus": Param("choice", "en", choices=("en", "zh")),  # the head atlas's corpus
    "atlas_field": Param("choice", "prev", choices=HEAD_FIELDS),  # … and the statistic its map is coloured by
    "present": Param("bool", False),
    # The lesson on show, "3" (step 3 of the default lesson) or "name:3" (assets/lessons/name.toml); "" for none.
    # components/lesson_plan.py reads it; the step's state is then the baseline the rest of the URL changes.
    "lesson": Param("str", "", high=80),
    "pe_d_model": Param("int", 64, 2, 1024),
    "pe_positions": Param("int", 64, 1, MAX_POSITIONS),
    "pe_base": Param("float", 10_000.0, 2.0, 1_000_000.0),
    "pg_d_model": Param("int", 64, *D_MODEL_RANGE),
    "pg_n_heads": Param("int", 4, *N_HEADS_RANGE),
    "pg_n_layers": Param("int", 1, *N_LAYERS_RANGE),
    "pg_layer": Param("int", 0, 0, N_LAYERS_RANGE[1] - 1),  # the playground layer on show
    "pg_head": Param("int", 0, 0, N_HEADS_RANGE[1] - 1),  # the playground head drawn large
    "pg_normalizer": Param("choice", "softmax", choices=NORMALIZERS),
    "pg_temperature": Param("float", 1.0, *TEMPERATURE_RANGE),
    "pg_scale": Param("bool", True),
    "pg_mask": Param("choice", "none", choices=MASK_KINDS),
    "pg_window": Param("int", 3, 1, MAX_POSITIONS),
    "pg_positions": Param("bool", True),
    "pg_seed": Param("int", 0, *SEED_RANGE),
    "pg_char_tokens": Param("bool", False),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Notice:
    """Why a URL parameter was not taken as given: key is an i18n key, values fill it in."""

    key: str
    values: dict[str, Any]


def defaults() -> dict[str, Any]:
    return {name: p.default for name, p in PARAMS.items()}


def _parse_one(name: str, p: Param, raw: str) -> tuple[Any, Notice | None]:
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    dropped = Notice("app.url_dropped", {"name": name, "value": shown})
    if p.kind == "str":
        if len(raw) > p.high:
            return raw[: int(p.high)], Notice(
                "app.url_clamped", {"name": name, "value": shown, "used": f"{int(p.high)} chars"}
            )
        return raw, None
    if p.kind == "choice":
        return (raw, None) if raw in p.choices else (p.default, dropped)
    if p.kind == "range":
        return _parse_range(name, p, raw, shown, dropped)
    if p.kind == "bool":
        low = raw.strip().lower()
        if low in _TRUE:
            return True, None
        if low in _FALSE:
            return False, None
        return p.default, dropped
    try:
        number = float(raw.strip())
    except ValueError:
        return p.default, dropped
    if not math.isfinite(number):
        return p.default, dropped
    if p.kind == "int":
        if number != int(number):
            return p.default, dropped
        number = int(number)
    clamped = min(max(number, p.low), p.high)
    if p.kind == "int":
        clamped = int(clamped)
    if clamped != number:
        return clamped, Notice("app.url_clamped", {"name": name, "value": shown, "used": clamped})
    return number, None


def _parse_range(name: str, p: Param, raw: str, shown: str, dropped: Notice) -> tuple[Any, Notice | None]:
    parts = raw.strip().split("-")
    if len(parts) != 2 or not all(part.strip().isascii() and part.strip().isdigit() for part in parts):
        return p.default, dropped
    asked = tuple(int(part) for part in parts)
    first, last = sorted(min(max(v, int(p.low)), int(p.high)) for v in asked)
    if (first, last) != asked:
        return (first, last), Notice("app.url_clamped", {"name": name, "value": shown, "used": f"{first}-{last}"})
    return (first, last), None


def parse_query(query: Mapping[str, str | list[str]]) -> tuple[dict[str, Any], list[Notice]]:
    """Values for the known parameters found in `query`, and a notice for each one not taken as is."""
    values: dict[str, Any] = {}
    notices: list[Notice] = []
    for name, raw in query.items():
        p = PARAMS.get(name)
        if p is None:
            notices.append(Notice("app.url_unknown", {"name": str(name)[:40]}))
            continue
        if isinstance(raw, list):
            raw = raw[-1] if raw else ""
        value, notice = _parse_one(name, p, str(raw))
        values[name] = value
        if notice:
            notices.append(notice)
    return values, notices


def _axis(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:40] + "…"


def _number(value: Any, kind: str) -> float | int | None:
    """value as an int or float when it is one (or a str that reads as one), else None; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if kind == "int":
        return int(value) if value == int(value) else None
    return float(value)


def check_value(
    name: str, p: Param, value: Any, labels: Callable[[Any], str] | None = None
) -> tuple[Any, Notice | None]:
    """`value` as the widget of setting `p` expects it, and a notice when it had to change.

    A Session State value can be anything a client sent or an earlier run left: another type, out of
    range, not among the options, or the label a widget shows for an option (`labels` is the widget's
    format_func) instead of the option. A number out of range is clamped; a label, or a number written
    as text, becomes its option; anything else becomes the default. Never raises.
    """
    used, clamped = _checked(p, value, labels)
    if type(used) is type(value) and used == value:
        return value, None
    key = "app.value_clamped" if clamped else "app.value_reset"
    return used, Notice(key, {"name": name, "value": _axis(value), "used": _axis(used)})


def _checked(p: Param, value: Any, labels: Callable[[Any], str] | None) -> tuple[Any, bool]:
    """The value to use for `value`, and whether it was clamped (a number or a text too large)."""
    if p.kind == "str":  # its length is clean_text's to cut, with its own notice
        return (value if isinstance(value, str) else p.default), False
    if p.kind == "bool":
        return (value if isinstance(value, bool) else p.default), False
    if p.kind == "range":
        ends = [_number(v, "int") for v in value] if isinstance(value, list | tuple) and len(value) == 2 else None
        if value is None or ends is None or None in ends:
            return p.default, False
        first, last = sorted(min(max(v, int(p.low)), int(p.high)) for v in ends)
        return (first, last), (first, last) != tuple(ends)
    if p.kind == "list":
        if not isinstance(value, list | tuple):
            return list(p.default), False
        return list(dict.fromkeys(v for v in value if _among(v, p.choices))), False
    if p.kind == "choice":
        if _among(value, p.choices):
            return value, False
        if isinstance(value, str):
            for c in p.choices:  # the option's label, or a number written as text ("3" for 3)
                if (labels is not None and _label(labels, c) == value) or (
                    not isinstance(c, str | bool) and _number(value, "float") == c
                ):
                    return c, False
        default = p.default if _among(p.default, p.choices) or not p.choices else p.choices[0]
        return default, False
    number = _number(value, p.kind)
    if number is None and labels is not None and isinstance(value, str) and p.high - p.low <= MAX_LABELLED:
        number = next((i for i in range(int(p.low), int(p.high) + 1) if _label(labels, i) == value), None)
    if number is None:
        return min(max(p.default, p.low), p.high), False
    within = min(max(number, p.low), p.high)
    if p.kind == "int":
        within = int(within)
    return within, within != number


def _among(value: Any, choices: tuple[Any, ...]) -> bool:
    """value is one of choices, of the same type (True is not 1, 1.0 is not 1)."""
    return any(type(value) is type(c) and value == c for c in choices)


def _label(labels: Callable[[Any], str], option: Any) -> str | None:
    try:
        return labels(option)
    except Exception:  # noqa: BLE001 - a label function that fails on an option names no option
        return None


def to_query(state: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The URL parameters for `state`, leaving out those at their default so links stay short. With a
    `baseline` (a lesson's step: the defaults with the step's state laid over them) those equal to it are
    left out instead, so a link names the step and only what was changed since."""
    query = {}
    for name, p in PARAMS.items():
        same = baseline.get(name, p.default) if baseline is not None else p.default
        if name not in state or state[name] == same:
            continue
        value = state[name]
        if p.kind == "bool":
            query[name] = "1" if value else "0"
        elif p.kind == "range":
            query[name] = f"{int(value[0])}-{int(value[1])}"
        else:
            query[name] = str(value)
    return query


def clean_text(text: str) -> tuple[str, list[Notice]]:
    """Text fit for the model: control characters removed (newline and tab kept), cut to MAX_CHARS."""
    notices = []
    kept = "".join(ch for ch in text if ch in "\n\t" or (ch.isprintable() or ch.isspace()) and ord(ch) >= 32)
    if len(kept) != len(text):
        notices.append(Notice("app.control_removed", {"count": len(text) - len(kept)}))
    if len(kept) > MAX_CHARS:
        notices.append(Notice("app.text_cut", {"count": len(kept), "limit": MAX_CHARS}))
        kept = kept[:MAX_CHARS]
    return kept, notices


def model_for_chinese(current: str, text: str, chosen: bool) -> str | None:
    """The model to show `text` on instead of `current`, or None to stay: Chinese text goes from the default
    model (whose vocabulary turns most Chinese characters into [UNK]) to one that reads Chinese, unless the
    class chose the model itself (in the picker, or a link that names it)."""
    if chosen or current != DEFAULT_MODEL or not has_chinese(text):
        return None
    return CHINESE_READER
