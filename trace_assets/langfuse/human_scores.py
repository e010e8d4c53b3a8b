"""Human annotation scores (source ANNOTATION: what people enter in Langfuse's UI or annotation
queues) read back through the public API, for the reward-quality report.

Langfuse Cloud serves `GET /api/public/v3/scores` (cursor pages; v2 scores were removed from Cloud
on 2026-11-16); self-hosted servers serve `GET /api/public/v2/scores` (page numbers), and v3 only
with `LANGFUSE_ENABLE_SCORES_V3_API=true`. v3 is asked first, v2 when v3 answers 404.

A score's timestamp is when it was made, not when its trace ran, so the scores of a window's
traces are those made from the window's start until now (or until `days_after` days past its end,
to bound what a backfill of old days reads); the caller keeps the ones of its own traces. Scores on a trace or on one of its observations count for the trace;
session and dataset-run scores carry no trace and are left out.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pyarrow as pa

from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError, LangfuseNotFound

V3_SCORES = "/api/public/v3/scores"
V2_SCORES = "/api/public/v2/scores"
PAGE_LIMIT = 100  # both endpoints answer 400 above 100
HUMAN_SCORES_SCHEMA = pa.schema(
    [
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("value", pa.float64()),  # null for a category that is not a number, and for TEXT scores
        pa.field("source", pa.string(), nullable=False),
        pa.field("data_type", pa.string(), nullable=False),
    ]
)


def read_annotation_scores(api: LangfuseApi, start: datetime, end: datetime, days_after: int | None = None) -> pa.Table:
    """ANNOTATION scores made from `start` on (before `end + days_after` days when given), one row
    per score that belongs to a trace."""
    until = None if days_after is None else end + timedelta(days=days_after)
    try:
        rows = [row for page in v3_score_pages(api, start, until) for row in map(_v3_row, page) if row]
    except LangfuseNotFound:
        try:
            rows = [row for page in v2_score_pages(api, start, until) for row in map(_v2_row, page) if row]
        except LangfuseNotFound:
            raise LangfuseApiError(
                f"{api.host} answered 404 to both GET {V3_SCORES} and GET {V2_SCORES}: human annotation scores cannot "
                "be read. On a self-hosted Langfuse v4 set LANGFUSE_ENABLE_SCORES_V3_API=true on the Langfuse server"
            ) from None
    return pa.Table.from_pylist(rows, schema=HUMAN_SCORES_SCHEMA)


def v3_score_pages(api: LangfuseApi, start: datetime, until: datetime | None) -> Iterator[list[dict]]:
    params = {"source": "ANNOTATION", "fields": "core,subject", "fromTimestamp": _iso(start), "limit": PAGE_LIMIT}
    if until is not None:
        params["toTimestamp"] = _iso(until)
    cursors: set[str] = set()
    while True:
        answer = api.get(V3_SCORES, params)
        yield _data(answer, V3_SCORES)
        cursor = (answer.get("meta") or {}).get("cursor")
        if not cursor:
            return
        if cursor in cursors:
            raise LangfuseApiError(
                f"GET {api.host}{V3_SCORES} returned a cursor it had returned before, after {len(cursors) + 1} pages: "
                "the server pages in a loop; retry later"
            )
        cursors.add(cursor)
        params = {**params, "cursor": cursor}


def v2_score_pages(api: LangfuseApi, start: datetime, until: datetime | None) -> Iterator[list[dict]]:
    params = {"source": "ANNOTATION", "fields": "score", "fromTimestamp": _iso(start)}
    if until is not None:
        params["toTimestamp"] = _iso(until)
    seen_first_ids: set[tuple] = set()
    page = 1
    while True:
        answer = api.get(V2_SCORES, {**params, "page": page, "limit": PAGE_LIMIT})
        data = _data(answer, V2_SCORES)
        if not data:
            return
        # A server that answers the same page for every page number would otherwise never end.
        first_ids = tuple(item.get("id") for item in data)
        if first_ids in seen_first_ids:
            raise LangfuseApiError(f"GET {api.host}{V2_SCORES} answered page {page} with a page it had answered before")
        seen_first_ids.add(first_ids)
        yield data
        total_pages = (answer.get("meta") or {}).get("totalPages")
        if isinstance(total_pages, int) and page >= total_pages:
            return
        page += 1


def _v3_row(item: dict) -> dict | None:
    subject = item.get("subject") or {}
    trace_id = subject.get("id") if subject.get("kind") == "trace" else subject.get("traceId")
    return _row(trace_id, item, item.get("value"))


def _v2_row(item: dict) -> dict | None:
    value = item.get("value")
    if item.get("dataType") == "CATEGORICAL":
        value = item.get("stringValue")
    return _row(item.get("traceId"), item, value)


def _row(trace_id, item: dict, value) -> dict | None:
    if not trace_id or not item.get("name"):
        return None
    return {
        "trace_id": trace_id,
        "name": item["name"],
        "value": _number(value, item.get("dataType")),
        "source": item.get("source") or "ANNOTATION",
        "data_type": item.get("dataType") or "NUMERIC",
    }


def _number(value, data_type: str | None) -> float | None:
    """NUMERIC as is, BOOLEAN as 1/0, a CATEGORICAL label that is a number (a 1..5 rating) as that
    number; anything else (a word category, TEXT, CORRECTION) as null."""
    if data_type in ("TEXT", "CORRECTION") or value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _data(answer, path: str) -> list[dict]:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise LangfuseApiError(f"GET {path} answered JSON without a `data` list: {str(answer)[:200]}")
    return [item for item in data if isinstance(item, dict)]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
