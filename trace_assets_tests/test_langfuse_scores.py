"""Rewards written back to Langfuse as scores, and people's annotation scores read back: the
score events as plain functions, then the graph on the bundled sample with the offline scorer and
`langfuse_api` pointing at a loopback server that answers as Langfuse's ingestion and scores
endpoints do (207 per event, score validation, same id updates, rate limiting)."""

import ast
import base64
import gzip
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import dagster as dg
import httpx
import pyarrow as pa
import pytest
from dagster_duckdb import DuckDBResource

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
import trace_assets.assets.langfuse_scores as langfuse_scores_module
from trace_assets.assets.langfuse_scores import langfuse_scores
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.reward_quality import reward_quality
from trace_assets.environments import reward_quality_settings
from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
from trace_assets.langfuse.api_client import LangfuseApi, LangfuseApiError
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
from trace_assets.langfuse.score_ingestion import MAX_REFUSALS_KEPT, post_score_events
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets.resources.offline_scorer import OfflineJudge, OfflineRagas
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.sample_data import SAMPLE_TRACES_PATH
from trace_assets.tables.labeled import LABELED_SCHEMA, LABELED_TABLE
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


def test_a_score_langfuses_validation_refuses_is_named_with_its_trace_and_the_reason():
    planned = score_events(labeled_table([labeled_row("trace-ok"), labeled_row("")]), NOW)
    with LangfuseApiServer() as server:
        api = langfuse_api_for(server).api()
        report = post_score_events(api, planned.events)
        assert sum(report.accepted.values()) == 3 and len(server.stored_scores()) == 3
        assert [(r.trace_id, r.status) for r in report.refused] == [("", 400)] * 3
        assert report.refused_by_message() == {
            "Invalid request data (traceId: Exactly one of traceId, sessionId or datasetRunId must be provided)": 3
        }
        assert report.failed == 3 and "Langfuse refused 3 score(s)" in report.summary()


def test_a_batch_that_fails_for_good_stops_the_posting_and_counts_the_rest_as_unsent():
    planned = score_events(labeled_table([labeled_row(f"trace-{i}") for i in range(4)]), NOW)
    with LangfuseApiServer() as server:
        api = LangfuseApi(server.base_url, server.public_key, server.secret_key, requests_per_minute=6000,
                          max_retries=1, backoff_s=0.01)
        server.fail_next(INGESTION, times=1, status=503)  # the first batch: retried, then taken
        progress = []
        report = post_score_events(api, planned.events, max_events=6, on_batch=lambda *done: progress.append(done))
        assert report.failed == 0 and progress == [(1, 6), (2, 12)] and len(server.stored_scores()) == 12
        server.fail_next(INGESTION, times=6, status=503)
        report = post_score_events(api, iter(planned.events), max_events=6)
        assert report.unsent == 12 and not report.refused and sum(report.accepted.values()) == 0
        assert report.stopped_by.startswith("batch 1 of 2 failed") and "503" in report.stopped_by
        assert "12 score(s) were not sent" in report.summary()


def test_a_stop_midway_through_events_read_as_they_come_posts_nothing_more_and_counts_the_rest():
    planned = score_events(labeled_table([labeled_row(f"trace-{i}") for i in range(6)]), NOW)
    with LangfuseApiServer() as server:
        api = LangfuseApi(server.base_url, server.public_key, server.secret_key, requests_per_minute=6000,
                          max_retries=1, backoff_s=0.01)

        def failing_after_the_first_batch(events):
            # the 8th event is read once batch 1 (6 events) was posted: batch 2 then fails for good
            for number, event in enumerate(events, start=1):
                if number == 8:
                    server.fail_next(INGESTION, times=2, status=503)
                yield event

        report = post_score_events(api, failing_after_the_first_batch(planned.events), max_events=6)
        assert sum(report.accepted.values()) == 6 and report.unsent == 12 and report.events == 18
        assert report.stopped_by.startswith("batch 2 of 3 failed") and len(server.stored_scores()) == 6
        assert [r.status for r in server.requests_to(INGESTION)] == [207, 503, 503], "nothing after the stop"


