"""Whether a trace fits the scoring model's context (`max_model_len`, what vLLM serves it with):
a trace that does not is not sent, and gets the expected error `exceeds_judge_context`.

The judge's model tokenizes byte-level (Qwen's BPE): every token covers at least one byte, so a
prompt of at most `budget` UTF-8 bytes certainly fits and needs no count. Only longer ones are
counted, exactly, by the server's own tokenizer (vLLM's `/tokenize`)."""

EXCEEDS_JUDGE_CONTEXT = "exceeds_judge_context"
# Error kinds that are a property of a trace's data, not a failure of scoring: the day's
# error-rate checks do not count them (README.md, "Checks").
EXPECTED_ERROR_KINDS = frozenset({EXCEEDS_JUDGE_CONTEXT})
# What a chat template adds around each message (<|im_start|>, role, newlines, <|im_end|>) and
# the assistant header, in tokens, with room to spare.
TEMPLATE_TOKENS = 16


def certainly_fits(texts: list[str], reserved_tokens: int, max_model_len: int) -> bool:
    """True when `texts` fit in `max_model_len` with `reserved_tokens` left, whatever the
    tokenizer does (one token per byte at worst); False means "count them"."""
    return sum(len(text.encode("utf-8")) for text in texts) + TEMPLATE_TOKENS + reserved_tokens <= max_model_len


def exceeds_context_message(prompt_tokens: int, reserved_tokens: int, max_model_len: int, what: str) -> str:
    return (
        f"{EXCEEDS_JUDGE_CONTEXT}: {what} is {prompt_tokens:,} tokens; with {reserved_tokens:,} kept for the answer it exceeds the model's "
        f"context of {max_model_len:,} tokens (max_model_len): not sent. Score it with a model served with a longer "
        "context, or leave it out of training."
    )


def server_root(base_url: str) -> str:
    """vLLM serves /tokenize beside /v1, not under it."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root
