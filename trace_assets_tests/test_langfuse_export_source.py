"""LangfuseExportSource on Langfuse's blob-export layout, on local disk and on moto's S3 over
HTTP: every table and file type, manifests as commit points, boundary rows, updates, faults."""

import json
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets_tests.langfuse_export_files import export_day
from trace_assets_tests.langfuse_traces import CONSENT_TAG, day_of_traces, with_update

DAY = date(2026, 4, 18)
START = datetime(2026, 4, 18, tzinfo=timezone.utc)
END = START + timedelta(days=1)
CONTEXTS_IN_PROMPT_ONLY = ("openai_chat", "openai_tools")


def read_day(source: LangfuseExportSource) -> dict[str, dict]:
    rows = pa.Table.from_batches(list(source.read_window(START, END, consented_only=True))).to_pylist()
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "a trace lands once"
    return {row["id"]: row for row in rows}


def expected_ids(traces) -> set[str]:
    return {t.id for t in traces if t.facts.kind != "evaluator" and t.timestamp.date() == DAY}


def assert_rows_match(traces, rows, legacy: bool) -> None:
    assert set(rows) == expected_ids(traces)
    for trace in traces:
        row = rows.get(trace.id)
        if row is None:
            continue
        facts = trace.facts
        assert (row["input"], row["output"], row["user_consent"]) == (facts.question, facts.answer, facts.consented)
        assert row["timestamp"] == (trace.timestamp if legacy else trace.root.start_time)
        assert row["contexts"] == (None if facts.kind in CONTEXTS_IN_PROMPT_ONLY else (facts.contexts or None))
        generations = trace.generations
        assert row["model"] == (generations[-1].model if generations else None)


def local_export(tmp_path, traces, **options):
    return export_day(pafs.LocalFileSystem(), str(tmp_path / "bucket"), traces, DAY, **options)


@pytest.mark.parametrize(
    "export_source, file_type, compressed",
    [
        ("EVENTS", "PARQUET", False),
        ("EVENTS", "JSONL", True),
        ("EVENTS", "CSV", False),
        ("TRACES_OBSERVATIONS", "PARQUET", False),
        ("TRACES_OBSERVATIONS", "JSONL", False),
        ("TRACES_OBSERVATIONS", "CSV", True),
    ],
)
def test_every_export_source_and_file_type_lands_the_traces_that_were_sent(tmp_path, export_source, file_type, compressed):
    traces = day_of_traces(DAY, 60, seed=11)
    writer = local_export(tmp_path, traces, export_source=export_source, file_type=file_type, compressed=compressed)
    source = LangfuseExportSource(export_uri=writer.uri, consent_tag=CONSENT_TAG)
    assert_rows_match(traces, read_day(source), legacy=export_source == "TRACES_OBSERVATIONS")


def test_the_export_on_s3_over_http(s3_bucket, s3_endpoint):
    traces = day_of_traces(DAY, 40, seed=12)
    fs = pafs.S3FileSystem(endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http",
                           access_key="test-key", secret_key="test-secret", region="us-east-1")
    writer = export_day(fs, s3_bucket, traces, DAY, prefix="langfuse/", frequency="hourly")
    assert writer.uri.startswith(f"s3://{s3_bucket}/langfuse/")
    source = LangfuseExportSource(export_uri=writer.uri, s3_endpoint_url=s3_endpoint, consent_tag=CONSENT_TAG)
    assert_rows_match(traces, read_day(source), legacy=False)


def test_rows_on_window_boundaries_and_later_updates_land_once_in_their_latest_version(tmp_path):
    traces = day_of_traces(DAY, 40, seed=13, edge_cases=True)
    target = next(t for t in traces if t.facts.kind == "langchain_rag" and t.facts.consented and t.timestamp.hour < 20)
    updated = with_update(target, target.generations[-1].id, seconds_later=3600, output="a later answer")
    writer = local_export(tmp_path, traces, frequency="every_20_minutes")
    # Langfuse exports a row again when a later run's window holds it: here a re-run over the
    # trace's minutes, after the update.
    writer.run([updated], target.timestamp - timedelta(minutes=1, seconds=7), target.timestamp + timedelta(minutes=9, seconds=3))
    rows = read_day(LangfuseExportSource(export_uri=writer.uri, consent_tag=CONSENT_TAG))
    assert set(rows) == expected_ids(traces)
    assert json.loads(rows[target.id]["messages"])[-1]["content"] == "a later answer"


def test_a_run_without_its_manifest_is_not_read_yet(tmp_path):
    traces = day_of_traces(DAY, 30, seed=14, edge_cases=False)
    late = [t for t in day_of_traces(DAY, 3, seed=15, edge_cases=False) if t.facts.kind != "evaluator"]
    writer = local_export(tmp_path, traces)
    in_progress = writer.run(late, START, END - timedelta(seconds=1), write_manifest=False)
    source = LangfuseExportSource(export_uri=writer.uri, consent_tag=CONSENT_TAG)
    before = source.day_fingerprints(START, END)
    assert set(read_day(source)) == expected_ids(traces)
    writer.commit(in_progress)
    assert set(read_day(source)) == expected_ids(traces) | expected_ids(late)
    assert source.day_fingerprints(START, END)[DAY] != before[DAY], "a new manifest touching the day is late data"


@pytest.mark.parametrize("fault", ["truncate", "corrupt", "delete"])
def test_a_broken_file_is_named_and_the_rest_of_the_day_lands(tmp_path, fault):
    traces = day_of_traces(DAY, 60, seed=16, edge_cases=False)
    writer = local_export(tmp_path, traces, frequency="hourly")
    run = next(r for r in writer.runs if r.window_min.hour == 15 and r.window_min.date() == DAY)
    broken = run.files[-1]
    getattr(writer, fault)(broken)
    source = LangfuseExportSource(export_uri=writer.uri, consent_tag=CONSENT_TAG)
    rows = read_day(source)
    notes = source.read_notes(START, END).as_dict()
    assert notes["export_file_unreadable"]["rows"] == 1
    assert broken.key.rsplit("/", 1)[-1] in notes["export_file_unreadable"]["sample_ids"][0]
    outside = {t.id for t in traces if not run.window_min <= t.root.start_time <= run.window_max + timedelta(minutes=5)}
    assert expected_ids(traces) & outside <= set(rows), "traces in other files all land"
