"""The head atlas: what each head of a model does over a corpus of sentences, and a label for it.

For one sentence of n tokens (special tokens included) and one head with weights α′ [n, n], query i seeing nᵢ keys:

    prev     = mean over i = 1..n−1 of α′[i, i−1]        attention to the previous token
    next     = mean over i = 0..n−2 of α′[i, i+1]        attention to the next token
    self     = mean over i of α′[i, i]                   attention to itself
    special  = mean over i of Σ_{j special} α′[i, j]     mass on [CLS], [SEP], <s> …
    punct    = mean over i of Σ_{j punctuation} α′[i, j] mass on pieces made only of punctuation
    first    = mean over i of α′[i, 0]                   mass on position 0 (the decoders' attention sink)
    entropy  = mean over i of Hᵢ = −Σⱼ α′[i, j]·ln α′[i, j]   in nats; 0·ln 0 = 0
    breadth  = mean of Hᵢ / ln nᵢ over the queries that see at least MIN_KEYS keys: the normalised entropy, 1 when
               a query spreads evenly over every key it sees, 0 when it puts everything on one

then the mean over sentences. A sentence of one token has no previous or next token: it is left out of
prev and next (`HeadStats.n_pairs` counts the sentences of two tokens or more) and still counts for the rest; a
sentence where no query sees MIN_KEYS keys is left out of breadth.

Why breadth is normalised and counts only queries that see enough keys: a head that spreads evenly over n keys
has entropy ln n, so an entropy (or e^H, the number of keys it spreads over in effect) says as much about the
sentence's length as about the head; and under a causal mask the first queries see one, two, three keys, where
any row is "spread over most of what it sees" whatever the head does. The earlier measure, the mean of e^Hᵢ / nᵢ
over every query, called 111 of SmolLM2's 270 heads broad on the English corpus, 63 of them heads that put more than
half their α′ on position 0.

Labels. Clark et al. 2019 ("What does BERT look at?") describe previous- and next-token heads that put more than
half of their attention there: a head is labelled so when prev or next > 0.5. The other cuts are this app's:
a special-token head puts more than 0.6 on the special tokens, a self head more than 0.5 on itself, and a broad
head has breadth > 0.8 and puts no more than half its weight on one place (position 0, or the special tokens
together), since a head parked on one key is not broad however its remainder spreads. (Clark et al. describe
broad heads as spending at most 10 % of their attention on any single word, without a cut that labels them; in
the short sentences of this corpus, 10 % cannot be told from an even spread over a query's few keys.)

Command line, one sentence per line; the last line of stdout is one JSON object:

    python -m model.heads --model all-MiniLM-L6-v2 --text-file assets/corpus/en.txt
    python -m model.heads --model all-MiniLM-L6-v2 --corpus en --write   # writes assets/heads/MODEL.CORPUS.json
    python -m model.heads --regenerate                                   # every shipped file again
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.readouts.words import is_punctuation
from model.trace import AttentionTrace

FIELDS = ("prev", "next", "self", "special", "punct", "first", "entropy", "breadth")
THRESHOLDS = {"prev": 0.5, "next": 0.5, "special": 0.6, "self": 0.5, "breadth": 0.8}  # a label when above
PAPER_THRESHOLDS = ("prev", "next")  # the cuts Clark et al. give; the others are this app's choice
MIN_KEYS = 8  # breadth counts only the queries that see at least this many keys
ONE_PLACE = 0.5  # a broad head puts no more than this on position 0, nor on the special tokens together
LABELS = {"prev": "previous", "next": "next", "special": "special", "self": "self", "breadth": "broad"}
PRECOMPUTED_DIR = Path(__file__).resolve().parents[2] / "assets" / "heads"
CORPUS_DIR = Path(__file__).resolve().parents[2] / "assets" / "corpus"
SHARES = ("prev", "next", "self", "special", "punct", "first", "breadth")  # fields in 0 … 1; entropy is in nats


def sentence_stats(
    weights: np.ndarray, special: np.ndarray, punct: np.ndarray, visible: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every statistic of this module's docstring for one sentence, per head.

    weights: [layer, head, query_pos, key_pos] (α′); special, punct: [pos] bool; visible: which keys each query of
    each layer sees, [layer, query_pos, key_pos] bool (or [query_pos, key_pos] for every layer; None: every key).
    Returns {field: [layer, head]}; prev and next are NaN for a sentence of one token, breadth where no query sees
    MIN_KEYS keys.
    """
    w = weights.astype(np.float64)  # [layer, head, q, k]
    n = w.shape[-1]
    nan = np.full(w.shape[:2], np.nan)  # [layer, head]
    logs = np.log(w, out=np.zeros_like(w), where=w > 0)  # [layer, head, q, k]  0·ln 0 = 0
    row_entropy = -(w * logs).sum(-1)  # [layer, head, q]
    shown = np.ones((n, n), dtype=bool) if visible is None else np.asarray(visible, dtype=bool)
    n_visible = np.broadcast_to(shown, (w.shape[0], n, n)).sum(-1)[:, None, :]  # [layer, 1, q]
    wide = np.broadcast_to(n_visible >= MIN_KEYS, row_entropy.shape)  # [layer, head, q]  the queries counted
    spread = row_entropy / np.log(np.maximum(n_visible, 2))  # [layer, head, q]  Hᵢ / ln nᵢ (used where wide)
    return {
        "prev": np.diagonal(w, offset=-1, axis1=-2, axis2=-1).mean(-1) if n > 1 else nan,  # α′[i, i−1]
        "next": np.diagonal(w, offset=1, axis1=-2, axis2=-1).mean(-1) if n > 1 else nan,  # α′[i, i+1]
        "self": np.diagonal(w, axis1=-2, axis2=-1).mean(-1),
        "special": w[..., special].sum(-1).mean(-1),
        "punct": w[..., punct].sum(-1).mean(-1),
        "first": w[..., 0].mean(-1),
        "entropy": row_entropy.mean(-1),
        "breadth": np.divide((spread * wide).sum(-1), wide.sum(-1), out=nan.copy(), where=wide.sum(-1) > 0),
    }


