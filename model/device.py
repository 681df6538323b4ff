"""Choosing where the model runs (an explicit argument, else $ATTENTION_LAB_DEVICE, else the best found)
and how many CPU threads a thread's torch ops use."""

from __future__ import annotations

import contextlib
import ctypes
import os

import torch

DEVICE_ENV = "ATTENTION_LAB_DEVICE"


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA if available, then Apple MPS, else CPU; `requested` or the environment variable override it."""
    name = requested or os.environ.get(DEVICE_ENV) or ""
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def one_cpu_thread_here() -> None:
    """Let this thread's torch ops use one OpenMP thread, leaving every other thread as it was.

    torch.set_num_threads is process-wide: it also becomes the count of every thread started later.
    OpenMP keeps the count per thread: torch.get_num_threads() first has torch set this thread up,
    then omp_set_num_threads(1) changes this thread alone. On a 2-core server whose cores are busy with
    other work (other sessions, a browser), one thread is faster than two that wait for each other:
    300 training steps took 1.6-3.5 s with torch's 2 threads and 0.8 s with one.
    """
    torch.get_num_threads()
    with contextlib.suppress(AttributeError, OSError, TypeError):  # no OpenMP, or no dlsym (Windows)
        ctypes.CDLL(None).omp_set_num_threads(1)
