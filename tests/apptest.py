"""Helpers for driving the whole page with Streamlit's AppTest, shared by the view tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT_S = 120  # one run of the heaviest view on a loaded 2-core machine, with room to spare


def run_app(view: str | None = None, **query: object) -> AppTest:
    """The page opened with these URL parameters (and `view`), after its first run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    if view is not None:
        at.query_params["view"] = view
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def specs(at: AppTest) -> list[dict]:
    """Every Plotly figure on the page, as the JSON the browser receives."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def z_of(trace: dict) -> np.ndarray:
    """A heatmap's z from Plotly's JSON, where numpy arrays travel as base64 typed arrays."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = tuple(int(s) for s in str(z["shape"]).split(",")) if "shape" in z else (-1,)  # 1-D: no shape
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=float)
