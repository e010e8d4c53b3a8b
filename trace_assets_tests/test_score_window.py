"""Planning and chunked scoring of a window: what is scored, what is reused, in which order, what a
chunk boundary changes (nothing), and what a run that dies mid-day keeps (the chunks it scored)."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pytest

from trace_assets.assets.judge_scores import JUDGE_SCORES
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.assets.score_store import checkpoint_rows, plan_window, score_window, store_window
from trace_assets.scoring.scoring_plan import plan_scoring

DAY = datetime(2026, 4, 18, tzinfo=timezone.utc)
IDENTITY = {"scorer": "llm_judge", "judge_model": "qwen3-judge", "prompt_version": "v1"}


def traces(count: int, changed: frozenset = frozenset()) -> pa.Table:
    return pa.table({
        "id": [f"t{i}" for i in range(count)],
        "timestamp": pa.array([DAY + timedelta(minutes=i) for i in range(count)], pa.timestamp("us", tz="UTC")),
        "input": [f"question {i}" for i in range(count)],
        "output": [f"answer {i}" + (" (edited)" if i in changed else "") for i in range(count)],
        "contexts": pa.array([None] * count, pa.list_(pa.string())),
        "model": ["m"] * count,
    })


def judge_by_length(day_traces: list[dict], on_progress) -> list[dict]:
    """A deterministic scorer: the answer's length over 100, so each row shows which trace it scored."""
    on_progress(len(day_traces), len(day_traces))
    return [
        {**IDENTITY, "judge_score": len(t["output"]) / 100, "reasoning": t["output"], "tokens_in": 1, "tokens_out": 1,
         "latency_ms": 1.0, "scored_at": DAY}
        for t in day_traces
    ]


def test_chunks_score_every_fresh_trace_once_in_order_and_report_progress_over_the_window():
    plan = plan_scoring(traces(7), None, IDENTITY)
    progress = []
    scored = score_window(plan, JUDGE_SCORES, judge_by_length, lambda done, total: progress.append((done, total)), chunk_size=3)

    assert scored.new.column("trace_id").to_pylist() == [f"t{i}" for i in range(7)]
    assert scored.new.column("reasoning").to_pylist() == [f"answer {i}" for i in range(7)]
    assert scored.scores.num_rows == 7 and progress == [(3, 7), (6, 7), (7, 7)]
    assert scored.new.schema == JUDGE_SCORES.arrow_schema


def test_unchanged_traces_keep_their_stored_rows_and_gone_or_failed_ones_do_not():
    first = score_window(plan_scoring(traces(6), None, IDENTITY), JUDGE_SCORES, judge_by_length, lambda *_: None)
    stored = first.scores.to_pylist()
    stored[4]["error"], stored[4]["judge_score"] = "timeout: no reply", None  # t4 failed last time
    stored = pa.Table.from_pylist(stored, schema=JUDGE_SCORES.arrow_schema)

    # t2 edited, t4 failed before, t5 gone from the window (consent revoked), t1 stored under another prompt
    window = traces(5, changed=frozenset({2}))
    other_prompt = stored.to_pylist()
    other_prompt[1]["prompt_version"] = "v0"
    plan = plan_scoring(window, pa.Table.from_pylist(other_prompt, schema=JUDGE_SCORES.arrow_schema), IDENTITY)
    scored = score_window(plan, JUDGE_SCORES, judge_by_length, lambda *_: None, chunk_size=2)

    assert sorted(scored.new.column("trace_id").to_pylist()) == ["t1", "t2", "t4"]
    assert sorted(scored.scores.column("trace_id").to_pylist()) == ["t0", "t1", "t2", "t3", "t4"]
    by_id = {row["trace_id"]: row for row in scored.scores.to_pylist()}
    assert by_id["t2"]["reasoning"] == "answer 2 (edited)" and by_id["t4"]["error"] is None
    assert by_id["t0"] == stored.to_pylist()[0], "a reused row is the stored row, unchanged"


