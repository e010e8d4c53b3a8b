"""Each benchmark script runs end to end on a tiny input (figures are not asserted: benchmarks
are not tests; see BENCHMARKS.md)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run(script: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_extraction_bench_compares_the_three_ways():
    out = run("extraction.py", "--rows", "2000")
    for method in ("copy_binary", "ours_raw_traces", "seed_pandas"):
        assert method in out
    assert "ours vs seed's pandas" in out


def test_judge_client_bench_reports_achieved_against_theoretical():
    out = run("judge_client.py", "--seconds", "0.5", "--latency-ms", "50")
    assert "JudgeResource(256)" in out and "ThreadPoolExecutor(50)" in out


def test_scoring_cost_bench_counts_calls_tokens_and_reuse():
    out = run("scoring_cost.py", "--traces", "10")
    assert "LLM calls per trace:        8.0" in out and "an unchanged rerun: 0" in out
    assert "judge prompt tokens" in out and "WARNING" not in out


@pytest.mark.parametrize("rows", ["20000"])
def test_iceberg_bench_reports_pruning(rows):
    out = run("iceberg.py", "--rows", rows, "--days", "3")
    assert "plans" in out and "(one copy)" in out


def test_whole_day_bench_runs_the_graph_and_times_each_step():
    out = run("whole_day.py", "--traces", "60", "--latency-ms", "5")
    assert "run succeeded" in out and "ragas_scores" in out and "peak RSS" in out
