"""Widget state that is not what its widget expects: a notice and a usable value, never a failed view.

Session State can hold anything a tampered websocket message, a tampered link or an earlier run put there:
another type, a number out of range, a value not among the options, or the label a widget shows for an
option instead of the option (the soak's `ValueError: invalid literal for int() with base 10: '1 the'`).
`params.check_value` is tested on its own for each kind; then every view runs with such state planted.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from components.params import PARAMS, Param, check_value
from tests.apptest import run_app

pytestmark = pytest.mark.app

TOKEN_LABEL = {0: "0 [CLS]", 1: "1 the", 2: "2 cat", 3: "3 sat", 4: "4 [SEP]"}.get


@pytest.mark.fast
@pytest.mark.parametrize(
    "spec, value, used, notice",
    [
        # wrong type
        (PARAMS["layer"], "3", 3, "app.value_reset"),
        (PARAMS["layer"], 3.0, 3, "app.value_reset"),
        (PARAMS["layer"], 2.5, 3, "app.value_reset"),
        (PARAMS["layer"], True, 3, "app.value_reset"),
        (PARAMS["layer"], None, 3, "app.value_reset"),
        (PARAMS["layer"], [1], 3, "app.value_reset"),
        (PARAMS["pg_temperature"], float("nan"), 1.0, "app.value_reset"),
        (PARAMS["pg_temperature"], "0.5", 0.5, "app.value_reset"),
        (PARAMS["present"], "yes", False, "app.value_reset"),
        (PARAMS["present"], 1, False, "app.value_reset"),
        (PARAMS["text"], None, PARAMS["text"].default, "app.value_reset"),
        (PARAMS["text"], b"bytes", PARAMS["text"].default, "app.value_reset"),
        # out of range
        (PARAMS["head"], 99, 63, "app.value_clamped"),
        (PARAMS["head"], -1, 0, "app.value_clamped"),
        (PARAMS["pg_temperature"], 1e9, 10.0, "app.value_clamped"),
        # not among the options
        (PARAMS["view"], "nope", "attention", "app.value_reset"),
        (PARAMS["lang"], 5, "en", "app.value_reset"),
        (PARAMS["pg_mask"], ["causal"], "none", "app.value_reset"),
        (Param("choice", 200, choices=(50, 100, 200)), 150, 200, "app.value_reset"),
        (Param("choice", 200, choices=(50, 100, 200)), True, 200, "app.value_reset"),
        (Param("choice", 200, choices=(50, 100, 200)), "100", 100, "app.value_reset"),
        (Param("choice", 7, choices=(1, 2)), "junk", 1, "app.value_reset"),  # default gone: the first option
        (Param("list", (0, 1), choices=(0, 1, 2, 3)), [1, 9, "2", 1], [1], "app.value_reset"),
        (Param("list", (0, 1), choices=(0, 1, 2, 3)), "0, 1", [0, 1], "app.value_reset"),
        # a label instead of the option
        (Param("int", 1, 0, 4), "2 cat", 2, "app.value_reset"),
        (Param("int", 1, 0, 4), "1 quantum", 1, "app.value_reset"),  # a label of another sentence's tokens
        (Param("choice", 1, choices=(1, 2, 3)), "3 sat", 3, "app.value_reset"),
    ],
)
def test_a_value_the_widget_cannot_take_is_replaced_with_a_notice(spec, value, used, notice):
    got, said = check_value("setting", spec, value, labels=TOKEN_LABEL)
    assert got == used and type(got) is type(used)
    assert said is not None and said.key == notice
    assert said.values["name"] == "setting" and len(said.values["value"]) <= 41


@pytest.mark.fast
@pytest.mark.parametrize(
    "spec, value",
    [
        (PARAMS["layer"], 4),
        (PARAMS["pg_temperature"], 0.5),
        (PARAMS["present"], True),
        (PARAMS["view"], "steps"),
        (PARAMS["text"], "I saw a saw"),
        (Param("list", (), choices=(0, 1, 2)), [2, 0]),
    ],
)
def test_a_value_the_widget_can_take_is_kept_without_a_notice(spec, value):
    assert check_value("setting", spec, value) == (value, None)


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.fast
@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(PARAMS)), value=_ANY)
def test_any_value_for_any_setting_comes_back_usable(name, value):
    p = PARAMS[name]
    got, _ = check_value(name, p, value)
    if p.kind in ("int", "float"):
        assert type(got) is (int if p.kind == "int" else float) and p.low <= got <= p.high and math.isfinite(got)
    elif p.kind == "choice":
        assert got in p.choices
    elif p.kind == "bool":
        assert isinstance(got, bool)
    elif p.kind == "range":
        assert got is None or (
            isinstance(got, tuple) and [type(end) for end in got] == [int, int] and p.low <= got[0] <= got[1] <= p.high
        )
    else:
        assert isinstance(got, str)


def send_tampered(at: AppTest, key: str, field: str, value: object) -> AppTest:
    """Rerun the page as a tampered websocket message would: the widget `key` sends `value` in `field`
    of its WidgetState (what the browser sends for it, e.g. string_value for a selectbox's label)."""
    states = at._tree.get_widget_states()
    (state,) = [w for w in states.widgets if w.id.endswith(f"-{key}")]  # a keyed widget's id ends in its key
    state.ClearField(state.WhichOneof("value"))
    if field.endswith("_array_value"):
        getattr(state, field).data[:] = value
    else:
        setattr(state, field, value)
    at._tree.get_widget_states = lambda: states
    return at.run()


def assert_recovered_with_notices(at: AppTest, keys) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    warnings = "\n".join(w.value for w in at.warning)
    for key in keys:
        assert f"“{key}”" in warnings, f"no notice for {key}: {warnings!r}"


SENT = [
    ("steps", "query", "string_value", "1 the"),  # the soak's failure: the label of an earlier sentence's token
    ("steps", "query", "int_value", 99),
    ("attention", "lang", "string_value", "fr"),
    ("attention", "text", "int_value", 5),
    ("positional", "pe_dims", "string_array_value", ["junk"]),
    ("positional", "pe_i", "string_value", "99 nope"),
    ("compare", "text_b", "int_value", 3),
]


@pytest.mark.parametrize("view, key, field, value", SENT, ids=[f"{v}-{k}-{f}" for v, k, f, _ in SENT])
def test_a_tampered_message_gives_a_notice_not_a_failed_view(view, key, field, value):
    at = send_tampered(run_app(view, text="Quantum giraffes dance"), key, field, value)
    assert_recovered_with_notices(at, [key])
    assert at.get("plotly_chart"), "the view drew nothing"


# Session State left holding what a view's widgets cannot take, found when the view is opened.
PLANTED = [
    ("steps", {"query": "1 the"}),
    ("steps", {"query": [3]}),
    ("positional", {"pe_d_model": "64", "pe_base": "ten", "pe_dims": "0, 1"}),
    ("playground", {"pg_d_model": [64], "pg_n_heads": "4", "pg_temperature": float("nan"), "pg_mask": 3}),
    ("compare", {"text_b": 42, "cmp_head": "1", "pg_layer": -1}),
    ("training", {"train_steps": "abc", "train_seed": -5, "train_heads": 3.0, "train_task": None}),
]


@pytest.mark.parametrize("view, planted", PLANTED, ids=[f"{v}-{'-'.join(p)}" for v, p in PLANTED])
def test_tampered_session_state_gives_a_notice_not_a_failed_view(view, planted):
    at = run_app("attention", text="Quantum giraffes dance")
    for key, value in planted.items():  # none of these widgets is on the page yet
        at.session_state[key] = value
    at.segmented_control(key="view").set_value(view).run()
    assert_recovered_with_notices(at, planted)
    assert at.get("plotly_chart") or view == "training", "the view drew nothing"


def test_the_query_selectbox_is_given_the_label_of_the_new_sentence():
    """The cause of the soak's failure: the browser keeps the selectbox's label, "1 the", and sends it back.
    Once the sentence changes, the page must be handed the new label ("1 quantum") in the same run."""
    at = run_app("steps", text="The cat sat")
    at.text_input(key="text").input("Quantum giraffes dance").run()
    box = at.selectbox(key="query")
    assert box.proto.set_value and box.proto.raw_value == "1 quantum"
    assert not at.warning
