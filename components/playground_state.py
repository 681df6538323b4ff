"""Model settings that more than one view offers: the head count that divides d_model, and the
playground's config read from Session State (the Playground draws it, Compare reuses it).

Every head gets d_model / n_heads dimensions, so a head count must divide d_model; when d_model moves,
the head-count widget moves to the nearest count that does, and the page says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import streamlit as st

from components.cache import get_playground_trace
from components.params import PARAMS
from model import AttentionTrace, PlaygroundConfig, valid_head_counts
from model.errors import EmptyTextError, InvalidConfigError

if TYPE_CHECKING:
    from components.context import ViewContext


def heads_dividing(d_model: int, offered: Sequence[int]) -> list[int]:
    """The offered head counts that split d_model evenly."""
    return [h for h in offered if d_model % h == 0]


def nearest(value: int, options: Sequence[int]) -> int:
    """The option closest to value (the smaller one on a tie)."""
    return min(options, key=lambda option: (abs(option - value), option))


def snap_heads(key: str, valid: Sequence[int]) -> tuple[int, int] | None:
    """Move the head-count widget `key` to the nearest valid count; (old, new) when it had to move."""
    old = int(st.session_state[key])
    if old in valid:
        return None
    st.session_state[key] = nearest(old, valid)
    return old, st.session_state[key]


def playground_config(state: Mapping[str, Any], **overrides: Any) -> PlaygroundConfig:
    """The PlaygroundConfig that the pg_* settings in `state` describe (defaults where missing).

    A head count that does not divide d_model is replaced by the nearest one that does.
    """

    def get(name: str) -> Any:
        return state.get(name, PARAMS[name].default)

    d_model = int(get("pg_d_model"))
    values = {
        "d_model": d_model,
        "n_heads": nearest(int(get("pg_n_heads")), valid_head_counts(d_model) or [1]),
        "n_layers": int(get("pg_n_layers")),
        "normalizer": get("pg_normalizer"),
        "temperature": float(get("pg_temperature")),
        "scale": bool(get("pg_scale")),
        "mask": get("pg_mask"),
        "window": int(get("pg_window")),
        "with_positions": bool(get("pg_positions")),
        "seed": int(get("pg_seed")),
        "char_tokens": bool(get("pg_char_tokens")),
    }
    return PlaygroundConfig(**{**values, **overrides})


def playground_traces(
    ctx: ViewContext, text: str, configs: Callable[[], Sequence[PlaygroundConfig]]
) -> list[tuple[PlaygroundConfig, AttentionTrace]] | None:
    """The playground model's trace of `text` for each config, or None once the page says why there is
    none (settings that do not make a model, or a text without a visible character)."""
    try:
        return [(config, get_playground_trace(config, text)) for config in configs()]
    except InvalidConfigError as err:
        st.warning(ctx.t("playground.invalid", detail=str(err)), icon="⚠️")
    except EmptyTextError:
        st.info(ctx.t("playground.no_tokens"), icon="✍️")
    return None
