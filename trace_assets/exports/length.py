"""How many tokens an example is counted as, without loading a tokenizer.

A character estimate, chosen over running a tokenizer on every example (a day of 50,000
traces would cost minutes on the CPU) and deliberately on the high side, so that an example left
in is not over the limit for the usual tokenizers: ASCII text at 4 characters a token (English
averages 4-4.5 with Qwen's, Llama's and OpenAI's tokenizers), and every other character as one
token (Korean and Chinese characters are about one token each in those tokenizers; accented
Latin letters are fewer). bench/exports.py compares it with Qwen's tokenizer.
"""

import math
import re

_ASCII = re.compile(r"[\x00-\x7f]+")


def estimated_tokens(text: str) -> int:
    non_ascii = 0 if text.isascii() else len(_ASCII.sub("", text))
    return math.ceil((len(text) - non_ascii) / 4) + non_ascii
