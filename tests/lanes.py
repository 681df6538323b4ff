"""The test lanes: every test is in exactly one, named by a marker (registered in pyproject.toml).

    fast     pure code: math in numpy and torch, tiny random models (playground, training), figures, URL
             parameters, i18n, notation, glossary, the import graph, the school's configs. No model weights,
             no page. `make test-fast`.
    models   a real model's weights (all-MiniLM-L6-v2, multilingual-e5-small, SmolLM2, operators' folders),
             mostly checked against transformers: parity, loading, tokenizers, exports.
    app      the whole page: Streamlit's AppTest, or a real server spoken to over its websocket.
    browser  the real app in Debian's Chromium (tests/browser/).
    slow     the longest checks, run by `make test` only: SmolLM2's parity on a text cut at 512 tokens and
             the atlas statistics of multilingual-e5-small recomputed from the corpus.

A test's lane is the lane marker closest to it: `pytestmark` names a module's lane, and a marker on a test
(or on one of its parameters) replaces it for that test. `slow(**params)` with arguments applies only to the
parametrized cases whose parameters equal them, e.g. `@pytest.mark.slow(text=SENTENCES[-1])`, and is closer
than any other marker of the test; the other cases keep the test's (or the module's) lane. `assign` leaves each test carrying its one lane marker, so that `-m models` means
"in the models lane", and reports every test that is in no lane or in two.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

LANES = ("fast", "models", "app", "browser", "slow")

UNSET = object()


def _applies(mark: pytest.Mark, item: pytest.Item) -> bool:
    """A lane marker applies to this test; only `slow(**params)` can leave some cases of a test out."""
    if mark.name != "slow" or not mark.kwargs:
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return all(params.get(name, UNSET) == value for name, value in mark.kwargs.items())


def _levels(item: pytest.Item) -> Iterator[list[pytest.Mark]]:
    """Lane markers from the closest level out: the case (`slow(**params)` naming its parameters), the test
    (its decorators and `pytest.param(..., marks=...)`), its class, its module."""
    own = [m for m in item.own_markers if m.name in LANES]
    yield [m for m in own if m.name == "slow" and m.kwargs and _applies(m, item)]
    yield [m for m in own if not (m.name == "slow" and m.kwargs)]
    for node in reversed(item.listchain()[:-1]):
        yield [m for m in node.own_markers if m.name in LANES]


def assign(items: Sequence[pytest.Item]) -> list[str]:
    """Give each test its one lane marker (the closest); returns what is wrong, one line per problem."""
    problems: list[str] = []
    holders: set[pytest.Node] = set()  # the tests' modules and classes: their lane markers go to the tests
    picked: dict[tuple[str, str], bool] = {}  # (test function, a slow(**params)): did it pick any of its cases?
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for mark in item.own_markers:
            if mark.name == "slow" and mark.kwargs:
                key = (item.nodeid.split("[", 1)[0], ", ".join(f"{k}={v!r:.40}" for k, v in mark.kwargs.items()))
                picked[key] = picked.get(key, False) or _applies(mark, item)
                if missing := sorted(set(mark.kwargs) - set(params)):
                    problems.append(f"{item.nodeid}: slow names parameters the test does not have: {missing}")
        holders.update(item.listchain()[:-1])
        chosen = next((marks for marks in _levels(item) if marks), [])
        names = sorted({m.name for m in chosen})
        if not names:
            problems.append(f"{item.nodeid}: in no lane (mark it, or its module, with one of {', '.join(LANES)})")
        elif len(names) > 1:
            problems.append(f"{item.nodeid}: in {len(names)} lanes at once ({', '.join(names)}): keep one")
        item.own_markers[:] = [m for m in item.own_markers if m.name not in LANES] + chosen[:1]
        if chosen:
            item.keywords[chosen[0].name] = chosen[0]
    for node in holders:  # every test now carries its lane itself; a module's marker must not add a second
        node.own_markers[:] = [m for m in node.own_markers if m.name not in LANES]
    problems += [
        f"{test}: slow({kwargs}) matches none of its cases" for (test, kwargs), hit in picked.items() if not hit
    ]
    return problems


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: it must see each test's one lane
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hook tests/conftest.py takes in: a test in no lane, or in two, stops the run before any test runs."""
    if problems := assign(items):
        raise pytest.UsageError("tests not in exactly one lane (tests/lanes.py):\n  " + "\n  ".join(problems))
