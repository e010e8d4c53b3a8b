"""Choosing the trace source from the environment: one configured source is used, none is the
bundled sample, two without TRACE_SOURCE is an error naming them."""

import pytest

from trace_assets.environments import MissingSettingError, build_resources
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets.source_choice import SourceSettingError, build_trace_source, write_scores_to_langfuse

API = {"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-1"}


@pytest.mark.parametrize(
    "environ, kind",
    [
        ({}, DuckDBTraceSource),
        ({"LANGFUSE_DATABASE_URL": "postgresql://x@h/db"}, PostgresTraceSource),
        ({**API, "LANGFUSE_HOST": "https://langfuse.internal"}, LangfuseApiSource),
        ({"LANGFUSE_EXPORT_URI": "s3://exports/langfuse/proj"}, LangfuseExportSource),
        ({"LANGFUSE_EXPORT_URI": "/data/export", **API, "TRACE_SOURCE": "langfuse_export"}, LangfuseExportSource),
        ({"LANGFUSE_DATABASE_URL": "postgresql://x@h/db", "TRACE_SOURCE": "sample"}, DuckDBTraceSource),
    ],
)
def test_the_one_configured_source_is_read(environ, kind):
    assert type(build_trace_source(environ)) is kind


def test_the_sdk_variables_configure_the_api_source():
    assert build_trace_source(API).host == "https://cloud.langfuse.com"
    source = build_trace_source({**API, "LANGFUSE_BASE_URL": "http://langfuse:3000", "LANGFUSE_API_VERSION": "v1",
                                 "LANGFUSE_API_REQUESTS_PER_MINUTE": "900", "TRACE_CONSENT_KEY": "consent",
                                 "TRACE_CONSENT_TAG": "ok-to-train", "TRACE_LANGFUSE_ENVIRONMENTS": "production, staging"})
    assert (source.host, source.api_version, source.requests_per_minute) == ("http://langfuse:3000", "v1", 900)
    assert (source.consent_key, source.consent_tag, source.environments) == ("consent", "ok-to-train", ["production", "staging"])


def test_two_configured_sources_without_trace_source_is_an_error_naming_both():
    with pytest.raises(SourceSettingError, match="postgres.*langfuse_export.*TRACE_SOURCE"):
        build_trace_source({"LANGFUSE_DATABASE_URL": "postgresql://x@h/db", "LANGFUSE_EXPORT_URI": "/data/export"})


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"TRACE_SOURCE": "clickhouse"}, "TRACE_SOURCE='clickhouse' is not one of"),
        ({"LANGFUSE_HOST": "https://langfuse.internal"}, "LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY"),
        ({"TRACE_SOURCE": "langfuse_export"}, "LANGFUSE_EXPORT_URI"),
        ({**API, "LANGFUSE_API_VERSION": "v3"}, "LANGFUSE_API_VERSION='v3'"),
        ({**API, "LANGFUSE_API_REQUESTS_PER_MINUTE": "fast"}, "LANGFUSE_API_REQUESTS_PER_MINUTE='fast'"),
    ],
)
def test_a_wrong_setting_stops_the_load_naming_it(environ, message):
    with pytest.raises(SourceSettingError, match=message):
        build_trace_source(environ)


def test_writing_scores_needs_the_api():
    assert write_scores_to_langfuse({}) is False
    assert write_scores_to_langfuse({**API, "TRACE_LANGFUSE_WRITE_SCORES": "true"}) is True
    with pytest.raises(SourceSettingError, match="needs the Langfuse API"):
        write_scores_to_langfuse({"TRACE_LANGFUSE_WRITE_SCORES": "true"})


def test_prod_needs_a_real_source(monkeypatch):
    environ = {"TRACE_ASSETS_ENV": "prod", "JUDGE_BASE_URL": "http://judge/v1", "TRACE_LAKE_URI": "s3://lake"}
    with pytest.raises(MissingSettingError, match="a trace source: LANGFUSE_HOST"):
        build_resources(environ)


def test_the_api_settings_are_a_resource_of_their_own_for_writing_scores():
    resources = build_resources({"LANGFUSE_EXPORT_URI": "/data/export", **API, "TRACE_SOURCE": "langfuse_export"})
    assert isinstance(resources["trace_source"], LangfuseExportSource)
    assert isinstance(resources["langfuse_api"], LangfuseApiSource)
    assert "langfuse_api" not in build_resources({})
