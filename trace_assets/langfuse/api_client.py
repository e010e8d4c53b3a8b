"""Langfuse's public API over HTTP: Basic auth with the project's keys, requests paced below the
plan's rate limit, 429 / 5xx / timeouts / dropped connections retried with backoff (honouring
`Retry-After`), and errors that say what to fix.

Why not the `langfuse` SDK's generated client: SDK 5 drops the v1 reads that v3 servers answer,
it retries only twice with no pacing, and it pulls OpenTelemetry into the code location; what a
reader needs here is one paced GET and one POST.
"""

import email.utils
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0


class LangfuseApiError(RuntimeError):
    """Langfuse answered something a reader cannot use; the message says what and where."""


class LangfuseAuthError(LangfuseApiError):
    """401/403: the keys are wrong for this host or project. Never retried."""


class LangfuseNotFound(LangfuseApiError):
    """404: this server does not answer this endpoint (another API version)."""


# Requests are spaced for this share of the configured rate: Langfuse's limiter opens its
# 60-second window when the first request ARRIVES, and the first (a new connection) arrives
# late, so exact spacing let request R+1 into the window (bench/langfuse_sources.py: one 429
# at 100%, none at 95%).
PACING_SHARE = 0.95


@dataclass
class RequestPacer:
    """Spaces request starts `60 / (PACING_SHARE * requests_per_minute)` seconds apart, across
    threads."""

    requests_per_minute: float
    _next_start: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 60.0 / (PACING_SHARE * self.requests_per_minute)
        if start > now:
            time.sleep(start - now)


@dataclass
class ApiStats:
    """What a client did: requests sent, retries and their causes, time spent waiting."""

    requests: int = 0
    retries: dict = field(default_factory=dict)
    waited_for_retry_s: float = 0.0


class LangfuseApi:
    """A client for one Langfuse project. `get` and `post` return the parsed JSON answer."""

    def __init__(
        self,
        host: str,
        public_key: str,
        secret_key: str,
        requests_per_minute: float = 60,
        max_retries: int = 6,
        timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ):
        if not host:
            raise LangfuseApiError("no Langfuse host: set LANGFUSE_HOST (or LANGFUSE_BASE_URL), e.g. https://cloud.langfuse.com")
        if not public_key or not secret_key:
            raise LangfuseAuthError("set LANGFUSE_PUBLIC_KEY (pk-lf-...) and LANGFUSE_SECRET_KEY (sk-lf-...) of the project")
        self.host = host.rstrip("/")
        self.public_key = public_key
        self.pacer = RequestPacer(requests_per_minute)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = ApiStats()
        self._client = httpx.Client(
            base_url=self.host,
            auth=(public_key, secret_key),
            timeout=timeout_s,
            headers={"User-Agent": "trace-assets"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "LangfuseApi":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, path: str, params: dict) -> dict:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, json=body)

    def _request(self, method: str, path: str, **options) -> dict:
        attempt = 0
        while True:
            self.pacer.wait()
            self.stats.requests += 1
            try:
                response = self._client.request(method, path, **options)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection_error"
                if attempt >= self.max_retries:
                    raise LangfuseApiError(
                        f"{method} {self.host}{path}: {kind} after {attempt + 1} attempts ({error!r})"
                    ) from error
                self._sleep_before_retry(kind, attempt, None)
                attempt += 1
                continue
            if response.status_code in (401, 403):
                raise LangfuseAuthError(
                    f"{method} {self.host}{path} answered {response.status_code}: the keys were refused. Check that "
                    f"LANGFUSE_PUBLIC_KEY ({self.public_key[:10]}...) and LANGFUSE_SECRET_KEY belong to a project on "
                    f"LANGFUSE_HOST={self.host}"
                )
            if response.status_code == 404:
                raise LangfuseNotFound(f"{method} {self.host}{path} answered 404")
            if response.status_code in RETRIED_STATUSES:
                if attempt >= self.max_retries:
                    raise LangfuseApiError(
                        f"{method} {self.host}{path} answered {response.status_code} {attempt + 1} times: "
                        f"{_excerpt(response)}"
                    )
                self._sleep_before_retry(f"http_{response.status_code}", attempt, _retry_after_s(response))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise LangfuseApiError(f"{method} {self.host}{path} answered {response.status_code}: {_excerpt(response)}")
            try:
                return response.json()
            except ValueError as error:
                raise LangfuseApiError(
                    f"{method} {self.host}{path} answered {response.status_code} with a body that is not JSON: "
                    f"{_excerpt(response)}"
                ) from error

    def _sleep_before_retry(self, cause: str, attempt: int, retry_after_s: float | None) -> None:
        self.stats.retries[cause] = self.stats.retries.get(cause, 0) + 1
        if retry_after_s is None:
            delay = min(self.backoff_s * 2**attempt, self.max_backoff_s)
            delay *= 1 - 0.25 * random.random()
        else:
            delay = min(retry_after_s, MAX_RETRY_AFTER_S)
        self.stats.waited_for_retry_s += delay
        time.sleep(delay)


def _retry_after_s(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")
