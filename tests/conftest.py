"""Shared fixtures: the bundled model is loaded once per test session."""

from __future__ import annotations

import pytest

import model


@pytest.fixture(scope="session")
def pretrained() -> model.EncoderModel:
    return model.load_encoder(device="cpu")
