"""Reading Parquet exports and assembling common-shape traces column by column (arrow_spans.py,
columnar_assembly.py) lands the same rows as a dict per span and per trace (records.py,
assembly.py): every column of every trace, and the same notes."""

import json
import random
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from trace_assets.ingest.rejections import RejectionLog
from trace_assets.langfuse.assembly import AssemblyRules
from trace_assets.langfuse.columnar_assembly import assemble_columns
from trace_assets.langfuse.export_files import SPAN_TABLES, file_path, read_manifests, read_spans
from trace_assets.langfuse.span_spool import SpanSpool
from trace_assets.langfuse.spans import SPAN_SCHEMA, as_metadata
from trace_assets.langfuse.trace_rows import assembled_batches
from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets_tests.langfuse_export_files import export_day
from trace_assets_tests.langfuse_traces import CONSENT_TAG, day_of_traces

DAY = date(2026, 4, 18)
START = datetime(2026, 4, 18, tzinfo=timezone.utc)
END = START + timedelta(days=1)


def landed(source: LangfuseExportSource) -> tuple[pa.Table, dict]:
    """The day's rows by id, and its notes' counts (which ids are the samples depends on the
    order traces are assembled in)."""
    table = pa.Table.from_batches(list(source.read_window(START, END, consented_only=True)))
    return table.sort_by("id"), dict(source.read_notes(START, END).counts)


def assert_same_rows(columnar: pa.Table, one_by_one: pa.Table) -> None:
    assert columnar.schema == one_by_one.schema
    assert columnar.column("id").to_pylist() == one_by_one.column("id").to_pylist()
    for name in columnar.column_names:
        assert columnar.column(name).to_pylist() == one_by_one.column(name).to_pylist(), f"column {name} differs"


@pytest.mark.parametrize("export_source", ["EVENTS", "TRACES_OBSERVATIONS"])
def test_generated_exports_land_the_same_rows_both_ways(tmp_path, export_source):
    # RAG, OpenAI messages and tools, OpenInference, agents, evaluators, Korean and English.
    traces = day_of_traces(DAY, 300, seed=21)
    writer = export_day(pafs.LocalFileSystem(), str(tmp_path / "bucket"), traces, DAY, export_source=export_source, file_type="PARQUET")
    options = dict(export_uri=writer.uri, consent_tag=CONSENT_TAG, ui_url="https://langfuse.example")
    columnar, columnar_notes = landed(LangfuseExportSource(**options))
    one_by_one, notes = landed(LangfuseExportSource(**options, columnar=False))
    assert one_by_one.num_rows > 200
    assert_same_rows(columnar, one_by_one)
    assert columnar_notes == notes


@pytest.mark.parametrize("export_source", ["EVENTS", "TRACES_OBSERVATIONS"])
def test_parquet_rows_become_the_same_spans_as_row_by_row(tmp_path, export_source):
    traces = day_of_traces(DAY, 120, seed=22)
    writer = export_day(pafs.LocalFileSystem(), str(tmp_path / "bucket"), traces, DAY, export_source=export_source, file_type="PARQUET")
    fs, root = pafs.LocalFileSystem(), writer.uri.removeprefix("file://")
    tables = set()
    for manifest in read_manifests(fs, root):
        for file in manifest.files:
            if file.table in SPAN_TABLES:
                path = file_path(root, manifest, file)
                columnar = pa.Table.from_batches(list(read_spans(fs, path, file)), schema=SPAN_SCHEMA)
                rows = pa.Table.from_batches(list(read_spans(fs, path, file, columnar=False)), schema=SPAN_SCHEMA)
                assert columnar.to_pylist() == rows.to_pylist(), path
                tables.add(file.table)
    assert tables == ({"observations_v2"} if export_source == "EVENTS" else {"traces", "observations"})


# --- traces near the edges of the common shape, straight into the spool ---------------------

def dumps(value, compact: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":") if compact else None)


TEXTS = ["How do I rotate keys?", "키를 어떻게 교체하나요?", 'a "quoted" word', "two\nlines\tand a tab",
         "back\\slash", "a bell \x07 and a slash /", "", "emoji 🙂 and é"]


