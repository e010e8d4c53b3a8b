"""How much a reward depends on the answer's length, in characters and in estimated tokens."""

import math


def estimated_tokens(text: str | None) -> int:
    """A tokenizer-free estimate: about 4 ASCII characters a token (English, code) and one token
    per other character (Hangul, CJK: Qwen-style vocabularies spend about one token on each)."""
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))  # in C: a Python loop over characters is 50x slower
    return math.ceil(ascii_chars / 4) + len(text) - ascii_chars


def answer_length(text: str | None) -> int:
    return len(text or "")
