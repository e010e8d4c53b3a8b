"""Planning and chunked scoring of a window, as plain functions: what is scored, what is reused,
in which order, and what a chunk boundary changes (nothing)."""

from datetime import datetime, timedelta, timezone

import pyarrow as pa

from trace_assets.assets.judge_scores import JUDGE_SCORES
from trace_assets.scoring.score_store import score_window
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
