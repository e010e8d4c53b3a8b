"""The whole graph from the `dagster` CLI on a real Langfuse source, with only the documented
variables: the public API of a Langfuse v4 server, and a blob export on S3."""

import json
import os
import subprocess
import sys
from datetime import date

import pyarrow.fs as pafs

from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.labeled import LABELED_TABLE
from trace_assets_tests.langfuse_api_server import LangfuseApiServer
from trace_assets_tests.langfuse_export_files import export_day
from trace_assets_tests.langfuse_traces import CONSENT_TAG, day_of_traces
from trace_assets_tests.openai_server import chat_reply
from trace_assets_tests.ragas_server import RagasScript

DAY = date(2026, 4, 18)
ASSETS = "raw_traces,iceberg_table,judge_scores,ragas_scores,labeled_dataset"


def judge_fleet(openai_server):
    ragas = RagasScript()

    def answer(path, body):
        if path.endswith("/embeddings") or body["messages"][0]["role"] == "system":
            return ragas(path, body)
        return chat_reply(json.dumps({"score": 0.75, "reasoning": "scripted judge"}))

    return openai_server(answer)


def run_graph(tmp_path, variables: dict) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "JUDGE_", "RAGAS_"))}
    env.update(TRACE_LAKE_URI=str(tmp_path / "lake"), DAGSTER_HOME=str(tmp_path), TRACE_CONSENT_TAG=CONSENT_TAG, **variables)
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "trace_assets.definitions", "--partition", DAY.isoformat(), "--select", ASSETS],
        capture_output=True, text=True, timeout=1200, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg")).catalog().load_table(LABELED_TABLE)
    return table.scan().to_arrow().to_pylist()


def consented_ids(traces) -> set[str]:
    return {t.id for t in traces if t.facts.consented and t.facts.kind != "evaluator" and t.timestamp.date() == DAY}


def test_the_graph_on_the_public_api_of_a_langfuse_v4_server(tmp_path, openai_server):
    traces = day_of_traces(DAY, 14, seed=21)
    fleet = judge_fleet(openai_server)
    with LangfuseApiServer(traces, api_version="v4") as langfuse:
        labeled = run_graph(tmp_path, {
            "LANGFUSE_HOST": langfuse.base_url,
            "LANGFUSE_PUBLIC_KEY": langfuse.public_key,
            "LANGFUSE_SECRET_KEY": langfuse.secret_key,
            "JUDGE_BASE_URL": fleet.base_url,
        })
    assert {row["trace_id"] for row in labeled} == consented_ids(traces)
    assert all(row["judge_score"] == 0.75 for row in labeled)
    assert any(row["messages"] for row in labeled)


def test_the_graph_on_a_blob_export_on_s3(tmp_path, openai_server, s3_bucket, s3_endpoint):
    traces = day_of_traces(DAY, 14, seed=22)
    fs = pafs.S3FileSystem(endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http",
                           access_key="test-key", secret_key="test-secret", region="us-east-1")
    writer = export_day(fs, s3_bucket, traces, DAY, prefix="langfuse/", export_source="TRACES_OBSERVATIONS", file_type="JSONL")
    fleet = judge_fleet(openai_server)
    labeled = run_graph(tmp_path, {
        "LANGFUSE_EXPORT_URI": writer.uri,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
        "JUDGE_BASE_URL": fleet.base_url,
    })
    assert {row["trace_id"] for row in labeled} == consented_ids(traces)
