"""JSON POSTs to an OpenAI-compatible endpoint (the judge fleet) over one aiohttp session, with
the openai client's retry policy.

Why not the openai client itself: at a few hundred requests in flight, one process's request
rate is bound by the client's CPU per request, and the openai client (its httpx request model,
headers and URL handling, even with the aiohttp transport) spends about twice what aiohttp
alone does: 72% of the theoretical rate at concurrency 256 against 90%+ (BENCHMARKS.md, section
2). The policy below is the openai client's, so behaviour against a fleet is the same.
"""

import asyncio
import email.utils
import json
import random
import time

import aiohttp

RETRYABLE_STATUSES = frozenset({408, 409, 429})  # and every 5xx
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0


class EndpointError(Exception):
    """A request that failed for good: `kind` is `timeout`, `connection_error`, `http_<status>` or
    `unparseable_reply`; the message says what happened and after how many attempts."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class FleetEndpoint:
    """`async with FleetEndpoint(...) as endpoint: reply = await endpoint.post(path, body)`.

    Retries connection errors, timeouts, 408, 409, 429 and 5xx up to `max_retries` times, waiting
    for Retry-After (retry-after-ms or retry-after, when at most 60 s) or else 0.5 s doubling to
    8 s with up to 25% jitter. Other statuses fail at once. `timeout_s` bounds each attempt."""

    def __init__(self, base_url: str, api_key: str | None, timeout_s: float, max_retries: int, max_connections: int):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_retries = max_retries
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "FleetEndpoint":
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, headers=self.headers)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._session.close()

    async def post(self, path: str, body: dict) -> dict:
        """The reply to a JSON POST, parsed; raises EndpointError once retries are exhausted."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            retry_after_s = None
            try:
                async with self._session.post(url, data=data) as response:
                    content = await response.read()
                    status = response.status
                    if status == 200:
                        return _parsed(content)
                    retry_after_s = _retry_after_s(response.headers)
                failure = EndpointError(f"http_{status}", f"HTTP {status}: {content[:300].decode('utf-8', 'replace')}")
                if status not in RETRYABLE_STATUSES and status < 500:
                    raise failure
            except asyncio.TimeoutError:
                failure = EndpointError("timeout", f"no reply within {self.timeout.total:g} s")
            except aiohttp.ClientError as error:
                failure = EndpointError("connection_error", f"{type(error).__name__}: {error}")
            if attempt < self.max_retries:
                await asyncio.sleep(_retry_delay_s(attempt, retry_after_s))
        raise EndpointError(failure.kind, f"{failure.kind}: {failure} (after retries: {self.max_retries + 1} attempts)")


def _parsed(content: bytes) -> dict:
    try:
        reply = json.loads(content)
    except ValueError as error:
        raise EndpointError("unparseable_reply", f"unparseable_reply: {error}: {content[:200]!r}") from None
    if not isinstance(reply, dict):
        raise EndpointError("unparseable_reply", f"unparseable_reply: a JSON {type(reply).__name__}, not an object")
    return reply


def _retry_after_s(headers) -> float | None:
    """The server's Retry-After in seconds, when it gives one we can honour."""
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return when.timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _retry_delay_s(attempt: int, retry_after_s: float | None) -> float:
    if retry_after_s is not None and 0 < retry_after_s <= MAX_RETRY_AFTER_S:
        return retry_after_s
    return min(INITIAL_RETRY_DELAY_S * 2**attempt, MAX_RETRY_DELAY_S) * (1 - 0.25 * random.random())
