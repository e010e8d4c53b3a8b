"""Each benchmark script runs end to end on a tiny input (figures are not asserted: benchmarks
are not tests; see BENCHMARKS.md)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# `make test` (CI) runs these; `pytest -m "not bench"` leaves them out of a quick local loop.
pytestmark = pytest.mark.bench


def ignore_sigint_and_sigterm() -> None:
    """What a script inherits when started in the background (`nohup make test &`): the shell
    ignores SIGINT, and Dagster copies that disposition onto SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def run(script: str, *args: str) -> str:
    """The script's output; it runs as a background job would, with SIGINT and SIGTERM ignored, in
    its own process group, which is killed (SIGKILL) should it not end in time."""
    script_process = subprocess.Popen(
        [sys.executable, str(BENCH / script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ), preexec_fn=ignore_sigint_and_sigterm, start_new_session=True,
    )
    try:
        stdout, stderr = script_process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(script_process.pid, signal.SIGKILL)
        stdout, stderr = script_process.communicate()
        raise AssertionError(f"{script} did not end within 300 s with SIGINT and SIGTERM ignored:\n{stderr[-3000:]}")
    assert script_process.returncode == 0, stderr[-3000:]
    return stdout


def processes_left_in_group(group: int, wait_s: float = 10) -> list[int]:
    """Pids still in the process group after up to `wait_s` (orphans are reaped by init)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = [int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _group_of(int(pid)) == group]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_a_bench_script_and_its_fleet_end_with_sigint_and_sigterm_ignored():
    """The loopback fleet is a child process; with SIGTERM ignored, terminate() alone would leave
    it running and the script waiting for it at exit."""
    script_process = subprocess.Popen(
        [sys.executable, str(BENCH / "judge_client.py"), "--seconds", "0.2", "--latency-ms", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint_and_sigterm, start_new_session=True,
    )
    try:
        stdout, stderr = script_process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(script_process.pid, signal.SIGKILL)
        script_process.communicate()
        raise AssertionError("judge_client.py hung with SIGINT and SIGTERM ignored (its fleet outlived terminate())")
    assert script_process.returncode == 0, stderr[-3000:]
    assert "JudgeResource(256)" in stdout
    assert processes_left_in_group(script_process.pid) == [], "the loopback fleet outlived the script"


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
    assert "LLM calls per trace:        8.0" in out and "an unchanged rerun: 0 requests" in out
    assert "judge prompt tokens" in out and "WARNING" not in out


@pytest.mark.parametrize("rows", ["20000"])
def test_iceberg_bench_reports_pruning(rows):
    out = run("iceberg.py", "--rows", rows, "--days", "3")
    assert "plans" in out and "(one copy, all of the new version)" in out


def test_whole_day_bench_runs_the_graph_and_times_each_step():
    out = run("whole_day.py", "--traces", "60", "--latency-ms", "5")
    assert "run succeeded" in out and "ragas_scores" in out and "peak RSS" in out


def test_langfuse_sources_bench_compares_export_to_pyarrow_and_api_to_its_budget():
    out = run("langfuse_sources.py", "--traces", "300", "--profile-traces", "200", "--api-traces", "400",
              "--requests-per-minute", "600")
    assert "ours / anchor" in out and "our peak RSS" in out and "assemble_trace" in out
    assert "budget used while reading" in out and "429 answers: 0" in out


def test_step_memory_bench_measures_landing_and_the_iceberg_step_each_in_its_process():
    out = run("step_memory.py", "--traces", "2000")
    assert "raw_traces" in out and "iceberg_table" in out and "peak RSS" in out


def test_redaction_bench_compares_landing_with_and_without_and_the_engines():
    out = run("redaction.py", "--rows", "2000")
    assert "to landing (target <= 30%)" in out and "to landing's CPU seconds" in out
    assert "re2 (pyarrow)" in out and "PII missed" in out and "ours (governance/)" in out


def test_erasure_bench_rewrites_only_the_files_that_held_the_user():
    out = run("erasure.py", "--days", "2", "--traces-per-day", "500")
    assert "erasing one user" in out and "only files that held the user rewritten: yes" in out


def test_exports_bench_exports_a_window_and_measures_lsh_recall():
    out = run("exports.py", "--traces-per-day", "200", "--days", "2", "--sample", "200")
    assert "export of 400 traces" in out and "recall" in out and "peak RSS:" in out and "local disk:" in out


def test_scoring_memory_bench_measures_the_scoring_parents_and_the_dataset_each_in_its_process():
    out = run("scoring_memory.py", "--traces", "2000", "--fresh-judge", "500", "--fresh-ragas", "20", "--ragas-processes", "1")
    for step in ("judge_scores", "ragas_scores", "labeled_dataset", "reward_quality", "langfuse_scores"):
        assert step in out
    assert "peak RSS per step" in out and "7 trailing labeled days" in out
    assert "the ingestion endpoint took 6,000 scores" in out


def test_check_memory_bench_runs_each_check_the_new_way_and_the_old_in_its_process():
    checks = "judge_scores_cover_the_day,labeled_dataset_holds_only_consented_traces"
    out = run("check_memory.py", "--traces", "1000", "--old-traces", "1000", "--checks", checks)
    for check in checks.split(","):
        assert f"new way,     1,000 traces  {check}" in out and f"old way,     1,000 traces  {check}" in out
    assert "peak RSS per check step" in out and "FAIL" not in out
