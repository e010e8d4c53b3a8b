"""LangfuseApiSource against a loopback server that answers as Langfuse v4 / Cloud (v2
observations) and v3 (v1 traces and observations) do: assembly, paging, faults, pacing."""

import json
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from trace_assets.langfuse.api_client import LangfuseApiError, LangfuseAuthError
from trace_assets.resources.langfuse_api_source import LangfuseApiSource
from trace_assets_tests.langfuse_api_server import LangfuseApiServer
from trace_assets_tests.langfuse_traces import CONSENT_TAG, bad_input_traces, day_of_traces

DAY = date(2026, 4, 18)
START = datetime(2026, 4, 18, tzinfo=timezone.utc)
END = START + timedelta(days=1)
V2 = "/api/public/v2/observations"
# Contexts that exist only as text inside the prompt are not taken apart (README).
CONTEXTS_IN_PROMPT_ONLY = ("openai_chat", "openai_tools")


def source_for(server: LangfuseApiServer, **settings) -> LangfuseApiSource:
    return LangfuseApiSource(
        host=server.base_url,
        public_key=server.public_key,
        secret_key=server.secret_key,
        consent_tag=CONSENT_TAG,
        **{"requests_per_minute": 6000, **settings},
    )


def read_day(source: LangfuseApiSource) -> dict[str, dict]:
    rows = pa.Table.from_batches(list(source.read_window(START, END, consented_only=True))).to_pylist()
    return {row["id"]: row for row in rows}


def assert_rows_match_what_was_sent(traces, rows: dict[str, dict], server_version: str = "v4") -> None:
    for trace in traces:
        facts = trace.facts
        row = rows.get(trace.id)
        if facts.kind == "evaluator" or trace.timestamp.date() != DAY:
            assert row is None, f"{facts.kind} {trace.id} must not land for {DAY}"
            continue
        assert row is not None, f"{facts.kind} {trace.id} is missing"
        assert row["input"] == facts.question
        assert row["output"] == facts.answer
        assert row["user_consent"] == facts.consented
        # v3 keeps the trace's own timestamp; v4 has no trace record: its root span's start.
        assert row["timestamp"] == (trace.timestamp if server_version == "v3" else trace.root.start_time)
        expected_contexts = None if facts.kind in CONTEXTS_IN_PROMPT_ONLY else (facts.contexts or None)
        assert row["contexts"] == expected_contexts, facts.kind
        generations = trace.generations
        assert row["model"] == (generations[-1].model if generations else None)
        if generations:
            assert row["token_count"] == sum(g.usage_details.get("total", 0) for g in generations)
        assert json.loads(row["metadata"])["environment"] == trace.environment


@pytest.mark.parametrize("server_version", ["v4", "v3"])
def test_a_day_of_real_integration_traces_becomes_the_rows_that_were_sent(server_version):
    traces = day_of_traces(DAY, 80, seed=5)
    with LangfuseApiServer(traces, api_version=server_version) as server:
        source = source_for(server)
        rows = read_day(source)
        notes = source.read_notes(START, END)
    assert_rows_match_what_was_sent(traces, rows, server_version)
    assert notes.counts["langfuse_evaluator_trace"] == sum(t.facts.kind == "evaluator" for t in traces)
    assert source.version(START) == ("v2" if server_version == "v4" else "v1")
    chats = [rows[t.id] for t in traces if t.facts.kind == "openai_tools" and t.id in rows]
    assert chats, "the day holds OpenAI tool-calling traces"
    messages = json.loads(chats[0]["messages"])
    conversation = messages["messages"] if isinstance(messages, dict) else messages
    assert conversation[0]["role"] == "system"
    assert any(message.get("tool_calls") for message in conversation)
    assert conversation[-1]["role"] == "assistant"


def test_long_metadata_arrives_whole_and_pages_of_several_requests_meet():
    traces = day_of_traces(DAY, 120, seed=7)
    with LangfuseApiServer(traces, api_version="v4") as server:
        rows = read_day(source_for(server, page_limit=25))
        pages = len(server.requests_to(V2))
    assert pages > 10
    long_values = [
        value
        for row in rows.values()
        for value in json.loads(row["metadata"]).values()
        if isinstance(value, str) and len(value) > 200
    ]
    assert long_values, "metadata values over 200 characters must not be cut"
    assert_rows_match_what_was_sent(traces, rows)


def test_an_updated_span_served_twice_lands_once_in_its_latest_version():
    traces = day_of_traces(DAY, 30, seed=2, edge_cases=False)
    target = next(t for t in traces if t.facts.kind == "langchain_rag" and t.facts.consented)
    generation = target.generations[-1]
    with LangfuseApiServer(traces, api_version="v4") as server:
        server.update_observation(generation.id, output="the corrected answer")
        rows = read_day(source_for(server))
    assert list(rows).count(target.id) == 1
    assert json.loads(rows[target.id]["messages"])[-1]["content"] == "the corrected answer"


def test_wrong_keys_fail_at_once_with_a_message_about_the_keys():
    with LangfuseApiServer(day_of_traces(DAY, 10, seed=1), api_version="v4") as server:
        source = LangfuseApiSource(host=server.base_url, public_key="pk-lf-wrong", secret_key="sk-lf-wrong")
        with pytest.raises(LangfuseAuthError, match="LANGFUSE_PUBLIC_KEY"):
            read_day(source)
        assert len(server.requests) == 1, "a 401 is never retried"


