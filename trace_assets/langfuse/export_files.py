"""Langfuse's blob-storage export: its manifests, and its files as spans.

Layout under the export root (`{prefix}{projectId}`): `{table}/{YYYY-MM-DDTHH-MM-SS}.{ext}` data
files and `manifests/{ts}.json`, written last as each export run's commit point. Only files a
manifest lists count (a file without one may be a run in progress). Tables: `traces` and
`observations` (v3's source), `observations_v2` (v4's); `scores` is not read. File types:
PARQUET, JSONL (gzipped or not) and CSV.
"""

import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trace_assets.langfuse.arrow_spans import spans_from_export
from trace_assets.langfuse.records import span_from_observation, span_from_trace
from trace_assets.langfuse.spans import SPAN_SCHEMA, as_utc

SPAN_TABLES = ("traces", "observations", "observations_v2")
_ROWS_PER_BATCH = 5_000


class ExportFileError(RuntimeError):
    """An export file that cannot be read (missing, truncated, not of its declared type)."""


@dataclass(frozen=True)
class ExportFile:
    key: str
    table: str
    file_type: str
    compressed: bool
    rows: int | None


@dataclass(frozen=True)
class ExportManifest:
    key: str
    project_id: str
    window_start: datetime
    window_end: datetime
    files: tuple[ExportFile, ...]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the manifest's window (both ends inclusive, as Langfuse filters) touches
        [start, end)."""
        return self.window_start < end and self.window_end >= start


def read_manifests(fs: pafs.FileSystem, root: str) -> list[ExportManifest]:
    """Every manifest under `{root}/manifests/`, oldest window first. A manifest that does not
    parse raises, naming it: its files would otherwise be skipped silently."""
    selector = pafs.FileSelector(f"{root}/manifests", allow_not_found=True)
    manifests = []
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(".json"):
            continue
        with fs.open_input_stream(info.path) as stream:
            text = stream.read()
        try:
            document = json.loads(text)
            window = document["window"]
            manifests.append(
                ExportManifest(
                    key=info.path,
                    project_id=str(document["projectId"]),
                    window_start=as_utc(window["minTimestamp"]),
                    window_end=as_utc(window["maxTimestamp"]),
                    files=tuple(
                        ExportFile(
                            key=entry["key"],
                            table=entry["table"],
                            file_type=str(entry.get("fileType", "")).upper(),
                            compressed=bool(entry.get("compressed", False)),
                            rows=entry.get("rowCount"),
                        )
                        for entry in document.get("files", [])
                    ),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ExportFileError(
                f"export manifest {info.path} is not a Langfuse manifest ({error!r}): fix or remove it"
            ) from error
    return sorted(manifests, key=lambda manifest: (manifest.window_start, manifest.key))


def file_path(root: str, manifest: ExportManifest, file: ExportFile) -> str:
    """Where a manifest's file is under `root`: its key is `{prefix}{projectId}/{table}/...`,
    and the root is the `{prefix}{projectId}` folder."""
    marker = f"{manifest.project_id}/"
    relative = file.key.split(marker, 1)[1] if marker in file.key else file.key.rsplit("/", 2)[-2] + "/" + file.key.rsplit("/", 1)[-1]
    return f"{root}/{relative}"


# Arrow bytes per file byte, about: text compresses ~4x with zstd or gzip.
_ARROW_PER_FILE_BYTE = {True: 5.0, False: 1.5}


def expected_arrow_bytes(fs: pafs.FileSystem, files: dict[str, ExportFile]) -> float:
    """About how large the files' spans are as Arrow, from their sizes (missing files count 0)."""
    total = 0.0
    for info in fs.get_file_info(list(files)):
        file = files[info.path] if info.path in files else None
        if info.type == pafs.FileType.File and info.size:
            compressed = file is None or file.file_type == "PARQUET" or file.compressed or info.path.endswith(".gz")
            total += info.size * _ARROW_PER_FILE_BYTE[compressed]
    return total


def read_spans(fs: pafs.FileSystem, path: str, file: ExportFile, columnar: bool = True) -> Iterator[pa.RecordBatch]:
    """The file's rows as spans (SPAN_SCHEMA), a batch at a time: Parquet with Arrow compute
    (arrow_spans.py), JSONL and CSV (and Parquet with `columnar=False`) a dict per row."""
    to_span = span_from_trace if file.table == "traces" else span_from_observation
    try:
        for records in _record_batches(fs, path, file):
            if columnar and isinstance(records, pa.RecordBatch) and file.file_type == "PARQUET":
                try:
                    yield spans_from_export(records, file.table)
                    continue
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    pass  # columns of unexpected types: the row-wise rules below handle any value
            yield pa.RecordBatch.from_pylist([to_span(record) for record in records.to_pylist()], schema=SPAN_SCHEMA)
    except FileNotFoundError as error:
        raise ExportFileError(f"{path}: listed by a manifest but missing") from error
    except (pa.ArrowInvalid, OSError, EOFError, ValueError, UnicodeDecodeError) as error:
        raise ExportFileError(f"{path}: not a readable {file.file_type} file ({error})") from error


def _record_batches(fs: pafs.FileSystem, path: str, file: ExportFile) -> Iterator[pa.RecordBatch]:
    if file.file_type == "PARQUET":
        with fs.open_input_file(path) as handle:
            yield from pq.ParquetFile(handle).iter_batches(batch_size=_ROWS_PER_BATCH)
        return
    # compression=None: pyarrow would otherwise guess from the extension, and the manifest says.
    with fs.open_input_stream(path, compression=None) as stream:
        raw = stream.read()
    if file.compressed or path.endswith(".gz"):
        raw = gzip.decompress(raw)
    if file.file_type in ("JSONL", "JSON"):
        # Parsed line by line, not by Arrow: Langfuse writes 64-bit integers as strings and maps
        # whose keys differ row to row, which Arrow's type inference would turn into structs.
        records = []
        for line_number, line in enumerate(raw.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as error:
                    raise ValueError(f"line {line_number} is not JSON") from error
        for offset in range(0, len(records), _ROWS_PER_BATCH):
            yield _Records(records[offset : offset + _ROWS_PER_BATCH])
        return
    if file.file_type == "CSV":
        reader = pa_csv.open_csv(
            io.BytesIO(raw),
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )
        yield from reader
        return
    raise ExportFileError(f"{path}: unknown export file type {file.file_type!r}")


class _Records:
    """JSON lines in the shape `read_spans` consumes (`to_pylist()`), without Arrow's type
    inference in between."""

    def __init__(self, records: list[dict]):
        self._records = records

    def to_pylist(self) -> list[dict]:
        return self._records
