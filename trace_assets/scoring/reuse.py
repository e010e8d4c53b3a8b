"""Score reuse: a stored score stands while nothing that determined it changed."""

import pyarrow as pa


def reusable_scores(previous: pa.Table | None, identity: dict[str, str]) -> dict[tuple[str, str], dict]:
    """Stored rows keyed by (trace_id, content_hash) that were scored by `identity` (scorer,
    model, prompt version, ...) without error. A row with an error is scored again."""
    if previous is None:
        return {}
    reusable = {}
    for row in previous.to_pylist():
        if row["error"] is None and all(row.get(column) == value for column, value in identity.items()):
            reusable[(row["trace_id"], row["content_hash"])] = row
    return reusable