@pytest.mark.parametrize("fault", [dict(status=429, retry_after=0.2), dict(status=429), dict(status=500), dict(status=503)])
def test_rate_limits_and_server_errors_are_retried_and_nothing_is_lost(fault):
    traces = day_of_traces(DAY, 40, seed=4)
    with LangfuseApiServer(traces, api_version="v4") as server:
        source = source_for(server, page_limit=20)
        source.api().backoff_s = 0.05
        source.version(START)
        server.fail_next(V2, times=2, **fault)
        rows = read_day(source)
        statuses = [request.status for request in server.requests_to(V2)]
    assert statuses.count(fault["status"]) == 2
    assert_rows_match_what_was_sent(traces, rows)
    assert sum(source.api().stats.retries.values()) == 2


def test_retry_after_is_honoured():
    with LangfuseApiServer(day_of_traces(DAY, 10, seed=4), api_version="v4") as server:
        source = source_for(server)
        source.api().backoff_s = 0.01
        source.version(START)
        server.fail_next(V2, times=1, status=429, retry_after=1.5)
        read_day(source)
        limited, retried = server.requests_to(V2)[-2:]
    assert limited.status == 429
    assert retried.at - limited.at >= 1.5


def test_a_server_error_that_never_ends_fails_naming_the_endpoint():
    with LangfuseApiServer(day_of_traces(DAY, 10, seed=4), api_version="v4") as server:
        source = source_for(server)
        source.api().backoff_s = 0.01
        source.version(START)
        server.fail_next(V2, times=100, status=500)
        with pytest.raises(LangfuseApiError, match="v2/observations answered 500 7 times"):
            read_day(source)


def test_a_cursor_that_repeats_stops_the_read_with_a_clear_error():
    with LangfuseApiServer(day_of_traces(DAY, 60, seed=4), api_version="v4") as server:
        server.repeat_cursor_forever()
        with pytest.raises(LangfuseApiError, match="pages in a loop"):
            read_day(source_for(server, page_limit=10))
        assert len(server.requests_to(V2)) < 10


def test_the_api_version_is_detected_or_taken_from_the_setting():
    with LangfuseApiServer(day_of_traces(DAY, 5, seed=1), api_version="v3") as server:
        assert source_for(server).version(START) == "v1"
        with pytest.raises(Exception, match="answered 404"):
            read_day(source_for(server, api_version="v2"))


def test_a_host_that_is_not_langfuse_names_both_endpoints_it_tried():
    with LangfuseApiServer([], api_version="v4") as server:
        source = LangfuseApiSource(host=server.base_url + "/not-langfuse", public_key="pk-lf-x", secret_key="sk-lf-x")
        with pytest.raises(LangfuseApiError, match="v2/observations.*api/public/traces"):
            source.version(START)


def test_requests_are_paced_below_the_configured_rate():
    with LangfuseApiServer(day_of_traces(DAY, 40, seed=4), api_version="v4") as server:
        read_day(source_for(server, requests_per_minute=600, page_limit=10))
        times = [request.at for request in server.requests]
    assert len(times) >= 5
    # Request starts are at least 0.1 s apart (a sleep never ends early); an arrival at the server
    # may lag its start on a loaded machine, which the first request's slack of one gap absorbs.
    assert times[-1] - times[0] >= (len(times) - 2) * 0.1


def test_day_fingerprints_change_with_a_late_trace_and_a_consent_change():
    traces = day_of_traces(DAY, 30, seed=6, edge_cases=False)
    late = day_of_traces(DAY, 1, seed=99, edge_cases=False)
    for server_version in ("v4", "v3"):
        with LangfuseApiServer(traces, api_version=server_version) as server:
            source = source_for(server)
            before = source.day_fingerprints(START, END)
            assert int(before[DAY].split(":")[0]) == sum(t.facts.kind != "evaluator" for t in traces)
            assert source_for(server).day_fingerprints(START, END) == before
            server.add_traces(late)
            after = source_for(server).day_fingerprints(START, END)
        assert after[DAY] != before[DAY]


@pytest.mark.parametrize("server_version", ["v4", "v3"])
def test_awkward_traces_land_as_what_they_are(server_version):
    cases = bad_input_traces(DAY, seed=8)
    with LangfuseApiServer(list(cases.values()), api_version=server_version) as server:
        rows = read_day(source_for(server))
    assert set(rows) == {trace.id for trace in cases.values()}, "every awkward trace lands"
    assert rows[cases["no_generation"].id]["model"] is None
    assert rows[cases["no_generation"].id]["output"] == cases["no_generation"].facts.answer
    agent = cases["several_generations"]
    assert rows[agent.id]["model"] == agent.generations[-1].model
    assert rows[agent.id]["token_count"] == sum(g.usage_details.get("total", 0) for g in agent.generations)
    broken = cases["invalid_json_io"]
    assert (rows[broken.id]["input"], rows[broken.id]["output"]) == (broken.input, broken.output), "text that is not JSON stays text"
    assert rows[cases["unknown_observation_type"].id]["contexts"] == cases["unknown_observation_type"].facts.contexts
    late = cases["straddles_midnight"]
    assert rows[late.id]["output"] == late.facts.answer and rows[late.id]["contexts"] == late.facts.contexts
    korean = cases["korean_python_sdk"]
    assert rows[korean.id]["input"] == korean.facts.question and "\\u" not in rows[korean.id]["input"]
    assert max(len(str(v)) for v in json.loads(rows[cases["long_metadata"].id]["metadata"]).values()) > 200


def test_each_row_links_to_its_page_in_langfuse():
    traces = day_of_traces(DAY, 10, seed=9, edge_cases=False)
    with LangfuseApiServer(traces, api_version="v4") as server:
        rows = read_day(source_for(server))
        project = server.project_id
    for trace_id, row in rows.items():
        assert json.loads(row["metadata"])["langfuse_trace_url"] == f"{server.base_url}/project/{project}/traces/{trace_id}"
