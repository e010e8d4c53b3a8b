"""The README's first command, run as a new user would (in a fresh folder)."""

import os
import subprocess
import sys

import dagster as dg


def test_the_demo_runs_the_whole_graph_over_every_sample_day_and_records_the_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "DAGSTER_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "trace_assets.demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lake = tmp_path / "data" / "lake"
    for day in ("2026-04-18", "2026-04-19", "2026-04-20"):
        assert list((lake / "langfuse-traces" / f"date={day}").rglob("part-*.parquet"))
        assert list((lake / "labeled-dataset" / f"date={day}").glob("part-*.parquet"))
        assert f"| {day} | Qwen/Qwen3-4B | true |" in completed.stdout
    assert "missing_timestamp" in completed.stdout and "metadata_not_object" in completed.stdout
    assert "scoring: offline_embedding" in completed.stdout and "best:" in completed.stdout
    assert "training_data.labeled_traces" in completed.stdout

    with dg.DagsterInstance.from_config(str(tmp_path / "data" / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 4 and all(run.is_success for run in runs)
