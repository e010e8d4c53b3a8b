"""judge_scores end to end: PostgreSQL -> lake -> Iceberg -> a loopback judge -> scores table."""

import json
import multiprocessing
import os
import signal
import threading
import time

import pytest

from trace_assets.assets import score_store
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.resources.judge import JudgeResource
from trace_assets.tables.scores import JUDGE_SCORES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days
from trace_assets_tests.openai_server import chat_reply, error_reply

GRAPH = (*INGEST, judge_scores)


def scripted_judge(path, body):
    """Scores by what the answer says: 'good' 0.9, 'partly' 0.5, 'broken' a 500, else 0.1."""
    prompt = body["messages"][0]["content"]
    if "broken" in prompt:
        return error_reply(500)
    score = 0.9 if "good answer" in prompt else 0.5 if "partly" in prompt else 0.1
    return chat_reply(json.dumps({"score": score, "reasoning": f"scored {score}"}), 200, 20)


@pytest.fixture
def judged(traces_table, source_for, local_resources, openai_server):
    server = openai_server(scripted_judge)
    # A node-hour priced at 3600 USD makes the estimated cost 2 USD per second of scoring.
    judge = JudgeResource(base_url=server.base_url, max_retries=1, fleet_nodes=2, node_hourly_usd=3600.0)
    return traces_table, server, local_resources(source_for(traces_table), judge=judge)


def stored_scores(resources) -> dict:
    rows = resources["iceberg"].catalog().load_table(JUDGE_SCORES_TABLE).scan().to_arrow().to_pylist()
    return {row["trace_id"]: row for row in rows}


def test_every_consented_trace_gets_a_score_or_an_error_with_provenance(judged):
    table, server, resources = judged
    good, partly, broken = (
        trace("2026-04-18 01:00:00", output="a good answer"),
        trace("2026-04-18 02:00:00", output="partly right"),
        trace("2026-04-18 03:00:00", output="broken"),
    )
    private = trace("2026-04-18 04:00:00", consent=False, input="my private question")
    unknown = trace("2026-04-18 05:00:00", consent=None, input="another private question")
    table.insert([good, partly, broken, private, unknown])

    started = time.monotonic()
    result = materialize_days(resources, "2026-04-18", assets=GRAPH)
    run_seconds = time.monotonic() - started

    scores = stored_scores(resources)
    assert set(scores) == {good["id"], partly["id"], broken["id"]}
    assert (scores[good["id"]]["judge_score"], scores[partly["id"]]["judge_score"]) == (0.9, 0.5)
    assert scores[broken["id"]]["judge_score"] is None and scores[broken["id"]]["error_kind"] == "http_500"
    row = scores[good["id"]]
    assert (row["judge_model"], row["scorer"], row["tokens_in"], row["tokens_out"]) == ("qwen3-judge", "llm_judge", 200, 20)
    assert row["prompt_version"].startswith("judge-") and row["reasoning"] == "scored 0.9"
    assert str(row["date"]) == "2026-04-18" and len(row["content_hash"]) == 64 and row["scored_at"] is not None
    prompts = " ".join(body["messages"][0]["content"] for body in server.chat_requests())
    assert "private question" not in prompts, "a trace without consent reached the judge"

    metadata = materialization_metadata(result, "judge_scores")
    assert (metadata["scored"], metadata["reused"], metadata["errors"]) == (3, 0, 1)
    assert metadata["errors_by_kind"] == {"http_500": 1}
    assert metadata["tokens_in"] == 400
    # wall time of the scoring x 2 nodes x 3600 USD an hour: 2 USD a second, within the run's time
    assert 0 < metadata["estimated_cost_usd"] <= 2 * run_seconds


