"""Which TraceSource the graph reads, chosen from the environment (README: "Connect your
Langfuse").

`TRACE_SOURCE` names it: `sample` | `postgres` | `langfuse_api` | `langfuse_export`. Unset, the
one source whose settings are present is used, and none means the bundled sample; two or more
configured without `TRACE_SOURCE` is an error that names them, since guessing would land the
wrong data. Langfuse's own variables are read as its SDK reads them.
"""

from collections.abc import Mapping

import dagster as dg
from dagster_duckdb import DuckDBResource

from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets.resources.trace_source import TraceSource

SOURCES = ("sample", "postgres", "langfuse_api", "langfuse_export")
LANGFUSE_CLOUD = "https://cloud.langfuse.com"
# What configures each real source (any one of its variables).
_SOURCE_SETTINGS = {
    "postgres": ("LANGFUSE_DATABASE_URL",),
    "langfuse_api": ("LANGFUSE_HOST", "LANGFUSE_BASE_URL", "LANGFUSE_PUBLIC_KEY"),
    "langfuse_export": ("LANGFUSE_EXPORT_URI",),
}


class SourceSettingError(RuntimeError):
    pass


def configured_sources(environ: Mapping[str, str]) -> list[str]:
    return [name for name, variables in _SOURCE_SETTINGS.items() if any(environ.get(v) for v in variables)]


def chosen_source_name(environ: Mapping[str, str]) -> str:
    named = environ.get("TRACE_SOURCE", "").strip()
    if named:
        if named not in SOURCES:
            raise SourceSettingError(f"TRACE_SOURCE={named!r} is not one of {', '.join(SOURCES)}")
        return named
    configured = configured_sources(environ)
    if len(configured) > 1:
        settings = "; ".join(f"{name} ({' / '.join(_SOURCE_SETTINGS[name])})" for name in configured)
        raise SourceSettingError(
            f"several trace sources are configured: {settings}. Set TRACE_SOURCE to the one to read "
            f"({', '.join(SOURCES)}); e.g. TRACE_SOURCE=langfuse_export with LANGFUSE_PUBLIC_KEY set to also write scores"
        )
    return configured[0] if configured else "sample"


def build_trace_source(environ: Mapping[str, str]) -> TraceSource:
    name = chosen_source_name(environ)
    if name == "postgres":
        _require(environ, "postgres", ("LANGFUSE_DATABASE_URL",))
        # EnvVar: the URL (it may hold a password) is read at run time and never shown in the UI.
        return PostgresTraceSource(database_url=dg.EnvVar("LANGFUSE_DATABASE_URL"))
    if name == "langfuse_api":
        return langfuse_api(environ)
    if name == "langfuse_export":
        _require(environ, "langfuse_export", ("LANGFUSE_EXPORT_URI",))
        return LangfuseExportSource(
            export_uri=environ["LANGFUSE_EXPORT_URI"],
            s3_endpoint_url=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
            s3_region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
            ui_url=environ.get("LANGFUSE_HOST") or environ.get("LANGFUSE_BASE_URL") or None,
            **_langfuse_rules(environ),
        )
    return DuckDBTraceSource(duckdb=DuckDBResource(database=":memory:"))


def langfuse_api_configured(environ: Mapping[str, str]) -> bool:
    return "langfuse_api" in configured_sources(environ)


def langfuse_api(environ: Mapping[str, str]) -> LangfuseApiSource:
    """The Langfuse project's public API, from the SDK's variables (LANGFUSE_HOST, or
    LANGFUSE_BASE_URL, default Langfuse Cloud; the keys are required)."""
    _require(environ, "langfuse_api", ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"))
    settings = dict(
        host=environ.get("LANGFUSE_HOST") or environ.get("LANGFUSE_BASE_URL") or LANGFUSE_CLOUD,
        public_key=dg.EnvVar("LANGFUSE_PUBLIC_KEY"),
        secret_key=dg.EnvVar("LANGFUSE_SECRET_KEY"),
        **_langfuse_rules(environ),
    )
    if environ.get("LANGFUSE_API_VERSION"):
        version = environ["LANGFUSE_API_VERSION"].strip()
        if version not in ("v1", "v2"):
            raise SourceSettingError(f"LANGFUSE_API_VERSION={version!r} is not v1 (Langfuse v3) or v2 (v4, Cloud)")
        settings["api_version"] = version
    if environ.get("LANGFUSE_API_REQUESTS_PER_MINUTE"):
        value = environ["LANGFUSE_API_REQUESTS_PER_MINUTE"]
        try:
            rate = float(value)
        except ValueError:
            rate = 0
        if rate <= 0:
            raise SourceSettingError(f"LANGFUSE_API_REQUESTS_PER_MINUTE={value!r} is not a positive number")
        settings["requests_per_minute"] = rate
    return LangfuseApiSource(**settings)


def write_scores_to_langfuse(environ: Mapping[str, str]) -> bool:
    """TRACE_LANGFUSE_WRITE_SCORES (true/false, default false); true needs the API's settings."""
    value = environ.get("TRACE_LANGFUSE_WRITE_SCORES", "false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", ""):
        raise SourceSettingError(f"TRACE_LANGFUSE_WRITE_SCORES={value!r} is not true or false")
    wanted = value in ("true", "1", "yes")
    if wanted and not langfuse_api_configured(environ):
        raise SourceSettingError(
            "TRACE_LANGFUSE_WRITE_SCORES=true needs the Langfuse API: set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY "
            "and LANGFUSE_HOST"
        )
    return wanted


def _langfuse_rules(environ: Mapping[str, str]) -> dict:
    rules = {}
    if environ.get("TRACE_CONSENT_KEY", "").strip():
        rules["consent_key"] = environ["TRACE_CONSENT_KEY"].strip()
    if environ.get("TRACE_CONSENT_TAG", "").strip():
        rules["consent_tag"] = environ["TRACE_CONSENT_TAG"].strip()
    environments = [name.strip() for name in environ.get("TRACE_LANGFUSE_ENVIRONMENTS", "").split(",") if name.strip()]
    if environments:
        rules["environments"] = environments
    return rules


def _require(environ: Mapping[str, str], source: str, variables: tuple[str, ...]) -> None:
    missing = [name for name in variables if not environ.get(name)]
    if missing:
        raise SourceSettingError(f"the {source} trace source needs {', '.join(missing)}: see .env.example")
