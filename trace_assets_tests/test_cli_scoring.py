"""The scoring assets driven from the `dagster` CLI with only the documented variables set."""

import json
import os
import subprocess
import sys

from trace_assets.labeled_table import LABELED_TABLE
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.openai_server import chat_reply
from trace_assets_tests.ragas_server import RagasScript


def test_the_whole_graph_runs_from_the_cli_against_a_judge_endpoint(langfuse_database, openai_server, tmp_path):
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
        DAGSTER_HOME=str(tmp_path),
    )
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    completed = subprocess.run(
        [dagster, "asset", "materialize", "-m", "trace_assets.definitions", "--partition", "2026-04-18",
         "--select", "raw_traces,iceberg_table,judge_scores,ragas_scores,labeled_dataset"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    [row] = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg")).catalog().load_table(LABELED_TABLE).scan().to_arrow().to_pylist()
    assert row["judge_score"] == 0.75 and row["judge_model"] == "qwen3-judge"
    assert row["faithfulness"] is not None and row["final_reward"] is not None


def test_loading_the_definitions_imports_neither_ragas_nor_torch():
    completed = subprocess.run(
        [sys.executable, "-c", "import sys, trace_assets.definitions; print(sorted(m for m in ('ragas', 'torch', 'langchain_core') if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.stdout.strip() == "[]", completed.stderr[-2000:]
