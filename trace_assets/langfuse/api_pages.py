"""Paging through Langfuse's public API: v2 observations (v4 servers and Cloud, cursor) and the
v1 traces and observations (v3 servers, page numbers)."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError, LangfuseNotFound

V2_OBSERVATIONS = "/api/public/v2/observations"
V1_TRACES = "/api/public/traces"
V1_OBSERVATIONS = "/api/public/observations"
# Every field group a trace row needs; a server drops the names it does not know.
V2_FIELDS = "core,basic,time,io,metadata,model,usage,metrics,trace_context"
# The cheap pass of the late-data sensor: ids, parents, times, and what consent is read from.
V2_FINGERPRINT_FIELDS = "core,basic,metadata,trace_context"
API_VERSIONS = ("v1", "v2")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def detect_api_version(api: LangfuseApi, start: datetime) -> str:
    """`v2` when the server answers v2 observations (v4, Cloud), `v1` when it answers only the v1
    traces (v3); an error naming both endpoints when it answers neither."""
    probe_window = {"fromStartTime": iso(start), "toStartTime": iso(start + timedelta(seconds=1))}
    try:
        api.get(V2_OBSERVATIONS, {"limit": 1, "fields": "core", **probe_window})
        return "v2"
    except LangfuseNotFound:
        pass
    try:
        api.get(V1_TRACES, {"limit": 1, "page": 1})
        return "v1"
    except LangfuseNotFound:
        raise LangfuseApiError(
            f"{api.host} answered 404 to both GET {V2_OBSERVATIONS} (Langfuse v4 and Cloud) and GET {V1_TRACES} "
            "(Langfuse v3): LANGFUSE_HOST must be the Langfuse base URL (without /api/public), or set "
            "LANGFUSE_API_VERSION to v1 or v2"
        ) from None


def v2_observation_pages(
    api: LangfuseApi, start: datetime, end: datetime, fields: str = V2_FIELDS, limit: int = 1000
) -> Iterator[list[dict]]:
    """Observations with start <= startTime < end, a page at a time (newest first). Metadata
    comes whole (`expandMetadata`; otherwise Langfuse cuts its values to 200 characters)."""
    params = {"fields": fields, "limit": limit, "expandMetadata": "true", "fromStartTime": iso(start), "toStartTime": iso(end)}
    cursors: set[str] = set()
    while True:
        answer = api.get(V2_OBSERVATIONS, params)
        yield _data(answer, V2_OBSERVATIONS)
        cursor = (answer.get("meta") or {}).get("cursor")
        if not cursor:
            return
        if cursor in cursors:
            raise LangfuseApiError(
                f"GET {api.host}{V2_OBSERVATIONS} returned a cursor it had returned before, after {len(cursors) + 1} "
                f"pages for {iso(start)}..{iso(end)}: the server pages in a loop. Nothing was landed for the window; "
                "retry later, and report it to the Langfuse operators if it persists"
            )
        cursors.add(cursor)
        params = {**params, "cursor": cursor}


def v1_pages(api: LangfuseApi, path: str, params: dict, limit: int = 100) -> Iterator[list[dict]]:
    """Items of a v1 list endpoint, a page at a time, until the last page."""
    page = 1
    while True:
        answer = api.get(path, {**params, "page": page, "limit": limit})
        data = _data(answer, path)
        yield data
        total_pages = (answer.get("meta") or {}).get("totalPages")
        if not data or (isinstance(total_pages, int) and page >= total_pages):
            return
        page += 1


def v1_trace_pages(api: LangfuseApi, start: datetime, end: datetime, fields: str = "core,io") -> Iterator[list[dict]]:
    return v1_pages(api, V1_TRACES, {"fromTimestamp": iso(start), "toTimestamp": iso(end), "fields": fields})


def v1_observation_pages(api: LangfuseApi, start: datetime, end: datetime) -> Iterator[list[dict]]:
    return v1_pages(api, V1_OBSERVATIONS, {"fromStartTime": iso(start), "toStartTime": iso(end)})


def _data(answer, path: str) -> list[dict]:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        raise LangfuseApiError(f"GET {path} answered JSON without a `data` list: {str(answer)[:200]}")
    return data
