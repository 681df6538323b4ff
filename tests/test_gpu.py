"""CPU and CUDA traces agree; skipped cleanly where there is no CUDA."""

import numpy as np
import pytest
import torch

import model

pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]


def test_cuda_trace_matches_cpu():
    cpu = model.load_encoder(device="cpu")
    cuda = model.load_encoder(device="cuda")
    text = "The animal didn't cross the street because it was too tired."
    a, b = model.trace_encoder(cpu, text), model.trace_encoder(cuda, text)
    assert b.device == "cuda"
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_allclose(la.weights, lb.weights, atol=1e-4)
        np.testing.assert_allclose(la.output, lb.output, atol=1e-3)