def test_a_rerun_of_an_unchanged_day_makes_no_requests_and_one_when_one_trace_changed(judged):
    table, server, resources = judged
    rows = [trace(f"2026-04-18 0{h}:00:00", output="a good answer") for h in range(1, 5)]
    table.insert(rows)
    materialize_days(resources, "2026-04-18", assets=GRAPH)
    first = stored_scores(resources)
    assert len(server.chat_requests()) == 4

    result = materialize_days(resources, "2026-04-18", assets=GRAPH)
    assert len(server.chat_requests()) == 4, "an unchanged day is not judged again"
    assert stored_scores(resources) == first
    assert materialization_metadata(result, "judge_scores")["reused"] == 4

    table.execute(f"UPDATE \"{table.name}\" SET output = 'partly right now' WHERE id = %s", (rows[2]["id"],))
    materialize_days(resources, "2026-04-18", assets=GRAPH)
    assert len(server.chat_requests()) == 5
    assert stored_scores(resources)[rows[2]["id"]]["judge_score"] == 0.5


def test_a_trace_whose_judgement_failed_is_judged_again_on_the_next_run(
    traces_table, source_for, local_resources, openai_server
):
    fleet = {"up": False}

    def script(path, body):
        return chat_reply('{"score": 0.7, "reasoning": "ok"}') if fleet["up"] else error_reply(503)

    server = openai_server(script)
    resources = local_resources(source_for(traces_table), judge=JudgeResource(base_url=server.base_url, max_retries=0))
    unlucky = trace("2026-04-18 01:00:00")
    traces_table.insert([unlucky])
    materialize_days(resources, "2026-04-18", assets=GRAPH)
    assert stored_scores(resources)[unlucky["id"]]["error_kind"] == "http_503"

    fleet["up"] = True
    materialize_days(resources, "2026-04-18", assets=GRAPH)
    assert stored_scores(resources)[unlucky["id"]]["judge_score"] == 0.7
    assert len(server.chat_requests()) == 2


def test_a_run_killed_mid_day_keeps_the_chunks_it_scored_and_the_rerun_judges_only_the_rest(
    traces_table, source_for, local_resources, openai_server, monkeypatch
):
    """The run is a real process, SIGKILLed (an evicted pod, the OOM killer) while the judge is
    answering its third chunk: what the first two chunks scored is in the table, and the rerun asks
    the judge only about the rest."""
    monkeypatch.setattr(score_store, "TRACES_PER_CHUNK", 2)
    monkeypatch.setattr(score_store, "TRACES_PER_CHECKPOINT", 2)
    rows = [trace(f"2026-04-18 0{h}:00:00", output="a good answer") for h in range(1, 6)]
    traces_table.insert(rows)
    resources = local_resources(source_for(traces_table), judge=JudgeResource(base_url="http://127.0.0.1:9/v1"))
    materialize_days(resources, "2026-04-18")  # ingest first; the killed run is the judge's alone
    third_chunk_reached, release = threading.Event(), threading.Event()

    def judge(path, body):
        if len(server.chat_requests()) == 5:  # the first request of the third chunk
            third_chunk_reached.set()
            release.wait(60)
        return chat_reply(json.dumps({"score": 0.9, "reasoning": "scored 0.9"}))

    server = openai_server(judge)
    resources["judge"] = JudgeResource(base_url=server.base_url, max_retries=0)
    run = multiprocessing.get_context("fork").Process(
        target=materialize_days, args=(resources, "2026-04-18"), kwargs={"assets": GRAPH, "selection": [judge_scores]}
    )
    run.start()
    try:
        assert third_chunk_reached.wait(120), "the run never reached its third chunk"
        os.kill(run.pid, signal.SIGKILL)
        run.join(30)
    finally:
        release.set()
        if run.is_alive():
            os.kill(run.pid, signal.SIGKILL)
    assert run.exitcode == -signal.SIGKILL

    kept = stored_scores(resources)
    assert len(kept) == 4 and all(row["judge_score"] == 0.9 for row in kept.values()), "the scored chunks were lost"
    assert set(kept) < {row["id"] for row in rows}

    result = materialize_days(resources, "2026-04-18", assets=GRAPH, selection=[judge_scores])
    assert len(server.chat_requests()) == 6, "the rerun judged again what the killed run had stored"
    assert set(stored_scores(resources)) == {row["id"] for row in rows}
    assert (materialization_metadata(result, "judge_scores")["reused"], materialization_metadata(result, "judge_scores")["scored"]) == (4, 1)