def test_a_run_that_dies_mid_day_keeps_its_scored_chunks_and_the_rerun_scores_only_the_rest(tmp_path):
    iceberg = IcebergWarehouse(local_fallback_dir=str(tmp_path))
    window = dg.TimeWindow(DAY, DAY + timedelta(days=1))
    day = traces(8)
    log = dg.get_dagster_logger()
    calls = []
    yesterdays_prompt = {**IDENTITY, "prompt_version": "v0"}
    earlier = score_window(plan_scoring(day, None, yesterdays_prompt), JUDGE_SCORES,
                           lambda ts, p: [{**row, **yesterdays_prompt} for row in judge_by_length(ts, p)], lambda *_: None)
    store_window(iceberg, JUDGE_SCORES, window, earlier.scores)

    def dies_on_the_third_chunk(day_traces, on_progress):
        calls.append([t["id"] for t in day_traces])
        if len(calls) == 3:
            raise MemoryError("the run pod was OOM-killed")
        return judge_by_length(day_traces, on_progress)

    plan = plan_window(iceberg, JUDGE_SCORES, window, day, IDENTITY, log)
    with pytest.raises(MemoryError):
        score_window(plan, JUDGE_SCORES, dies_on_the_third_chunk, lambda *_: None,
                     checkpoint_rows(iceberg, JUDGE_SCORES, window), chunk_size=3)
    kept = {row["trace_id"]: row["prompt_version"] for row in
            iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end).to_pylist()}
    assert kept == {**{f"t{i}": "v1" for i in range(6)}, "t6": "v0", "t7": "v0"}, "one row per trace, old or new"

    calls.clear()
    rerun = plan_window(iceberg, JUDGE_SCORES, window, day, IDENTITY, log)
    scored = score_window(rerun, JUDGE_SCORES, dies_on_the_third_chunk, lambda *_: None,
                          checkpoint_rows(iceberg, JUDGE_SCORES, window), chunk_size=3)
    store_window(iceberg, JUDGE_SCORES, window, scored.scores)
    assert calls == [["t6", "t7"]], "only the traces the dead run had not scored"
    stored = iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end)
    assert sorted(stored.column("trace_id").to_pylist()) == [f"t{i}" for i in range(8)], "one row per trace"
    assert set(stored.column("prompt_version").to_pylist()) == {"v1"}


def test_a_first_run_that_dies_mid_day_keeps_its_appended_chunks(tmp_path):
    """Traces never scored before: their chunks are appended (no delete by key), and kept all the same."""
    iceberg = IcebergWarehouse(local_fallback_dir=str(tmp_path))
    window = dg.TimeWindow(DAY, DAY + timedelta(days=1))
    day = traces(8)
    log = dg.get_dagster_logger()
    calls = []

    def dies_on_the_third_chunk(day_traces, on_progress):
        calls.append([t["id"] for t in day_traces])
        if len(calls) == 3:
            raise MemoryError("the run pod was OOM-killed")
        return judge_by_length(day_traces, on_progress)

    with pytest.raises(MemoryError):
        score_window(plan_window(iceberg, JUDGE_SCORES, window, day, IDENTITY, log), JUDGE_SCORES, dies_on_the_third_chunk,
                     lambda *_: None, checkpoint_rows(iceberg, JUDGE_SCORES, window), chunk_size=3)
    kept = iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end)
    assert sorted(kept.column("trace_id").to_pylist()) == [f"t{i}" for i in range(6)]

    calls.clear()
    rerun = plan_window(iceberg, JUDGE_SCORES, window, day, IDENTITY, log)
    store_window(iceberg, JUDGE_SCORES, window, score_window(rerun, JUDGE_SCORES, dies_on_the_third_chunk, lambda *_: None,
                                                             checkpoint_rows(iceberg, JUDGE_SCORES, window), chunk_size=3))
    assert calls == [["t6", "t7"]]
    stored = iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end)
    assert sorted(stored.column("trace_id").to_pylist()) == [f"t{i}" for i in range(8)], "one row per trace"


def test_checkpoints_gather_several_chunks_and_a_dead_run_keeps_what_was_checkpointed(tmp_path):
    """Chunks of 2 traces, a checkpoint every 4 scored rows: the run that dies on its fourth chunk
    stored the first two chunks in one commit, not the third; the rerun scores the rest."""
    iceberg = IcebergWarehouse(local_fallback_dir=str(tmp_path))
    window = dg.TimeWindow(DAY, DAY + timedelta(days=1))
    day = traces(10)
    log = dg.get_dagster_logger()
    calls = []

    def dies_on_the_fourth_chunk(day_traces, on_progress):
        calls.append([t["id"] for t in day_traces])
        if len(calls) == 4:
            raise MemoryError("the run pod was OOM-killed")
        return judge_by_length(day_traces, on_progress)

    def run():
        return score_window(plan_window(iceberg, JUDGE_SCORES, window, day, IDENTITY, log), JUDGE_SCORES,
                            dies_on_the_fourth_chunk, lambda *_: None, checkpoint_rows(iceberg, JUDGE_SCORES, window),
                            chunk_size=2, checkpoint_every=4)

    with pytest.raises(MemoryError):
        run()
    table = iceberg.catalog().load_table(JUDGE_SCORES.identifier)
    assert len(table.snapshots()) == 1, "the two chunks were stored in one commit"
    kept = iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end)
    assert sorted(kept.column("trace_id").to_pylist()) == ["t0", "t1", "t2", "t3"]

    calls.clear()
    store_window(iceberg, JUDGE_SCORES, window, run())
    assert calls == [["t4", "t5"], ["t6", "t7"], ["t8", "t9"]], "only what no checkpoint stored is scored again"
    stored = iceberg.read_window(JUDGE_SCORES.identifier, "timestamp", window.start, window.end)
    assert sorted(stored.column("trace_id").to_pylist()) == sorted(f"t{i}" for i in range(10)), "one row per trace"
