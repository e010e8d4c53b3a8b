"""The Langfuse test fixtures answer as Langfuse does: the loopback API server (auth, pagination,
field groups, metadata truncation, 404 per server version, 207 ingestion, faults) and the
blob-export files (layout, manifests, read back with pyarrow)."""

import base64
import csv
import gzip
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from trace_assets_tests.langfuse_api_server import LangfuseApiServer
from trace_assets_tests.langfuse_export_files import (
    LangfuseExportWriter,
    export_day,
    export_schema,
    export_scores_from_api,
    write_large_day,
)
from trace_assets_tests.langfuse_traces import (
    CONSENT_KEY,
    MISSING,
    TRACE_KINDS,
    bad_input_traces,
    day_of_traces,
    events_rows,
    with_update,
)

DAY = date(2026, 4, 18)
UTC = timezone.utc


class Client:
    """A bare HTTP client, so these tests see exactly what the server sends."""

    def __init__(self, server: LangfuseApiServer, public_key: str | None = None, secret_key: str | None = None):
        self.base = server.base_url
        self.public_key = server.public_key if public_key is None else public_key
        self.secret_key = server.secret_key if secret_key is None else secret_key

    def request(self, method: str, path: str, body=None, auth: bool = True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if auth:
            token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read()), resp.headers
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), err.headers

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def all_v2(self, query: str = "limit=50"):
        items, cursor, pages = [], None, 0
        while True:
            status, body, _ = self.get(f"/api/public/v2/observations?{query}" + (f"&cursor={cursor}" if cursor else ""))
            assert status == 200, body
            items += body["data"]
            pages += 1
            cursor = body["meta"].get("cursor")
            if not cursor:
                return items, pages


@pytest.fixture(scope="module")
def traces():
    return day_of_traces(DAY, 120, seed=7)


@pytest.fixture
def v4(traces):
    with LangfuseApiServer(traces, api_version="v4") as server:
        yield server


@pytest.fixture
def v3(traces):
    with LangfuseApiServer(traces, api_version="v3") as server:
        yield server


# --- generated traces ------------------------------------------------------------------------

def test_day_of_traces_is_deterministic_and_covers_every_kind(traces):
    again = day_of_traces(DAY, 120, seed=7)
    assert [t.id for t in again] == [t.id for t in traces]
    assert {t.facts.kind for t in traces} == set(TRACE_KINDS)
    assert {t.facts.language for t in traces} == {"en", "ko"}
    assert all(t.timestamp.date() == DAY for t in traces)
    values = {repr(t.facts.consent_value) for t in traces}
    assert {"True", "'true'", "1", "'1'", "False", repr(MISSING)} <= values
    assert any(t.environment == "langfuse-llm-as-a-judge" for t in traces)


def test_consent_facts_follow_the_issue_rule(traces):
    for t in traces:
        raw = t.metadata.get(CONSENT_KEY, MISSING)
        expected = (raw is not MISSING and raw in (True, "true", 1, "1")) or "consent:granted" in t.tags
        assert t.facts.consented == expected, (t.id, raw, t.tags)


def test_trace_shapes_match_their_integration(traces):
    by_kind = {t.facts.kind: t for t in traces}
    rag = by_kind["langchain_rag"]
    retriever = next(o for o in rag.observations if o.type == "RETRIEVER")
    assert [d["page_content"] for d in retriever.output] == rag.facts.contexts
    otel = by_kind["otel_openinference"]
    retr = next(o for o in otel.observations if o.type == "RETRIEVER")
    assert retr.output is None
    attrs = retr.metadata["attributes"]
    assert [attrs[f"retrieval.documents.{i}.document.content"] for i in range(len(otel.facts.contexts))] == otel.facts.contexts
    ragas = by_kind["ragas_retrieval"]
    assert next(o for o in ragas.observations if o.name == "retrieval").output == {"contexts": ragas.facts.contexts}
    assert by_kind["agent"].facts.generation_count == 3
    assert by_kind["no_generation"].facts.generation_count == 0
    chat = by_kind["openai_chat"]
    assert chat.input[0]["role"] == "system" and chat.output["role"] == "assistant"
    tools = by_kind["openai_tools"]
    assert tools.generations[0].output["tool_calls"][0]["function"]["name"] == "get_cluster_status"


