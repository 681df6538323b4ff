"""Attention Lab's torch code: attention math, positional encoding, the model families, the playground.

Nothing here imports Streamlit. Everything a view draws comes out of `trace_any` or `trace_playground`
as an `AttentionTrace` of plain numpy arrays.
"""

from model.attention import AttentionRule, build_mask, normalize, scaled_dot_product_attention
from model.device import pick_device
from model.errors import AttentionLabError, EmptyTextError, InvalidConfigError, ModelNotInstalledError
from model.experiments.playground import PlaygroundConfig, trace_playground, valid_head_counts
from model.families.blocks import Ablation
from model.families.encoder import EncoderModel, load_encoder, trace_encoder
from model.positional import sinusoidal_encoding
from model.registry import load_model, load_named, model_names, operator_model_paths, trace_any
from model.trace import AttentionTrace, LayerTrace

__all__ = [
    "Ablation",
    "AttentionLabError",
    "AttentionRule",
    "AttentionTrace",
    "EmptyTextError",
    "EncoderModel",
    "InvalidConfigError",
    "LayerTrace",
    "ModelNotInstalledError",
    "PlaygroundConfig",
    "build_mask",
    "load_encoder",
    "load_model",
    "load_named",
    "model_names",
    "normalize",
    "operator_model_paths",
    "pick_device",
    "scaled_dot_product_attention",
    "sinusoidal_encoding",
    "trace_any",
    "trace_encoder",
    "trace_playground",
    "valid_head_counts",
]
