"""The scoring assets driven from the `dagster` CLI with only the documented variables set."""

import json
import os
import subprocess
import sys

import pytest

from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.labeled import LABELED_TABLE
from trace_assets.tables.scores import JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE
from trace_assets_tests.lake_files import landed_day
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.openai_server import chat_reply
from trace_assets_tests.ragas_server import RagasScript
from trace_assets_tests.tokenize_reply import tokenize_reply


def test_the_whole_graph_runs_from_the_cli_against_a_judge_endpoint(langfuse_database, openai_server, tmp_path):
    """`dagster asset materialize` with only the documented variables. The run executes in one
    process (run config `execution: in_process`) against a loopback fleet serving chat and
    embeddings: each step of the default multiprocess executor would import the definitions,
    ragas and torch again, which is Dagster's cost, not ours."""
    ragas = RagasScript()

    def fleet(path, body):
        if path.endswith("/embeddings") or body["messages"][0]["role"] == "system":
            return ragas(path, body)
        return chat_reply(json.dumps({"score": 0.75, "reasoning": "scripted judge"}))

    server = openai_server(fleet)
    langfuse_database.insert([
        trace("2026-04-18 03:15:00", metadata={"contexts": ["Karpenter is a node autoscaler."]}),
        trace("2026-04-18 09:00:00", model="Qwen/Qwen3-4B", consent=False),
    ])
    lake = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "JUDGE_", "RAGAS_"))}
    env.update(
        LANGFUSE_DATABASE_URL=langfuse_database.database_url,
        TRACE_LAKE_URI=str(lake),
        JUDGE_BASE_URL=server.base_url,
        RAGAS_EMBEDDINGS_BASE_URL=server.base_url,
        DAGSTER_HOME=str(tmp_path),
    )
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "trace_assets.definitions", "--partition", "2026-04-18",
         "--select", "raw_traces,iceberg_table,judge_scores,ragas_scores,labeled_dataset",
         "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    [row] = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg")).catalog().load_table(LABELED_TABLE).scan().to_arrow().to_pylist()
    # the documented defaults reached the run: the judge's model for both, ragas' default strictness
    assert (row["judge_score"], row["judge_model"]) == (0.75, "qwen3-judge")
    assert "-strictness3" in row["ragas_scorer_version"]
    # the scripted ragas (2 of 3 statements supported, one relevant context) through the real metrics
    expected_ragas = 0.5 * 2 / 3 + 0.3 * 0.6 + 0.2 * 1.0
    assert row["ragas_reward"] == pytest.approx(expected_ragas)
    assert row["final_reward"] == pytest.approx(0.6 * expected_ragas + 0.4 * 0.75)
    assert "STEP_WORKER_STARTED" not in completed.stdout + completed.stderr, "the steps ran in subprocesses"


def test_loading_the_definitions_imports_none_of_the_heavy_libraries():
    """Every step process imports the code location: what a step does not use is imported where
    it is used (scipy, matplotlib and datasketch were ~85 MB of each step's 512 MB)."""
    heavy = ("ragas", "torch", "langchain_core", "scipy", "matplotlib", "datasketch")
    completed = subprocess.run(
        [sys.executable, "-c", f"import sys, trace_assets.definitions; print(sorted(m for m in {heavy!r} if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.stdout.strip() == "[]", completed.stderr[-2000:]


def test_a_five_megabyte_input_lands_and_is_labeled_as_beyond_the_judges_context(langfuse_database, openai_server, tmp_path):
    """A long document pasted into a prompt: kept in the lake and in Iceberg (the system of
    record), not sent to the judge or ragas (it exceeds their 8192-token context), and in the
    labeled dataset with no reward and the reason; the day's blocking checks pass."""
    ragas = RagasScript()
    long_input = "A long pasted document line about Kubernetes nodes, pods and autoscaling. " * 70_000  # 5.2 MB

    def fleet(path, body):
        if path == "/tokenize":
            return tokenize_reply(body)
        if path.endswith("/embeddings") or body["messages"][0]["role"] == "system":
            return ragas(path, body)
        return chat_reply(json.dumps({"score": 0.75, "reasoning": "scripted judge"}))

    server = openai_server(fleet)
    long_trace = trace("2026-04-18 04:00:00", input=long_input, metadata={"contexts": ["Karpenter is a node autoscaler."]})
    short_trace = trace("2026-04-18 05:00:00", metadata={"contexts": ["Karpenter is a node autoscaler."]})
    langfuse_database.insert([long_trace, short_trace])
    lake = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "JUDGE_", "RAGAS_"))}
    env.update(LANGFUSE_DATABASE_URL=langfuse_database.database_url, TRACE_LAKE_URI=str(lake),
               JUDGE_BASE_URL=server.base_url, DAGSTER_HOME=str(tmp_path))
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "trace_assets.definitions", "--partition", "2026-04-18",
         "--select", "raw_traces,iceberg_table,judge_scores,ragas_scores,labeled_dataset",
         # one process: a step subprocess per asset and check costs minutes on a loaded 2-core machine
         "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    landed = {row["id"]: row for row in landed_day(lake, "2026-04-18").to_pylist()}
    assert landed[long_trace["id"]]["input"] == long_input
    catalog = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg")).catalog()
    in_iceberg = {row["id"]: row for row in catalog.load_table("training_data.langfuse_traces").scan().to_arrow().to_pylist()}
    assert in_iceberg[long_trace["id"]]["input"] == long_input
    judged = {row["trace_id"]: row for row in catalog.load_table(JUDGE_SCORES_TABLE).scan().to_arrow().to_pylist()}
    assert judged[long_trace["id"]]["error_kind"] == "exceeds_judge_context"
    assert judged[long_trace["id"]]["judge_score"] is None and judged[short_trace["id"]]["judge_score"] == 0.75
    measured = {row["trace_id"]: row for row in catalog.load_table(RAGAS_SCORES_TABLE).scan().to_arrow().to_pylist()}
    assert measured[long_trace["id"]]["error_kind"] == "exceeds_judge_context"
    labeled = {row["trace_id"]: row for row in catalog.load_table(LABELED_TABLE).scan().to_arrow().to_pylist()}
    assert labeled[long_trace["id"]]["input"] == long_input and labeled[long_trace["id"]]["final_reward"] is None
    assert labeled[long_trace["id"]]["judge_error"].startswith("exceeds_judge_context: the judge prompt is ")
    assert labeled[long_trace["id"]]["final_reward_note"] is not None
    assert labeled[short_trace["id"]]["final_reward"] is not None
    sent = [body for path, body in server.requests if path.endswith("/chat/completions")]
    assert sent and not any(long_input[:1000] in json.dumps(body) for body in sent), "the long trace was sent for scoring"
