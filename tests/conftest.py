"""Shared fixtures: the bundled model is loaded once per test session; a counter of the model's runs; a fresh
cache folder for a module that converts a model. And the lanes' check (tests/lanes.py): a test in no lane, or in
two, stops the run."""

from __future__ import annotations

import os
import shutil

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


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory):
    """A fresh $XDG_CACHE_HOME for one test module that converts a model (the first load converts, later ones read
    the cache), put back afterwards; the folder (hundreds of MB of converted weights) is deleted, not left for
    pytest's kept temporary folders."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before
    shutil.rmtree(folder, ignore_errors=True)
