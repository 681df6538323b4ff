"""The model and traces, shared by every user of the server.

The model is loaded once per process (st.cache_resource) and never changed. Traces are kept in
one byte-bounded, least-recently-used cache, also shared through st.cache_resource. Why not
st.cache_data: it pickles every entry (0.5 s for a 512-token trace of 176 MB) and bounds only the
number of entries, so a few long texts could hold gigabytes. A trace's arrays are read-only, so
handing the same object to every session is safe. Choosing a layer, head or query re-slices a
cached trace and never re-runs the model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import streamlit as st
import torch

import model
from components.params import WINDOWS
from model.device import one_cpu_thread_here
from model.experiments.playground import PlaygroundConfig
from model.registry import DEFAULT_MODEL, LoadedModel, has_window, load_named

# A trace keeps q, k, v, z and outputs (scores and α′ are computed when asked). The default budget is the one that
# keeps a server with every built-in model under its memory goal after a class (README, Benchmarks: the trace cache).
CACHE_BUDGET_MB = int(os.environ.get("ATTENTION_LAB_CACHE_MB", "96"))
# Every forward pass runs on this one long-lived thread, with one OpenMP thread. Streamlit starts each script run
# on a new thread, and OpenMP builds a team of worker threads per calling thread; on a 2-core server that a browser
# may share, torch's two threads wait for each other. One thread also queues the traces of sessions that arrive
# together instead of letting them fight over the cores (README, Benchmarks: issue #5).
_MODEL_THREAD = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="attention-lab-model", initializer=one_cpu_thread_here
)
T = TypeVar("T")
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if os.name == "posix" and ctypes.util.find_library("c") else None


def return_large_blocks_to_the_os() -> None:
    """Have glibc give blocks of 128 KB and more straight back to the OS when they are freed, and keep at most
    two arenas. A forward pass and a view's figures make many large temporary arrays on many threads (every
    session's run is a thread); by default glibc keeps what they free in per-thread arenas, and the server's
    resident size grows with the class (README, Benchmarks: the three models in one class). Set here rather than
    as MALLOC_* variables, so that every way of starting the server gets it."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None:
        for option, value in ((_M_MMAP_THRESHOLD, 128 * 1024), (_M_TRIM_THRESHOLD, 128 * 1024), (_M_ARENA_MAX, 2)):
            mallopt(option, value)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's mallopt options (malloc.h)
return_large_blocks_to_the_os()


