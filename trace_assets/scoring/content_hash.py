"""What a score was computed from, as one hash: a score is reused only for the same content."""

import hashlib
import json


def content_hash(question: str | None, answer: str | None, contexts: list[str] | None) -> str:
    """sha256 of the trace's input, output and retrieved contexts (order matters)."""
    payload = json.dumps([question, answer, contexts], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