def test_bad_input_cases_are_what_they_say():
    cases = bad_input_traces(DAY)
    late = cases["straddles_midnight"]
    assert late.timestamp.date() == DAY
    assert all(o.start_time.date() == DAY + timedelta(days=1) for o in late.observations[1:])
    with pytest.raises(ValueError):
        json.loads(cases["invalid_json_io"].input)
    assert cases["unknown_observation_type"].observations[0].type == "WORKFLOW"
    row = events_rows(cases["korean_python_sdk"], "p")[0]
    assert "\\u" in row["input"] and json.loads(row["input"])["question"] == cases["korean_python_sdk"].facts.question


# --- auth and versions -----------------------------------------------------------------------

def test_auth_failures_answer_401_with_langfuse_messages(v4):
    status, body, _ = Client(v4).get("/api/public/v2/observations", auth=False)
    assert (status, body) == (401, {"message": "No authorization header"})
    status, body, _ = Client(v4, secret_key="sk-lf-wrong").get("/api/public/v2/observations")
    assert status == 401
    assert body["message"] == "Invalid credentials. Confirm that you've configured the correct host."


def test_v4_answers_v1_reads_with_404_before_auth(v4):
    for path in ("/api/public/traces", "/api/public/observations", "/api/public/traces/abc"):
        status, body, _ = Client(v4).get(path, auth=False)
        assert status == 404 and "events_only" in body["message"]


def test_v3_answers_v2_observations_with_404_after_auth(v3):
    status, _, _ = Client(v3).get("/api/public/v2/observations", auth=False)
    assert status == 401
    status, body, _ = Client(v3).get("/api/public/v2/observations")
    assert status == 404 and "v4" in body["message"]


# --- v2 observations -------------------------------------------------------------------------