def edge_trace(number: int, rng: random.Random) -> list[dict]:
    """One trace: mostly the common shape (root, RETRIEVERs, GENERATION), each with one of the
    departures assembly's rules care about."""
    variant = number % 22
    trace_id = f"trace-{number:05d}"
    started = START + timedelta(seconds=number * 7 + (-5000 if variant == 21 else 0), microseconds=rng.randrange(1_000_000))
    question, answer = rng.choice(TEXTS), rng.choice(TEXTS)
    compact = variant == 1
    chat = [{"role": "system", "content": "Answer from the documents."}, {"role": "user", "content": question}]
    if variant == 2:
        chat += [{"role": "assistant", "content": "An earlier answer."}, {"role": "user", "content": "and then?"}]
    if variant == 3:
        chat += [{"role": "assistant", "content": answer}]
    answer_message = {"role": "assistant", "content": answer}
    metadata = [("user_consent", rng.choice(["true", "false", "1", "0"])), ("feature", "docs")]
    if variant == 4:
        metadata.append(("contexts", dumps(["from metadata"])))
    if variant == 5:
        metadata.append(("environment", "mine"))
    if variant == 6:
        metadata.append(("langfuse_trace_url", "https://elsewhere"))
    base = {name: None for name in SPAN_SCHEMA.names}
    root = {
        **base, "trace_id": trace_id, "id": f"{trace_id}-root", "type": "SPAN", "name": "rag",
        "start_time": started, "end_time": started + timedelta(seconds=3),
        "input": dumps({"question": question}, compact), "output": dumps({"answer": answer}, compact),
        "metadata": as_metadata(metadata), "environment": "langfuse-evaluation" if variant == 7 else "production",
        "user_id": f"user-{number % 7}", "session_id": None if variant == 8 else f"session-{number % 3}",
        "tags": dumps(["docs", CONSENT_TAG] if variant == 9 else ["docs"]), "release": "r1", "version": None,
        "updated_at": started,
    }
    if variant == 10:
        root["input"] = None
    if variant == 11:
        root["output"] = None
    if variant == 12:
        # Chat messages on the root; every other time without a user message (the question is
        # then the generation's).
        root["input"] = dumps(chat if number % 44 == 12 else chat[:1])
    generation = {
        **base, "trace_id": trace_id, "id": f"{trace_id}-gen", "type": "GENERATION", "name": "ChatOpenAI",
        "parent_observation_id": root["id"], "start_time": started + timedelta(milliseconds=40),
        "end_time": started + timedelta(milliseconds=40 + rng.randrange(100, 5000), microseconds=rng.choice([0, 500, 499, 501])),
        "input": dumps(chat, compact), "output": dumps(answer_message, compact), "model": "gpt-4o-mini",
        "input_tokens": 10, "output_tokens": 5, "total_tokens": None if variant == 13 else 15, "updated_at": started,
        "tool_definitions": dumps({"search": dumps({"name": "search"})}) if variant == 14 else "[]",
    }
    if variant == 15:
        generation["user_id"], root["user_id"] = "from-generation", None
    if variant == 16:
        generation["output"] = dumps({"choices": [{"message": answer_message}]})
    documents = [{"page_content": rng.choice(TEXTS), "metadata": {"rank": rank}} for rank in range(rng.randrange(0, 4))]
    outputs = {
        17: dumps([document["page_content"] for document in documents] + [None]),
        18: dumps([{"content": "no page_content"}] + documents),
        19: json.dumps(documents, indent=2),
        20: "null",
    }
    retrievers = [
        {**base, "trace_id": trace_id, "id": f"{trace_id}-ret{index}", "type": "RETRIEVER", "name": "VectorStoreRetriever",
         "parent_observation_id": root["id"], "start_time": started + timedelta(milliseconds=index),
         "end_time": started + timedelta(milliseconds=30), "input": dumps(question),
         "output": outputs.get(variant, dumps(documents[index:] if index else documents)), "metadata": "{}", "updated_at": started}
        for index in range(2 if variant % 2 else 1)
    ]
    if variant == 0 and number % 44 == 0:
        retrievers = []
    return [root, generation, *retrievers]


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_traces_at_the_edges_of_the_common_shape_land_as_assembly_makes_them(seed):
    rng = random.Random(seed)
    spans = [span for number in range(880) for span in edge_trace(number, rng)]
    rng.shuffle(spans)
    rules = AssemblyRules(window_start=START, window_end=END, consent_tag=CONSENT_TAG)

    def assembled(columnar: bool) -> tuple[pa.Table, RejectionLog]:
        notes = RejectionLog()
        with SpanSpool(memory_limit="8MB") as spool:
            for offset in range(0, len(spans), 500):
                spool.add(pa.RecordBatch.from_pylist(spans[offset : offset + 500], schema=SPAN_SCHEMA))
            batches = list(assembled_batches(spool, rules, notes, "https://langfuse.example/project/p/traces/", columnar=columnar))
        return pa.Table.from_batches(batches).sort_by("id"), notes

    columnar, columnar_notes = assembled(True)
    one_by_one, notes = assembled(False)
    assert one_by_one.num_rows > 700
    assert_same_rows(columnar, one_by_one)
    assert columnar_notes.counts == notes.counts

    # Most of them took the columnar way (else this test would prove little).
    with SpanSpool() as spool:
        spool.add(pa.RecordBatch.from_pylist(spans, schema=SPAN_SCHEMA))
        results = [assemble_columns(table, rules, None) for table in spool.trace_tables()]
        handled = sum(len(result.rows["id"]) for result in results if result.rows is not None)
    assert handled > one_by_one.num_rows / 2, handled