def test_a_day_langfuse_refuses_whole_keeps_the_first_refusals_and_counts_them_all():
    planned = score_events(labeled_table([labeled_row("") for _ in range(50)]), NOW)
    with LangfuseApiServer() as server:
        report = post_score_events(langfuse_api_for(server).api(), planned.events)
        assert report.refused_count == 150 == report.failed == report.events and len(report.refused) == MAX_REFUSALS_KEPT
        assert sum(report.refused_by_message().values()) == 150 and "Langfuse refused 150 score(s)" in report.summary()


# --- the graph: sample traces, offline scorer, loopback Langfuse -----------------------------


class LangfuseWithScoresV3(LangfuseApiServer):
    """The loopback server plus `GET /api/public/v3/scores`, as Langfuse Cloud serves it
    (web/src/pages/api/public/v3/scores, scores-api-v3.ts): unknown query parameters are a 400
    (the schema is strict), `limit` 1..100, field groups core,details,subject,annotation, filters
    such as `source` (comma-separated, any case) and `fromTimestamp` (>=) / `toTimestamp` (<), order
    timestamp then id, newest first, and a base64 JSON cursor {lastTimestamp, lastId}."""

    ALLOWED = {"limit", "cursor", "fields", "id", "name", "source", "dataType", "environment", "configId", "queueId",
               "authorUserId", "value", "valueMin", "valueMax", "traceId", "sessionId", "observationId",
               "experimentId", "fromTimestamp", "toTimestamp", "userId", "traceTags"}

    def _route(self, handler, method, path, query, raw_body, public_key, secret, record):
        if path != "/api/public/v3/scores" or method != "GET":
            return super()._route(handler, method, path, query, raw_body, public_key, secret, record)
        error = self._auth_error(handler, public_key, secret)
        if error:
            return 401, error, {}
        unknown = sorted(set(query) - self.ALLOWED)
        if unknown:
            return 400, {"message": "Invalid request data", "error": [{"code": "unrecognized_keys", "keys": unknown}]}, {}
        limit = int(query.get("limit", ["50"])[0])
        if not 1 <= limit <= 100:
            return 400, {"message": "Invalid request data", "error": [{"path": ["limit"], "message": "too big"}]}, {}
        groups = query.get("fields", ["core"])[0].split(",")
        sources = {s.strip().upper() for s in query.get("source", [""])[0].split(",") if s.strip()}
        start = query.get("fromTimestamp", [None])[0]
        until = query.get("toTimestamp", [None])[0]

        def when(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00"))

        scores = [s for s in self.stored_scores()
                  if (not sources or s["source"] in sources)
                  and (start is None or when(s["timestamp"]) >= when(start))
                  and (until is None or when(s["timestamp"]) < when(until))]
        scores.sort(key=lambda s: (s["timestamp"], s["id"]), reverse=True)
        if "cursor" in query:
            last = json.loads(base64.b64decode(query["cursor"][0]))
            scores = [s for s in scores if (s["timestamp"], s["id"]) < (last["lastTimestamp"], last["lastId"])]
        page, more = scores[:limit], len(scores) > limit
        meta = {"limit": limit}
        if more:
            meta["cursor"] = base64.b64encode(
                json.dumps({"lastTimestamp": page[-1]["timestamp"], "lastId": page[-1]["id"]}).encode()
            ).decode()
        return 200, {"data": [self._v3_item(s, groups) for s in page], "meta": meta}, {}

    @staticmethod
    def _v3_item(score: dict, groups: list[str]) -> dict:
        value = {"NUMERIC": score["value"], "BOOLEAN": score["value"] == 1}.get(score["dataType"], score["stringValue"])
        item = {key: score[key] for key in ("id", "projectId", "name", "dataType", "source", "timestamp", "environment",
                                            "createdAt", "updatedAt")} | {"value": value}
        if "subject" in groups:
            if score["observationId"]:
                item["subject"] = {"kind": "observation", "id": score["observationId"], "traceId": score["traceId"]}
            elif score["sessionId"]:
                item["subject"] = {"kind": "session", "id": score["sessionId"]}
            else:
                item["subject"] = {"kind": "trace", "id": score["traceId"]}
        return item


class RefusingServer(LangfuseApiServer):
    """Fault injection: the events of the traces in `refuse` come back in the 207's `errors`, in the
    shape Langfuse gives a per-event failure; everything else is handled as usual."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refuse: set[str] = set()

    def _ingestion(self, body):
        refused = [e for e in body["batch"] if e["body"]["traceId"] in self.refuse]
        status, answer, headers = super()._ingestion({"batch": [e for e in body["batch"] if e not in refused]})
        answer["errors"] += [
            {"id": e["id"], "status": 500, "message": "Failed to process event", "error": "blob storage unavailable"}
            for e in refused
        ]
        return status, answer, headers


def langfuse_api_for(server: LangfuseApiServer, **settings) -> LangfuseApiSource:
    return LangfuseApiSource(
        **{"host": server.base_url, "public_key": server.public_key, "secret_key": server.secret_key,
           "requests_per_minute": 6000, **settings}
    )


@pytest.fixture(scope="module")
def scored_day(tmp_path_factory):
    """The sample's first day landed, scored offline and labeled, once for this module."""
    lake = tmp_path_factory.mktemp("langfuse-scores") / "lake"
    warehouse = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg"))
    resources = {
        "trace_source": DuckDBTraceSource(duckdb=DuckDBResource(database=":memory:")),
        "trace_lake": TraceLake(uri=str(lake)),
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": OfflineJudge(),
        "ragas": OfflineRagas(),
    }
    assert dg.materialize(SCORED, resources=resources, partition_key=DAY).success
    return resources


def labeled_rows(resources) -> list[dict]:
    return resources["iceberg"].catalog().load_table(LABELED_TABLE).scan().to_arrow().to_pylist()


def post_scores(resources, server: LangfuseApiServer, instance: dg.DagsterInstance | None = None, **settings):
    langfuse_api = langfuse_api_for(server, **settings)
    return dg.materialize(
        [*SCORED, langfuse_scores], selection=[langfuse_scores], partition_key=DAY, raise_on_error=False,
        resources={**resources, "langfuse_api": langfuse_api}, instance=instance,
    )


def test_the_days_rewards_arrive_as_scores_and_a_rerun_updates_them_without_copies(scored_day):
    rows = labeled_rows(scored_day)
    with LangfuseApiServer() as server:
        result = post_scores(scored_day, server)
        assert result.success
        first = {score["id"]: score for score in server.stored_scores()}
        assert len(first) == 3 * len(rows) > 300
        for row in rows:
            for name, column in ((FINAL_REWARD, "final_reward"), (JUDGE_SCORE, "judge_score"), (RAGAS_REWARD, "ragas_reward")):
                score = first[score_id(row["trace_id"], name)]
                assert (score["traceId"], score["name"], score["dataType"]) == (row["trace_id"], name, "NUMERIC")
                assert score["value"] == pytest.approx(row[column]) and score["source"] == "API"
                assert score["metadata"]["day"] == DAY and score["metadata"]["judge_model"] == row["judge_model"]
            assert first[score_id(row["trace_id"], JUDGE_SCORE)]["comment"] == row["judge_reasoning"]
        metadata = materialization_metadata(result, "langfuse_scores")
        assert metadata["scores_posted"] == len(first) and metadata["scores_refused"] == 0 == metadata["scores_unsent"]
        assert metadata["scores_posted_by_name"] == {name: len(rows) for name in SCORE_NAMES}
        assert metadata["requests"] == len(server.requests_to(INGESTION)) >= 1
        for request in server.requests_to(INGESTION):
            assert request.status == 207 and body_bytes(request.body) <= 3_000_000

        again = post_scores(scored_day, server)
        assert again.success
        second = {score["id"]: score for score in server.stored_scores()}
        assert set(second) == set(first), "the same ids: updated, not added"
        assert len(server.ingested_events) == 2 * len(first)
        for score_key, score in second.items():
            assert score["createdAt"] == first[score_key]["createdAt"] and score["updatedAt"] >= first[score_key]["updatedAt"]
            assert score["value"] == first[score_key]["value"]
            assert score["metadata"]["dagster_run_id"] == again.run_id != result.run_id


def test_a_day_read_a_few_rows_at_a_time_posts_the_events_and_requests_of_the_whole_table(scored_day, monkeypatch):
    monkeypatch.setattr(langfuse_scores_module, "TRACES_AT_ONCE", 7)
    with LangfuseApiServer() as server:
        result = post_scores(scored_day, server)
        assert result.success
        whole_day = scored_day["iceberg"].read_window(LABELED_TABLE, "timestamp", START, START + timedelta(days=1))
        expected = score_events(whole_day, NOW, run_id=result.run_id).events
        assert len(expected) == 3 * whole_day.num_rows > 300
        assert [e["body"] for e in server.ingested_events] == [e["body"] for e in expected]
        requests = server.requests_to(INGESTION)
        # the requests are as full as the whole day's events make them, not cut at each read batch
        assert [len(r.body["batch"]) for r in requests] == [len(batch) for batch in ingestion_batches(expected)]
        metadata = materialization_metadata(result, "langfuse_scores")
        assert metadata["labeled_traces"] == whole_day.num_rows and metadata["scores_posted"] == len(expected)


def test_refused_scores_are_counted_and_named_the_rest_recorded_and_the_step_fails(scored_day):
    rows = labeled_rows(scored_day)
    refused_traces = sorted(row["trace_id"] for row in rows)[:4]
    with RefusingServer() as server:
        server.refuse = set(refused_traces)
        instance = dg.DagsterInstance.ephemeral()
        result = post_scores(scored_day, server, instance)
        assert not result.success
        metadata = materialization_metadata(result, "langfuse_scores")
        assert metadata["scores_refused"] == 12 and metadata["scores_posted"] == 3 * len(rows) - 12
        assert metadata["refused_by_message"] == {"Failed to process event (blob storage unavailable)": 12}
        assert {sample["trace_id"] for sample in metadata["refused_samples"]} <= set(refused_traces)
        assert len(server.stored_scores()) == 3 * len(rows) - 12
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert f"12 of {3 * len(rows)} scores did not reach Langfuse" in message and "Failed to process event" in message
        assert any(trace_id in message for trace_id in refused_traces)
        errors = [entry.user_message for entry in instance.all_logs(result.run_id) if entry.level >= 40]
        assert any(
            m.startswith(f"Langfuse refused 12 of {3 * len(rows)} scores") and any(t in m for t in refused_traces) for m in errors
        )

        server.refuse = set()
        assert post_scores(scored_day, server).success
        assert len(server.stored_scores()) == 3 * len(rows), "the rerun posts the day again; no copies"


def test_a_429_from_the_ingestion_endpoint_is_waited_out_and_retried(scored_day):
    with LangfuseApiServer() as server:
        server.fail_next(INGESTION, times=2, status=429, retry_after=0)
        result = post_scores(scored_day, server)
        assert result.success
        metadata = materialization_metadata(result, "langfuse_scores")
        assert metadata["retries"] == {"http_429": 2}
        assert [r.status for r in server.requests_to(INGESTION)][:3] == [429, 429, 207]
        assert len(server.stored_scores()) == metadata["scores_posted"] == 3 * len(labeled_rows(scored_day))


def test_keys_langfuse_refuses_stop_the_step_at_once_with_a_message_about_them(scored_day):
    with LangfuseApiServer() as server:
        result = post_scores(scored_day, server, secret_key="sk-lf-revoked")
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "LangfuseAuthError" in failure.event_specific_data.error.to_string()
        assert "the keys were refused" in failure.event_specific_data.error.to_string()
        assert [r.status for r in server.requests_to(INGESTION)] == [401], "no retry storm"
        assert not server.stored_scores()


def test_null_rewards_of_the_day_post_nothing(scored_day):
    warehouse = scored_day["iceberg"]
    original = warehouse.catalog().load_table(LABELED_TABLE).scan().to_arrow()
    rows = original.to_pylist()
    failed_judge = {row["trace_id"] for row in rows[:5]}
    changed = [
        {**row, "judge_score": None, "judge_reasoning": None, "judge_error": "timeout", "final_reward": None,
         "final_reward_note": "missing judge_score", "preference": None} if row["trace_id"] in failed_judge else row
        for row in rows
    ]
    table = warehouse.catalog().load_table(LABELED_TABLE)
    window = (START, START + timedelta(days=1))
    warehouse.replace_window(table, "timestamp", *window, LABELED_SCHEMA, pa.Table.from_pylist(changed, schema=LABELED_SCHEMA).to_batches())
    try:
        with LangfuseApiServer() as server:
            result = post_scores(scored_day, server)
            assert result.success
            names = {(s["traceId"], s["name"]) for s in server.stored_scores()}
            for trace_id in failed_judge:
                assert (trace_id, RAGAS_REWARD) in names
                assert (trace_id, JUDGE_SCORE) not in names and (trace_id, FINAL_REWARD) not in names
            metadata = materialization_metadata(result, "langfuse_scores")
            assert metadata["scores_left_out"] == {f"{FINAL_REWARD}: null": 5, f"{JUDGE_SCORE}: null": 5}
            assert all(e["body"]["value"] is not None for e in server.ingested_events)
    finally:
        warehouse.replace_window(table, "timestamp", *window, LABELED_SCHEMA, original.to_batches())


@pytest.mark.parametrize("write_scores", [False, True])
def test_langfuse_scores_is_in_the_graph_and_the_daily_jobs_only_when_asked_for(write_scores):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("TRACE_", "LANGFUSE_", "PYICEBERG_"))}
    environ.update(LANGFUSE_HOST="http://127.0.0.1:9", LANGFUSE_PUBLIC_KEY="pk-lf-x", LANGFUSE_SECRET_KEY="sk-lf-x")
    if write_scores:
        environ["TRACE_LANGFUSE_WRITE_SCORES"] = "true"
    listing = (
        "from trace_assets.definitions import defs\n"
        "print(sorted(k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()))\n"
        "for job in ('refresh_traces', 'label_traces'):\n"
        "    print(sorted(k.to_user_string() for k in defs.resolve_job_def(job).asset_layer.selected_asset_keys))\n"
    )
    done = subprocess.run([sys.executable, "-c", listing], env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    graph, refresh, label = (ast.literal_eval(line) for line in done.stdout.strip().splitlines()[-3:])
    for selected in (graph, refresh, label):
        assert ("langfuse_scores" in selected) is write_scores
    assert "labeled_dataset" in refresh and "raw_traces" not in label


# --- people's annotation scores, read back ----------------------------------------------------


@pytest.mark.parametrize("server_kind", [LangfuseApiServer, LangfuseWithScoresV3], ids=["v2-self-hosted", "v3-cloud"])
def test_human_annotation_scores_are_read_back_page_by_page(server_kind):
    with server_kind() as server:
        for i in range(130):  # more than one page of 100
            server.add_annotation_score(f"trace-{i}", "helpfulness", float(1 + i % 5))
        server.add_annotation_score("trace-b1", "thumbs", 1, data_type="BOOLEAN")
        server.add_annotation_score("trace-b0", "thumbs", 0, data_type="BOOLEAN")
        server.add_annotation_score("trace-c4", "rating", "4", data_type="CATEGORICAL")
        server.add_annotation_score("trace-cw", "rating", "good", data_type="CATEGORICAL")
        server.add_annotation_score("trace-t", "note", "clear and correct", data_type="TEXT")
        server.add_annotation_score("trace-o", "helpfulness", 5.0, observation_id="generation-1")
        server._ingestion({"batch": [{"id": "e1", "timestamp": "2026-11-01T00:00:00Z", "type": "score-create",
                                      "body": {"traceId": "trace-api", "name": "helpfulness", "value": 1.0}}]})

        scores = langfuse_api_for(server).read_human_scores(START, START + timedelta(days=1))

        assert scores.schema.names == ["trace_id", "name", "value", "source", "data_type"]
        rows = {(r["trace_id"], r["name"]): r for r in scores.to_pylist()}
        assert len(rows) == scores.num_rows == 136 and ("trace-api", "helpfulness") not in rows, "people's scores only"
        assert all(r["source"] == "ANNOTATION" for r in rows.values())
        assert [rows[(f"trace-{i}", "helpfulness")]["value"] for i in range(5)] == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert (rows[("trace-b1", "thumbs")]["value"], rows[("trace-b0", "thumbs")]["value"]) == (1.0, 0.0)
        assert rows[("trace-c4", "rating")]["value"] == 4.0 and rows[("trace-cw", "rating")]["value"] is None
        assert rows[("trace-t", "note")]["value"] is None and rows[("trace-t", "note")]["data_type"] == "TEXT"
        assert rows[("trace-o", "helpfulness")]["value"] == 5.0, "an annotation of a trace's observation counts for it"
        v3 = server.requests_to("/api/public/v3/scores")
        v2 = server.requests_to("/api/public/v2/scores")
        if server_kind is LangfuseWithScoresV3:
            assert [r.status for r in v3] == [200, 200] and not v2 and "cursor" in v3[1].query
            assert v3[0].query["source"] == ["ANNOTATION"] and v3[0].query["fromTimestamp"] == ["2026-04-18T00:00:00Z"]
        else:
            assert [r.status for r in v3] == [404] and [r.status for r in v2] == [200, 200]
            assert [r.query["page"] for r in v2] == [["1"], ["2"]] and v2[0].query["source"] == ["ANNOTATION"]


def test_without_a_scores_read_endpoint_the_error_says_what_to_enable():
    with LangfuseApiServer() as server:
        server.fail_next("/api/public/v2/scores", status=404, body={"message": "Not Found"})
        with pytest.raises(LangfuseApiError, match="LANGFUSE_ENABLE_SCORES_V3_API=true"):
            langfuse_api_for(server).read_human_scores(START, START + timedelta(days=1))


def test_reward_quality_counts_the_annotations_people_made_in_langfuse(scored_day, monkeypatch):
    consented = sorted(row["trace_id"] for row in labeled_rows(scored_day))[:12]
    sample = [json.loads(line) for line in gzip.open(SAMPLE_TRACES_PATH, "rt")]
    withheld = next(r["id"] for r in sample if str(r["timestamp"]).startswith(DAY) and r["user_consent"] is False)
    with LangfuseApiServer() as server:
        for i, trace_id in enumerate(consented[:10]):
            server.add_annotation_score(trace_id, "helpfulness", float(1 + i % 5))
        server.add_annotation_score(consented[10], "helpfulness", 9.0)  # off the 1..5 scale
        server.add_annotation_score(consented[11], "tone", 5.0)  # not a feedback name
        server.add_annotation_score(withheld, "helpfulness", 5.0)  # no consent: never counted
        monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", server.public_key)
        monkeypatch.setenv("LANGFUSE_SECRET_KEY", server.secret_key)
        environ = {"LANGFUSE_HOST": server.base_url, "LANGFUSE_PUBLIC_KEY": server.public_key,
                   "LANGFUSE_SECRET_KEY": server.secret_key, "TRACE_HUMAN_SCORE_NAMES": "helpfulness"}
        settings = reward_quality_settings(environ)
        assert isinstance(settings.human_scores, LangfuseApiSource), "the configured API is where annotations come from"
        assert reward_quality_settings({}).human_scores is None

        result = dg.materialize(
            [*SCORED, reward_quality], selection=[reward_quality], partition_key=DAY,
            resources={**scored_day, "reward_quality_settings": settings},
        )
        assert result.success
        origins = materialization_metadata(result, "reward_quality")["feedback_origins"]
        assert origins["traces_by_origin"]["score:helpfulness"] == 10
        assert origins["unusable"] == {"score:helpfulness: outside the scale 1..5": 1}
        assert server.requests_to("/api/public/v2/scores")[0].query["source"] == ["ANNOTATION"]