def test_v2_cursor_pagination_returns_every_observation_once_newest_first(v4, traces):
    items, pages = Client(v4).all_v2("limit=37")
    expected = sum(len(t.observations) for t in traces)
    assert len(items) == expected and len({i["id"] for i in items}) == expected
    assert pages == -(-expected // 37)
    starts = [i["startTime"] for i in items]
    assert starts == sorted(starts, reverse=True)


def test_v2_limit_bounds(v4):
    client = Client(v4)
    assert client.get("/api/public/v2/observations?limit=1001")[0] == 400
    status, body, _ = client.get("/api/public/v2/observations?limit=-1")
    assert status == 400 and body["message"] == "Invalid request data" and body["error"][0]["path"] == ["limit"]
    status, body, _ = client.get("/api/public/v2/observations?limit=1000")
    assert status == 200 and len(body["data"]) == sum(1 for _ in v4._events)
    status, body, _ = client.get("/api/public/v2/observations")
    assert len(body["data"]) == 50 and "cursor" in body["meta"]
    assert client.get("/api/public/v2/observations?cursor=not-a-cursor")[1]["message"] == "Invalid cursor format"


def test_v2_default_groups_are_core_and_basic_and_unknown_groups_are_dropped(v4):
    _, body, _ = Client(v4).get("/api/public/v2/observations?limit=3")
    item = body["data"][0]
    assert {"id", "traceId", "startTime", "endTime", "type", "name", "level", "environment"} <= set(item)
    assert "input" not in item and "metadata" not in item and "model" not in item
    status, body, _ = Client(v4).get("/api/public/v2/observations?limit=3&fields=core,io,nonsense")
    assert status == 200 and "input" in body["data"][0] and "name" not in body["data"][0]


def test_v2_model_and_usage_groups_name_the_model_model(v4, traces):
    gen = traces[5].generations[-1] if traces[5].generations else next(t for t in traces if t.generations).generations[-1]
    _, body, _ = Client(v4).get(f"/api/public/v2/observations?traceId={gen.trace_id}&type=GENERATION&fields=core,model,usage")
    item = next(i for i in body["data"] if i["id"] == gen.id)
    assert item["model"] == gen.model and "providedModelName" not in item
    assert item["usageDetails"] == gen.usage_details and item["totalUsage"] == gen.usage_details["total"]


def test_v2_metadata_cut_at_200_characters_unless_expanded_or_io(v4, traces):
    trace = next(t for t in traces if "request_context" in t.metadata)
    full = trace.metadata["request_context"]
    assert len(full) > 200
    base = f"/api/public/v2/observations?traceId={trace.id}&isRootObservation=true"
    _, body, _ = Client(v4).get(base + "&fields=core,metadata")
    assert body["data"][0]["metadata"]["request_context"] == full[:200]
    for extra in ("&expandMetadata=request_context", "&expandMetadata=true", "&fields=core,metadata,io"):
        query = base + (extra if extra.startswith("&expand") else "") + ("&fields=core,metadata" if extra.startswith("&expand") else extra)
        _, body, _ = Client(v4).get(query)
        assert body["data"][0]["metadata"]["request_context"] == full, extra


def test_v2_metadata_is_flattened_and_parsed_per_value(v4, traces):
    trace = next(t for t in traces if t.metadata.get(CONSENT_KEY) == "true" and t.facts.kind != "evaluator")
    _, body, _ = Client(v4).get(f"/api/public/v2/observations?traceId={trace.id}&isRootObservation=true&fields=core,metadata&expandMetadata=true")
    metadata = body["data"][0]["metadata"]
    assert metadata[CONSENT_KEY] is True
    assert metadata["app.name"] == "docs-assistant" and "app" not in metadata


def test_v2_trace_fields_sit_on_the_root_and_on_children_only_when_propagated(v4, traces):
    trace = next(t for t in traces if not t.propagated and len(t.observations) > 1 and t.user_id)
    _, body, _ = Client(v4).get(f"/api/public/v2/observations?traceId={trace.id}&fields=core,basic,trace_context")
    root = next(i for i in body["data"] if i["parentObservationId"] is None)
    child = next(i for i in body["data"] if i["parentObservationId"] is not None)
    assert root["userId"] == trace.user_id and root["tags"] == trace.tags and root["traceName"] == trace.name
    assert child["userId"] == "" and child["tags"] == []


def test_v2_time_window_is_start_inclusive_end_exclusive(v4, traces):
    first = traces[0]
    assert first.timestamp == datetime(2026, 4, 18, tzinfo=UTC)
    client = Client(v4)
    items, _ = client.all_v2("limit=1000&fromStartTime=2026-04-18T00:00:00Z&toStartTime=2026-04-19T00:00:00Z")
    ids = {i["id"] for i in items}
    assert first.root.id in ids
    straddling = next(t for t in traces if t.timestamp.hour == 23 and t.timestamp.minute == 59)
    assert straddling.root.id in ids
    assert not any(o.id in ids for o in straddling.observations if o.start_time.date() > DAY)


def test_v2_serves_an_updated_span_twice_until_merged(v4, traces):
    gen = next(t for t in traces if t.generations).generations[-1]
    v4.update_observation(gen.id, output={"role": "assistant", "content": "corrected"})
    _, body, _ = Client(v4).get(f"/api/public/v2/observations?traceId={gen.trace_id}&fields=core,io,time")
    versions = [i for i in body["data"] if i["id"] == gen.id]
    assert len(versions) == 2 and len({v["updatedAt"] for v in versions}) == 2
    assert {json.loads(v["output"])["content"] for v in versions} >= {"corrected"}
    v4.merge_versions()
    _, body, _ = Client(v4).get(f"/api/public/v2/observations?traceId={gen.trace_id}&fields=core,io")
    assert [json.loads(i["output"])["content"] for i in body["data"] if i["id"] == gen.id] == ["corrected"]


def test_repeat_cursor_forever_never_ends(v4):
    v4.repeat_cursor_forever()
    client = Client(v4)
    cursors = []
    cursor = None
    for _ in range(5):
        _, body, _ = client.get("/api/public/v2/observations?limit=10" + (f"&cursor={cursor}" if cursor else ""))
        cursor = body["meta"]["cursor"]
        cursors.append(cursor)
    assert len(set(cursors[1:])) == 1


# --- v1 reads ----------------------------------------------------------------------------------

def test_v1_traces_pages_end_and_cover_the_window(v3, traces):
    client = Client(v3)
    seen, page = [], 1
    while True:
        status, body, _ = client.get(f"/api/public/traces?limit=25&page={page}&fromTimestamp=2026-04-18T00:00:00Z&toTimestamp=2026-04-19T00:00:00Z")
        assert status == 200
        seen += body["data"]
        if page >= body["meta"]["totalPages"]:
            break
        page += 1
    assert body["meta"]["totalItems"] == len(traces) == len(seen)
    korean = next(t for t in traces if t.facts.language == "ko" and isinstance(t.input, dict))
    item = next(i for i in seen if i["id"] == korean.id)
    assert item["input"] == korean.input  # parsed JSON, Korean intact
    assert client.get("/api/public/traces?limit=101")[0] == 400


def test_v1_observations_filter_by_trace_and_type(v3, traces):
    trace = next(t for t in traces if t.facts.kind == "agent")
    _, body, _ = Client(v3).get(f"/api/public/observations?traceId={trace.id}&type=GENERATION")
    assert sorted(i["id"] for i in body["data"]) == sorted(g.id for g in trace.generations)
    assert all(i["model"] == trace.generations[0].model for i in body["data"])


# --- scores --------------------------------------------------------------------------------------

def _score_event(event_id, **body):
    return {"id": event_id, "timestamp": "2026-04-19T01:00:00.000Z", "type": "score-create", "body": body}


def test_ingestion_answers_207_per_event_and_updates_by_id(v4, traces):
    trace_id = traces[0].id
    batch = [
        _score_event("e1", id="s-1", traceId=trace_id, name="trace_assets.final_reward", value=0.8, dataType="NUMERIC"),
        _score_event("e2", id="s-2", traceId=trace_id, name="", value=0.5),
        _score_event("e3", id="s-3", traceId=trace_id, name="x", value="high", dataType="NUMERIC"),
        _score_event("e4", id="s-4", name="x", value=1),
        _score_event("e5", id="s-5", traceId=trace_id, name="b", value=2, dataType="BOOLEAN"),
    ]
    status, body, _ = Client(v4).request("POST", "/api/public/ingestion", {"batch": batch})
    assert status == 207
    assert body["successes"] == [{"id": "e1", "status": 201}]
    assert sorted(e["id"] for e in body["errors"]) == ["e2", "e3", "e4", "e5"]
    assert all(e["status"] == 400 for e in body["errors"])
    again = [_score_event("e6", id="s-1", traceId=trace_id, name="trace_assets.final_reward", value=0.9,
                          dataType="NUMERIC", comment="rerun")]
    Client(v4).request("POST", "/api/public/ingestion", {"batch": again})
    scores = v4.stored_scores()
    assert len(scores) == 1 and scores[0]["value"] == 0.9 and scores[0]["comment"] == "rerun"


def test_v2_scores_lists_api_and_annotation_scores(v4, traces):
    trace = traces[3]
    v4.add_annotation_score(trace.id, "helpfulness", 4, comment="good answer")
    Client(v4).request("POST", "/api/public/scores", {"traceId": trace.id, "name": "trace_assets.judge_score", "value": 0.7})
    _, body, _ = Client(v4).get(f"/api/public/v2/scores?traceId={trace.id}")
    assert {(s["name"], s["source"]) for s in body["data"]} == {("helpfulness", "ANNOTATION"),
                                                                 ("trace_assets.judge_score", "API")}
    _, body, _ = Client(v4).get("/api/public/v2/scores?source=ANNOTATION")
    assert [s["name"] for s in body["data"]] == ["helpfulness"] and body["data"][0]["trace"]["userId"] == trace.user_id


# --- faults and pacing -------------------------------------------------------------------------

def test_scripted_faults_then_normal_answers(v4):
    path = "/api/public/v2/observations"
    v4.fail_next(path, status=429, retry_after=2)
    v4.fail_next(path, status=429)
    v4.fail_next(path, status=500)
    client = Client(v4)
    status, _, headers = client.get(path)
    assert status == 429 and headers["Retry-After"] == "2"
    status, _, headers = client.get(path)
    assert status == 429 and headers.get("Retry-After") is None
    assert client.get(path)[0] == 500
    assert client.get(path)[0] == 200


def test_dropped_connection_gives_no_answer(v4):
    v4.drop_next("/api/public/v2/observations")
    with pytest.raises((urllib.error.URLError, ConnectionError, socket.error)):
        urllib.request.urlopen(v4.base_url + "/api/public/v2/observations", timeout=5).read()
    assert v4.requests[-1].status == -1


def test_rate_limiter_answers_429_above_the_limit_and_records_requests(traces):
    with LangfuseApiServer(traces[:5], rate_limit_per_minute=3) as server:
        client = Client(server)
        statuses = [client.get("/api/public/v2/observations?limit=1")[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        _, body, headers = client.get("/api/public/v2/observations?limit=1")
        assert body == {"message": "Rate limit exceeded"} and int(headers["Retry-After"]) >= 1
        assert headers["X-RateLimit-Limit"] == "3"
        recorded = server.requests_to("/api/public/v2/observations")
        assert [r.status for r in recorded] == [200, 200, 200, 429, 429, 429]
        assert all(r.public_key == server.public_key for r in recorded)
        assert recorded[0].query == {"limit": ["1"]}


# --- blob-export files -------------------------------------------------------------------------



def _manifests(fs: pafs.FileSystem, writer: LangfuseExportWriter) -> list[dict]:
    selector = pafs.FileSelector(f"{writer.bucket_path}/{writer.prefix}{writer.project_id}/manifests")
    infos = sorted(fs.get_file_info(selector), key=lambda i: i.path)
    manifests = []
    for info in infos:
        with fs.open_input_stream(info.path, compression=None) as stream:
            manifests.append(json.loads(stream.read()))
    return manifests


def _read_bytes(fs, path):
    with fs.open_input_stream(path, compression=None) as stream:
        return stream.read()


def test_parquet_export_layout_manifests_and_rows(tmp_path, traces):
    fs = pafs.LocalFileSystem()
    writer = export_day(fs, str(tmp_path), traces, DAY, prefix="langfuse/")
    assert len(writer.runs) == 26  # the day's 24 hourly windows and one on each side
    manifests = _manifests(fs, writer)
    assert len(manifests) == 26
    first = manifests[1]
    assert first["window"] == {"minTimestamp": "2026-04-18T00:00:00.000Z", "maxTimestamp": "2026-04-18T01:00:00.000Z"}
    assert first["exportSource"] == "EVENTS" and first["tables"] == ["scores", "observations_v2"]
    assert set(first) == {"version", "projectId", "exportSource", "window", "maxTimestamp", "createdAt", "tables", "files"}
    entry = next(f for f in first["files"] if f["table"] == "observations_v2")
    assert entry["key"] == f"langfuse/{writer.project_id}/observations_v2/2026-04-18T01-00-00.parquet"
    assert entry["rowCount"] is None and entry["compressed"] is False and entry["format"] == "parquet"
    total = 0
    for manifest in manifests:
        for f in manifest["files"]:
            path = f"{tmp_path}/{f['key']}"
            assert fs.get_file_info(path).size == f["sizeBytes"]
            table = pq.read_table(path)
            assert table.schema.equals(export_schema(f["table"]))
            if f["table"] == "observations_v2":
                low = datetime.fromisoformat(manifest["window"]["minTimestamp"].replace("Z", "+00:00"))
                high = datetime.fromisoformat(manifest["window"]["maxTimestamp"].replace("Z", "+00:00"))
                assert all(low <= t <= high for t in table.column("start_time").to_pylist())
                total += table.num_rows
    observations = [o for t in traces for o in t.observations]
    # Rows stamped exactly on a window boundary (the 00:00:00.000 and 09:00:00.000 roots) are in two files.
    on_boundary = [o for o in observations if o.start_time == o.start_time.replace(minute=0, second=0, microsecond=0)]
    assert len(on_boundary) >= 2
    assert total == len(observations) + len(on_boundary)
    assert pq.ParquetFile(f"{tmp_path}/{entry['key']}").metadata.row_group(0).column(0).compression == "ZSTD"


def test_parquet_export_types_match_clickhouse(tmp_path, traces):
    fs = pafs.LocalFileSystem()
    writer = LangfuseExportWriter(fs, str(tmp_path))
    run = writer.run(traces, datetime(2026, 4, 18, tzinfo=UTC), datetime(2026, 4, 19, tzinfo=UTC))
    table = pq.read_table(run.file("observations_v2").path)
    assert table.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("usage_details").type == pa.map_(pa.string(), pa.uint64())
    assert table.schema.field("total_cost").type == pa.decimal128(18, 12)
    korean = next(t for t in traces if t.facts.language == "ko" and t.sdk == "python" and isinstance(t.input, dict))
    row = next(r for r in table.to_pylist() if r["id"] == korean.root.id)
    assert json.loads(row["input"]) == korean.input and "\\u" in row["input"]
    assert dict(row["metadata"])["app.name"] == "docs-assistant"
    assert row["parent_observation_id"] == "" and row["user_id"] == korean.user_id


def test_parquet_export_on_moto_s3(s3_endpoint, s3_bucket, traces):
    host_port = s3_endpoint.removeprefix("http://")
    fs = pafs.S3FileSystem(endpoint_override=host_port, scheme="http", access_key="test-key",
                           secret_key="test-secret", region="us-east-1")
    writer = export_day(fs, s3_bucket, traces, DAY, frequency="daily", edge_windows=False, prefix="exports/")
    assert writer.uri == f"s3://{s3_bucket}/exports/{writer.project_id}"
    [manifest] = _manifests(fs, writer)
    rows = 0
    for f in manifest["files"]:
        info = fs.get_file_info(f"{s3_bucket}/{f['key']}")
        assert info.size == f["sizeBytes"]
        rows += pq.read_table(f"{s3_bucket}/{f['key']}", filesystem=fs).num_rows
    day_observations = sum(1 for t in traces for o in t.observations
                           if datetime(2026, 4, 18, tzinfo=UTC) <= o.start_time <= datetime(2026, 4, 19, tzinfo=UTC))
    assert rows == day_observations


@pytest.mark.parametrize("file_type,compressed", [("JSONL", True), ("JSONL", False), ("CSV", True)])
def test_text_exports_read_back_and_match_manifest(tmp_path, traces, file_type, compressed):
    fs = pafs.LocalFileSystem()
    writer = export_day(fs, str(tmp_path), traces, DAY, frequency="daily", export_source="TRACES_OBSERVATIONS",
                        file_type=file_type, compressed=compressed)
    manifest = _manifests(fs, writer)[1]
    assert manifest["tables"] == ["scores", "traces", "observations"]
    for f in manifest["files"]:
        ext = {"JSONL": "jsonl", "CSV": "csv"}[file_type] + (".gz" if compressed else "")
        assert f["key"].endswith(f"2026-04-19T00-00-00.{ext}")
        assert f["format"] == f"{file_type.lower()}-{'gzip' if compressed else 'raw'}"
        data = _read_bytes(fs, f"{tmp_path}/{f['key']}")
        assert len(data) == f["sizeBytes"]
        text = (gzip.decompress(data) if compressed else data).decode()
        if file_type == "JSONL":
            rows = [json.loads(line) for line in text.splitlines()]
        else:
            rows = list(csv.DictReader(text.splitlines()))
        assert len(rows) == f["rowCount"]
        if f["table"] == "observations" and rows:
            gen = next(r for r in rows if r["type"] == "GENERATION")
            usage = gen["usage_details"] if file_type == "JSONL" else json.loads(gen["usage_details"])
            assert all(isinstance(v, str) for v in usage.values())  # 64-bit ints as strings
            assert len(gen["start_time"]) == len("2026-04-18 10:00:00.000")
            assert "input_price" in gen
    traces_file = next(f for f in manifest["files"] if f["table"] == "traces")
    assert traces_file["rowCount"] == sum(1 for t in traces if t.timestamp.date() == DAY)


def test_updated_row_reappears_in_a_later_file_with_a_later_updated_at(tmp_path, traces):
    midnight_trace = traces[0]
    assert midnight_trace.timestamp == datetime(2026, 4, 18, tzinfo=UTC)
    root = midnight_trace.root
    newer = with_update(midnight_trace, root.id, seconds_later=600, output={"answer": "revised"})
    fs = pafs.LocalFileSystem()
    writer = export_day(fs, str(tmp_path), traces, DAY, updated_traces=[newer],
                        updates_from=datetime(2026, 4, 18, tzinfo=UTC))
    versions = []
    for run in writer.runs:
        table = pq.read_table(run.file("observations_v2").path)
        versions += [(run.window_max, r["updated_at"], r["output"]) for r in table.to_pylist() if r["id"] == root.id]
    assert len(versions) == 2
    (first_at, first_updated, _), (later_at, later_updated, later_output) = sorted(versions)
    assert later_at > first_at and later_updated > first_updated and json.loads(later_output) == {"answer": "revised"}


def test_exclusive_upper_bound_writes_each_row_once(tmp_path, traces):
    fs = pafs.LocalFileSystem()
    writer = export_day(fs, str(tmp_path), traces, DAY, upper_bound="exclusive")
    total = sum(pq.read_table(r.file("observations_v2").path).num_rows for r in writer.runs)
    assert total == sum(len(t.observations) for t in traces)


def test_export_faults(tmp_path, traces):
    fs = pafs.LocalFileSystem()
    writer = export_day(fs, str(tmp_path), traces, DAY, frequency="daily", edge_windows=False)
    run = writer.runs[0]
    obs_file, scores_file = run.file("observations_v2"), run.file("scores")
    writer.truncate(obs_file)
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(obs_file.path)
    writer.corrupt(scores_file)
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(scores_file.path)
    writer.delete(obs_file)
    manifest = _manifests(fs, writer)[0]
    assert obs_file.key in [f["key"] for f in manifest["files"]]
    assert fs.get_file_info(obs_file.path).type == pafs.FileType.NotFound
    pending = writer.run(traces, datetime(2026, 4, 19, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC), write_manifest=False)
    assert pending.manifest_key is None
    assert fs.get_file_info(pending.file("observations_v2").path).type == pafs.FileType.File
    assert len(_manifests(fs, writer)) == 1


def test_large_day_replays_templates_with_unique_ids_inside_their_windows(tmp_path):
    fs = pafs.LocalFileSystem()
    writer = LangfuseExportWriter(fs, str(tmp_path))
    stats = write_large_day(writer, DAY, 3000, seed=3, templates=50, chunk_traces=400)
    assert len(_manifests(fs, writer)) == len(stats.runs) >= 24
    ids, trace_ids, parents = set(), set(), []
    rows = 0
    for run in stats.runs:
        table = pq.read_table(run.file("observations_v2").path)
        assert table.schema.equals(export_schema("observations_v2"))
        assert all(run.window_min <= t <= run.window_max for t in table.column("start_time").to_pylist())
        ids.update(table.column("id").to_pylist())
        trace_ids.update(table.column("trace_id").to_pylist())
        parents += table.column("parent_observation_id").to_pylist()
        rows += table.num_rows
    assert rows == stats.rows_written
    assert len(ids) == stats.observations and len(trace_ids) == stats.traces == 3000
    assert all(p == "" or p in ids for p in parents)
    assert 0 < stats.consented_traces < stats.traces


def test_data_access_window_hides_old_observations_silently(traces):
    with LangfuseApiServer(traces, data_access_days=30) as server:
        status, body, _ = Client(server).get("/api/public/v2/observations?fromStartTime=2026-04-18T00:00:00Z")
    assert status == 200 and body["data"] == [] and body["meta"] == {}


def test_posted_scores_export_as_score_rows(tmp_path, v4, traces):
    batch = [_score_event(f"e{i}", id=f"s-{i}", traceId=t.id, name="trace_assets.final_reward", value=0.5,
                          dataType="NUMERIC") for i, t in enumerate(traces[:3])]
    Client(v4).request("POST", "/api/public/ingestion", {"batch": batch})
    rows = export_scores_from_api(v4.stored_scores())
    writer = LangfuseExportWriter(pafs.LocalFileSystem(), str(tmp_path))
    run = writer.run([], datetime(2026, 4, 19, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC), scores=rows)
    table = pq.read_table(run.file("scores").path)
    assert sorted(table.column("id").to_pylist()) == ["s-0", "s-1", "s-2"]
    assert set(table.column("trace_id").to_pylist()) == {t.id for t in traces[:3]}


def test_nan_in_a_batch_fails_the_whole_request_as_node_would(v4, traces):
    raw = ('{"batch": [{"id": "e1", "timestamp": "2026-04-19T01:00:00.000Z", "type": "score-create", '
           f'"body": {{"traceId": "{traces[0].id}", "name": "r", "value": NaN}}}}]}}').encode()
    req = urllib.request.Request(v4.base_url + "/api/public/ingestion", data=raw, method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{v4.public_key}:{v4.secret_key}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400 and v4.stored_scores() == []


def test_base_path_serves_under_a_sub_path(traces):
    with LangfuseApiServer(traces[:3], base_path="/langfuse") as server:
        assert server.base_url.endswith("/langfuse")
        assert Client(server).get("/api/public/v2/observations?limit=1")[0] == 200
        client = Client(server)
        client.base = server.base_url.removesuffix("/langfuse")
        assert client.get("/api/public/v2/observations")[0] == 404


def test_v2_filter_parameter_applies_or_refuses(v4, traces):
    client = Client(v4)
    conditions = [{"type": "datetime", "column": "startTime", "operator": ">=", "value": "2026-04-18T12:00:00Z"},
                  {"type": "stringOptions", "column": "type", "operator": "any of", "value": ["GENERATION"]}]
    query = urllib.parse.quote(json.dumps(conditions))
    items, _ = client.all_v2(f"limit=100&fields=core&filter={query}")
    expected = {o.id for t in traces for o in t.observations
                if o.type == "GENERATION" and o.start_time >= datetime(2026, 4, 18, 12, tzinfo=UTC)}
    assert {i["id"] for i in items} == expected
    bad = urllib.parse.quote(json.dumps([{"type": "number", "column": "latency", "operator": ">", "value": 1}]))
    status, body, _ = client.get(f"/api/public/v2/observations?filter={bad}")
    assert status == 400 and "not supported" in body["error"][0]["message"]


def test_fail_events_refuses_chosen_events_in_the_207(v4, traces):
    refused = {traces[0].id}
    v4.fail_events(lambda e: e["body"]["traceId"] in refused)
    batch = [_score_event(f"e{i}", id=f"s-{i}", traceId=t.id, name="r", value=0.1) for i, t in enumerate(traces[:3])]
    status, body, _ = Client(v4).request("POST", "/api/public/ingestion", {"batch": batch})
    assert status == 207 and [e["id"] for e in body["errors"]] == ["e0"] and body["errors"][0]["status"] == 500
    assert sorted(s["id"] for s in v4.stored_scores()) == ["s-1", "s-2"]
    v4.fail_events(None)
    Client(v4).request("POST", "/api/public/ingestion", {"batch": batch[:1]})
    assert len(v4.stored_scores()) == 3
