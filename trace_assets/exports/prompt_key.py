"""The normalised text two prompts (or answers) are compared by, and its word shingles."""

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
# A word: a run of letters/digits; Han, kana and Thai characters count one by one, since those
# scripts do not put spaces between words (Hangul does, so Korean words stay whole).
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f]|[^\W_]+", re.UNICODE)


def normalise(text: str | None) -> str:
    """Unicode NFKC, case folded, runs of whitespace as one space, trimmed: the prompt key."""
    if not text:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def key_hash(key: str) -> str:
    """A short stable hex digest of a normalised text (identical texts, identical hashes)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()


def shingles(key: str, words: int) -> set[bytes]:
    """The set of `words`-word shingles of a normalised text (punctuation ignored); a text with
    fewer words gives its whole word sequence as one shingle, so short texts still compare."""
    tokens = _WORD.findall(key)
    if len(tokens) <= words:
        return {" ".join(tokens).encode("utf-8")} if tokens else set()
    return {" ".join(tokens[i : i + words]).encode("utf-8") for i in range(len(tokens) - words + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
