"""How a decoder writes: greedy generation with a KV cache, for every decoder family (SmolLM2, Gemma 3, an
operator's Llama or Gemma folder), and the article's claim measured: self-attention computes every position at once.

    prefill   one parallel pass over the prompt's n tokens: every q, k, v at once; the keys and values are kept
    step      the new token alone: its q, k and v, its one row of α′ against the cached keys, its next-token logits

Because of the causal mask, a token added later changes nothing before it: the earlier rows of α′ stay as they were,
so a decoder need not compute them again. What it keeps is the KV cache,

    bytes = 2 (k and v) · layers · kv_heads · d_head · tokens · 4 (float32),

smaller by the group size where query heads share a key/value head: SmolLM2 shares each of its 3 among 3 query heads
(a cache 3× smaller than 9 heads' would be), Gemma 3 270M its 1 among 4 (4× smaller).

    python -m model.generate --model NAME --text T --steps N [--device cpu|cuda]

prints the tokens as they come, then one JSON line: token_ids, text, kv_cache_bytes, ms_per_token_cached,
ms_per_token_full, prefill_ms, sequential_ms and cached_vs_full_max_diff (the largest |Δ| between a cached step's
logits or α′ row and those of a full recompute of the same tokens).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from model.errors import AttentionLabError, InvalidConfigError
from model.families.base import LoadedModel
from model.families.blocks import KVCache, recorded_weights
from model.registry import family_of, load_named
from model.tokens import MAX_TOKENS, tokenize

MAX_STEPS = 64  # tokens one generation may add (the page offers fewer)


def kv_cache_bytes(config, tokens: int, *, shared: bool = True) -> int:
    """2 · layers · kv_heads · d_head · tokens · 4: the cache of `tokens` tokens in float32; shared=False, as if every
    query head had its own key/value head (multi-head attention)."""
    heads = config.n_kv_heads if shared else config.n_heads
    return 2 * config.n_layers * heads * config.d_head * tokens * 4


@dataclass(frozen=True)
class Step:
    """One token written: what the model computed for it with the cache."""

    token_id: int
    probability: float  # of the token chosen (the most likely: greedy), under the model's own distribution
    rows: tuple[np.ndarray, ...]  # per layer [head, key_pos]: the α′ row of the token that predicted it
    cache_tokens: int  # tokens in the cache after the step
    ms: float  # the step's time: q, k, v of one token, one row of α′ per head and layer, the logits


@dataclass(frozen=True)
class Generation:
    prompt_ids: tuple[int, ...]
    steps: tuple[Step, ...]
    prefill_ms: float  # one parallel pass over the prompt

    @property
    def new_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]


def _body(loaded: LoadedModel, ids: list[int], cache: KVCache | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The decoder's layers on `ids` after the cache (or alone): the last token's final hidden state and, per layer,
    the new tokens' α′ rows as the forward pass computed them.  -> [1, d_model], [[head, new, key_pos], …]"""
    forward = family_of(loaded).forward
    if forward is None:
        raise InvalidConfigError(f"{loaded.name} is an encoder: it does not write")
    with recorded_weights() as rows:
        _, layers = forward(loaded, torch.tensor(ids), cache=cache)
    return layers[-1][2][-1:].cpu().numpy(), rows  # after the final norm


