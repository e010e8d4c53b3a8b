"""Writes the bundled sample traces as a Langfuse v4 blob-storage export, deterministically.

    python -m trace_assets.sample_data.langfuse_export

The export `LANGFUSE_EXPORT_URI` points at for the demo (README: "Connect your Langfuse"):
`sample_data/langfuse-export/<project>/observations_v2/<window end>.parquet` (zstd Parquet, daily
windows, both ends inclusive, so a trace at midnight is in two files) and
`manifests/<window end>.json`, written after its file. Each sample trace becomes what
LangChain's callback handler makes in Langfuse v4: a root span holding the question, answer,
user, session and metadata (consent as `user_consent`, absent when the seed's value is NULL), a
RETRIEVER observation whose output is the contexts as `page_content` documents, and the
GENERATION with the model, the chat messages, the latency and the usage. The sample's three
rows that no Langfuse trace can be (no id, no timestamp, metadata that is not an object) are not
in the export; its row with a NULL output is, as a trace without an answer.
"""

import gzip
import hashlib
import json
import shutil
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq

from trace_assets.sample_data import SAMPLE_LANGFUSE_EXPORT_DIR, SAMPLE_LANGFUSE_PROJECT, SAMPLE_TRACES_PATH

WINDOWS = [datetime(2026, 4, day, tzinfo=timezone.utc) for day in (17, 18, 19, 20, 21)]
SYSTEM_PROMPT = "Answer from the given documents only. / 주어진 문서만으로 답하세요."

OBSERVATIONS_V2_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("trace_id", pa.string()),
        ("project_id", pa.string()),
        ("start_time", pa.timestamp("us", tz="UTC")),
        ("end_time", pa.timestamp("us", tz="UTC")),
        ("parent_observation_id", pa.string()),
        ("type", pa.string()),
        ("name", pa.string()),
        ("level", pa.string()),
        ("environment", pa.string()),
        ("version", pa.string()),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("trace_name", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("release", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("metadata", pa.map_(pa.string(), pa.string())),
        ("provided_model_name", pa.string()),
        ("usage_details", pa.map_(pa.string(), pa.uint64())),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _metadata_strings(metadata: dict) -> list[tuple[str, str]]:
    """Langfuse keeps metadata values as strings (JSON for anything but a string)."""
    return [(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)) for key, value in metadata.items()]


def observations_of(trace: dict) -> list[dict]:
    """The sample trace as Langfuse v4 observations_v2 rows."""
    started = datetime.fromisoformat(trace["timestamp"]).replace(tzinfo=timezone.utc)
    latency = timedelta(milliseconds=trace["latency_ms"] or 0)
    metadata = dict(trace["metadata"] or {})
    contexts = metadata.pop("contexts", None) or []
    if trace["user_consent"] is not None:
        metadata["user_consent"] = trace["user_consent"]
    common = {
        "trace_id": trace["id"],
        "project_id": SAMPLE_LANGFUSE_PROJECT,
        "level": "DEFAULT",
        "environment": "production",
        "version": None,
        "user_id": trace["user_id"],
        "session_id": trace["session_id"],
        "trace_name": "docs-rag",
        "tags": ["docs-rag"],
        "release": "2026.04",
    }
    retrieval_end = started + timedelta(milliseconds=40)
    generation_end = retrieval_end + latency
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": trace["input"]}]
    answer = None if trace["output"] is None else {"role": "assistant", "content": trace["output"]}
    rows = [
        {
            **common,
            "id": _id(trace["id"], "root"),
            "start_time": started,
            "end_time": generation_end + timedelta(milliseconds=5),
            "parent_observation_id": None,
            "type": "SPAN",
            "name": "docs-rag",
            "input": json.dumps({"question": trace["input"]}, ensure_ascii=False),
            "output": None if trace["output"] is None else json.dumps({"answer": trace["output"]}, ensure_ascii=False),
            "metadata": _metadata_strings(metadata),
            "provided_model_name": None,
            "usage_details": [],
        }
    ]
    if contexts:
        rows.append(
            {
                **common,
                "id": _id(trace["id"], "retriever"),
                "start_time": started + timedelta(milliseconds=1),
                "end_time": retrieval_end,
                "parent_observation_id": rows[0]["id"],
                "type": "RETRIEVER",
                "name": "VectorStoreRetriever",
                "input": json.dumps(trace["input"], ensure_ascii=False),
                "output": json.dumps([{"page_content": text, "metadata": {"rank": rank}} for rank, text in enumerate(contexts)], ensure_ascii=False),
                "metadata": [],
                "provided_model_name": None,
                "usage_details": [],
            }
        )
    rows.append(
        {
            **common,
            "id": _id(trace["id"], "generation"),
            "start_time": retrieval_end,
            "end_time": generation_end,
            "parent_observation_id": rows[0]["id"],
            "type": "GENERATION",
            "name": "ChatOpenAI",
            "input": json.dumps(messages, ensure_ascii=False),
            "output": None if answer is None else json.dumps(answer, ensure_ascii=False),
            "metadata": [],
            "provided_model_name": trace["model"],
            "usage_details": [] if trace["token_count"] is None else [("total", trace["token_count"])],
        }
    )
    for row in rows:
        row["created_at"] = row["updated_at"] = row["end_time"]
    return rows


def write_export() -> None:
    with gzip.open(SAMPLE_TRACES_PATH, "rt", encoding="utf-8") as lines:
        traces = [json.loads(line) for line in lines]
    observations = [
        row
        for trace in traces
        if trace["id"] and trace["timestamp"] and isinstance(trace["metadata"], (dict, type(None)))
        for row in observations_of(trace)
    ]
    root = SAMPLE_LANGFUSE_EXPORT_DIR
    shutil.rmtree(root, ignore_errors=True)
    (root / "observations_v2").mkdir(parents=True)
    (root / "manifests").mkdir()
    for window_start, window_end in zip(WINDOWS, WINDOWS[1:]):
        stamp = window_end.strftime("%Y-%m-%dT%H-%M-%S")
        rows = [row for row in observations if window_start <= row["start_time"] <= window_end]
        key = f"{SAMPLE_LANGFUSE_PROJECT}/observations_v2/{stamp}.parquet"
        path = root / "observations_v2" / f"{stamp}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=OBSERVATIONS_V2_SCHEMA), path, compression="zstd")
        manifest = {
            "version": 1,
            "projectId": SAMPLE_LANGFUSE_PROJECT,
            "exportSource": "EVENTS",
            "window": {"minTimestamp": window_start.isoformat().replace("+00:00", ".000Z"),
                       "maxTimestamp": window_end.isoformat().replace("+00:00", ".000Z")},
            "createdAt": (window_end + timedelta(minutes=21)).isoformat().replace("+00:00", ".000Z"),
            "tables": ["observations_v2"],
            "files": [{"key": key, "table": "observations_v2", "fileType": "PARQUET", "compressed": False,
                       "sizeBytes": path.stat().st_size, "rowCount": None}],
        }
        (root / "manifests" / f"{stamp}.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    write_export()
    print(f"wrote {SAMPLE_LANGFUSE_EXPORT_DIR}")
