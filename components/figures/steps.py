"""The Steps view's figure and table: one query's α′ over the keys, α′ⱼ·vⱼ per key and their sum bᵢ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.figures.common import BLUES, Bars, Mark, Panel, heatmap_grid
from model.readouts.steps import QueryStep

COLUMNS = ("token", "q·k", "÷√d", "mask", "α′", "‖α′·v‖")  # step_frame's columns; the view translates two


def step_frame(step: QueryStep, tokens: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """One row per key j (index j): token, q·k, ÷√d, the value after the mask (−∞ if hidden), α′, ‖α′·v‖."""
    return pd.DataFrame(
        {
            COLUMNS[0]: list(tokens),
            COLUMNS[1]: step.dots,
            COLUMNS[2]: step.scaled,
            COLUMNS[3]: step.logits,
            COLUMNS[4]: step.weights,
            COLUMNS[5]: np.linalg.norm(step.weighted_values, axis=1),
        },
        index=pd.RangeIndex(len(tokens), name="j"),
    )


def step_figure(
    step: QueryStep,
    key_labels: list[str],
    *,
    sum_label: str = "Σ = b",
    title: str = "",
    weight_title: str = "α′",
    values_title: str = "α′·v",
    key_title: str = "key",
    dim_title: str = "dimension",
    presentation: bool = False,
    keys: slice = slice(None),
    width_px: int | None = None,
    marked_keys: tuple[int, ...] = (),
) -> go.Figure:
    """Above, a bar of α′ᵢⱼ per key (hidden keys in grey); below, on the same key axis, the columns
    α′ᵢⱼ·vⱼ and, last, their sum bᵢ over every key, on one signed scale centred on zero. `keys` picks the
    key columns drawn (a long text's keys around the query); `marked_keys` (key positions) are outlined."""
    labels = list(key_labels)[keys]
    table = np.concatenate([step.weighted_values[keys], step.output[None, :]]).T  # [d_head, shown keys + 1]
    d = table.shape[0]
    colors = [BLUES[3][1] if seen else "#bdbdbd" for seen in step.visible[keys]]
    return heatmap_grid(
        [
            Panel(
                table,
                [*labels, sum_label],
                list(range(d)),
                title=values_title,
                x_title=key_title,
                y_title=dim_title,
                rules_x=(len(labels) - 0.5,),  # the sum's column stands apart from the key columns it adds up
                mark=Mark(cols=tuple(j - (keys.start or 0) for j in marked_keys)),
            )
        ],
        title=title,
        value_name="α′·v",
        scale="signed",
        bars=Bars(labels, step.weights[keys], colors, weight_title, "α′"),
        presentation=presentation,
        height=560,
        width_px=width_px,
    )
