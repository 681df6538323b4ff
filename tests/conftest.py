"""Shared fixtures: the bundled model is loaded once per test session; a counter of the model's runs. And the
lanes' check (tests/lanes.py): a test in no lane, or in two, stops the run."""

from __future__ import annotations

import pytest

import model
from tests.lanes import pytest_collection_modifyitems  # noqa: F401 - every test in exactly one lane


@pytest.fixture(scope="session")
def pretrained() -> model.EncoderModel:
    return model.load_encoder(device="cpu")


@pytest.fixture
def model_runs(monkeypatch) -> list[str]:
    """The texts the app's model traces from now on (the trace cache starts empty)."""
    from components.cache import trace_cache

    calls: list[str] = []
    real = model.trace_any

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "trace_any", counting)
    trace_cache.clear()
    return calls
