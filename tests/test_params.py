"""URL parameters: tampered values are clamped or dropped with a notice, never an exception."""

import importlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import params
from components.params import MAX_CHARS, PARAMS, clean_text, defaults, parse_query, to_query

pytestmark = pytest.mark.fast


def test_round_trip_of_a_shared_link():
    state = {**defaults(), "text": "I saw a saw", "layer": 2, "head": 5, "view": "steps", "pg_temperature": 0.5}
    values, notices = parse_query(to_query(state))
    assert not notices
    assert {k: values.get(k, v) for k, v in defaults().items()} == state


def test_defaults_are_left_out_of_the_link():
    assert to_query(defaults()) == {}


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("layer", "99999999999", 63),
        ("layer", "-4", 0),
        ("pg_d_model", "1e9", 1024),
        ("pg_temperature", "0.0001", 0.05),
        ("pe_positions", "100000", 512),
    ],
)
def test_out_of_range_numbers_are_clamped_with_a_notice(name, raw, expected):
    values, notices = parse_query({name: raw})
    assert values[name] == expected
    assert [n.key for n in notices] == ["app.url_clamped"]


@pytest.mark.parametrize(
    "name, raw",
    [
        ("layer", "three"),
        ("layer", "1.5"),
        ("head", ""),
        ("pg_temperature", "nan"),
        ("pg_temperature", "inf"),
        ("view", "<script>"),
        ("lang", "fr"),
        ("hide_special", "maybe"),
        ("pg_mask", "diagonal"),
    ],
)
def test_malformed_values_are_dropped_with_a_notice(name, raw):
    values, notices = parse_query({name: raw})
    assert values[name] == PARAMS[name].default
    assert [n.key for n in notices] == ["app.url_dropped"]


def test_unknown_keys_and_very_long_values():
    values, notices = parse_query({"evil": "1", "text": "x" * 100_000})
    assert "evil" not in values
    assert len(values["text"]) == MAX_CHARS
    assert sorted(n.key for n in notices) == ["app.url_clamped", "app.url_unknown"]
    assert all(len(str(v)) < 200 for n in notices for v in n.values.values())


def test_repeated_parameters_take_the_last_value():
    values, _ = parse_query({"layer": ["1", "4"]})
    assert values["layer"] == 4


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*PARAMS, "junk", ""]), st.text(max_size=60), max_size=8))
def test_any_query_parses_without_raising_and_stays_in_range(query):
    values, _ = parse_query(query)
    for name, value in values.items():
        p = PARAMS[name]
        if p.kind in ("int", "float"):
            assert p.low <= value <= p.high and math.isfinite(value)
        if p.kind == "choice":
            assert value in p.choices


def test_clean_text_removes_control_characters_and_cuts():
    # Invisible format characters go too (zero-width space, right-to-left override): they could hide or
    # reorder what the class reads. Newline and tab stay.
    text, notices = clean_text("a\x00b\x1bc\u200bd\n\te\x7f\u202ef")
    assert text == "abcd\n\tef"
    assert notices[0].key == "app.control_removed" and notices[0].values["count"] == 5
    text, notices = clean_text("y" * (MAX_CHARS + 10))
    assert len(text) == MAX_CHARS and notices[0].key == "app.text_cut"
    assert clean_text("I saw a saw 😀 שלום") == ("I saw a saw 😀 שלום", [])


def test_the_view_parameter_offers_the_views_the_app_draws():
    """The link's view names, in the picker's order, are the views README lists, each with a module that draws it."""
    from components.views import VIEWS as TABLE

    expected = ("attention", "next", "qkv", "steps", "positional", "playground", "compare", "training", "atlas", "lab")
    assert params.PARAMS["view"].choices == expected == tuple(TABLE)
    for view in TABLE.values():
        assert callable(importlib.import_module(view.module).render), view.name


def test_a_window_of_positions_round_trips_and_is_kept_in_range():
    values, notices = parse_query(to_query({**defaults(), "win_q": (100, 131), "win_k": (0, 31)}))
    assert (values["win_q"], values["win_k"], notices) == ((100, 131), (0, 31), [])
    values, notices = parse_query({"win_q": "40-9000"})
    assert values["win_q"] == (40, 511) and [n.key for n in notices] == ["app.url_clamped"]
    for raw in ("12", "a-b", "1-2-3", "-4-5", "１-２", ""):
        values, notices = parse_query({"win_k": raw})
        assert values["win_k"] is None and [n.key for n in notices] == ["app.url_dropped"], raw
