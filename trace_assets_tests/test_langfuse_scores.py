"""Rewards written back to Langfuse as scores, and people's annotation scores read back: the
score events as plain functions, then the graph on the bundled sample with the offline scorer and
`langfuse_api` pointing at a loopback server that answers as Langfuse's ingestion and scores
endpoints do (207 per event, score validation, same id updates, rate limiting)."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pyarrow as pa
import pytest
from dagster_duckdb import DuckDBResource

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.langfuse_scores import langfuse_scores
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.labeled_table import LABELED_SCHEMA, LABELED_TABLE
from trace_assets.langfuse.api_client import LangfuseApiError
from trace_assets.langfuse.score_events import (
    FINAL_REWARD,
    JUDGE_SCORE,
    MAX_COMMENT_CHARS,
    RAGAS_REWARD,
    SCORE_NAMES,
    body_bytes,
    ingestion_batches,
    score_events,
    score_id,
)
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets.resources.offline_scorer import OfflineJudge, OfflineRagas
from trace_assets_tests.langfuse_api_server import LangfuseApiServer
from trace_assets_tests.materialize import INGEST, materialization_metadata

DAY = "2026-04-18"
START = datetime(2026, 4, 18, tzinfo=timezone.utc)
NOW = datetime(2026, 4, 19, 6, 0, tzinfo=timezone.utc)
INGESTION = "/api/public/ingestion"
SCORED = [*INGEST, judge_scores, ragas_scores, labeled_dataset]


def labeled_row(trace_id: str, **values) -> dict:
    row = {
        "trace_id": trace_id, "timestamp": START + timedelta(hours=3), "model": "glm-5-32b", "input": "q", "output": "a",
        "contexts": None, "consent": True, "judge_score": 0.8, "judge_reasoning": "정확하고 완전한 답변입니다.",
        "judge_error": None, "faithfulness": 0.5, "answer_relevancy": 0.9, "context_precision": 1.0,
        "ragas_reward": 0.72, "ragas_note": None, "ragas_error": None, "ragas_weight": 0.6, "judge_weight": 0.4,
        "final_reward": 0.752, "final_reward_note": None, "preference": "neutral", "judge_model": "qwen3-judge",
        "judge_prompt_version": "v3", "ragas_scorer_version": "ragas-0.4.3", "labeled_at": NOW, "messages": None,
    }
    return {**row, **values}


def labeled_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=LABELED_SCHEMA)


# --- the events, without Dagster --------------------------------------------------------------


def test_each_reward_is_one_numeric_score_with_a_stable_id_its_comment_and_provenance():
    planned = score_events(labeled_table([labeled_row("trace-a"), labeled_row("trace-b")]), NOW, run_id="run-1")
    assert len(planned.events) == 6 and not planned.left_out
    bodies = {(e["body"]["traceId"], e["body"]["name"]): e["body"] for e in planned.events}
    assert set(bodies) == {(t, n) for t in ("trace-a", "trace-b") for n in SCORE_NAMES}
    for (trace_id, name), body in bodies.items():
        assert body["id"] == score_id(trace_id, name) and body["dataType"] == "NUMERIC"
        assert body["metadata"]["day"] == DAY and body["metadata"]["dagster_run_id"] == "run-1"
        assert body["metadata"]["judge_model"] == "qwen3-judge" and body["metadata"]["ragas_weight"] == 0.6
    assert len({body["id"] for body in bodies.values()}) == 6, "an id per trace and score name"
    assert score_id("trace-a", FINAL_REWARD) == score_id("trace-a", FINAL_REWARD) != score_id("trace-a", JUDGE_SCORE)
    a = {name: bodies[("trace-a", name)] for name in SCORE_NAMES}
    assert (a[FINAL_REWARD]["value"], a[JUDGE_SCORE]["value"], a[RAGAS_REWARD]["value"]) == (0.752, 0.8, 0.72)
    assert a[JUDGE_SCORE]["comment"] == "정확하고 완전한 답변입니다."
    assert a[RAGAS_REWARD]["comment"] == "0.5*faithfulness 0.500 + 0.3*answer_relevancy 0.900 + 0.2*context_precision 1.000"
    assert a[FINAL_REWARD]["comment"] == "0.6*ragas_reward 0.720 + 0.4*judge_score 0.800; preference band: neutral"
    assert a[RAGAS_REWARD]["metadata"]["faithfulness"] == 0.5 and a[FINAL_REWARD]["metadata"]["preference"] == "neutral"
    for event in planned.events:
        assert event["type"] == "score-create" and event["timestamp"] == "2026-04-19T06:00:00.000Z"
        assert planned.subjects[event["id"]] == (event["body"]["traceId"], event["body"]["name"])


def test_a_null_reward_posts_nothing_and_is_counted():
    rows = [
        labeled_row("judged-only", ragas_reward=None, faithfulness=None, final_reward=None, preference=None),
        labeled_row("unjudged", judge_score=None, judge_reasoning=None, final_reward=None, preference=None),
    ]
    planned = score_events(labeled_table(rows), NOW)
    assert sorted((e["body"]["traceId"], e["body"]["name"]) for e in planned.events) == [
        ("judged-only", JUDGE_SCORE), ("unjudged", RAGAS_REWARD)
    ]
    assert planned.left_out == {f"{FINAL_REWARD}: null": 2, f"{RAGAS_REWARD}: null": 1, f"{JUDGE_SCORE}: null": 1}


def test_a_long_reasoning_is_cut_and_points_to_the_table():
    planned = score_events(labeled_table([labeled_row("t", judge_reasoning="이유 " * 20_000)]), NOW)
    comment = next(e["body"]["comment"] for e in planned.events if e["body"]["name"] == JUDGE_SCORE)
    assert len(comment) == MAX_COMMENT_CHARS and comment.endswith("training_data.labeled_traces]")


def test_batches_stay_below_the_body_limit_as_the_client_encodes_them_and_keep_every_event_in_order():
    rows = [labeled_row(f"trace-{i}", judge_reasoning=("긴 이유 " * 400)[: 300 + 7 * i]) for i in range(300)]
    events = score_events(labeled_table(rows), NOW).events
    limit = 200_000
    batches = list(ingestion_batches(events, max_bytes=limit, max_events=250))
    assert len(batches) > 4 and [e for batch in batches for e in batch] == events
    for batch in batches:
        encoded = httpx.Request("POST", "http://x", json={"batch": batch}).content
        assert len(encoded) == body_bytes({"batch": batch}) <= limit and len(batch) <= 250
    # a batch closes only when the next event would not fit
    for batch, following in zip(batches, batches[1:]):
        assert body_bytes({"batch": [*batch, following[0]]}) > limit or len(batch) == 250
    with pytest.raises(ValueError, match="score of trace trace-0 is .* bytes"):
        list(ingestion_batches(events[:1], max_bytes=500))
