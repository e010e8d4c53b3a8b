"""Score reuse: a stored score stands while nothing that determined it changed."""

import pyarrow as pa


def reusable_scores(previous: pa.Table | None, identity: dict[str, str]) -> dict[tuple[str, str], int]:
    """Positions in `previous` of the rows scored by `identity` (scorer, model, prompt version,
    ...) without error, keyed by (trace_id, content_hash). A row with an error is scored again."""
    if previous is None:
        return {}
    columns = ["trace_id", "content_hash", "error", *(c for c in identity if c in previous.column_names)]
    reusable: dict[tuple[str, str], int] = {}
    for position, row in enumerate(previous.select(columns).to_pylist()):
        if row["error"] is None and all(row.get(column) == value for column, value in identity.items()):
            reusable.setdefault((row["trace_id"], row["content_hash"]), position)
    return reusable
