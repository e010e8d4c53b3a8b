"""Choosing resources from the environment: local defaults, prod settings, the code location."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trace_assets.environments import MissingSettingError, build_resources
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.iceberg_warehouse import MissingCatalogError
from trace_assets.resources.postgres_source import PostgresTraceSource

REPO = Path(__file__).resolve().parents[1]


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
