"""The normalised text two prompts (or answers) are compared by, and its word shingles."""

import hashlib
import re
import unicodedata
import zlib

import numpy as np

# A word: a run of letters/digits; Han, kana and Thai characters count one by one, since those
# scripts do not put spaces between words (Hangul does, so Korean words stay whole).
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]|[^\W_]+", re.UNICODE)
_MIX = np.uint64(0x9E3779B1)  # odd multiplier combining word hashes into a shingle hash
_LOW32 = np.uint64(0xFFFFFFFF)


def normalise(text: str | None) -> str:
    """Unicode NFKC, case folded, runs of whitespace as one space, trimmed: the prompt key."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def key_hash(key: str) -> str:
    """A short stable hex digest of a normalised text (identical texts, identical hashes)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()


def shingles(key: str, words: int) -> np.ndarray:
    """The `words`-word shingles of a normalised text (punctuation ignored) as sorted unique
    32-bit hashes: each word hashed once (CRC-32, stable across processes), a shingle's hash
    combined from its words'. A text with fewer words is one shingle, so short texts still
    compare; an empty text has none."""
    tokens = _WORD.findall(key)
    if not tokens:
        return np.empty(0, np.uint64)
    hashes = np.fromiter(map(zlib.crc32, map(str.encode, tokens)), np.uint64, len(tokens))  # UTF-8
    span = min(words, len(tokens))
    combined = hashes[: len(tokens) - span + 1].copy()
    for k in range(1, span):
        combined = (combined * _MIX + hashes[k : len(tokens) - span + 1 + k]) & _LOW32
    return np.unique(combined)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two shingle sets as `shingles` returns them."""
    if not a.size and not b.size:
        return 1.0
    shared = np.intersect1d(a, b, assume_unique=True).size
    return shared / (a.size + b.size - shared)
