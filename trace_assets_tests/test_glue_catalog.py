"""Production's shape end to end: the whole graph on S3 (moto's server over HTTP) with the Iceberg
tables in an AWS Glue catalog (moto serves Glue's API too; pyiceberg's Glue catalog takes
`glue.endpoint`), configured only through environment variables, as the README's production
section and deploy/k8s/trace-assets-config.yaml describe."""

import json
import os

import boto3
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.checks import build_checks
from trace_assets.environments import build_resources
from trace_assets.tables.labeled import LABELED_TABLE
from trace_assets.tables.scores import JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE
from trace_assets.tables.traces import TRACES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialize_days
from trace_assets_tests.openai_server import chat_reply
from trace_assets_tests.ragas_server import RagasScript

DAY = "2026-04-18"
CONTEXTS = ["Karpenter is an open-source node autoscaler."]


@pytest.fixture
def glue_catalog(s3_bucket, s3_endpoint, monkeypatch):
    """pyiceberg's own configuration for a Glue catalog whose warehouse is in the S3 bucket."""
    settings = {
        "TYPE": "glue",
        "GLUE__ENDPOINT": s3_endpoint,
        "GLUE__REGION": "us-east-1",
        "WAREHOUSE": f"s3://{s3_bucket}/warehouse",
        "S3__ENDPOINT": s3_endpoint,
        "S3__REGION": "us-east-1",
    }
    for key, value in settings.items():
        monkeypatch.setenv(f"PYICEBERG_CATALOG__DEFAULT__{key}", value)
    return boto3.client("glue", endpoint_url=s3_endpoint, region_name="us-east-1")


def test_the_whole_graph_runs_on_s3_and_a_glue_catalog_from_the_environment_alone(
    monkeypatch, langfuse_database, s3_bucket, s3_endpoint, glue_catalog, openai_server
):
    ragas = RagasScript()

    def fleet(path, body):
        if path.endswith("/embeddings") or body["messages"][0]["role"] == "system":
            return ragas(path, body)
        return chat_reply(json.dumps({"score": 0.75, "reasoning": "scripted judge"}))

    server = openai_server(fleet)
    consented = [trace(f"{DAY} 03:15:00", model="Qwen/Qwen3-4B", metadata={"contexts": CONTEXTS}),
                 trace(f"{DAY} 09:00:00", metadata={"contexts": CONTEXTS})]
    private = trace(f"{DAY} 10:00:00", consent=False, input="my private question")
    langfuse_database.insert([*consented, private])
    # AWS_ENDPOINT_URL_S3 (from s3_bucket) reaches S3 only: Glue is found through glue.endpoint.
    for name, value in {
        "TRACE_ASSETS_ENV": "prod",
        "LANGFUSE_DATABASE_URL": langfuse_database.database_url,
        "TRACE_LAKE_URI": f"s3://{s3_bucket}/training-data-lake",
        "JUDGE_BASE_URL": server.base_url,
        "RAGAS_EMBEDDINGS_BASE_URL": server.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    resources = build_resources(os.environ)

    result = materialize_days(resources, DAY, assets=[*INGEST, judge_scores, ragas_scores, labeled_dataset, *build_checks()])
    assert result.success
    assert all(evaluation.passed for evaluation in result.get_asset_check_evaluations())

    catalog = resources["iceberg"].catalog()
    assert type(catalog).__name__ == "GlueCatalog"
    glue_tables = {t["Name"]: t for t in glue_catalog.get_tables(DatabaseName="training_data")["TableList"]}
    for identifier in (TRACES_TABLE, JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE, LABELED_TABLE):
        name = identifier.rsplit(".", 1)[1]
        parameters = glue_tables[name]["Parameters"]
        assert parameters["table_type"] == "ICEBERG", name
        assert parameters["metadata_location"].startswith(f"s3://{s3_bucket}/warehouse/training_data.db/{name}/metadata/")
    ids = {row["id"] for row in consented}
    assert set(catalog.load_table(TRACES_TABLE).scan().to_arrow().column("id").to_pylist()) == ids
    judged = catalog.load_table(JUDGE_SCORES_TABLE).scan().to_arrow().to_pylist()
    assert {row["trace_id"]: row["judge_score"] for row in judged} == {i: 0.75 for i in ids}
    labeled = catalog.load_table(LABELED_TABLE).scan().to_arrow()
    assert set(labeled.column("trace_id").to_pylist()) == ids
    assert None not in labeled.column("final_reward").to_pylist()

    # The labeled dataset's Parquet is on S3 too, readable as the README says.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket, Prefix="training-data-lake/labeled-dataset/")["Contents"]]
    assert [key for key in keys if not key.endswith("/")] == [f"training-data-lake/labeled-dataset/date={DAY}/part-0.parquet"]
    filesystem = pafs.S3FileSystem(endpoint_override=s3_endpoint.split("://")[1], scheme="http", region="us-east-1",
                                   access_key="test-key", secret_key="test-secret")
    on_s3 = ds.dataset(f"{s3_bucket}/training-data-lake/labeled-dataset/date={DAY}", filesystem=filesystem).to_table()
    assert sorted(on_s3.column("trace_id").to_pylist()) == sorted(ids)
    assert "private question" not in json.dumps([body for _, body in server.requests], ensure_ascii=False)

    # A rerun of the unchanged day replaces each table's day in Glue (a new metadata location) and asks nothing.
    requests = len(server.requests)
    materialize_days(resources, DAY, assets=[*INGEST, judge_scores, ragas_scores, labeled_dataset])
    assert len(server.requests) == requests
    after = {t["Name"]: t["Parameters"] for t in glue_catalog.get_tables(DatabaseName="training_data")["TableList"]}
    assert after["labeled_traces"]["previous_metadata_location"] == glue_tables["labeled_traces"]["Parameters"]["metadata_location"]
    assert catalog.load_table(LABELED_TABLE).scan().to_arrow().num_rows == 2