def trace_stats(trace: AttentionTrace) -> dict[str, np.ndarray]:
    """`sentence_stats` of one trace: its α′, special tokens, punctuation pieces, and each layer's visible keys.
    {field: [layer, head]}"""
    punct = np.array([is_punctuation(t) for t in trace.tokens], dtype=bool)  # [pos]
    visible = np.stack([layer.rule.visible(trace.n_positions) for layer in trace.layers])  # [layer, q, k]
    return sentence_stats(trace.weights, trace.is_special(), punct, visible)


def head_labels(values: dict[str, float]) -> list[str]:
    """The labels of one head from its statistics (the module docstring's rules): each field above its threshold,
    and for "broad" no more than ONE_PLACE on position 0 or on the special tokens. NaN is above no threshold."""

    def labelled(field: str) -> bool:
        above = values[field] > THRESHOLDS[field]  # NaN > cut is False
        if field == "breadth":
            return above and not (values["first"] > ONE_PLACE or values["special"] > ONE_PLACE)
        return above

    return [LABELS[field] for field in THRESHOLDS if labelled(field)]


@dataclass(frozen=True)
class HeadStats:
    """The statistics of every head over a corpus: means over its sentences."""

    model: str
    n_sentences: int  # sentences traced
    n_pairs: int  # sentences of two or more tokens, over which prev, next and breadth are averaged
    values: dict[str, np.ndarray]  # field -> [layer, head]

    @property
    def n_layers(self) -> int:
        return self.values["self"].shape[0]

    @property
    def n_heads(self) -> int:
        return self.values["self"].shape[1]

    def labels(self, layer: int, head: int) -> list[str]:
        """The head's labels: "previous", "next", "special", "self", "broad" (none, one or a few)."""
        return head_labels({field: float(self.values[field][layer, head]) for field in FIELDS})

    def special_by_layer(self) -> np.ndarray:
        """Mean special-token mass of each layer's heads, the atlas's per-layer curve.  # [layer]"""
        return self.values["special"].mean(axis=1)

    def to_json(self) -> dict:
        """{"model", "n_sentences", "n_pairs", "heads": [{"layer", "head", <fields>, "labels"}, ...],
        "special_by_layer"}; numbers rounded to 4 decimals, an undefined one is null."""

        def number(x: float) -> float | None:
            return None if math.isnan(x) else round(float(x), 4)

        heads = [
            {
                "layer": layer,
                "head": head,
                **{field: number(self.values[field][layer, head]) for field in FIELDS},
                "labels": self.labels(layer, head),
            }
            for layer in range(self.n_layers)
            for head in range(self.n_heads)
        ]
        return {
            "model": self.model,
            "n_sentences": self.n_sentences,
            "n_pairs": self.n_pairs,
            "heads": heads,
            "special_by_layer": [number(x) for x in self.special_by_layer()],
        }


