"""A real HTTP server on loopback that answers as Langfuse's public API does, for a list of traces.

    with LangfuseApiServer(day_of_traces(day, 500, seed=1), api_version="v4") as server:
        os.environ["LANGFUSE_HOST"] = server.base_url
        os.environ["LANGFUSE_PUBLIC_KEY"] = server.public_key
        os.environ["LANGFUSE_SECRET_KEY"] = server.secret_key
        ...
        server.requests            # every request: time, method, path, query, key, status
        server.stored_scores()     # scores posted through /api/public/ingestion or /scores

`api_version="v4"` is a v4 server in `events_only` write mode (and Langfuse Cloud since
2026-11-16): `GET /api/public/v2/observations` serves the events table; the v1 reads
(`/api/public/traces`, `/observations`, `/sessions`, `GET /scores`) answer 404 before auth.
`api_version="v3"` is a v3 server: the v1 reads serve the ClickHouse traces/observations tables
(page-based) and `/api/public/v2/observations` answers 404 (after auth, as the route does).
Both: HTTP Basic auth, `POST /api/public/ingestion` (207 per event), `POST /api/public/scores`,
`GET /api/public/v2/scores` (and, on v3, `GET /api/public/scores` with the same items).

What the server does, and where Langfuse's code (langfuse/langfuse: fern/apis/server/definition,
web/src/pages/api/public, web/src/features/public-api, packages/shared/src/server/repositories/
events.ts and observations_converters.ts) differs from /work/shared/reference/langfuse.md:

- v2 observations: `limit` 0..1000 (default 50; 1001 or -1 -> 400 "Invalid request data" with
  zod-style issues; 0 gives an empty page without cursor, as the handler's `limit + 1` logic
  does); `fields` groups core,basic,time,io,metadata,model,usage,prompt,metrics,trace_context
  (default core,basic; unknown names dropped); `cursor` base64 JSON {lastStartTimeTo,
  lastTraceId, lastId} (garbage -> 400 "Invalid cursor format"); `parseIoAsJson=true` -> 400;
  filters `fromStartTime` (>=), `toStartTime` (<), `type`, `traceId`, `name`, `userId`,
  `sessionId`, `level`, `parentObservationId`, `isRootObservation`, `version`, `environment`
  (repeatable) and `filter` (a subset: datetime on startTime/endTime, string/stringOptions on
  id, type, name, traceId, environment, level, version, userId, sessionId, traceName,
  stringObject `=` on metadata keys; other conditions -> 400 naming them; applied together with
  the plain parameters); order start time desc, then trace id, then id (Langfuse orders by
  xxHash32(trace_id); plain trace id here). No de-duplication: an updated span is served once per
  stored version until `merge_versions()` (the events table before a merge).
- Item shape, as the converter builds it (not the fern doc's names): core fields plus `latency`
  (seconds, from start/end), `timeToFirstToken`, `userId`, `sessionId`, `modelId`, `inputPrice`,
  `outputPrice`, `totalPrice` on every item whatever the groups; `basic` adds name, level,
  statusMessage, version, environment (the fern doc's `bookmarked`/`public` are selected but the
  converter drops them); `model` adds `model` (not `providedModelName`), `internalModelId`,
  `modelParameters`; `usage` adds usageDetails, costDetails, totalCost and the input/output/total
  usage and cost reductions; `trace_context` adds tags, release, traceName. Empty ClickHouse
  strings stay "" (a child span without propagated attributes has `userId: ""`). input/output are
  the raw stored strings.
- Metadata: the events table stores it flattened to dotted keys with string values; each value
  is read back through JSON parsing (so `"true"`/`true` -> true, `"1"`/`1` -> 1, a JSON list ->
  a list). Values are cut to 200 characters unless `expandMetadata` is non-empty (any keys; the
  code reads all metadata from the full table then, not just the keys named) or `io` is asked.
  A cut JSON value no longer parses and comes back as a string.
- v1 traces (`fields` core,io,scores,observations,metrics; default all) and observations are
  page-based, `limit` 1..100 (Langfuse's public pagination cap; the reference gives none), order
  timestamp/start time desc, `meta {page, limit, totalItems, totalPages}`; input/output/metadata
  are parsed JSON (v1 default). Groups left out of `fields` are left out of the items here.
- Ingestion: 207 `{successes: [{id, status: 201}], errors: [{id, status: 400, message,
  error}]}`. A `score-create` body is checked as Langfuse's ingestion schema does: non-empty
  `name`; `value` a number or string; `dataType` NUMERIC needs a number, BOOLEAN 0 or 1,
  CATEGORICAL/TEXT a string; one of traceId/sessionId/datasetRunId. (The reference says bad
  scores are dropped silently by the worker; the dataType/value check happens at the API in the
  schema read here, so they come back in `errors`; only checks against a score config, by
  `configId`, happen later in the worker and drop silently - not modelled.) Same `id` again ->
  update. Bodies over 3.5 MB -> 413; a body with NaN/Infinity is not JSON and fails whole (400).
  Other event types are accepted (201) and recorded in `ingested_events`, not applied.
- Errors: 401 `{"message": "No authorization header"}` /
  `"Invalid credentials. Confirm that you've configured the correct host."`; 429 (rate limiter)
  `{"message": "Rate limit exceeded"}` with Retry-After (seconds) and X-RateLimit-Limit,
  -Remaining, -Reset.

Test controls (all thread-safe, usable while a client runs):
- `latency_s` (constructor or attribute): seconds added to every answer; `path_latency[path]`
  the same for one path (e.g. `{"/api/public/v2/observations": 0.05}`).
- `fail_next(path, times=1, status=500, retry_after=None, body=None)`: the next `times` requests
  to `path` answer `status` (429 with `Retry-After` when `retry_after` is given, without it
  otherwise), before auth, as a proxy or overloaded server would.
- `drop_next(path, times=1)`: the next requests get their connection closed without an answer.
- `slow_next(path, times=1, delay_s=2.0)`: the next requests answer normally after `delay_s`.
- `repeat_cursor_forever(on=True)`: v2 pages always carry the same `meta.cursor` (the page after
  the first), so a client that trusts cursors never ends; v1 answers `totalPages = page + 1`.
- `update_observation(observation_id, seconds_later=60, **changes)`: store a newer version of a
  span (LangfuseObservation field names, e.g. `output=...`); v2 serves both versions (older and
  newer, different `updatedAt`) until `merge_versions()`; v1 reads serve the newer (FINAL).
- `rate_limit_per_minute` / `ingestion_rate_limit_per_minute`: Langfuse's limiter
  (rate-limiter-flexible): a fixed 60-second window opened by the first request of a key; every
  request counts, rejected ones too; above the limit -> 429 until the window ends.
- `data_access_days`: a Langfuse Cloud plan's data-access window: v2 observation reads start no
  earlier than now minus that many days, whatever `fromStartTime` says (the route's
  `clampToDataAccessDays`; no error, old data just is not there).
- `fail_events(predicate, status=500, message=..., error=...)`: chosen ingestion events come back
  in the 207's `errors` (e.g. 500 "Failed to process event") and are not stored.
- `add_annotation_score(trace_id, name, value, ...)`: a human ANNOTATION score, as the UI makes.
- `base_path`: serve under a sub-path (`base_url` includes it), as behind a reverse proxy.
- `add_traces(traces)`: more traces arrive (late data); `stored_scores()`: every score, as the
  v2 read API gives it; `requests_to(path)`: the recorded requests of one path.
- `requests`: a list of `RecordedRequest` (monotonic `at` taken on arrival, wall `time`, method,
  path, query, public_key, status (-1 for a dropped connection), json body) for asserting what
  was asked and how requests were spaced.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
import socket
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trace_assets_tests.langfuse_traces import (
    LangfuseTrace,
    events_rows,
    legacy_observation_row,
    legacy_trace_row,
    parse_json_prioritised,
    with_update,
)

UTC = timezone.utc

FIELD_GROUPS = ("core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context")
V1_TRACE_FIELD_GROUPS = ("core", "io", "scores", "observations", "metrics")
OBSERVATION_TYPES = ("GENERATION", "SPAN", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR",
                     "EMBEDDING", "GUARDRAIL")
LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
SCORE_DATA_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION")
SCORE_SOURCES = ("ANNOTATION", "API", "EVAL")
MAX_INGESTION_BYTES = int(3.5 * 1024 * 1024)
METADATA_CUT = 200

V2_PATH = "/api/public/v2/observations"
V1_READ_PATHS = ("/api/public/traces", "/api/public/observations", "/api/public/sessions")
EVENTS_ONLY_MESSAGE = ("This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
                       "Learn more about Langfuse v4 at: https://langfuse.com/docs/v4")
V2_NOT_AVAILABLE = ("The observations v2 API is only available in a Langfuse v4 write mode. "
                    "Learn more at: https://langfuse.com/docs/v4")
INVALID_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."


@dataclass
class RecordedRequest:
    """One request as the server saw it: `at` is `time.monotonic()` on arrival, `time` the wall
    clock (UTC); `public_key` is the Basic-auth user (None without a readable header)."""

    at: float
    time: datetime
    method: str
    path: str
    query: dict[str, list[str]]
    public_key: str | None
    status: int = 0
    body: Any = None


@dataclass
class _Fault:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay_s: float = 0.0
    drop_connection: bool = False


class _BadRequest(Exception):
    def __init__(self, issues: list[dict[str, Any]] | None = None, message: str = "Invalid request data"):
        super().__init__(message)
        self.message = message
        self.issues = issues or []


def _iso(dt: datetime | None) -> str | None:
    """JavaScript's `Date.toISOString()`: milliseconds and a `Z`."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_datetime(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest([{"code": "invalid_string", "validation": "datetime", "path": [name],
                            "message": "Invalid datetime"}]) from None
    if value.tzinfo is None:
        raise _BadRequest([{"code": "invalid_string", "validation": "datetime", "path": [name],
                            "message": "Invalid datetime"}])
    return value.astimezone(UTC)


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [""])[0]
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadRequest([{"code": "invalid_type", "expected": "number", "received": "nan", "path": [name],
                            "message": "Expected number, received nan"}]) from None
    if value != int(value):
        raise _BadRequest([{"code": "invalid_type", "expected": "integer", "received": "float", "path": [name],
                            "message": "Expected integer, received float"}])
    if value < low:
        raise _BadRequest([{"code": "too_small", "minimum": low, "inclusive": True, "type": "number",
                            "path": [name], "message": f"Number must be greater than or equal to {low}"}])
    if value > high:
        raise _BadRequest([{"code": "too_big", "maximum": high, "inclusive": True, "type": "number",
                            "path": [name], "message": f"Number must be less than or equal to {high}"}])
    return int(value)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _bool_param(query: dict[str, list[str]], name: str) -> bool | None:
    raw = _one(query, name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise _BadRequest([{"code": "invalid_union", "path": [name], "message": "Invalid input"}])
    return raw == "true"


# The `filter` columns this server applies, mapped to events rows (a subset of Langfuse's).
_FILTER_STRING_COLUMNS = {"id": "span_id", "type": "type", "name": "name", "traceId": "trace_id",
                          "environment": "environment", "level": "level", "version": "version",
                          "userId": "user_id", "sessionId": "session_id", "traceName": "trace_name"}
_OPERATORS = {">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
              "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}


def _advanced_filter(text: str | None) -> list:
    """The v2 `filter` parameter (a JSON list of conditions), for the conditions a trace reader
    uses: `datetime` on startTime/endTime, `string` and `stringOptions` on the columns above,
    `stringObject` `=` on metadata keys. Anything else is refused with a 400 naming it, so a test
    never passes because a filter was ignored."""
    if not text:
        return []
    try:
        conditions = json.loads(text)
    except ValueError:
        raise _BadRequest(message="Invalid JSON in filter parameter") from None
    if not isinstance(conditions, list):
        raise _BadRequest([{"code": "invalid_type", "expected": "array", "path": ["filter"], "message": "Expected array"}])
    checks = []
    for c in conditions:
        kind, column, op, value = c.get("type"), c.get("column"), c.get("operator"), c.get("value")
        if kind == "datetime" and column in ("startTime", "endTime") and op in (">", "<", ">=", "<="):
            bound = _parse_datetime("filter", str(value))
            field_name = "start_time" if column == "startTime" else "end_time"
            checks.append(lambda r, f=field_name, o=_OPERATORS[op], b=bound: r[f] is not None and o(r[f], b))
        elif kind == "string" and column in _FILTER_STRING_COLUMNS and op == "=":
            checks.append(lambda r, f=_FILTER_STRING_COLUMNS[column], v=value: r[f] == v)
        elif kind == "stringOptions" and column in _FILTER_STRING_COLUMNS and op in ("any of", "none of"):
            wanted = set(value or [])
            checks.append(lambda r, f=_FILTER_STRING_COLUMNS[column], w=wanted, any_of=(op == "any of"):
                          (r[f] in w) == any_of)
        elif kind == "stringObject" and column == "metadata" and op == "=":
            checks.append(lambda r, k=c.get("key"), v=value: parse_json_prioritised(r["_metadata"].get(k)) == v
                          or r["_metadata"].get(k) == v)
        else:
            raise _BadRequest([{"code": "custom", "path": ["filter"],
                                "message": f"filter condition not supported by this test server: {c}"}])
    return checks


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _cut(text: str | None) -> str | None:
    # ClickHouse leftUTF8(value, 200): the first 200 characters.
    return text if text is None else text[:METADATA_CUT]


def _reduce(details: dict[str, float], prefix: str) -> float | None:
    values = [v for k, v in details.items() if k.startswith(prefix)]
    return sum(values) if values else None


class LangfuseApiServer:
    """Langfuse's public API for `traces` on 127.0.0.1 (a free port). See the module docstring for
    what each endpoint and control does. Use as a context manager or call `close()`."""

    def __init__(
        self,
        traces: Iterable[LangfuseTrace] = (),
        *,
        api_version: str = "v4",
        public_key: str = "pk-lf-test-0000",
        secret_key: str = "sk-lf-test-0000",
        project_id: str = "cm0testproject0000000000",
        latency_s: float = 0.0,
        rate_limit_per_minute: int | None = None,
        ingestion_rate_limit_per_minute: int | None = None,
        data_access_days: int | None = None,
        base_path: str = "",
    ):
        if api_version not in ("v3", "v4"):
            raise ValueError(f"api_version must be 'v3' or 'v4', got {api_version!r}")
        self.api_version = api_version
        self.public_key = public_key
        self.secret_key = secret_key
        self.project_id = project_id
        self.latency_s = latency_s
        self.path_latency: dict[str, float] = {}
        self.rate_limit_per_minute = rate_limit_per_minute
        self.ingestion_rate_limit_per_minute = ingestion_rate_limit_per_minute
        self.data_access_days = data_access_days
        self.base_path = base_path.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self.ingested_events: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._repeat_cursor = False
        self._event_failure: tuple[Any, int, str, Any] | None = None
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._traces: dict[str, LangfuseTrace] = {}
        self._events: list[dict[str, Any]] = []
        self._index: tuple[list[tuple], list[dict[str, Any]]] | None = None
        self._v1_index: tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]] | None = None
        self._legacy_traces: dict[str, dict[str, Any]] = {}
        self._legacy_observations: dict[str, dict[str, Any]] = {}
        self._scores: dict[str, dict[str, Any]] = {}
        self.add_traces(traces)

        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_DELETE(self) -> None:
                server._handle(self, "DELETE")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # --- lifecycle and data -------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What `LANGFUSE_HOST` / `LANGFUSE_BASE_URL` would be set to (with `base_path`, as for a
        Langfuse behind a reverse proxy at a sub-path)."""
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LangfuseApiServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_traces(self, traces: Iterable[LangfuseTrace]) -> None:
        """Ingest more traces (as if they arrived late). A v4 server keeps them as events-table
        rows, a v3 server as rows of its traces and observations tables."""
        v4 = self.api_version == "v4"
        with self._lock:
            for trace in traces:
                self._traces[trace.id] = trace
                # Scores' `trace` group reads user, tags and environment from the trace row on both.
                self._legacy_traces[trace.id] = legacy_trace_row(trace, self.project_id)
                if v4:
                    self._events.extend(_prepared(row) for row in events_rows(trace, self.project_id))
                else:
                    for obs in trace.observations:
                        self._legacy_observations[obs.id] = legacy_observation_row(trace, obs, self.project_id)
                self._index = self._v1_index = None
        # Sort now, so the first page a client asks for costs what the others cost.
        self._event_index() if v4 else self._legacy_index()

    def update_observation(self, observation_id: str, seconds_later: float = 60, **changes) -> None:
        """Store a newer version of one span (see module docstring)."""
        with self._lock:
            trace = next((t for t in self._traces.values() if any(o.id == observation_id for o in t.observations)), None)
            if trace is None:
                raise KeyError(f"no observation {observation_id!r} on this server")
            newer = with_update(trace, observation_id, seconds_later, **changes)
            self._traces[trace.id] = newer
            self._legacy_traces[trace.id] = legacy_trace_row(newer, self.project_id)
            if self.api_version == "v4":
                self._events.extend(_prepared(r) for r in events_rows(newer, self.project_id)
                                    if r["span_id"] == observation_id)
            else:
                obs = next(o for o in newer.observations if o.id == observation_id)
                self._legacy_observations[obs.id] = legacy_observation_row(newer, obs, self.project_id)
            self._index = self._v1_index = None

    def merge_versions(self) -> None:
        """What ClickHouse's background merge does: keep the latest version of each span."""
        with self._lock:
            latest: dict[str, dict[str, Any]] = {}
            for row in self._events:
                kept = latest.get(row["span_id"])
                if kept is None or row["event_ts"] >= kept["event_ts"]:
                    latest[row["span_id"]] = row
            self._events = list(latest.values())
            self._index = None

    def _legacy_index(self) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        # v1 traces newest first, and each trace's observations, built once per change of data.
        with self._lock:
            if self._v1_index is None:
                ordered = sorted(self._legacy_traces.values(), key=lambda r: (r["timestamp"], r["id"]), reverse=True)
                by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for obs in self._legacy_observations.values():
                    by_trace[obs["trace_id"]].append(obs)
                self._v1_index = (ordered, dict(by_trace))
            return self._v1_index

    def _event_index(self) -> tuple[list[tuple], list[dict[str, Any]]]:
        # Rows sorted once by the v2 keyset (start time, trace id, id; versions by event time), so
        # a page is a bisect and a short scan however many rows the server holds.
        with self._lock:
            if self._index is None:
                rows = sorted(self._events, key=lambda r: (r["start_time"], r["trace_id"], r["span_id"], r["event_ts"]))
                keys = [(r["start_time"], r["trace_id"], r["span_id"], r["event_ts"]) for r in rows]
                self._index = (keys, rows)
            return self._index

    # --- controls -------------------------------------------------------------------------------

    def fail_next(self, path: str, times: int = 1, status: int = 500, retry_after: float | None = None,
                  body: Any = None) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        default_body = {"message": "Rate limit exceeded"} if status == 429 else {"message": "Internal Server Error"}
        with self._lock:
            self._faults[path].extend(
                _Fault(status=status, headers=headers, body=default_body if body is None else body) for _ in range(times))

    def drop_next(self, path: str, times: int = 1) -> None:
        with self._lock:
            self._faults[path].extend(_Fault(drop_connection=True) for _ in range(times))

    def slow_next(self, path: str, times: int = 1, delay_s: float = 2.0) -> None:
        with self._lock:
            self._faults[path].extend(_Fault(delay_s=delay_s) for _ in range(times))

    def fail_events(self, predicate=None, status: int = 500, message: str = "Failed to process event",
                    error: Any = "blob storage unavailable") -> None:
        """Ingestion events for which `predicate(event)` is true come back in the 207's `errors`
        with `status`/`message`/`error` (Langfuse's per-event failure shape) and are not stored;
        `fail_events(None)` turns it off. E.g. `lambda e: e["body"]["traceId"] in refused`."""
        with self._lock:
            self._event_failure = None if predicate is None else (predicate, status, message, error)

    def repeat_cursor_forever(self, on: bool = True) -> None:
        with self._lock:
            self._repeat_cursor = on

    def add_annotation_score(self, trace_id: str, name: str, value: float | str, *, data_type: str | None = None,
                             comment: str | None = None, author_user_id: str = "user-annotator-1",
                             queue_id: str | None = None, observation_id: str | None = None) -> dict[str, Any]:
        """A human annotation score (source ANNOTATION), as the Langfuse UI stores it."""
        body = {"id": uuid.uuid4().hex, "traceId": trace_id, "name": name, "value": value, "comment": comment,
                "observationId": observation_id, "dataType": data_type}
        with self._lock:
            return self._store_score(body, datetime.now(UTC), source="ANNOTATION", author_user_id=author_user_id,
                                     queue_id=queue_id)

    def stored_scores(self) -> list[dict[str, Any]]:
        """Every stored score, in the v2 read API's item shape (without the `trace` group)."""
        with self._lock:
            return [dict(s) for s in self._scores.values()]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- request handling ---------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        arrived, arrived_wall = time.monotonic(), datetime.now(UTC)
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        if self.base_path:
            path = path[len(self.base_path):] if path.startswith(self.base_path + "/") else "/outside-base-path"
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        public_key, secret = self._credentials(handler.headers.get("Authorization"))
        record = RecordedRequest(at=arrived, time=arrived_wall, method=method, path=path,
                                 query=query, public_key=public_key)
        with self._lock:
            self.requests.append(record)
            fault = self._faults[path].popleft() if self._faults.get(path) else None
        delay = self.latency_s + self.path_latency.get(path, 0.0) + (fault.delay_s if fault else 0.0)
        if delay:
            time.sleep(delay)
        if fault and fault.drop_connection:
            record.status = -1
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault and fault.status:
            self._send(handler, record, fault.status, fault.body, fault.headers)
            return
        try:
            status, body, headers = self._route(handler, method, path, query, raw_body, public_key, secret, record)
        except _BadRequest as bad:
            status, body, headers = 400, ({"message": bad.message, "error": bad.issues} if bad.issues
                                          else {"message": bad.message}), {}
        self._send(handler, record, status, body, headers)

    def _send(self, handler, record: RecordedRequest, status: int, body: Any, headers: dict[str, str]) -> None:
        data = (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode("utf-8")
        record.status = status
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, str(value))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    @staticmethod
    def _credentials(header: str | None) -> tuple[str | None, str | None]:
        if not header or not header.startswith("Basic "):
            return None, None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return user, password

    def _auth_error(self, handler, public_key: str | None, secret: str | None) -> dict[str, Any] | None:
        header = handler.headers.get("Authorization")
        if not header:
            return {"message": "No authorization header"}
        if not (header.startswith("Basic ") or header.startswith("Bearer ")):
            return {"message": "Invalid authorization header"}
        if public_key is None:
            return {"message": "Invalid authorization header. Confirm that you've configured the correct host."}
        if public_key != self.public_key or secret != self.secret_key:
            return {"message": INVALID_CREDENTIALS}
        return None

    def _rate_limited(self, resource: str, public_key: str) -> dict[str, str] | None:
        limit = self.ingestion_rate_limit_per_minute if resource == "ingestion" else self.rate_limit_per_minute
        if not limit:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.get((resource, public_key))
            if window is None or now >= window[0] + 60:
                window = [now, 0]
                self._windows[(resource, public_key)] = window
            window[1] += 1
            count, start = window[1], window[0]
        remaining_s = start + 60 - now
        if count <= limit:
            return None
        return {
            "Retry-After": str(max(1, math.ceil(remaining_s))),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": datetime.fromtimestamp(time.time() + remaining_s, UTC).strftime(
                "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)"),
        }

    def _route(self, handler, method, path, query, raw_body, public_key, secret, record):
        is_v1_read = method == "GET" and (path in V1_READ_PATHS or path.startswith("/api/public/traces/")
                                          or path.startswith("/api/public/sessions/")
                                          or path == "/api/public/scores")
        # In events_only mode these routes answer 404 before looking at the credentials.
        if self.api_version == "v4" and is_v1_read:
            return 404, {"message": EVENTS_ONLY_MESSAGE}, {}
        known = {V2_PATH, "/api/public/ingestion", "/api/public/scores", "/api/public/v2/scores",
                 "/api/public/traces", "/api/public/observations", "/api/public/health", "/api/public/projects"}
        if path not in known and not path.startswith("/api/public/traces/"):
            return 404, {"message": "Not Found"}, {}
        if path == "/api/public/health":
            return 200, {"status": "OK", "version": "4.16.0" if self.api_version == "v4" else "3.225.4"}, {}
        error = self._auth_error(handler, public_key, secret)
        if error:
            return 401, error, {}
        resource = "ingestion" if path == "/api/public/ingestion" else "public-api"
        limited = self._rate_limited(resource, public_key)
        if limited:
            return 429, {"message": "Rate limit exceeded"}, limited
        if method == "POST":
            if len(raw_body) > MAX_INGESTION_BYTES:
                return 413, {"message": "Request Entity Too Large"}, {}
            try:
                # NaN/Infinity are not JSON: Node's body parser rejects the whole request.
                body = json.loads(raw_body or b"null", parse_constant=_reject_constant)
            except ValueError:
                return 400, {"message": "Invalid JSON"}, {}
            record.body = body
            if path == "/api/public/ingestion":
                return self._ingestion(body)
            if path == "/api/public/scores":
                return self._post_score(body)
            return 405, {"message": "Method not allowed"}, {}
        if method != "GET":
            return 405, {"message": "Method not allowed"}, {}
        if path == "/api/public/projects":
            # projects.yml: a project-scoped key pair sees its one project.
            return 200, {"data": [{"id": self.project_id, "name": "test project", "metadata": {}, "retentionDays": None}]}, {}
        if path == V2_PATH:
            if self.api_version != "v4":
                return 404, {"message": V2_NOT_AVAILABLE}, {}
            return 200, self._v2_observations(query), {}
        if path in ("/api/public/v2/scores", "/api/public/scores"):
            return 200, self._v2_scores(query), {}
        if path == "/api/public/traces":
            return 200, self._v1_traces(query), {}
        if path.startswith("/api/public/traces/"):
            return self._v1_trace(path.rsplit("/", 1)[1])
        if path == "/api/public/observations":
            return 200, self._v1_observations(query), {}
        return 404, {"message": "Not Found"}, {}

    # --- v2 observations (v4 events table) ------------------------------------------------------

    def _v2_observations(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = _int_param(query, "limit", 50, 0, 1000)
        raw_fields = _one(query, "fields")
        groups = [f.strip() for f in raw_fields.split(",") if f.strip() in FIELD_GROUPS] if raw_fields else ["core", "basic"]
        expand = [k.strip() for k in (_one(query, "expandMetadata") or "").split(",") if k.strip()]
        if _one(query, "parseIoAsJson") == "true":
            raise _BadRequest([{"code": "custom", "path": ["parseIoAsJson"], "message":
                                "parseIoAsJson=true is no longer supported on the v2 observations endpoint. "
                                "Input/output fields are always returned as raw strings. Remove the parseIoAsJson "
                                "parameter or set it to false."}])
        obs_type = _one(query, "type")
        if obs_type is not None and obs_type not in OBSERVATION_TYPES:
            raise _BadRequest([{"code": "invalid_enum_value", "options": list(OBSERVATION_TYPES), "path": ["type"],
                                "message": f"Invalid enum value. Received '{obs_type}'"}])
        level = _one(query, "level")
        if level is not None and level not in LEVELS:
            raise _BadRequest([{"code": "invalid_enum_value", "options": list(LEVELS), "path": ["level"],
                                "message": f"Invalid enum value. Received '{level}'"}])
        start_from = _parse_datetime("fromStartTime", _one(query, "fromStartTime")) if _one(query, "fromStartTime") else None
        start_to = _parse_datetime("toStartTime", _one(query, "toStartTime")) if _one(query, "toStartTime") else None
        if self.data_access_days is not None:
            # Cloud plans: the route clamps the window to the plan's data-access floor, silently.
            floor = datetime.now(UTC) - timedelta(days=self.data_access_days)
            start_from = max(start_from, floor) if start_from else floor
        cursor = self._decode_cursor(_one(query, "cursor"))
        environments = query.get("environment")
        is_root = _bool_param(query, "isRootObservation")
        equals = {"trace_id": _one(query, "traceId"), "name": _one(query, "name"), "user_id": _one(query, "userId"),
                  "session_id": _one(query, "sessionId"), "parent_span_id": _one(query, "parentObservationId"),
                  "version": _one(query, "version"), "type": obs_type, "level": level}
        advanced = _advanced_filter(_one(query, "filter"))

        keys, rows = self._event_index()
        with self._lock:
            repeat = self._repeat_cursor
        high = len(keys)
        if start_to is not None:
            high = min(high, bisect.bisect_left(keys, (start_to,)))
        if cursor is not None:
            high = min(high, bisect.bisect_left(keys, cursor))
        low = bisect.bisect_left(keys, (start_from,)) if start_from is not None else 0
        page: list[dict[str, Any]] = []
        for i in range(high - 1, low - 1, -1):
            row = rows[i]
            if row["is_deleted"]:
                continue
            if environments and row["environment"] not in environments:
                continue
            if is_root is not None and (row["parent_span_id"] == "") != is_root:
                continue
            if any(v is not None and row[k] != v for k, v in equals.items()):
                continue
            if advanced and not all(check(row) for check in advanced):
                continue
            page.append(row)
            if len(page) > limit:
                break
        has_more = len(page) > limit
        page = page[:limit]
        meta: dict[str, Any] = {}
        if has_more and page:
            last = page[-1]
            meta["cursor"] = self._encode_cursor(last["start_time"], last["trace_id"], last["span_id"])
        if repeat:
            meta["cursor"] = self._repeating_cursor(rows, limit)
        full_metadata = "io" in groups or bool(expand)
        items = ",".join(_v2_item_json(r, groups, full_metadata) for r in page)
        return '{"data":[' + items + '],"meta":' + json.dumps(meta) + "}"

    def _repeating_cursor(self, rows, limit) -> str:
        ordered = rows[::-1]
        anchor = ordered[min(max(limit, 1), len(ordered)) - 1] if ordered else None
        if anchor is None:
            return self._encode_cursor(datetime(2000, 1, 1, tzinfo=UTC), "", "")
        return self._encode_cursor(anchor["start_time"], anchor["trace_id"], anchor["span_id"])

    @staticmethod
    def _encode_cursor(start: datetime, trace_id: str, obs_id: str) -> str:
        payload = {"lastStartTimeTo": _iso(start), "lastTraceId": trace_id, "lastId": obs_id}
        return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()

    @staticmethod
    def _decode_cursor(text: str | None) -> tuple[datetime, str, str] | None:
        if not text:
            return None
        try:
            payload = json.loads(base64.b64decode(text).decode("utf-8"))
            start = datetime.fromisoformat(payload["lastStartTimeTo"].replace("Z", "+00:00")).astimezone(UTC)
            return start, str(payload["lastTraceId"]), str(payload["lastId"])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            raise _BadRequest(message="Invalid cursor format") from None

    # --- v1 reads (v3 ClickHouse tables, FINAL) -----------------------------------------------

    def _page(self, query: dict[str, list[str]]) -> tuple[int, int]:
        return _int_param(query, "page", 1, 1, 10**9), _int_param(query, "limit", 50, 1, 100)

    def _meta(self, page: int, limit: int, total: int) -> dict[str, int]:
        total_pages = math.ceil(total / limit) if total else 0
        if self._repeat_cursor:
            total_pages = page + 1
        return {"page": page, "limit": limit, "totalItems": total, "totalPages": total_pages}

    def _v1_traces(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page, limit = self._page(query)
        raw_fields = _one(query, "fields")
        groups = [f.strip() for f in raw_fields.split(",")] if raw_fields else list(V1_TRACE_FIELD_GROUPS)
        ts_from = _parse_datetime("fromTimestamp", _one(query, "fromTimestamp")) if _one(query, "fromTimestamp") else None
        ts_to = _parse_datetime("toTimestamp", _one(query, "toTimestamp")) if _one(query, "toTimestamp") else None
        environments = query.get("environment")
        tags = query.get("tags")
        equals = {"user_id": _one(query, "userId"), "session_id": _one(query, "sessionId"),
                  "name": _one(query, "name"), "version": _one(query, "version"), "release": _one(query, "release")}
        rows, by_trace = self._legacy_index()
        with self._lock:
            scores = list(self._scores.values())
        selected = [r for r in rows
                    if (ts_from is None or r["timestamp"] >= ts_from) and (ts_to is None or r["timestamp"] < ts_to)
                    and (not environments or r["environment"] in environments)
                    and (not tags or all(t in r["tags"] for t in tags))
                    and all(v is None or r[k] == v for k, v in equals.items())]
        chunk = selected[(page - 1) * limit: page * limit]
        data = [self._v1_trace_item(r, groups, by_trace.get(r["id"], []), scores) for r in chunk]
        return {"data": data, "meta": self._meta(page, limit, len(selected))}

    def _v1_trace_item(self, row, groups, observations, scores) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": row["id"], "projectId": row["project_id"], "timestamp": _iso(row["timestamp"]),
            "name": row["name"], "environment": row["environment"], "sessionId": row["session_id"],
            "userId": row["user_id"], "release": row["release"], "version": row["version"],
            "tags": list(row["tags"]), "public": row["public"], "bookmarked": row["bookmarked"],
            "createdAt": _iso(row["created_at"]), "updatedAt": _iso(row["updated_at"]),
            "htmlPath": f"/project/{row['project_id']}/traces/{row['id']}",
        }
        if "io" in groups:
            item.update(input=parse_json_prioritised(row["input"]), output=parse_json_prioritised(row["output"]),
                        metadata={k: parse_json_prioritised(v) for k, v in row["metadata"].items()})
        if "observations" in groups:
            item["observations"] = [o["id"] for o in observations]
        if "scores" in groups:
            item["scores"] = [s["id"] for s in scores if s["traceId"] == row["id"]]
        if "metrics" in groups:
            starts = [o["start_time"] for o in observations]
            ends = [o["end_time"] or o["start_time"] for o in observations]
            item["latency"] = (max(ends) - min(starts)).total_seconds() if observations else 0
            item["totalCost"] = sum(float(o["total_cost"] or 0) for o in observations)
        return item

    def _v1_trace(self, trace_id: str):
        with self._lock:
            row = self._legacy_traces.get(trace_id)
            observations = [o for o in self._legacy_observations.values() if o["trace_id"] == trace_id]
            scores = [dict(s) for s in self._scores.values() if s["traceId"] == trace_id]
        if row is None:
            return 404, {"message": "Trace not found within authorized project", "error": "LangfuseNotFoundError"}, {}
        item = self._v1_trace_item(row, ["io", "metrics"], observations, [])
        item["observations"] = [self._v1_observation_item(o) for o in observations]
        item["scores"] = scores
        return 200, item, {}

    def _v1_observations(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page, limit = self._page(query)
        obs_type = _one(query, "type")
        if obs_type is not None and obs_type not in OBSERVATION_TYPES:
            raise _BadRequest([{"code": "invalid_enum_value", "options": list(OBSERVATION_TYPES), "path": ["type"],
                                "message": f"Invalid enum value. Received '{obs_type}'"}])
        start_from = _parse_datetime("fromStartTime", _one(query, "fromStartTime")) if _one(query, "fromStartTime") else None
        start_to = _parse_datetime("toStartTime", _one(query, "toStartTime")) if _one(query, "toStartTime") else None
        environments = query.get("environment")
        user_id = _one(query, "userId")
        equals = {"trace_id": _one(query, "traceId"), "name": _one(query, "name"), "type": obs_type,
                  "level": _one(query, "level"), "parent_observation_id": _one(query, "parentObservationId"),
                  "version": _one(query, "version")}
        with self._lock:
            rows = list(self._legacy_observations.values())
            traces = dict(self._legacy_traces)
        selected = [r for r in rows
                    if (start_from is None or r["start_time"] >= start_from)
                    and (start_to is None or r["start_time"] < start_to)
                    and (not environments or r["environment"] in environments)
                    and (user_id is None or traces.get(r["trace_id"], {}).get("user_id") == user_id)
                    and all(v is None or r[k] == v for k, v in equals.items())]
        selected.sort(key=lambda r: (r["start_time"], r["id"]), reverse=True)
        chunk = selected[(page - 1) * limit: page * limit]
        return {"data": [self._v1_observation_item(r) for r in chunk], "meta": self._meta(page, limit, len(selected))}

    @staticmethod
    def _v1_observation_item(row: dict[str, Any]) -> dict[str, Any]:
        usage, cost = row["usage_details"], row["cost_details"]
        start, end, first = row["start_time"], row["end_time"], row["completion_start_time"]
        usage_in, usage_out, usage_total = (_reduce(usage, "input") or 0, _reduce(usage, "output") or 0,
                                            _reduce(usage, "total") or 0)
        return {
            "id": row["id"], "projectId": row["project_id"], "traceId": row["trace_id"],
            "parentObservationId": row["parent_observation_id"], "name": row["name"], "type": row["type"],
            "environment": row["environment"], "startTime": _iso(start), "endTime": _iso(end),
            "version": row["version"], "createdAt": _iso(row["created_at"]), "updatedAt": _iso(row["updated_at"]),
            "input": parse_json_prioritised(row["input"]), "output": parse_json_prioritised(row["output"]),
            "metadata": {k: parse_json_prioritised(v) for k, v in row["metadata"].items()},
            "level": row["level"], "statusMessage": row["status_message"], "model": row["provided_model_name"],
            "modelParameters": json.loads(row["model_parameters"]) if row["model_parameters"] else None,
            "completionStartTime": _iso(first), "promptId": row["prompt_id"], "promptName": row["prompt_name"],
            "promptVersion": row["prompt_version"], "usageDetails": dict(usage), "costDetails": dict(cost),
            "usage": {"unit": "TOKENS", "input": usage_in, "output": usage_out, "total": usage_total},
            "unit": "TOKENS", "promptTokens": usage_in, "completionTokens": usage_out, "totalTokens": usage_total,
            "usagePricingTierName": None, "usagePricingTierId": None,
            "modelId": row["internal_model_id"], "inputPrice": None, "outputPrice": None, "totalPrice": None,
            "calculatedInputCost": _reduce(cost, "input"), "calculatedOutputCost": _reduce(cost, "output"),
            "calculatedTotalCost": _reduce(cost, "total"),
            "latency": (end - start).total_seconds() if end else None,
            "timeToFirstToken": (first - start).total_seconds() if first else None,
        }

    # --- scores -------------------------------------------------------------------------------

    @staticmethod
    def _score_issues(body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            return [{"code": "invalid_type", "expected": "object", "path": ["body"], "message": "Expected object"}]
        issues = []
        name = body.get("name")
        if not isinstance(name, str) or not name:
            issues.append({"code": "too_small" if isinstance(name, str) else "invalid_type", "path": ["name"],
                           "message": "String must contain at least 1 character(s)" if isinstance(name, str)
                           else "Required"})
        value = body.get("value")
        data_type = body.get("dataType")
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if data_type is not None and data_type not in SCORE_DATA_TYPES:
            issues.append({"code": "invalid_union_discriminator", "options": list(SCORE_DATA_TYPES),
                           "path": ["dataType"], "message": "Invalid discriminator value"})
        elif data_type in ("NUMERIC",) and not is_number:
            issues.append({"code": "invalid_type", "expected": "number", "path": ["value"],
                           "message": "Expected number"})
        elif data_type == "BOOLEAN" and not (is_number and value in (0, 1)):
            issues.append({"code": "custom", "path": ["value"],
                           "message": "Value must be a number equal to either 0 or 1 for data type BOOLEAN"})
        elif data_type in ("CATEGORICAL", "TEXT", "CORRECTION") and not isinstance(value, str):
            issues.append({"code": "invalid_type", "expected": "string", "path": ["value"],
                           "message": "Expected string"})
        elif data_type is None and not (is_number or isinstance(value, str)):
            issues.append({"code": "invalid_union", "path": ["value"], "message": "Invalid input"})
        if is_number and not math.isfinite(value):
            issues.append({"code": "invalid_type", "expected": "number", "path": ["value"],
                           "message": "Expected number, received nan"})
        if not any(isinstance(body.get(k), str) and body.get(k) for k in ("traceId", "sessionId", "datasetRunId")):
            issues.append({"code": "custom", "path": ["traceId"],
                           "message": "Exactly one of traceId, sessionId or datasetRunId must be provided"})
        for key in ("id", "comment", "observationId", "environment", "configId", "traceId", "sessionId"):
            if body.get(key) is not None and not isinstance(body.get(key), str):
                issues.append({"code": "invalid_type", "expected": "string", "path": [key],
                               "message": "Expected string"})
        return issues

    def _store_score(self, body: dict[str, Any], timestamp: datetime, *, source: str = "API",
                     author_user_id: str | None = None, queue_id: str | None = None) -> dict[str, Any]:
        value = body["value"]
        data_type = body.get("dataType") or ("CATEGORICAL" if isinstance(value, str) else "NUMERIC")
        score_id = body.get("id") or uuid.uuid4().hex
        now = datetime.now(UTC)
        existing = self._scores.get(score_id)
        string_value = None
        numeric = None
        if data_type in ("CATEGORICAL", "TEXT", "CORRECTION"):
            string_value = str(value)
        elif data_type == "BOOLEAN":
            numeric = float(value)
            string_value = "True" if value == 1 else "False"
        else:
            numeric = float(value)
        score = {
            "id": score_id, "projectId": self.project_id, "traceId": body.get("traceId"),
            "sessionId": body.get("sessionId"), "observationId": body.get("observationId"),
            "datasetRunId": body.get("datasetRunId"), "name": body["name"],
            "value": numeric if data_type not in ("TEXT", "CORRECTION", "CATEGORICAL") else None,
            "stringValue": string_value, "dataType": data_type, "source": source,
            "timestamp": _iso(timestamp), "createdAt": existing["createdAt"] if existing else _iso(now),
            "updatedAt": _iso(now), "authorUserId": author_user_id, "comment": body.get("comment"),
            "metadata": body.get("metadata"), "configId": body.get("configId"), "queueId": queue_id,
            "environment": body.get("environment") or "default",
        }
        self._scores[score_id] = score
        return score

    def _ingestion(self, body: Any):
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise _BadRequest([{"code": "invalid_type", "expected": "array", "path": ["batch"], "message": "Required"}])
        successes, errors = [], []
        for event in body["batch"]:
            event_id = event.get("id") if isinstance(event, dict) else None
            if not isinstance(event, dict) or not isinstance(event_id, str) or not isinstance(event.get("type"), str):
                errors.append({"id": event_id, "status": 400, "message": "Invalid request data",
                               "error": [{"code": "invalid_type", "path": ["id"], "message": "Required"}]})
                continue
            try:
                timestamp = _parse_datetime("timestamp", str(event.get("timestamp")))
            except _BadRequest as bad:
                errors.append({"id": event_id, "status": 400, "message": "Invalid request data", "error": bad.issues})
                continue
            with self._lock:
                self.ingested_events.append(event)
                failure = self._event_failure
                if failure is not None and failure[0](event):
                    errors.append({"id": event_id, "status": failure[1], "message": failure[2], "error": failure[3]})
                    continue
                if event["type"] == "score-create":
                    issues = self._score_issues(event.get("body"))
                    if issues:
                        errors.append({"id": event_id, "status": 400, "message": "Invalid request data",
                                       "error": issues})
                        continue
                    self._store_score(event["body"], timestamp)
            successes.append({"id": event_id, "status": 201})
        return 207, {"successes": successes, "errors": errors}, {}

    def _post_score(self, body: Any):
        issues = self._score_issues(body)
        if issues:
            raise _BadRequest(issues)
        with self._lock:
            score = self._store_score(body, datetime.now(UTC))
        return 200, {"id": score["id"]}, {}

    def _v2_scores(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page, limit = self._page(query)
        raw_fields = _one(query, "fields")
        groups = [f.strip() for f in raw_fields.split(",")] if raw_fields else ["score", "trace"]
        source = _one(query, "source")
        if source is not None and source not in SCORE_SOURCES:
            raise _BadRequest([{"code": "invalid_enum_value", "options": list(SCORE_SOURCES), "path": ["source"],
                                "message": f"Invalid enum value. Received '{source}'"}])
        ts_from = _parse_datetime("fromTimestamp", _one(query, "fromTimestamp")) if _one(query, "fromTimestamp") else None
        ts_to = _parse_datetime("toTimestamp", _one(query, "toTimestamp")) if _one(query, "toTimestamp") else None
        score_ids = set(filter(None, (_one(query, "scoreIds") or "").split(","))) or None
        equals = {"name": _one(query, "name"), "traceId": _one(query, "traceId"), "source": source,
                  "dataType": _one(query, "dataType"), "sessionId": _one(query, "sessionId"),
                  "observationId": _one(query, "observationId"), "configId": _one(query, "configId"),
                  "queueId": _one(query, "queueId")}
        environments = query.get("environment")
        with self._lock:
            scores = [dict(s) for s in self._scores.values()]
            traces = dict(self._legacy_traces)
        selected = []
        for score in scores:
            when = datetime.fromisoformat(score["timestamp"].replace("Z", "+00:00"))
            if ts_from and when < ts_from or ts_to and when >= ts_to:
                continue
            if score_ids is not None and score["id"] not in score_ids:
                continue
            if environments and score["environment"] not in environments:
                continue
            if any(v is not None and score[k] != v for k, v in equals.items()):
                continue
            selected.append(score)
        selected.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)
        chunk = selected[(page - 1) * limit: page * limit]
        if "trace" in groups:
            for score in chunk:
                trace = traces.get(score["traceId"] or "")
                score["trace"] = ({"userId": trace["user_id"], "tags": list(trace["tags"]),
                                   "environment": trace["environment"]} if trace else None)
        return {"data": chunk, "meta": self._meta(page, limit, len(selected))}


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _fragment(values: dict[str, Any]) -> str:
    """`"k":v,...` of a JSON object, to be joined into an item without re-encoding it."""
    return _ENCODER.encode(values)[1:-1]


_TTFT_OFF = _fragment({"timeToFirstToken": None})
_USER_OFF = _fragment({"userId": None, "sessionId": None})
_ENRICHMENT = _fragment({"modelId": None, "inputPrice": None, "outputPrice": None, "totalPrice": None})


def _prepared(row: dict[str, Any]) -> dict[str, Any]:
    """An events row with its v2 item pre-rendered per field group as JSON fragments (the shape the
    converter gives, see the module docstring), so a page costs a join, not a render. The heavy
    text columns are dropped from the row once rendered."""
    start, end, first = row["start_time"], row["end_time"], row["completion_start_time"]
    usage, cost = row["usage_details"], row["cost_details"]
    params = row["model_parameters"]
    latency = (end - start).total_seconds() if end else None
    ttft = (first - start).total_seconds() if first else None
    metadata = row["metadata"]
    parts = {
        "core": _fragment({"id": row["span_id"], "traceId": row["trace_id"], "startTime": _iso(start),
                           "projectId": row["project_id"], "parentObservationId": row["parent_span_id"] or None,
                           "type": row["type"], "endTime": _iso(end), "latency": latency}),
        "ttft_on": _fragment({"timeToFirstToken": ttft}),
        "user_on": _fragment({"userId": row["user_id"], "sessionId": row["session_id"]}),
        "basic": _fragment({"name": row["name"], "level": row["level"], "statusMessage": row["status_message"],
                            "version": row["version"], "environment": row["environment"]}),
        "time": _fragment({"completionStartTime": _iso(first), "createdAt": _iso(row["created_at"]),
                           "updatedAt": _iso(row["updated_at"])}),
        "io": _fragment({"input": row["input"] or None, "output": row["output"] or None}),
        "metadata_full": _fragment({"metadata": {k: parse_json_prioritised(v) for k, v in metadata.items()}}),
        "model": _fragment({"model": row["provided_model_name"], "internalModelId": row["model_id"],
                            "modelParameters": json.loads(params) if params else None}),
        "usage": _fragment({"usageDetails": dict(usage), "inputUsage": _reduce(usage, "input") or 0,
                            "outputUsage": _reduce(usage, "output") or 0, "totalUsage": _reduce(usage, "total") or 0,
                            "costDetails": dict(cost), "inputCost": _reduce(cost, "input"),
                            "outputCost": _reduce(cost, "output"), "totalCost": _reduce(cost, "total")}),
        "prompt": _fragment({"promptId": row["prompt_id"] or None, "promptName": row["prompt_name"] or None,
                             "promptVersion": row["prompt_version"]}),
        "trace_context": _fragment({"tags": list(row["tags"]), "release": row["release"],
                                    "traceName": row["trace_name"]}),
    }
    # Most rows have no value over the cut: their cut rendering is the full one.
    if any(v is not None and len(v) > METADATA_CUT for v in metadata.values()):
        parts["metadata_cut"] = _fragment({"metadata": {k: parse_json_prioritised(_cut(v)) for k, v in metadata.items()}})
    else:
        parts["metadata_cut"] = parts["metadata_full"]
    kept = {k: v for k, v in row.items() if k not in ("input", "output", "metadata", "tool_definitions")}
    kept["_v2"] = parts
    kept["_metadata"] = metadata
    return kept


def _v2_item_json(row: dict[str, Any], groups: list[str], full_metadata: bool) -> str:
    parts = row["_v2"]
    chosen = [parts["core"],
              parts["ttft_on"] if ("time" in groups or "metrics" in groups) else _TTFT_OFF,
              parts["user_on"] if "basic" in groups else _USER_OFF,
              _ENRICHMENT]
    for group in ("basic", "time", "io", "model", "usage", "prompt", "trace_context"):
        if group in groups:
            chosen.append(parts[group])
    if "metadata" in groups:
        chosen.append(parts["metadata_full"] if full_metadata else parts["metadata_cut"])
    return "{" + ",".join(c for c in chosen if c) + "}"
