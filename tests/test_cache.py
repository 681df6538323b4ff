"""The shared trace cache: bounded by bytes, least recently used first; GPU failures fall back to CPU; every
forward pass runs on one long-lived model thread."""

import gc
import threading
import weakref
from dataclasses import replace

import numpy as np
import pytest
import torch

import model
from components.cache import TraceCache, freeze_long_lived, on_model_thread, trace_on_model
from model.device import one_cpu_thread_here

pytestmark = pytest.mark.fast


class Sized:
    def __init__(self, nbytes):
        self.nbytes = nbytes


def test_cache_returns_the_same_object_without_recomputing():
    cache, calls = TraceCache(100), []
    first = cache.get("a", lambda: calls.append(1) or Sized(10))
    assert cache.get("a", lambda: calls.append(1) or Sized(10)) is first
    assert len(calls) == 1


def test_cache_drops_least_recently_used_beyond_its_budget():
    cache = TraceCache(100)
    for key in "abc":
        cache.get(key, lambda: Sized(40))
    assert len(cache) == 2 and cache.nbytes == 80
    cache.get("b", lambda: Sized(40))  # "a" is gone; reading "b" makes "c" the least recently used
    cache.get("d", lambda: Sized(40))
    kept = [k for k in "abcd" if k in cache._items]
    assert kept == ["b", "d"]


def test_a_single_oversized_value_is_still_kept():
    cache = TraceCache(10)
    cache.get("big", lambda: Sized(1000))
    assert len(cache) == 1


@pytest.mark.models
def test_trace_nbytes_counts_its_arrays(pretrained):
    trace = model.trace_encoder(pretrained, "I saw a saw")
    n = len(trace.tokens)
    per_layer = 4 * (4 * 12 * n * 32 + n * 384)  # q, k, v, z and the output; scores and α′ are computed
    assert trace.nbytes == 6 * per_layer + 2 * 4 * n * 384


@pytest.mark.models
def test_gpu_out_of_memory_retries_on_the_cpu(pretrained, monkeypatch):
    real = model.trace_any

    def failing_on_gpu(m, text, with_positions=True, ablate=None):
        if m.device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(m, text, with_positions=with_positions, ablate=ablate)

    monkeypatch.setattr(model, "trace_any", failing_on_gpu)
    monkeypatch.setattr("components.cache._cpu_model", lambda name: pretrained)
    on_gpu = replace(pretrained, device=torch.device("cuda"))
    trace = trace_on_model(on_gpu, "I saw a saw", with_positions=True)
    assert trace.device == "cpu"
    np.testing.assert_allclose(trace.layers[0].weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.models
def test_other_errors_are_not_hidden(pretrained, monkeypatch):
    def broken(m, text, with_positions=True):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(model, "trace_any", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        trace_on_model(replace(pretrained, device=torch.device("cuda")), "x", with_positions=True)


def test_one_cpu_thread_here_leaves_other_threads_torch_thread_count_alone():
    before = torch.get_num_threads()
    seen = {}

    def body():
        one_cpu_thread_here()
        seen["inside"] = torch.get_num_threads()

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    after = []
    fresh = threading.Thread(target=lambda: after.append(torch.get_num_threads()))
    fresh.start()
    fresh.join()
    assert seen["inside"] == 1
    assert torch.get_num_threads() == before and after == [before]


@pytest.mark.models
def test_traces_run_on_one_long_lived_thread_with_one_cpu_thread(pretrained):
    before = torch.get_num_threads()
    first, second = (on_model_thread(lambda: (threading.get_ident(), torch.get_num_threads())) for _ in range(2))
    assert first == second  # the same thread every time, so OpenMP sets up its threads once
    assert first[0] != threading.get_ident() and first[1] == 1
    assert torch.get_num_threads() == before
    trace = trace_on_model(pretrained, "I saw a saw", with_positions=True)
    np.testing.assert_allclose(
        trace.layers[3].weights, model.trace_encoder(pretrained, "I saw a saw").layers[3].weights, atol=1e-5
    )


def test_frozen_objects_stay_alive_and_new_cyclic_garbage_is_still_collected():
    class Node:
        pass

    kept = Node()
    kept.me = kept  # a cycle that is alive when the model loads
    frozen_before = gc.get_freeze_count()
    freeze_long_lived()
    assert gc.get_freeze_count() > frozen_before
    garbage = Node()
    garbage.me = garbage  # a cycle made by a later run: only the cyclic collector can free it
    gone = weakref.ref(garbage)
    del garbage
    gc.collect()
    assert gone() is None and kept.me is kept


def test_a_model_nobody_uses_is_let_go_and_the_default_never():
    from components.cache import ModelShelf

    now = [0.0]
    loads = []

    def load(name):
        loads.append(name)
        return object()

    shelf = ModelShelf(load, idle_s=60, keep="default", clock=lambda: now[0])
    default, gemma = shelf.get("default"), shelf.get("gemma")
    assert shelf.get("gemma") is gemma and loads == ["default", "gemma"]  # kept while used
    now[0] = 30
    shelf.get("smol")
    now[0] = 80  # gemma idle for 80 s, smol for 50 s
    shelf.get("default")
    assert "gemma" not in shelf and "smol" in shelf and "default" in shelf
    now[0] = 10_000
    assert shelf.get("default") is default and "smol" not in shelf  # the default stays, however long idle
    held = gemma  # a run that still holds the model it was given keeps a working reference
    assert held is not None and shelf.get("gemma") is not gemma and loads[-1] == "gemma"  # loaded again on demand


def test_a_model_is_loaded_once_however_many_sessions_ask_at_once():
    import threading
    import time as _time

    from components.cache import ModelShelf

    loads = []

    def load(name):
        loads.append(name)
        _time.sleep(0.05)
        return object()

    shelf = ModelShelf(load, idle_s=60, keep="default")
    got = []
    threads = [threading.Thread(target=lambda: got.append(shelf.get("gemma"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["gemma"] and len({id(m) for m in got}) == 1
