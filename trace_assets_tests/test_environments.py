"""Choosing resources from the environment: local defaults, prod settings, the code location."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dagster as dg

from trace_assets.environments import (
    MissingSettingError,
    build_resources,
    judge_pool_limit,
    late_data_lookback_days,
    max_score_error_rate,
)
from trace_assets.partitions import partition_start_date
from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.iceberg_warehouse import MissingCatalogError
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets_tests.openai_server import chat_reply

REPO = Path(__file__).resolve().parents[1]
READERS = {
    "TRACE_MAX_SCORE_ERROR_RATE": max_score_error_rate,
    "TRACE_LATE_DATA_LOOKBACK_DAYS": late_data_lookback_days,
    "TRACE_JUDGE_POOL_LIMIT": judge_pool_limit,
    "TRACE_ASSETS_START_DATE": partition_start_date,
}


def test_local_defaults_need_nothing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    resources = build_resources({})
    assert isinstance(resources["trace_source"], DuckDBTraceSource)
    assert resources["trace_lake"].uri == str(tmp_path / "data" / "lake")
    catalog = resources["iceberg"].catalog()
    assert (tmp_path / "data" / "lake" / "iceberg" / "catalog.db").exists()
    assert catalog.list_namespaces() == []


def test_a_langfuse_url_selects_the_postgres_source_without_exposing_it():
    resources = build_resources({"LANGFUSE_DATABASE_URL": "postgresql://langfuse:s3cret@db:5432/langfuse"})
    assert isinstance(resources["trace_source"], PostgresTraceSource)
    assert "s3cret" not in repr(resources["trace_source"])


def test_prod_names_every_missing_setting_at_load():
    with pytest.raises(MissingSettingError) as raised:
        build_resources({"TRACE_ASSETS_ENV": "prod"})
    message = str(raised.value)
    for setting in ("LANGFUSE_DATABASE_URL", "TRACE_LAKE_URI", "PYICEBERG_CATALOG__DEFAULT__TYPE", "JUDGE_BASE_URL"):
        assert setting in message


def test_prod_never_falls_back_to_a_local_catalog(monkeypatch):
    monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__TYPE", "rest")
    resources = build_resources(
        {
            "TRACE_ASSETS_ENV": "prod",
            "LANGFUSE_DATABASE_URL": "postgresql://db/langfuse",
            "TRACE_LAKE_URI": "s3://lake",
            "JUDGE_BASE_URL": "http://reward-labeler-qwen3.training-pipeline.svc.cluster.local:8000/v1",
        }
    )
    assert resources["iceberg"].local_fallback_dir is None
    monkeypatch.delenv("PYICEBERG_CATALOG__DEFAULT__TYPE")
    with pytest.raises(MissingCatalogError, match="PYICEBERG_CATALOG__DEFAULT__"):
        resources["iceberg"].catalog()


def test_ragas_processes_come_from_the_environment_and_must_be_positive():
    judged = {"JUDGE_BASE_URL": "http://judge/v1"}
    assert build_resources(judged)["ragas"].processes == 1
    assert build_resources(judged)["ragas"].embeddings_base_url == "local", "a chat fleet serves no embeddings"
    assert build_resources({**judged, "RAGAS_PROCESSES": "4"})["ragas"].processes == 4
    with pytest.raises(MissingSettingError, match="RAGAS_PROCESSES"):
        build_resources({**judged, "RAGAS_PROCESSES": "0"})


def test_an_unknown_environment_is_an_error():
    with pytest.raises(MissingSettingError, match="TRACE_ASSETS_ENV='staging'"):
        build_resources({"TRACE_ASSETS_ENV": "staging"})


def test_prod_definitions_fail_to_load_naming_the_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_"))}
    completed = subprocess.run(
        [sys.executable, "-c", "import trace_assets.definitions"],
        env={**env, "TRACE_ASSETS_ENV": "prod"}, capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert completed.returncode != 0
    assert "LANGFUSE_DATABASE_URL" in completed.stderr


def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path):
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, capture_output=True, text=True, cwd=REPO, timeout=180,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]


@pytest.mark.parametrize(
    "name, value",
    [
        ("TRACE_MAX_SCORE_ERROR_RATE", "1.5"), ("TRACE_MAX_SCORE_ERROR_RATE", "-0.1"),
        ("TRACE_MAX_SCORE_ERROR_RATE", "five percent"), ("TRACE_MAX_SCORE_ERROR_RATE", "nan"),
        ("TRACE_LATE_DATA_LOOKBACK_DAYS", "0"), ("TRACE_LATE_DATA_LOOKBACK_DAYS", "-3"),
        ("TRACE_LATE_DATA_LOOKBACK_DAYS", "7.5"), ("TRACE_LATE_DATA_LOOKBACK_DAYS", "a week"),
        ("TRACE_JUDGE_POOL_LIMIT", "0"), ("TRACE_JUDGE_POOL_LIMIT", "two"),
        ("TRACE_ASSETS_START_DATE", "2026-13-01"), ("TRACE_ASSETS_START_DATE", "yesterday"),
        ("TRACE_ASSETS_START_DATE", "2026-04-18'; DROP TABLE traces; --"),
    ],
)
def test_an_invalid_setting_is_refused_naming_it_and_its_value(name, value):
    with pytest.raises((MissingSettingError, ValueError)) as raised:
        READERS[name]({name: value})
    assert f"{name}={value!r}" in str(raised.value)


@pytest.mark.parametrize(
    "name, value, read",
    [("TRACE_MAX_SCORE_ERROR_RATE", "0.2", 0.2), ("TRACE_MAX_SCORE_ERROR_RATE", None, 0.05),
     ("TRACE_LATE_DATA_LOOKBACK_DAYS", "14", 14), ("TRACE_LATE_DATA_LOOKBACK_DAYS", None, 7),
     ("TRACE_JUDGE_POOL_LIMIT", "5", 5), ("TRACE_JUDGE_POOL_LIMIT", None, 2),
     ("TRACE_ASSETS_START_DATE", "2026-05-02", "2026-05-02"), ("TRACE_ASSETS_START_DATE", None, "2026-04-01")],
)
def test_a_valid_setting_or_its_default_is_read(name, value, read):
    assert READERS[name]({} if value is None else {name: value}) == read


def test_the_code_location_takes_the_look_back_and_the_start_date_from_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_"))}
    script = (
        "from trace_assets.definitions import defs; "
        "print(defs.resolve_sensor_def('late_traces').description); "
        "print(defs.resolve_job_def('refresh_traces').partitions_def.get_first_partition_key())"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=180,
        env={**env, "TRACE_LATE_DATA_LOOKBACK_DAYS": "3", "TRACE_ASSETS_START_DATE": "2026-05-02"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    description, first_day = completed.stdout.strip().splitlines()[-2:]
    assert "of the last 3 " in description and first_day == "2026-05-02"


def test_judge_and_ragas_settings_come_from_their_variables_and_the_key_is_sent_not_shown(openai_server, monkeypatch):
    server = openai_server(lambda path, body: chat_reply('{"score": 0.5, "reasoning": "r"}'))
    environ = {
        "JUDGE_BASE_URL": server.base_url, "JUDGE_MODEL": "qwen3-judge-v2", "JUDGE_API_KEY": "sk-from-env",
        "RAGAS_LLM_BASE_URL": "http://ragas-llm:8000/v1", "RAGAS_LLM_MODEL": "qwen3-ragas",
        "RAGAS_EMBEDDINGS_BASE_URL": "http://embedder:8000/v1", "RAGAS_EMBEDDINGS_MODEL": "bge-m3",
    }
    monkeypatch.setenv("JUDGE_API_KEY", environ["JUDGE_API_KEY"])  # an EnvVar: read when the run starts
    resources = build_resources(environ)
    ragas = resources["ragas"]
    assert (ragas.llm_base_url, ragas.llm_model, ragas.embeddings_base_url, ragas.embeddings_model) == (
        "http://ragas-llm:8000/v1", "qwen3-ragas", "http://embedder:8000/v1", "bge-m3",
    )
    assert ragas.llm_api_key == ragas.embeddings_api_key == dg.EnvVar("JUDGE_API_KEY")
    assert "sk-from-env" not in repr(resources["judge"]) + repr(ragas)

    @dg.asset
    def judged_once(judge: JudgeResource) -> None:
        judge.judge([JudgeRequest("q", "a")])

    dg.materialize([judged_once], resources={"judge": resources["judge"]})
    assert server.headers[0]["authorization"] == "Bearer sk-from-env"
    assert server.chat_requests()[0]["model"] == "qwen3-judge-v2"
