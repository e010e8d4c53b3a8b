"""The prod environment, configured only through environment variables: Langfuse PostgreSQL ->
S3 (moto's server over HTTP) -> an Iceberg SQL catalog whose warehouse is on S3."""

import os
import subprocess
import sys

import boto3
import dagster as dg
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from trace_assets.assets.raw_traces import raw_traces
from trace_assets.environments import build_resources
from trace_assets.ingest.hive_day import LAKE_PARTITIONING
from trace_assets.tables.traces import TRACES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import materialize_days


def bucket_keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []) if not item["Key"].endswith("/"))


def prod_environment(monkeypatch, langfuse_database, bucket):
    monkeypatch.setenv("TRACE_ASSETS_ENV", "prod")
    monkeypatch.setenv("LANGFUSE_DATABASE_URL", langfuse_database.database_url)
    monkeypatch.setenv("TRACE_LAKE_URI", f"s3://{bucket}/training-data-lake")
    monkeypatch.setenv("JUDGE_BASE_URL", "http://127.0.0.1:9/v1")  # required in prod; not called here


def test_prod_lands_parquet_on_s3_and_the_iceberg_table_in_an_s3_warehouse(
    monkeypatch, langfuse_database, s3_bucket, s3_endpoint, iceberg_catalog_on_s3
):
    rows = [trace("2026-04-18 03:15:00", model="Qwen/Qwen3-4B"), trace("2026-04-18 04:00:00"), trace("2026-04-18 05:00:00", consent=False)]
    langfuse_database.insert(rows)
    prod_environment(monkeypatch, langfuse_database, s3_bucket)
    resources = build_resources(os.environ)

    materialize_days(resources, "2026-04-18")
    keys = bucket_keys(s3_endpoint, s3_bucket, "training-data-lake/")
    assert keys == [
        "training-data-lake/langfuse-traces/date=2026-04-18/model=Qwen%2FQwen3-4B/consent=true/part-0.parquet",
        "training-data-lake/langfuse-traces/date=2026-04-18/model=glm-5-32b/consent=true/part-0.parquet",
    ]
    s3 = pafs.S3FileSystem(endpoint_override=s3_endpoint.split("://")[1], scheme="http", region="us-east-1",
                           access_key="test-key", secret_key="test-secret")
    landed = ds.dataset(f"{s3_bucket}/training-data-lake/langfuse-traces/date=2026-04-18", filesystem=s3,
                        partitioning=LAKE_PARTITIONING).to_table()
    assert sorted(landed.column("model").to_pylist()) == ["Qwen/Qwen3-4B", "glm-5-32b"]

    table = resources["iceberg"].catalog().load_table(TRACES_TABLE)
    assert table.location().startswith(f"s3://{s3_bucket}/warehouse/")
    assert table.scan().to_arrow().num_rows == 2
    data_files = bucket_keys(s3_endpoint, s3_bucket, "warehouse/")
    assert any(key.endswith(".parquet") and "/data/" in key for key in data_files)

    materialize_days(resources, "2026-04-18")
    assert bucket_keys(s3_endpoint, s3_bucket, "training-data-lake/") == keys, "a rerun leaves no stale objects"
    assert table.refresh().scan().to_arrow().num_rows == 2


def test_the_dagster_cli_materializes_a_day_with_only_the_documented_variables(
    monkeypatch, langfuse_database, s3_bucket, s3_endpoint, iceberg_catalog_on_s3, tmp_path
):
    langfuse_database.insert([trace("2026-04-18 03:15:00"), trace("2026-04-18 09:00:00", model="Qwen/Qwen3-4B")])
    prod_environment(monkeypatch, langfuse_database, s3_bucket)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "trace_assets.definitions",
         "--select", "raw_traces,iceberg_table", "--partition", "2026-04-18"],
        capture_output=True, text=True, timeout=240, env=dict(os.environ),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(bucket_keys(s3_endpoint, s3_bucket, "training-data-lake/langfuse-traces/date=2026-04-18/")) == 2
    with dg.DagsterInstance.get() as instance:
        for asset, rows in (("raw_traces", 2), ("iceberg_table", 2)):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            materialization = event.asset_materialization
            assert (materialization.partition, materialization.metadata["dagster/row_count"].value) == ("2026-04-18", rows)
    assert langfuse_database.database_url not in completed.stdout + completed.stderr, "no secret in the run log"


def test_the_generic_aws_endpoint_url_reaches_the_lake_when_no_s3_one_is_set(
    monkeypatch, langfuse_database, s3_bucket, s3_endpoint, iceberg_catalog_on_s3
):
    langfuse_database.insert([trace("2026-04-18 03:15:00")])
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("LANGFUSE_DATABASE_URL", langfuse_database.database_url)
    resources = build_resources({**os.environ, "TRACE_LAKE_URI": f"s3://{s3_bucket}/lake"})
    assert resources["trace_lake"].s3_endpoint_url == s3_endpoint
    materialize_days(resources, "2026-04-18", assets=[raw_traces])
    assert bucket_keys(s3_endpoint, s3_bucket, "lake/") == [
        "lake/langfuse-traces/date=2026-04-18/model=glm-5-32b/consent=true/part-0.parquet"
    ]