def corpus_stats(traces: Iterable[AttentionTrace], model: str | None = None) -> HeadStats:
    """The mean of `trace_stats` over traces of one model, each field over the sentences where it is defined
    (prev and next: two tokens or more; breadth: a query that may see MIN_KEYS keys or more). Undefined everywhere:
    NaN. Raises ValueError when there is no trace."""
    sums: dict[str, np.ndarray] = {}  # field -> [layer, head]
    counts: dict[str, np.ndarray] = {}  # field -> [layer, head]  sentences where it is defined
    n_sentences = n_pairs = 0
    name = model
    for trace in traces:
        name = name or trace.model_name
        n_sentences += 1
        n_pairs += trace.n_positions > 1
        for field, value in trace_stats(trace).items():
            defined = ~np.isnan(value)
            sums[field] = sums.get(field, 0) + np.where(defined, value, 0.0)
            counts[field] = counts.get(field, 0) + defined
    if not n_sentences:
        raise ValueError("no sentences to average over")
    values = {
        field: np.divide(sums[field], counts[field], where=counts[field] > 0, out=np.full_like(sums[field], np.nan))
        for field in sums
    }
    return HeadStats(name or "", n_sentences, n_pairs, values)


def read_sentences(path: str | Path) -> list[str]:
    """The non-empty lines of a UTF-8 text file, stripped: one sentence each."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def precomputed(model: str, corpus: str) -> dict | None:
    """The shipped JSON of `python -m model.heads` for a model and a corpus ("en", "zh"), or None when there is none.

    Write one with `python -m model.heads --model MODEL --corpus CORPUS --write`; every shipped one again with
    `python -m model.heads --regenerate`.
    """
    path = precomputed_path(model, corpus)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def precomputed_path(model: str, corpus: str) -> Path:
    """Where the shipped statistics of a model over a corpus live: assets/heads/MODEL.CORPUS.json."""
    return PRECOMPUTED_DIR / f"{model}.{corpus}.json"


def shipped_files() -> list[tuple[str, str]]:
    """(model, corpus) of every shipped statistics file, sorted."""
    return sorted(tuple(p.name.removesuffix(".json").rsplit(".", 1)) for p in PRECOMPUTED_DIR.glob("*.*.json"))


def format_table(stats: HeadStats, only_labelled: bool = True) -> str:
    """A plain-text table of the heads (the labelled ones by default), for the terminal."""
    head = f"{'layer':>5} {'head':>4} " + " ".join(f"{f:>8}" for f in FIELDS) + "  labels"
    rows = [head]
    for layer in range(stats.n_layers):
        for h in range(stats.n_heads):
            labels = stats.labels(layer, h)
            if labels or not only_labelled:
                cells = " ".join(f"{stats.values[f][layer, h]:8.3f}" for f in FIELDS)
                rows.append(f"{layer:>5} {h:>4} {cells}  {', '.join(labels)}")
    curve = " ".join(f"{x:.3f}" for x in stats.special_by_layer())
    rows.append(f"special-token mass by layer: {curve}")
    return "\n".join(rows)


def _stats_of(loaded, sentences: list[str], name: str) -> HeadStats:
    from model.registry import trace_any  # the CLI alone needs the models

    return corpus_stats((trace_any(loaded, s) for s in sentences), model=name)


def _write(stats: HeadStats, model: str, corpus: str) -> Path:
    """The JSON the atlas ships, one line, at precomputed_path(model, corpus)."""
    path = precomputed_path(model, corpus)
    path.write_text(json.dumps(stats.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """python -m model.heads: trace every sentence of a file and print the head statistics (JSON last); with
    --write, also write the file the atlas ships; with --regenerate, write every shipped file again."""
    from model.registry import DEFAULT_MODEL, load_named  # the CLI alone needs the models

    parser = argparse.ArgumentParser(prog="python -m model.heads", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="a built-in model's or the operator's model name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text-file", type=Path, help="UTF-8, one sentence per line")
    source.add_argument("--corpus", choices=("en", "zh"), help="the shipped corpus, assets/corpus/CORPUS.txt")
    source.add_argument("--regenerate", action="store_true", help="write every assets/heads/MODEL.CORPUS.json again")
    parser.add_argument("--write", action="store_true", help="write assets/heads/MODEL.CORPUS.json (with --corpus)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    parser.add_argument("--all", action="store_true", help="list every head in the table, not only labelled ones")
    args = parser.parse_args(argv)
    if args.write and not args.corpus:
        parser.error("--write needs --corpus: the file is named after the model and the corpus")
    if args.regenerate:
        for model, corpus in shipped_files():
            loaded = load_named(model, args.device)
            stats = _stats_of(loaded, read_sentences(CORPUS_DIR / f"{corpus}.txt"), model)
            broad = sum("broad" in h["labels"] for h in stats.to_json()["heads"])
            print(f"{_write(stats, model, corpus)}: {stats.n_sentences} sentences, {broad} broad heads")
        return 0
    text_file = CORPUS_DIR / f"{args.corpus}.txt" if args.corpus else args.text_file
    sentences = read_sentences(text_file)
    if not sentences:
        parser.error(f"{text_file} holds no sentence")
    stats = _stats_of(load_named(args.model, args.device), sentences, args.model)
    print(f"{args.model}: {stats.n_sentences} sentences ({stats.n_sentences - stats.n_pairs} of one token)")
    print(format_table(stats, only_labelled=not args.all))
    if args.write:
        print(f"written: {_write(stats, args.model, args.corpus)}")
    print(json.dumps(stats.to_json(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())


@dataclass(frozen=True)
class Atlas:
    """One model's head statistics over one corpus, as arrays."""

    model: str
    corpus: str
    n_sentences: int
    values: dict[str, np.ndarray]  # field -> [layer, head]; NaN where undefined
    labels: tuple[tuple[tuple[str, ...], ...], ...]  # [layer][head] -> the head's labels
    unknown: float | None  # share of tokens the model could not read, where known

    @property
    def shape(self) -> tuple[int, int]:
        return self.values["self"].shape

    def labelled(self, label: str) -> list[tuple[int, int, float]]:
        """(layer, head, value) of every head with `label`, strongest first."""
        field = next(f for f, name in LABELS.items() if name == label)
        found = [
            (layer, head, float(self.values[field][layer, head]))
            for layer, row in enumerate(self.labels)
            for head, names in enumerate(row)
            if label in names
        ]
        return sorted(found, key=lambda x: -x[2])

    def by_layer(self, field: str) -> np.ndarray:
        """A field's mean over each layer's heads.  # [layer]"""
        return np.nanmean(self.values[field], axis=1)


def atlas_from_json(payload: dict, corpus: str) -> Atlas:
    """The JSON of `python -m model.heads` (its last line) as an Atlas. Heads come in any order; a missing or
    null number is NaN."""
    heads = payload["heads"]
    n_layers = 1 + max(h["layer"] for h in heads)
    n_heads = 1 + max(h["head"] for h in heads)
    values = {field: np.full((n_layers, n_heads), np.nan) for field in FIELDS}
    labels = [[() for _ in range(n_heads)] for _ in range(n_layers)]
    for h in heads:
        for field in FIELDS:
            if h.get(field) is not None:
                values[field][h["layer"], h["head"]] = h[field]
        labels[h["layer"]][h["head"]] = tuple(h.get("labels", ()))
    return Atlas(
        model=payload["model"],
        corpus=corpus,
        n_sentences=int(payload["n_sentences"]),
        values=values,
        labels=tuple(tuple(row) for row in labels),
        unknown=payload.get("unknown"),
    )