def _forward(loaded: LoadedModel, ids: list[int], cache: KVCache | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """`_body`, then the output layer: the last token's logits.  -> [vocab], [[head, new, key_pos], …]"""
    hidden, rows = _body(loaded, ids, cache)
    return loaded.next_token_logits(hidden)[0], rows


def _probability(logits: np.ndarray, token: int) -> float:
    z = logits.astype(np.float64) - logits.max()
    return float(np.exp(z[token]) / np.exp(z).sum())


def generate(loaded: LoadedModel, text: str, steps: int) -> Generation:
    """Greedy generation of `steps` tokens after `text`, with the KV cache: a parallel prefill, then one token a step."""
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidConfigError(f"steps must be between 1 and {MAX_STEPS}")
    prompt = tokenize(loaded.tokenizer, text).ids
    if len(prompt) + steps > MAX_TOKENS:
        raise InvalidConfigError(f"the text and {steps} new tokens would pass the app's {MAX_TOKENS} tokens")
    cache = KVCache.empty(loaded.config.n_layers)
    begin = time.perf_counter()
    logits, rows = _forward(loaded, prompt, cache)
    prefill_ms = (time.perf_counter() - begin) * 1000
    done = []
    for _ in range(steps):
        token = int(np.argmax(logits))
        chosen = _probability(logits, token)
        last = tuple(r[:, -1] for r in rows)  # [head, key_pos]: the row of the token that predicted `token`
        begin = time.perf_counter()
        logits, rows = _forward(loaded, [token], cache)
        ms = (time.perf_counter() - begin) * 1000
        done.append(Step(token, chosen, last, cache.length, ms))
    return Generation(tuple(prompt), tuple(done), prefill_ms)


@dataclass(frozen=True)
class Measured:
    """The JSON of `python -m model.generate`, and the generation panel's live figures."""

    token_ids: list[int]
    text: str
    kv_cache_bytes: int
    ms_per_token_cached: float  # median over the steps, the output layer (logits over the vocabulary) included
    ms_per_token_full: float  # median: the whole text so far recomputed for each new token, output layer included
    layers_ms_cached: float  # the same two without the output layer, which costs both the same: the layers alone
    layers_ms_full: float
    prefill_ms: float  # one parallel pass over the prompt
    sequential_ms: float  # the prompt fed one token at a time through the cache
    cached_vs_full_max_diff: float  # largest |Δ| of logits and α′ rows, cached step against full recompute


def measure(loaded: LoadedModel, text: str, steps: int) -> Measured:
    """Greedy generation with the cache, checked and timed against a full recompute of every step, and the prompt's
    parallel prefill against the same tokens fed one at a time."""
    prompt = tokenize(loaded.tokenizer, text).ids
    cache = KVCache.empty(loaded.config.n_layers)
    begin = time.perf_counter()
    logits, rows = _forward(loaded, prompt, cache)
    prefill_ms = (time.perf_counter() - begin) * 1000
    ids, cached_ms, full_ms, cached_layers, full_layers, diff = list(prompt), [], [], [], [], 0.0
    for _ in range(steps):
        token = int(np.argmax(logits))
        ids.append(token)
        begin = time.perf_counter()
        hidden, rows = _body(loaded, [token], cache)
        middle = time.perf_counter()
        logits = loaded.next_token_logits(hidden)[0]
        cached_ms.append((time.perf_counter() - begin) * 1000)
        cached_layers.append((middle - begin) * 1000)
        begin = time.perf_counter()
        full_hidden, full_rows = _body(loaded, ids, None)
        middle = time.perf_counter()
        full_logits = loaded.next_token_logits(full_hidden)[0]
        full_ms.append((time.perf_counter() - begin) * 1000)
        full_layers.append((middle - begin) * 1000)
        diff = max(diff, float(np.abs(full_logits - logits).max()))
        for ours, theirs in zip(rows, full_rows, strict=True):
            diff = max(diff, float(np.abs(ours[:, -1] - theirs[:, -1]).max()))
    one_by_one = KVCache.empty(loaded.config.n_layers)
    begin = time.perf_counter()
    for token in prompt[:-1]:
        _body(loaded, [token], one_by_one)
    _forward(loaded, prompt[-1:], one_by_one)  # the logits once at the end, as the prefill computes them
    sequential_ms = (time.perf_counter() - begin) * 1000
    new = ids[len(prompt) :]
    return Measured(
        token_ids=new,
        text=loaded.tokenizer.decode(new),
        kv_cache_bytes=cache.nbytes,
        ms_per_token_cached=statistics.median(cached_ms),
        ms_per_token_full=statistics.median(full_ms),
        prefill_ms=prefill_ms,
        layers_ms_cached=statistics.median(cached_layers),
        layers_ms_full=statistics.median(full_layers),
        sequential_ms=sequential_ms,
        cached_vs_full_max_diff=diff,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a decoder the app offers (SmolLM2-135M-Instruct, Gemma-3-270M)")
    parser.add_argument("--text", required=True, help="the prompt")
    parser.add_argument("--steps", type=int, default=8, help=f"tokens to add, 1 … {MAX_STEPS}")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= MAX_STEPS:
        parser.error(f"--steps must be between 1 and {MAX_STEPS}")
    try:
        loaded = load_named(args.model, args.device)
        result = measure(loaded, args.text, args.steps)
    except AttentionLabError as err:
        print(err, file=sys.stderr)
        return 2
    print(args.text + result.text)
    print(json.dumps(result.__dict__, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