def release_freed_memory() -> None:
    """Hand memory freed by a large trace back to the OS (glibc keeps it otherwise, and a server's
    resident size would only ever grow)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


class TraceCache:
    """Values by key; once their total nbytes passes the budget, the least recently used go first."""

    def __init__(self, budget_bytes: int):
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[Hashable, model.AttentionTrace] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], model.AttentionTrace]) -> model.AttentionTrace:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: other sessions keep reading while this one computes
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._bytes += value.nbytes
            while self._bytes > self.budget_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
        if value.nbytes > 16 * 2**20:
            release_freed_memory()
        return value

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


def freeze_long_lived() -> None:
    """Take everything alive now (the libraries and the model) out of the cyclic garbage collector's sight.

    With torch, Plotly and the model loaded a full collection walks ~280,000 objects: 100-170 ms on a 2-core
    machine. Frozen objects are still freed by reference counting; the collector only stops scanning them, so
    Python's own full collections stay short. (Streamlit's full collection after every run, runner.postScriptGC,
    is off in .streamlit/config.toml: it also walked every session's objects, so it grew with the class; a class
    of 40 spent 79 s of the server's CPU in 130 s with it and 29 s without.)
    """
    gc.collect()
    gc.freeze()


# A model nobody used for this long is let go (the default model never is), so that a server that served Gemma to
# one class in the morning does not hold its 600 MB all day. A request that is using the model keeps its own
# reference, so letting go never pulls a model from under a run: Python frees it when the last run is done.
MODEL_IDLE_S = float(os.environ.get("ATTENTION_LAB_MODEL_IDLE_S", "900"))


class ModelShelf:
    """Loaded models by name, each let go once nobody asked for it for `idle_s` seconds (`keep` never)."""

    def __init__(self, load: Callable[[str], LoadedModel], idle_s: float, keep: str, clock=time.monotonic):
        self._load, self.idle_s, self.keep, self._clock = load, idle_s, keep, clock
        self._models: dict[str, LoadedModel] = {}
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, name: str) -> LoadedModel:
        with self._lock:
            self._let_go_idle()
            self._used[name] = self._clock()
            if name in self._models:
                return self._models[name]
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one load per model, however many sessions ask for it at once
            with self._lock:
                if name in self._models:
                    return self._models[name]
            loaded = self._load(name)
            with self._lock:
                self._models[name] = loaded
                self._used[name] = self._clock()
            return loaded

    def _let_go_idle(self) -> None:
        now = self._clock()
        idle = [n for n in self._models if n != self.keep and now - self._used.get(n, now) > self.idle_s]
        for name in idle:
            del self._models[name]
        if idle:
            gc.collect()
            release_freed_memory()

    def __contains__(self, name: str) -> bool:
        return name in self._models


def _load(name: str) -> LoadedModel:
    loaded = load_named(name)
    freeze_long_lived()
    return loaded


@st.cache_resource(show_spinner=False)
def model_shelf() -> ModelShelf:
    return ModelShelf(_load, MODEL_IDLE_S, DEFAULT_MODEL)


def load_model(name: str) -> LoadedModel:
    """A built-in model or one the operator listed, loaded on first use and kept while classes use it."""
    return model_shelf().get(name)


def is_loaded(name: str) -> bool:
    """Whether the model is in memory now (the page shows a spinner before a load)."""
    return name in model_shelf()


@st.cache_resource(show_spinner=False)
def _cpu_model(name: str) -> LoadedModel:
    """A CPU copy of a model, loaded only if the GPU fails."""
    loaded = load_named(name, device="cpu")
    freeze_long_lived()
    return loaded


def selected_model_name() -> str:
    """The model this session chose in the sidebar."""
    return st.session_state.get("model", DEFAULT_MODEL)


def get_model() -> LoadedModel:
    return load_model(selected_model_name())


@st.cache_resource(show_spinner=False)
def trace_cache() -> TraceCache:
    return TraceCache(CACHE_BUDGET_MB * 2**20)


def on_model_thread(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """fn(*args, **kwargs) run on the model thread; its result, or its exception raised here."""
    return _MODEL_THREAD.submit(fn, *args, **kwargs).result()


def _is_device_failure(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (isinstance(err, RuntimeError) and "CUDA" in str(err))


def trace_on_model(loaded: LoadedModel, text: str, with_positions: bool, **window: object) -> model.AttentionTrace:
    """Trace on the model's device; if the GPU runs out of memory or fails, trace again on the CPU.

    The trace's `device` then says "cpu", and the page tells the class why.
    """
    try:
        return on_model_thread(model.trace_any, loaded, text, with_positions=with_positions, **window)
    except (RuntimeError, torch.OutOfMemoryError) as err:
        if loaded.device.type == "cpu" or not _is_device_failure(err):
            raise
        if torch.cuda.is_available():
            on_model_thread(torch.cuda.empty_cache)
        return on_model_thread(model.trace_any, _cpu_model(loaded.name), text, with_positions=with_positions, **window)


def window_choice(name: str) -> dict[str, object]:
    """The window this session gave the model named, as trace_any's options: {} for the model's own window (or a
    model without one), else {"window": w, "window_layers": "sliding" | "all"}."""
    w = st.session_state.get("window", 0)
    if name != selected_model_name() or w not in WINDOWS[1:] or not has_window(load_model(name)):
        return {}
    layers = st.session_state.get("window_layers", "sliding")
    return {"window": int(w), "window_layers": layers if layers in ("sliding", "all") else "sliding"}


def trace_uncached(name: str, text: str, **options: object) -> model.AttentionTrace:
    """A trace of `text` by the model named, on the model thread, not kept: the atlas's corpus and the importance
    test's re-runs (`options` go to trace_any: ablate=…). Every model run of the app goes through this module."""
    return on_model_thread(model.trace_any, load_model(name), text, **options)


def get_trace(
    text: str, with_positions: bool = True, model_name: str | None = None, *, own_window: bool = False
) -> model.AttentionTrace:
    """The trace of `text` by the session's model (or the one named), computed once and shared; with the window
    the session chose for a sliding-window model (`window_choice`), unless own_window asks for the model's own."""
    name = model_name or selected_model_name()
    window = {} if own_window else window_choice(name)
    key = ("pretrained", name, text, with_positions, tuple(sorted(window.items())))
    return trace_cache().get(key, lambda: trace_on_model(load_model(name), text, with_positions, **window))


def get_playground_trace(config: PlaygroundConfig, text: str) -> model.AttentionTrace:
    def compute() -> model.AttentionTrace:
        tokenizer_model = None if config.char_tokens else load_model(DEFAULT_MODEL)
        return on_model_thread(model.trace_playground, config, text, tokenizer_model)

    return trace_cache().get(("playground", config, text), compute)
