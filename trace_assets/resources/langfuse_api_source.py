"""Langfuse's public API (LANGFUSE_HOST + keys) as a TraceSource: v2 observations on Langfuse v4
and Cloud, the v1 traces and observations on v3 servers."""

import json
from collections import defaultdict
from datetime import date, datetime

import pyarrow as pa
from pydantic import Field, PrivateAttr

from trace_assets.ingest.rejections import RejectionLog
from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError
from trace_assets.langfuse.api_pages import (
    API_VERSIONS,
    V2_FINGERPRINT_FIELDS,
    detect_api_version,
    v1_observation_pages,
    v1_trace_pages,
    v2_observation_pages,
)
from trace_assets.langfuse.human_scores import read_annotation_scores
from trace_assets.langfuse.records import span_from_observation, span_from_trace
from trace_assets.langfuse.span_spool import SpanSpool
from trace_assets.langfuse.spans import spans_batch
from trace_assets.resources.langfuse_source import LangfuseSource, fingerprints_of


class LangfuseApiSource(LangfuseSource):
    """Pages through the window's observations (and, on v3, its traces) into a local spool, so
    memory stays bounded however large the day, and a trace's spans meet across pages."""

    host: str = Field(description="Langfuse base URL (LANGFUSE_HOST or LANGFUSE_BASE_URL), e.g. https://cloud.langfuse.com.")
    public_key: str = Field(description="The project's public key, pk-lf-... (LANGFUSE_PUBLIC_KEY).")
    secret_key: str = Field(description="The project's secret key, sk-lf-... (LANGFUSE_SECRET_KEY).")
    api_version: str | None = Field(
        default=None, description="v2 (Langfuse v4, Cloud) or v1 (Langfuse v3); detected when unset (LANGFUSE_API_VERSION)."
    )
    requests_per_minute: float = Field(
        default=60, gt=0, description="Requests a minute at most, below the plan's limit (LANGFUSE_API_REQUESTS_PER_MINUTE)."
    )
    page_limit: int = Field(default=1000, gt=0, le=1000, description="Observations per v2 page (Langfuse's maximum is 1000).")
    human_score_days: int | None = Field(
        default=None,
        ge=0,
        description="Days after a window in which people's annotation scores of its traces are read back; unset: up to now.",
    )

    _version: str | None = PrivateAttr(default=None)
    _project_id: str | None = PrivateAttr(default=None)
    _api: LangfuseApi | None = PrivateAttr(default=None)

    def api(self) -> LangfuseApi:
        """One client (and one request pacer) for everything this resource does in a run."""
        if self._api is None:
            self._api = LangfuseApi(self.host, self.public_key, self.secret_key, requests_per_minute=self.requests_per_minute)
        return self._api

    def teardown_after_execution(self, context) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def version(self, start: datetime) -> str:
        if self.api_version:
            if self.api_version not in API_VERSIONS:
                raise ValueError(f"LANGFUSE_API_VERSION={self.api_version!r} is not one of {', '.join(API_VERSIONS)}")
            return self.api_version
        if self._version is None:
            self._version = detect_api_version(self.api(), start)
        return self._version

    def spool_window(self, spool: SpanSpool, reach_start, reach_end, start, end, notes: RejectionLog) -> None:
        api = self.api()
        if self.version(start) == "v2":
            for page in v2_observation_pages(api, reach_start, reach_end, limit=self.page_limit):
                spool.add(spans_batch([span_from_observation(item) for item in page]))
        else:
            for page in v1_trace_pages(api, start, end):
                spool.add(spans_batch([span_from_trace(item) for item in page]))
            for page in v1_observation_pages(api, reach_start, reach_end):
                spool.add(spans_batch([span_from_observation(item) for item in page]))
        return self.project_id()

    def project_id(self) -> str | None:
        """The keys' project (`GET /api/public/projects`), for links to traces; None when the
        server does not say (links are a convenience, never a reason to fail a day)."""
        if self._project_id is None:
            try:
                projects = self.api().get("/api/public/projects", {}).get("data") or []
            except LangfuseApiError:
                projects = []
            self._project_id = str(projects[0]["id"]) if projects and projects[0].get("id") else ""
        return self._project_id or None

    def day_fingerprints(self, start: datetime, end: datetime) -> dict[date, str]:
        """A cheap pass over the days' trace ids and consent (v2: root observations with the
        core, basic and metadata fields; v1: the traces' core fields)."""
        api = self.api()
        identities = defaultdict(list)
        if self.version(start) == "v2":
            for page in v2_observation_pages(api, start, end, fields=V2_FINGERPRINT_FIELDS, limit=self.page_limit):
                for item in page:
                    span = span_from_observation(item)
                    if not span["parent_observation_id"]:
                        self._identify(span, identities)
        else:
            for page in v1_trace_pages(api, start, end, fields="core"):
                for item in page:
                    self._identify(span_from_trace(item), identities)
        return fingerprints_of(identities)

    def read_human_scores(self, start: datetime, end: datetime) -> pa.Table:
        """People's annotation scores (source ANNOTATION) of the window's traces: trace_id, name,
        value, source, data_type (trace_assets.langfuse.human_scores says which endpoint and which
        scores), made from the window's start until now (or `human_score_days` after the window); the
        caller keeps its own traces'."""
        return read_annotation_scores(self.api(), start, end, self.human_score_days)

    def _identify(self, span: dict, identities: dict) -> None:
        if span["start_time"] is None or not self.lands_environment(span["environment"]):
            return
        metadata = json.loads(span["metadata"]) if span["metadata"] else {}
        tags = json.loads(span["tags"]) if span["tags"] else []
        consent = self.has_consent(metadata, tags)
        identities[span["start_time"].date()].append(f"{span['trace_id']}|{consent}")
