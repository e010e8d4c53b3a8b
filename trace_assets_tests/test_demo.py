"""The README's first command, run as a new user would (in a fresh folder)."""

import os
import re
import subprocess
import sys

import dagster as dg


def test_the_demo_runs_the_whole_graph_over_every_sample_day_and_records_the_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_", "DAGSTER_"))}
    completed = subprocess.run(
        # 3 minutes on an idle 2-core machine; a shared, loaded one takes several times that
        [sys.executable, "-m", "trace_assets.demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
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

    # Readable: one line per finished step and the assets' own progress, not Dagster's DEBUG stream.
    assert "STEP_START" not in completed.stdout + completed.stderr and " - DEBUG - " not in completed.stderr
    assert "  ok  raw_traces (" in completed.stdout and "  ok  labeled_dataset (" in completed.stdout
    assert "check labeled_dataset_has_no_duplicate_traces on labeled_dataset" in completed.stdout
    assert re.search(r"judge_scores: (\d+)/\1 scored", completed.stdout)  # the scoring progress the asset logs
    assert completed.stdout.index("label_traces 2026-04-20") < completed.stdout.index("Landed and labeled")

    with dg.DagsterInstance.from_config(str(tmp_path / "data" / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 4 and all(run.is_success for run in runs)
        # the full event log is kept for the UI
        events = {entry.dagster_event.event_type_value for entry in instance.all_logs(runs[0].run_id) if entry.dagster_event}
        assert {"STEP_START", "STEP_SUCCESS", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"} <= events
