"""Attention Lab's torch code: attention math, positional encoding, the bundled, operator and playground models.

Nothing here imports Streamlit. Everything a view draws comes out of `trace`, `trace_any` or `trace_playground`
as an `AttentionTrace` of plain numpy arrays.
"""

from model.attention import build_mask, normalize, scaled_dot_product_attention
from model.device import pick_device
from model.errors import AttentionLabError, EmptyTextError, InvalidConfigError, ModelNotInstalledError
from model.playground import PlaygroundConfig, trace_playground, valid_head_counts
from model.positional import sinusoidal_encoding
from model.pretrained import PretrainedModel, load_pretrained, trace
from model.registry import load_model, operator_model_paths, trace_any
from model.trace import AttentionTrace, LayerTrace

__all__ = [
    "AttentionLabError",
    "AttentionTrace",
    "EmptyTextError",
    "InvalidConfigError",
    "LayerTrace",
    "ModelNotInstalledError",
    "PlaygroundConfig",
    "PretrainedModel",
    "build_mask",
    "load_model",
    "load_pretrained",
    "normalize",
    "operator_model_paths",
    "pick_device",
    "scaled_dot_product_attention",
    "sinusoidal_encoding",
    "trace",
    "trace_any",
    "trace_playground",
    "valid_head_counts",
]
