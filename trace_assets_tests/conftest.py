import os

import boto3
import pytest
from moto.server import ThreadedMotoServer

from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets.resources.trace_lake import TraceLake
from trace_assets_tests.langfuse_db import create_scratch_database, create_traces_table, drop_database
from trace_assets_tests.openai_server import OpenAIServer

# The PostgreSQL server the tests create their scratch databases on (trust auth on these machines).
ADMIN_DATABASE_URL = os.environ.get("TRACE_ASSETS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "bench: runs a bench/ script on a tiny input (minutes; `make test` runs them, -m 'not bench' skips them)"
    )


@pytest.fixture(autouse=True)
def _no_ambient_configuration(monkeypatch):
    """Tests set what they use; nothing leaks in from the machine's environment."""
    for name in list(os.environ):
        if name.startswith(("PYICEBERG_", "TRACE_", "LANGFUSE_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_HOME", "/nonexistent-pyiceberg-home")


@pytest.fixture(scope="session")
def scratch_database():
    url = create_scratch_database(ADMIN_DATABASE_URL)
    yield url
    drop_database(ADMIN_DATABASE_URL, url)


@pytest.fixture
def traces_table(scratch_database):
    return create_traces_table(scratch_database)


@pytest.fixture
def source_for():
    def build(table, **settings) -> PostgresTraceSource:
        return PostgresTraceSource(database_url=table.database_url, table=table.name, **settings)

    return build


@pytest.fixture
def local_resources(tmp_path):
    """Resources on a lake folder (tmp_path/lake unless `lake` is given) with a SQLite Iceberg
    catalog inside it, for a given source."""

    def build(source, lake=None, judge=None, ragas=None, **lake_settings) -> dict:
        lake = lake or tmp_path / "lake"
        warehouse = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg"))
        scorers = {name: resource for name, resource in (("judge", judge), ("ragas", ragas)) if resource is not None}
        return {
            **scorers,
            "trace_source": source,
            "trace_lake": TraceLake(uri=str(lake), **lake_settings),
            "iceberg": warehouse,
            "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        }

    return build


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on loopback: a real S3 HTTP endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch, request):
    """A fresh bucket, with the standard AWS variables pointing at the endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    name = f"lake-{request.node.name.lower().replace('_', '-')[:40]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def langfuse_database():
    """A database shaped like the seed's: a `traces` table under its default name."""
    url = create_scratch_database(ADMIN_DATABASE_URL)
    yield create_traces_table(url, name="traces")
    drop_database(ADMIN_DATABASE_URL, url)


@pytest.fixture
def iceberg_catalog_on_s3(s3_bucket, s3_endpoint, monkeypatch, tmp_path):
    """pyiceberg's own configuration: a SQL catalog whose warehouse is in the S3 bucket."""
    settings = {
        "URI": f"sqlite:///{tmp_path / 'catalog.db'}",
        "WAREHOUSE": f"s3://{s3_bucket}/warehouse",
        "S3__ENDPOINT": s3_endpoint,
        "S3__ACCESS_KEY_ID": "test-key",
        "S3__SECRET_ACCESS_KEY": "test-secret",
        "S3__REGION": "us-east-1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(f"PYICEBERG_CATALOG__DEFAULT__{key}", value)
    return settings


@pytest.fixture
def openai_server():
    """Start loopback OpenAI-compatible servers scripted by the test; stopped afterwards."""
    servers = []

    def start(script) -> OpenAIServer:
        servers.append(OpenAIServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
