"""How fast SmolLM2-135M-Instruct loads and traces, and how much memory it holds. Run by hand, never in the tests:

    python bench/bench_models.py                  # trace vs transformers at torch's default threads, loads, RSS
    python bench/bench_models.py --threads 1      # as the app's one-thread model thread runs it
    python bench/bench_models.py --skip-speed     # loads and RSS only

Speed: `trace_llama(model, text)` next to transformers' LlamaModel reading the same GGUF file (gguf_file=, eager
attention, output_attentions=True), at texts of exactly 16, 128 and 512 tokens, timed in alternation after a
warm-up; medians. trace takes a string and returns every layer's q, k, v, z and output as read-only numpy on the
CPU; transformers gets ready-made ids and returns tensors (its lm_head is not run: LlamaModel, not ForCausalLM).

Loads, each in a new process, so that nothing is warm but the operating system's file cache: `load_smollm2` with
an empty cache folder (cold: read and dequantize the GGUF file, write the cache), then three times from the cache
(warm). RSS: of the new process after the load, after a 512-token trace and its next-token scores (every weight
touched; glibc's freed memory handed back with malloc_trim, as components/cache.py does after a large trace), and
with every built-in model loaded and traced once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_trace import PASSAGE, cpu_model, synchronize, time_ms  # noqa: E402
from model.llama import LlamaModel, load_smollm2, smollm2_file, trace_llama  # noqa: E402

LENGTHS = (16, 128, 512)

# Run in a new process by `in_new_process`; prints one JSON line.
_CHILD = """
import ctypes, gc, json, sys, time
sys.path.insert(0, {root!r})
from bench.bench_models import rss_mb
from model.registry import BUILT_IN, trace_any
from model.llama import SMOLLM2_NAME, load_smollm2
start = time.perf_counter()
loaded = load_smollm2("cpu")
seconds = time.perf_counter() - start
after_load = rss_mb()
trace = trace_any(loaded, {text!r})
loaded.next_token_logits(trace.layers[-1].output[-1:])
del trace
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)  # as the app does after a large trace (components/cache.py)
after_trace = rss_mb()
all_models = None
if {all_models!r}:
    for name, load in BUILT_IN.items():
        other = loaded if name == SMOLLM2_NAME else load("cpu")
        trace_any(other, "The animal didn't cross the street because it was too tired.")
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    all_models = rss_mb()
print(json.dumps(dict(seconds=seconds, after_load=after_load, after_trace=after_trace, all_models=all_models)))
"""


def rss_mb() -> float:
    """This process's resident memory, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def text_of_length(loaded: LlamaModel, n_tokens: int) -> str:
    """A prefix of the repeated passage that tokenizes to exactly n_tokens."""
    text = PASSAGE * (n_tokens // 20 + 2)
    encoding = loaded.tokenizer.encode(text)
    for n in range(n_tokens, 0, -1):
        prefix = text[: encoding.offsets[n - 1][1]]
        if len(loaded.tokenizer.encode(prefix).ids) == n_tokens:
            return prefix
    raise RuntimeError(f"no prefix of the passage tokenizes to {n_tokens} tokens")


def in_new_process(cache_home: str, text: str, all_models: bool = False) -> dict:
    env = {"XDG_CACHE_HOME": cache_home, "PATH": "/usr/bin:/bin"}
    code = _CHILD.format(root=str(ROOT), text=text, all_models=all_models)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_speed(loaded: LlamaModel, args: argparse.Namespace) -> None:
    from transformers import AutoModelForCausalLM  # a dev requirement, imported only here

    path = smollm2_file()
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, attn_implementation="eager")
    hf_model = hf.model.eval()  # LlamaModel: the network without the output layer, as the trace
    device = torch.device("cpu")
    print(f"warm-up {args.warmup}, then {args.runs} alternating runs of each; medians\n")
    rows = []
    for n_tokens in LENGTHS:
        text = text_of_length(loaded, n_tokens)
        ids = torch.tensor([loaded.tokenizer.encode(text).ids])  # [batch=1, pos]
        assert trace_llama(loaded, text).n_positions == n_tokens

        def run_trace(text=text):
            return trace_llama(loaded, text)

        def run_transformers(ids=ids):
            with torch.inference_mode():
                return hf_model(ids, output_attentions=True)

        for _ in range(args.warmup):
            run_trace()
            run_transformers()
        trace_ms, hf_ms = [], []
        for i in range(args.runs):
            first, second = (run_trace, run_transformers) if i % 2 == 0 else (run_transformers, run_trace)
            a, b = time_ms(first, device), time_ms(second, device)
            trace_ms.append(a if first is run_trace else b)
            hf_ms.append(b if first is run_trace else a)
        synchronize(device)
        rows.append((n_tokens, statistics.median(trace_ms), statistics.median(hf_ms)))
    print("| tokens | trace ms | transformers ms | ratio |")
    print("|---:|---:|---:|---:|")
    for n_tokens, t, h in rows:
        print(f"| {n_tokens} | {t:.0f} | {h:.0f} | {t / h:.2f} |")


def bench_loads() -> None:
    text = text_of_length(load_smollm2("cpu"), 512)
    with tempfile.TemporaryDirectory() as cache_home:
        cold = in_new_process(cache_home, text)
        warm = [in_new_process(cache_home, text) for _ in range(3)]
        together = in_new_process(cache_home, text, all_models=True)
    print("\n| load in a new process | seconds | RSS after load | RSS after a 512-token trace |")
    print("|---|---:|---:|---:|")
    print(
        f"| cold (empty cache) | {cold['seconds']:.2f} | {cold['after_load']:.0f} MB | {cold['after_trace']:.0f} MB |"
    )
    for i, run in enumerate(warm):
        s, load, trace = run["seconds"], run["after_load"], run["after_trace"]
        print(f"| warm {i} (from the cache) | {s:.2f} | {load:.0f} MB | {trace:.0f} MB |")
    print(f"\nRSS with every built-in model loaded and traced once: {together['all_models']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each side per length")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each side per length")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (the app's model thread uses 1)")
    parser.add_argument("--skip-speed", action="store_true", help="only the loads and RSS")
    parser.add_argument("--skip-loads", action="store_true", help="only trace vs transformers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {cpu_model()}")
    if not args.skip_speed:
        bench_speed(load_smollm2("cpu"), args)
    if not args.skip_loads:
        bench_loads()


if __name__ == "__main__":
    main()
