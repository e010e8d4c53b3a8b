"""Langfuse's blob-storage export, written the way Langfuse's worker writes it, to any pyarrow
filesystem (a local folder, or moto's S3 through `pyarrow.fs.S3FileSystem`).

    fs = pyarrow.fs.S3FileSystem(endpoint_override=..., scheme="http", ...)
    writer = LangfuseExportWriter(fs, "exports-bucket", project_id="cm0proj", prefix="langfuse/")
    runs = writer.run_windows(traces, start, end, "hourly")   # files + a manifest per window
    os.environ["LANGFUSE_EXPORT_URI"] = writer.uri              # s3://exports-bucket/langfuse/cm0proj

Layout (worker/src/features/blobstorage/handleBlobStorageIntegrationProjectJob.ts, manifest.ts):
- data files `{prefix}{projectId}/{table}/{YYYY-MM-DDTHH-MM-SS}.{ext}`, the timestamp being the
  window's end (`toISOString()` with `:` -> `-`, cut to seconds); `ext` is `parquet`, or `jsonl`,
  `csv`, `json` with `.gz` appended when compressed (text formats only; Parquet never);
- tables: `scores` always; `traces` + `observations` for export source `TRACES_OBSERVATIONS`
  (v3 legacy); `observations_v2` for `EVENTS` (v4); all four for `TRACES_OBSERVATIONS_EVENTS`;
- the manifest `{prefix}{projectId}/manifests/{same timestamp}.json`, written after every data
  file of the run (its commit point), pretty-printed JSON + newline: `{version: 1, projectId,
  exportSource, window: {minTimestamp, maxTimestamp}, maxTimestamp, createdAt, tables, files:
  [{key, table, fileType, format, compressed, contentType, sizeBytes, rowCount}]}`;
- rows whose time (`timestamp` for traces and scores, `start_time` for observations) lies in
  `[minTimestamp, maxTimestamp]`, both ends inclusive: a row exactly on a boundary is in two
  consecutive files. A row is written as it stands at that run.

Column names and types follow the export code and the ClickHouse tables it reads (events_full for
`observations_v2`, the v3 `traces`/`observations`/`scores` tables); Parquet is what ClickHouse's
`FORMAT Parquet` produces (zstd, UTC timestamps: microseconds for v4, milliseconds for v3, maps for
metadata/usage/cost, Decimal(18,12) for costs, non-Nullable ClickHouse columns as required
fields). JSONL/CSV come from ClickHouse's JSONEachRow through Node: timestamps as
`"2026-04-18 10:00:00.000000"` (v4) / `"2026-04-18 10:00:00.000"` (v3), 64-bit integers (usage
counts) as strings, decimals as numbers; the observation tables gain `input_price`,
`output_price`, `total_price` (the model-price enrichment; null here) in JSONL/CSV only. CSV has a
header from the first row and every field double-quoted (objects as JSON); an empty window gives
an empty CSV/JSONL file and a zero-row Parquet file with the schema.

Where the code disagrees with /work/shared/reference/langfuse.md:
- compressed files end in `.gz` (`.jsonl.gz`, `.csv.gz`, `.json.gz`); CSV and JSON can be gzipped
  too, not only JSONL; content type `application/gzip` then;
- manifest entries also carry `format` (`parquet`, `jsonl-gzip`, `jsonl-raw`, `csv-raw`, ...) and
  `contentType`, the manifest a top-level `maxTimestamp`; `rowCount` is null for Parquet files;
- v4 `latency`/`time_to_first_token` are seconds for integrations created on or after 2026-04-01
  and milliseconds before (`v4_latency_in_seconds`); v3 `latency` is seconds;
- frequencies include `every_20_minutes`; the lag buffer is 20 minutes;
- on Langfuse Cloud a legacy-source export also writes `{prefix}{projectId}/DEPRECATION_NOTICE.txt`
  on every run (`deprecation_notice=True` here) - a reader must not take it for data;
- an integration id different from the project id nests the keys under
  `{prefix}{projectId}/{integrationId}/` (objectKey.ts); not modelled here;
- a test in some Langfuse tree asserts a half-open window (`< maxTimestamp`); the stored manifest.ts
  says both ends inclusive. `upper_bound="exclusive"` writes the half-open variant.
- the reference says JSONL exports decode `\\uXXXX` escapes; the JSONL writer in the code
  (`stringify(row)`) writes the stored input/output strings as they are, so a Python-SDK input
  keeps its escapes inside the string. That is what is written here.

Faults for tests: `truncate(file)`, `corrupt(file)` (not Parquet any more), `delete(file)` (the
manifest then names a missing file), `run(..., write_manifest=False)` (a run in progress).

Helpers: `export_day(...)` exports one UTC day as a running integration would (one window more on
each side); `write_large_day(writer, day, 1_000_000)` writes a million-trace EVENTS Parquet day
from replayed templates in about a minute with bounded memory (for benchmarks);
`export_scores_from_api(server.stored_scores())` turns posted scores into `scores` rows;
`export_schema(table)` is the Arrow schema of a Parquet file of `table`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trace_assets_tests.langfuse_traces import (
    LangfuseTrace,
    events_rows,
    legacy_observation_row,
    legacy_trace_row,
)

UTC = timezone.utc

FREQUENCIES = {
    "every_20_minutes": timedelta(minutes=20),
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
}
LAG_BUFFER = timedelta(minutes=20)
EXPORT_SOURCES = {
    "TRACES_OBSERVATIONS": ("scores", "traces", "observations"),
    "EVENTS": ("scores", "observations_v2"),
    "TRACES_OBSERVATIONS_EVENTS": ("scores", "traces", "observations", "observations_v2"),
}
FILE_TYPES = ("PARQUET", "JSONL", "CSV", "JSON")
_EXTENSION = {"PARQUET": "parquet", "JSONL": "jsonl", "CSV": "csv", "JSON": "json"}
_CONTENT_TYPE = {"PARQUET": "application/vnd.apache.parquet", "JSONL": "application/x-ndjson; charset=utf-8",
                 "CSV": "text/csv; charset=utf-8", "JSON": "application/json; charset=utf-8"}
_COST = pa.decimal128(18, 12)


def _ts(unit: str) -> pa.DataType:
    return pa.timestamp(unit, tz="UTC")


# (name, arrow type, nullable) per table, in the export's column order. "kind" drives the
# JSONL/CSV rendering: ts (ClickHouse DateTime64 text), u64 (quoted 64-bit int), map_u64,
# dec (number), map_dec, or plain.
def _observations_v2_columns(latency_seconds: bool) -> list[tuple[str, pa.DataType, bool, str]]:
    latency = (pa.float64(), True, "plain") if latency_seconds else (pa.int64(), True, "u64")
    return [
        # core
        ("id", pa.string(), False, "plain"), ("trace_id", pa.string(), False, "plain"),
        ("start_time", _ts("us"), False, "ts"), ("end_time", _ts("us"), True, "ts"),
        ("project_id", pa.string(), False, "plain"), ("parent_observation_id", pa.string(), False, "plain"),
        ("type", pa.string(), False, "plain"),
        # basic
        ("name", pa.string(), False, "plain"), ("level", pa.string(), False, "plain"),
        ("status_message", pa.string(), False, "plain"), ("version", pa.string(), False, "plain"),
        ("environment", pa.string(), False, "plain"), ("bookmarked", pa.bool_(), False, "plain"),
        ("public", pa.bool_(), False, "plain"), ("user_id", pa.string(), False, "plain"),
        ("session_id", pa.string(), False, "plain"),
        # time
        ("completion_start_time", _ts("us"), True, "ts"), ("created_at", _ts("us"), False, "ts"),
        ("updated_at", _ts("us"), False, "ts"),
        # io, metadata
        ("input", pa.string(), False, "plain"), ("output", pa.string(), False, "plain"),
        ("metadata", pa.map_(pa.string(), pa.string()), False, "plain"),
        # model
        ("provided_model_name", pa.string(), False, "plain"), ("model_id", pa.string(), False, "plain"),
        ("model_parameters", pa.string(), False, "plain"),
        # usage
        ("usage_details", pa.map_(pa.string(), pa.uint64()), False, "map_u64"),
        ("cost_details", pa.map_(pa.string(), _COST), False, "map_dec"),
        ("total_cost", _COST, False, "dec"), ("usage_pricing_tier_name", pa.string(), True, "plain"),
        # prompt
        ("prompt_id", pa.string(), False, "plain"), ("prompt_name", pa.string(), False, "plain"),
        ("prompt_version", pa.uint16(), True, "plain"),
        # metrics
        ("latency", latency[0], latency[1], latency[2]), ("time_to_first_token", latency[0], latency[1], latency[2]),
        # trace_context
        ("tags", pa.list_(pa.string()), False, "plain"), ("release", pa.string(), False, "plain"),
        ("trace_name", pa.string(), False, "plain"),
        # tools
        ("tool_definitions", pa.map_(pa.string(), pa.string()), False, "plain"),
        ("tool_calls", pa.list_(pa.string()), False, "plain"), ("tool_call_names", pa.list_(pa.string()), False, "plain"),
    ]


TRACES_COLUMNS = [
    ("id", pa.string(), False, "plain"), ("timestamp", _ts("ms"), False, "ts"), ("name", pa.string(), True, "plain"),
    ("environment", pa.string(), False, "plain"), ("project_id", pa.string(), False, "plain"),
    ("metadata", pa.map_(pa.string(), pa.string()), False, "plain"), ("user_id", pa.string(), True, "plain"),
    ("session_id", pa.string(), True, "plain"), ("release", pa.string(), True, "plain"),
    ("version", pa.string(), True, "plain"), ("public", pa.bool_(), False, "plain"),
    ("bookmarked", pa.bool_(), False, "plain"), ("tags", pa.list_(pa.string()), False, "plain"),
    ("input", pa.string(), True, "plain"), ("output", pa.string(), True, "plain"),
    ("created_at", _ts("ms"), False, "ts"), ("updated_at", _ts("ms"), False, "ts"),
]

# LEGACY_OBSERVATION_EXPORT_FIELDS (packages/shared/src/domain/observation-field-groups.ts) order.
OBSERVATIONS_COLUMNS = [
    ("id", pa.string(), False, "plain"), ("trace_id", pa.string(), False, "plain"),
    ("project_id", pa.string(), False, "plain"), ("environment", pa.string(), False, "plain"),
    ("type", pa.string(), False, "plain"), ("parent_observation_id", pa.string(), True, "plain"),
    ("start_time", _ts("ms"), False, "ts"), ("end_time", _ts("ms"), True, "ts"), ("name", pa.string(), True, "plain"),
    ("metadata", pa.map_(pa.string(), pa.string()), False, "plain"), ("level", pa.string(), False, "plain"),
    ("status_message", pa.string(), True, "plain"), ("version", pa.string(), True, "plain"),
    ("input", pa.string(), True, "plain"), ("output", pa.string(), True, "plain"),
    ("provided_model_name", pa.string(), True, "plain"), ("model_parameters", pa.string(), True, "plain"),
    ("usage_details", pa.map_(pa.string(), pa.uint64()), False, "map_u64"),
    ("cost_details", pa.map_(pa.string(), _COST), False, "map_dec"),
    ("completion_start_time", _ts("ms"), True, "ts"), ("prompt_name", pa.string(), True, "plain"),
    ("prompt_version", pa.uint16(), True, "plain"), ("total_cost", _COST, True, "dec"),
    ("latency", pa.float64(), True, "plain"), ("time_to_first_token", pa.float64(), True, "plain"),
    ("model_id", pa.string(), True, "plain"), ("created_at", _ts("ms"), False, "ts"),
    ("updated_at", _ts("ms"), False, "ts"), ("prompt_id", pa.string(), True, "plain"),
    ("tool_calls", pa.list_(pa.string()), False, "plain"), ("tool_call_names", pa.list_(pa.string()), False, "plain"),
    ("tool_definitions", pa.map_(pa.string(), pa.string()), False, "plain"),
    ("usage_pricing_tier_name", pa.string(), True, "plain"),
]

SCORES_COLUMNS = [
    ("id", pa.string(), False, "plain"), ("timestamp", _ts("ms"), False, "ts"),
    ("project_id", pa.string(), False, "plain"), ("environment", pa.string(), False, "plain"),
    ("trace_id", pa.string(), True, "plain"), ("observation_id", pa.string(), True, "plain"),
    ("session_id", pa.string(), True, "plain"), ("dataset_run_id", pa.string(), True, "plain"),
    ("name", pa.string(), False, "plain"), ("value", pa.float64(), False, "plain"),
    ("source", pa.string(), False, "plain"), ("comment", pa.string(), True, "plain"),
    ("data_type", pa.string(), False, "plain"), ("string_value", pa.string(), True, "plain"),
    ("created_at", _ts("ms"), False, "ts"), ("updated_at", _ts("ms"), False, "ts"),
]

_PRICE_COLUMNS = ("input_price", "output_price", "total_price")


def export_schema(table: str, v4_latency_in_seconds: bool = True) -> pa.Schema:
    """The Arrow schema of a Parquet export file of `table`, as ClickHouse writes it."""
    columns = _columns(table, v4_latency_in_seconds)
    return pa.schema([pa.field(name, typ, nullable=nullable) for name, typ, nullable, _ in columns])


def _columns(table: str, v4_latency_in_seconds: bool) -> list[tuple[str, pa.DataType, bool, str]]:
    if table == "observations_v2":
        return _observations_v2_columns(v4_latency_in_seconds)
    return {"traces": TRACES_COLUMNS, "observations": OBSERVATIONS_COLUMNS, "scores": SCORES_COLUMNS}[table]


def export_score(trace_id: str, name: str, value: float, *, score_id: str, timestamp: datetime,
                 source: str = "API", data_type: str = "NUMERIC", comment: str | None = None,
                 environment: str = "default", observation_id: str | None = None) -> dict[str, Any]:
    """One row of the `scores` export table."""
    return {"id": score_id, "timestamp": timestamp, "environment": environment, "trace_id": trace_id,
            "observation_id": observation_id, "session_id": None, "dataset_run_id": None, "name": name,
            "value": float(value), "source": source, "comment": comment, "data_type": data_type,
            "string_value": None, "created_at": timestamp, "updated_at": timestamp}


def export_scores_from_api(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scores as the API server stores them (`LangfuseApiServer.stored_scores()`) turned into
    rows of the `scores` export table, so a test can export what was posted."""
    def when(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return [{"id": s["id"], "timestamp": when(s["timestamp"]), "environment": s["environment"],
             "trace_id": s.get("traceId"), "observation_id": s.get("observationId"), "session_id": s.get("sessionId"),
             "dataset_run_id": s.get("datasetRunId"), "name": s["name"],
             "value": float(s["value"]) if s.get("value") is not None else 0.0, "source": s["source"],
             "comment": s.get("comment"), "data_type": s["dataType"], "string_value": s.get("stringValue"),
             "created_at": when(s["createdAt"]), "updated_at": when(s["updatedAt"])} for s in items]


@dataclass
class ExportFile:
    """One data file of a run, as its manifest entry describes it (`path` is the filesystem path)."""

    key: str
    path: str
    table: str
    file_type: str
    format: str
    compressed: bool
    content_type: str
    size_bytes: int
    row_count: int | None
    rows: int  # rows actually written (Parquet's manifest says null)

    def manifest_entry(self) -> dict[str, Any]:
        return {"key": self.key, "table": self.table, "fileType": self.file_type, "format": self.format,
                "compressed": self.compressed, "contentType": self.content_type, "sizeBytes": self.size_bytes,
                "rowCount": self.row_count}


@dataclass
class ExportRun:
    """One export run: its window, files and manifest (None when the run did not commit)."""

    window_min: datetime
    window_max: datetime
    created_at: datetime
    files: list[ExportFile] = field(default_factory=list)
    manifest_key: str | None = None
    manifest_path: str | None = None

    def file(self, table: str) -> ExportFile:
        return next(f for f in self.files if f.table == table)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _key_timestamp(dt: datetime) -> str:
    return _iso(dt).replace(":", "-")[:19]


def _ch_text(dt: datetime | None, digits: int) -> str | None:
    if dt is None:
        return None
    text = dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text[: len(text) - (6 - digits)]


def _decimal(value: float | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("1e-12"))


class LangfuseExportWriter:
    """Writes Langfuse export runs under `bucket_path` on `filesystem` (see module docstring).

    `export_source`: TRACES_OBSERVATIONS (v3 tables), EVENTS (v4 `observations_v2`) or
    TRACES_OBSERVATIONS_EVENTS. `file_type`: PARQUET, JSONL, CSV or JSON; `compressed` gzips text
    formats (Langfuse's default for them; ignored for Parquet). `upper_bound`: "inclusive"
    (Langfuse's `<= maxTimestamp`) or "exclusive". `v4_latency_in_seconds`: integrations created
    since 2026-04-01 (True) or before (False, milliseconds)."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        bucket_path: str,
        project_id: str = "cm0testproject0000000000",
        *,
        prefix: str = "",
        export_source: str = "EVENTS",
        file_type: str = "PARQUET",
        compressed: bool = True,
        upper_bound: str = "inclusive",
        v4_latency_in_seconds: bool = True,
        deprecation_notice: bool = False,
    ):
        if export_source not in EXPORT_SOURCES:
            raise ValueError(f"export_source {export_source!r}: use one of {', '.join(EXPORT_SOURCES)}")
        if file_type not in FILE_TYPES:
            raise ValueError(f"file_type {file_type!r}: use one of {', '.join(FILE_TYPES)}")
        if upper_bound not in ("inclusive", "exclusive"):
            raise ValueError(f"upper_bound {upper_bound!r}: use 'inclusive' or 'exclusive'")
        self.fs = filesystem
        self.bucket_path = bucket_path.rstrip("/")
        self.project_id = project_id
        self.prefix = prefix
        self.export_source = export_source
        self.file_type = file_type
        self.compressed = compressed and file_type != "PARQUET"
        self.upper_bound = upper_bound
        self.v4_latency_in_seconds = v4_latency_in_seconds
        self.deprecation_notice = deprecation_notice
        self.runs: list[ExportRun] = []

    @property
    def uri(self) -> str:
        """What LANGFUSE_EXPORT_URI points at: `s3://bucket/{prefix}{projectId}` on S3, the local
        folder `{bucket_path}/{prefix}{projectId}` otherwise."""
        tail = f"{self.bucket_path}/{self.prefix}{self.project_id}"
        return f"s3://{tail}" if isinstance(self.fs, pafs.S3FileSystem) else tail

    def path_of(self, key: str) -> str:
        return f"{self.bucket_path}/{key}"

    # --- runs -------------------------------------------------------------------------------------

    def run(
        self,
        traces: Iterable[LangfuseTrace],
        window_min: datetime,
        window_max: datetime,
        *,
        scores: Iterable[Mapping[str, Any]] = (),
        created_at: datetime | None = None,
        write_manifest: bool = True,
        _rendered: dict[tuple[int, str], list[dict[str, Any]]] | None = None,
    ) -> ExportRun:
        """One export run over `[window_min, window_max]`: a file per table of the export source
        holding the rows in the window as `traces` stand now, then the manifest."""
        traces = list(traces)
        created_at = created_at or window_max + LAG_BUFFER + timedelta(seconds=7)
        run = ExportRun(window_min=window_min, window_max=window_max, created_at=created_at)
        stamp = _key_timestamp(window_max)
        for table in EXPORT_SOURCES[self.export_source]:
            rows = self._rows(table, traces, list(scores), window_min, window_max, {} if _rendered is None else _rendered)
            run.files.append(self._write_table(table, rows, stamp))
        if write_manifest:
            self.commit(run)
        self.runs.append(run)
        return run

    def commit(self, run: ExportRun) -> None:
        """Write the run's manifest (Langfuse's commit point, after every data file)."""
        stamp = _key_timestamp(run.window_max)
        manifest = {
            "version": 1,
            "projectId": self.project_id,
            "exportSource": self.export_source,
            "window": {"minTimestamp": _iso(run.window_min), "maxTimestamp": _iso(run.window_max)},
            "maxTimestamp": _iso(run.window_max),
            "createdAt": _iso(run.created_at),
            "tables": list(dict.fromkeys(f.table for f in run.files)),
            "files": [f.manifest_entry() for f in run.files],
        }
        run.manifest_key = f"{self.prefix}{self.project_id}/manifests/{stamp}.json"
        run.manifest_path = self.path_of(run.manifest_key)
        self._put(run.manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        if self.deprecation_notice and self.export_source != "EVENTS":
            self._put(self.path_of(f"{self.prefix}{self.project_id}/DEPRECATION_NOTICE.txt"),
                      b"DEPRECATION NOTICE\n==================\n\nThis export uses the \"Traces and "
                      b"observations (legacy)\" data source, which\nis deprecated.\n")

    def run_windows(
        self,
        traces: Sequence[LangfuseTrace],
        start: datetime,
        end: datetime,
        frequency: str | timedelta = "hourly",
        *,
        scores: Iterable[Mapping[str, Any]] = (),
        updated_traces: Iterable[LangfuseTrace] = (),
        updates_from: datetime | None = None,
    ) -> list[ExportRun]:
        """Consecutive runs covering `[start, end]`, each window one `frequency` long (the next
        starts where the last ended, as `lastSyncAt` does). `updated_traces` (newer versions, e.g.
        from `with_update`) replace their originals in the runs whose window starts at or after
        `updates_from`: a span on a boundary then appears in the later file with its later
        `updated_at`."""
        step = FREQUENCIES[frequency] if isinstance(frequency, str) else frequency
        newer = {t.id: t for t in updated_traces}
        scores = list(scores)
        runs = []
        # Each trace is rendered once for all the windows of this call.
        rendered: dict[tuple[int, str], list[dict[str, Any]]] = {}
        window_min = start
        while window_min < end:
            window_max = min(window_min + step, end)
            use_newer = newer and updates_from is not None and window_min >= updates_from
            batch = [newer.get(t.id, t) for t in traces] if use_newer else list(traces)
            runs.append(self.run(batch, window_min, window_max, scores=scores, _rendered=rendered))
            window_min = window_max
        return runs

    # --- faults -----------------------------------------------------------------------------------

    def truncate(self, file: ExportFile, keep: float = 0.5) -> None:
        """Cut the object to its first `keep` share of bytes (an interrupted upload)."""
        data = self._get(file.path)
        self._put(file.path, data[: int(len(data) * keep)])

    def corrupt(self, file: ExportFile) -> None:
        """Replace the object with bytes that are not Parquet (nor gzip): an S3 error page."""
        self._put(file.path, b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>\n")

    def delete(self, file: ExportFile) -> None:
        """Remove a data file that its manifest still names."""
        self.fs.delete_file(file.path)

    # --- rows -------------------------------------------------------------------------------------

    def _in_window(self, when: datetime, low: datetime, high: datetime) -> bool:
        return low <= when and (when <= high if self.upper_bound == "inclusive" else when < high)

    def _rows(self, table, traces, scores, low, high, rendered) -> list[dict[str, Any]]:
        if table == "scores":
            return [{**s, "project_id": self.project_id} for s in scores if self._in_window(s["timestamp"], low, high)]
        time_column = "timestamp" if table == "traces" else "start_time"
        rows: list[dict[str, Any]] = []
        for trace in traces:
            cached = rendered.get((id(trace), table))
            if cached is None:
                cached = rendered[(id(trace), table)] = self._render(table, trace)
            rows.extend(r for r in cached if self._in_window(r[time_column], low, high))
        return rows

    def _render(self, table: str, trace: LangfuseTrace) -> list[dict[str, Any]]:
        if table == "observations_v2":
            return [self._v4_row(row) for row in events_rows(trace, self.project_id)]
        if table == "observations":
            return [self._v3_observation_row(legacy_observation_row(trace, obs, self.project_id))
                    for obs in trace.observations]
        return [legacy_trace_row(trace, self.project_id)]

    def _v4_row(self, row: dict[str, Any]) -> dict[str, Any]:
        start, end, first = row["start_time"], row["end_time"], row["completion_start_time"]
        ms = (lambda later: None if later is None else int((later - start) / timedelta(milliseconds=1)))
        latency, ttft = ms(end), ms(first)
        if self.v4_latency_in_seconds:
            latency = None if latency is None else latency / 1000
            ttft = None if ttft is None else ttft / 1000
        return {
            **row,
            "id": row["span_id"],
            "parent_observation_id": row["parent_span_id"],
            "total_cost": row["cost_details"].get("total", 0),
            "usage_pricing_tier_name": None,
            "latency": latency,
            "time_to_first_token": ttft,
        }

    @staticmethod
    def _v3_observation_row(row: dict[str, Any]) -> dict[str, Any]:
        start, end, first = row["start_time"], row["end_time"], row["completion_start_time"]
        seconds = (lambda later: None if later is None else int((later - start) / timedelta(milliseconds=1)) / 1000)
        return {**row, "latency": seconds(end), "time_to_first_token": seconds(first),
                "model_id": row["internal_model_id"]}

    # --- formats ----------------------------------------------------------------------------------

    def _write_table(self, table: str, rows: list[dict[str, Any]], stamp: str) -> ExportFile:
        columns = _columns(table, self.v4_latency_in_seconds)
        ext = _EXTENSION[self.file_type] + (".gz" if self.compressed else "")
        key = f"{self.prefix}{self.project_id}/{table}/{stamp}.{ext}"
        if self.file_type == "PARQUET":
            data = self._parquet(rows, table)
            fmt, content_type, row_count = "parquet", _CONTENT_TYPE["PARQUET"], None
        else:
            text = self._text(rows, columns, table)
            data = gzip.compress(text, mtime=0) if self.compressed else text
            fmt = f"{self.file_type.lower()}-{'gzip' if self.compressed else 'raw'}"
            content_type = "application/gzip" if self.compressed else _CONTENT_TYPE[self.file_type]
            row_count = len(rows)
        path = self.path_of(key)
        self._put(path, data)
        return ExportFile(key=key, path=path, table=table, file_type=self.file_type, format=fmt,
                          compressed=self.compressed, content_type=content_type, size_bytes=len(data),
                          row_count=row_count, rows=len(rows))

    def _arrow(self, rows: list[dict[str, Any]], table: str) -> pa.Table:
        schema = export_schema(table, self.v4_latency_in_seconds)
        columns = {}
        for fld in schema:
            values = [r.get(fld.name) for r in rows]
            if pa.types.is_decimal(fld.type):
                values = [_decimal(v) for v in values]
            elif pa.types.is_map(fld.type) and pa.types.is_decimal(fld.type.item_type):
                values = [{k: _decimal(x) for k, x in (v or {}).items()} for v in values]
            elif pa.types.is_map(fld.type) or pa.types.is_list(fld.type):
                values = [v if v is not None else ({} if pa.types.is_map(fld.type) else []) for v in values]
            columns[fld.name] = pa.array([list(v.items()) if isinstance(v, dict) else v for v in values],
                                         type=fld.type)
        return pa.Table.from_pydict(columns, schema=schema)

    def _parquet(self, rows: list[dict[str, Any]], table: str) -> bytes:
        sink = io.BytesIO()
        pq.write_table(self._arrow(rows, table), sink, compression="zstd")
        return sink.getvalue()

    def _text(self, rows: list[dict[str, Any]], columns, table: str) -> bytes:
        digits = 6 if table == "observations_v2" else 3
        with_prices = table in ("observations", "observations_v2")
        rendered = []
        for row in rows:
            out: dict[str, Any] = {}
            for name, _, _, kind in columns:
                value = row.get(name)
                if kind == "ts":
                    value = _ch_text(value, digits)
                elif kind == "u64":
                    value = None if value is None else str(value)
                elif kind == "map_u64":
                    value = {k: str(v) for k, v in (value or {}).items()}
                elif kind == "dec":
                    value = None if value is None else float(_decimal(value))
                elif kind == "map_dec":
                    value = {k: float(_decimal(v)) for k, v in (value or {}).items()}
                out[name] = value
            if with_prices:
                out.update({c: None for c in _PRICE_COLUMNS})
            rendered.append(out)
        if self.file_type == "JSONL":
            return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rendered).encode()
        if self.file_type == "JSON":
            return json.dumps(rendered, ensure_ascii=False, separators=(",", ":")).encode()
        if not rendered:
            return b""
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(list(rendered[0]))
        for r in rendered:
            writer.writerow(["" if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                             if isinstance(v, (dict, list, bool)) else str(v) for v in r.values()])
        return buffer.getvalue().encode()

    # --- io ---------------------------------------------------------------------------------------

    def _put(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        with self.fs.open_output_stream(path, compression=None) as out:
            out.write(data)

    def _get(self, path: str) -> bytes:
        with self.fs.open_input_stream(path, compression=None) as stream:
            return stream.read()


def export_day(
    filesystem: pafs.FileSystem,
    bucket_path: str,
    traces: Sequence[LangfuseTrace],
    day: date,
    *,
    frequency: str = "hourly",
    edge_windows: bool = True,
    scores: Iterable[Mapping[str, Any]] = (),
    updated_traces: Iterable[LangfuseTrace] = (),
    updates_from: datetime | None = None,
    **writer_options: Any,
) -> LangfuseExportWriter:
    """Export the UTC `day` as a continuously running integration would: consecutive windows of
    `frequency`, and with `edge_windows` one more window on each side (the window ending at
    00:00, which also holds rows stamped exactly 00:00:00.000, and the window after midnight,
    which holds the late spans of traces started before it). Returns the writer; its `runs`
    list the runs in order. `writer_options` go to `LangfuseExportWriter`."""
    writer = LangfuseExportWriter(filesystem, bucket_path, **writer_options)
    step = FREQUENCIES[frequency]
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    if edge_windows:
        start, end = start - step, end + step
    writer.run_windows(traces, start, end, step, scores=scores, updated_traces=updated_traces,
                       updates_from=updates_from)
    return writer


@dataclass
class LargeDayStats:
    """What `write_large_day` wrote: `traces` and `observations` generated for the day,
    `consented_traces` (the issue's rule, evaluator traces excluded), `evaluator_traces`,
    `rows_written` (boundary duplicates and late spans included), and the runs."""

    traces: int
    observations: int
    consented_traces: int
    evaluator_traces: int
    rows_written: int
    runs: list[ExportRun]


def write_large_day(
    writer: LangfuseExportWriter,
    day: date,
    trace_count: int,
    *,
    seed: int = 0,
    templates: int = 400,
    chunk_traces: int = 20_000,
    frequency: str = "hourly",
) -> LargeDayStats:
    """A day of `trace_count` traces as an `EVENTS` Parquet export, fast enough for a million:
    `templates` generated traces are replayed with fresh ids (32-hex trace ids, 16-hex span ids,
    parents remapped) at timestamps spread evenly over the UTC day, vectorised in Arrow, and
    written window by window in row groups of `chunk_traces` traces (memory stays bounded).
    Windows follow the writer's boundary rule; spans that start after a window's end go to the
    next window's file (an extra window after midnight when needed)."""
    import numpy as np
    import pyarrow.compute as pc

    if writer.file_type != "PARQUET" or writer.export_source != "EVENTS":
        raise ValueError("write_large_day writes EVENTS Parquet exports; build the writer with "
                         "export_source='EVENTS', file_type='PARQUET'")
    from trace_assets_tests.langfuse_traces import day_of_traces

    samples = day_of_traces(day, templates, seed, edge_cases=False)
    template_rows, row_start, row_count, parent_index, base_us = [], [], [], [], []
    for trace in samples:
        rows = [writer._v4_row(r) for r in events_rows(trace, writer.project_id)]
        position = {r["id"]: i for i, r in enumerate(rows)}
        row_start.append(len(template_rows))
        row_count.append(len(rows))
        parent_index.extend(position.get(r["parent_observation_id"], -1) for r in rows)
        base_us.append(int(trace.timestamp.timestamp() * 1_000_000))
        template_rows.extend(rows)
    template = writer._arrow(template_rows, "observations_v2")
    row_start_np, row_count_np = np.array(row_start), np.array(row_count)
    parent_np, base_np = np.array(parent_index), np.array(base_us, dtype=np.int64)
    consented = np.array([t.facts.consented and t.facts.kind != "evaluator" for t in samples])
    evaluator = np.array([t.facts.kind == "evaluator" for t in samples])
    time_columns = ("start_time", "end_time", "completion_start_time", "created_at", "updated_at")
    schema = template.schema

    day_start = datetime.combine(day, time(0), tzinfo=UTC)
    day_start_us = int(day_start.timestamp() * 1_000_000)
    spacing_ms = 86_400_000 / trace_count

    def trace_time_us(g: np.ndarray) -> np.ndarray:
        return day_start_us + (np.floor(g * spacing_ms).astype(np.int64) * 1000)

    def rows_for(first: int, last: int) -> pa.Table:
        g = np.arange(first, last, dtype=np.int64)
        tmpl = g % templates
        counts = row_count_np[tmpl]
        offsets = np.cumsum(counts) - counts
        within = np.arange(counts.sum()) - np.repeat(offsets, counts)
        take = np.repeat(row_start_np[tmpl], counts) + within
        chunk = template.take(pa.array(take))
        shift = pa.array(np.repeat(trace_time_us(g) - base_np[tmpl], counts))
        for name in time_columns:
            index = schema.get_field_index(name)
            moved = pc.add(chunk.column(name).cast(pa.int64()), shift).cast(schema.field(name).type)
            chunk = chunk.set_column(index, schema.field(name), moved)
        trace_of_row = np.repeat(g, counts)
        parents = parent_np[take]
        trace_ids = [f"{seed:04x}{gi:028x}" for gi in trace_of_row.tolist()]
        span_ids = [f"{gi:010x}{k:06x}" for gi, k in zip(trace_of_row.tolist(), within.tolist())]
        parent_ids = ["" if p < 0 else f"{gi:010x}{p:06x}" for gi, p in zip(trace_of_row.tolist(), parents.tolist())]
        for name, values in (("id", span_ids), ("trace_id", trace_ids), ("parent_observation_id", parent_ids)):
            chunk = chunk.set_column(schema.get_field_index(name), schema.field(name), pa.array(values, pa.string()))
        return chunk

    step = FREQUENCIES[frequency]
    stats = LargeDayStats(traces=trace_count, observations=int(row_count_np[np.arange(trace_count) % templates].sum()),
                          consented_traces=int(consented[np.arange(trace_count) % templates].sum()),
                          evaluator_traces=int(evaluator[np.arange(trace_count) % templates].sum()),
                          rows_written=0, runs=[])
    all_g = np.arange(trace_count, dtype=np.int64)
    all_times = trace_time_us(all_g)
    carry: pa.Table | None = None
    low = day_start
    while True:
        high = low + step
        low_us, high_us = int(low.timestamp() * 1e6), int(high.timestamp() * 1e6)
        # Traces whose timestamp is in (low, high], and the day's first one at `low` itself.
        pick = (all_times > low_us) & (all_times <= high_us)
        if low == day_start:
            pick |= all_times == low_us
        chosen = all_g[pick]
        if len(chosen) == 0 and carry is None and low >= day_start + timedelta(days=1):
            break
        stamp = _key_timestamp(high)
        key = f"{writer.prefix}{writer.project_id}/observations_v2/{stamp}.parquet"
        path = writer.path_of(key)
        writer.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        written = 0
        next_carry = []
        with writer.fs.open_output_stream(path, compression=None) as out, \
                pq.ParquetWriter(out, schema, compression="zstd") as parquet:
            pieces = [carry] if carry is not None else []
            pieces += [rows_for(int(chosen[i]), int(chosen[min(i + chunk_traces, len(chosen)) - 1]) + 1)
                       for i in range(0, len(chosen), chunk_traces)]
            for piece in pieces:
                start_us = piece.column("start_time").cast(pa.int64())
                upper = pc.less_equal(start_us, high_us) if writer.upper_bound == "inclusive" else pc.less(start_us, high_us)
                inside = piece.filter(pc.and_(pc.greater_equal(start_us, low_us), upper))
                if inside.num_rows:
                    parquet.write_table(inside)
                    written += inside.num_rows
                later = piece.filter(pc.greater_equal(start_us, high_us))
                if later.num_rows:
                    next_carry.append(later)
        carry = pa.concat_tables(next_carry) if next_carry else None
        size = writer.fs.get_file_info(path).size
        run = ExportRun(window_min=low, window_max=high, created_at=high + LAG_BUFFER + timedelta(seconds=7))
        run.files.append(writer._write_table("scores", [], stamp))
        run.files.append(ExportFile(key=key, path=path, table="observations_v2", file_type="PARQUET",
                                    format="parquet", compressed=False, content_type=_CONTENT_TYPE["PARQUET"],
                                    size_bytes=size, row_count=None, rows=written))
        writer.commit(run)
        writer.runs.append(run)
        stats.runs.append(run)
        stats.rows_written += written
        low = high
    return stats
