"""What a score was computed from, as one hash: a score is reused only for the same content."""

import hashlib
import json


def content_hash(
    question: str | None, answer: str | None, contexts: list[str] | None, redaction: str | None = None
) -> str:
    """sha256 of the trace's input, output and retrieved contexts (order matters) and of the
    redaction rules their text went through (governance/pii_detectors.py REDACTION_VERSION): new
    rules rescore the traces they landed. Text landed without redaction (`redaction` None) hashes
    as it always did, so existing scores stay valid until their day is landed again."""
    content = [question, answer, contexts] if redaction is None else [question, answer, contexts, redaction]
    payload = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
