"""Removing rows from the Parquet files of the lake (traces, labeled dataset, export snapshots).

Only files that hold a matching row are rewritten: a file's identifying columns (`user_id`,
`id` / `trace_id`, `trace_ids`) are read first, and a file without a match is left alone. A
rewritten file is written beside the original and moved over it, so a reader sees either the old
file or the new one. A file whose every row goes is deleted.

Export snapshots pair `<stem>.parquet` with a line-aligned `<stem>.jsonl` (line i was built from
row i): the JSONL is rewritten first, from the Parquet file's rows, then the Parquet file. If an
erasure stops between the two, the JSONL has exactly as many lines as the Parquet file would
have after it, and the rerun recognises that and rewrites the Parquet file only.
"""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trace_assets.governance.denylist import identifying_columns

# Left behind by a rewrite that stopped before its move: deleted on the next erasure.
PARTIAL_SUFFIX = ".erasing"
ERASURES_KEY = "erasures"  # the list an export snapshot's manifest.json gains

RowMask = Callable[[pa.Table], pa.Array | None]


@dataclass
class LakeOutcome:
    rows_removed: dict[str, int] = field(default_factory=dict)  # per lake area ("langfuse-traces", "exports/dpo_pairs")
    files_rewritten: int = 0
    files_deleted: int = 0
    bytes_rewritten: int = 0
    snapshots_touched: set[str] = field(default_factory=set)  # export snapshot folders

    def add_rows(self, area: str, rows: int) -> None:
        if rows:
            self.rows_removed[area] = self.rows_removed.get(area, 0) + rows


def parquet_files(fs: pafs.FileSystem, root: str, skip: tuple[str, ...] = ()) -> Iterator[str]:
    """Every Parquet file under `root`, except under the folders `skip` (full paths)."""
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File or any(info.path == s or info.path.startswith(s + "/") for s in skip):
            continue
        if info.path.endswith(".parquet"):
            yield info.path


def partial_files(fs: pafs.FileSystem, root: str, skip: tuple[str, ...] = ()) -> list[str]:
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    return [
        info.path
        for info in fs.get_file_info(pafs.FileSelector(root, recursive=True))
        if info.type == pafs.FileType.File
        and PARTIAL_SUFFIX in info.path.rsplit("/", 1)[-1]
        and not any(info.path.startswith(s + "/") for s in skip)
    ]


def erase_from_file(fs: pafs.FileSystem, path: str, mask_of: RowMask) -> tuple[int, int, bool]:
    """Remove the rows `mask_of` selects from the Parquet file at `path` (and from its aligned
    JSONL). Returns (rows removed, bytes written, file deleted)."""
    parquet = pq.ParquetFile(path, filesystem=fs)
    columns = identifying_columns(parquet.schema_arrow.names)
    if not columns:
        return 0, 0, False
    mask = mask_of(parquet.read(columns=columns))
    removed = 0 if mask is None else (pc.sum(mask).as_py() or 0)
    jsonl = path[: -len(".parquet")] + ".jsonl"
    has_jsonl = fs.get_file_info(jsonl).type == pafs.FileType.File
    if removed == 0:
        return 0, 0, False
    keep = pc.invert(mask)
    written = 0
    if has_jsonl:
        written += _rewrite_jsonl(fs, jsonl, keep.to_pylist(), parquet.metadata.num_rows)
    remaining = parquet.read().filter(keep)
    schema, metadata = parquet.schema_arrow, parquet.metadata
    del parquet
    if remaining.num_rows == 0:
        fs.delete_file(path)
        if has_jsonl:
            fs.delete_file(jsonl)
        return removed, written, True
    written += _replace(fs, path, lambda sink: _write_parquet(sink, remaining, schema, metadata))
    return removed, written, False


def _write_parquet(sink, rows: pa.Table, schema: pa.Schema, metadata: pq.FileMetaData) -> None:
    codec = metadata.row_group(0).column(0).compression.lower() if metadata.num_row_groups else "snappy"
    with pq.ParquetWriter(sink, schema, compression=codec if codec != "uncompressed" else "none") as writer:
        writer.write_table(rows.cast(schema))


def _rewrite_jsonl(fs: pafs.FileSystem, path: str, keep: list[bool], parquet_rows: int) -> int:
    with fs.open_input_stream(path) as stream:
        lines = stream.read().decode("utf-8").splitlines(keepends=True)
    if len(lines) == sum(keep):
        return 0  # already rewritten by an erasure that stopped before its Parquet file
    if len(lines) != parquet_rows:
        raise RuntimeError(
            f"{path} has {len(lines)} lines but its Parquet file has {parquet_rows} rows: the export snapshot "
            "is not line-aligned, so its lines cannot be matched to rows. Rebuild the snapshot."
        )
    kept = "".join(line for line, stays in zip(lines, keep) if stays).encode("utf-8")
    return _replace(fs, path, lambda sink: sink.write(kept))


def _replace(fs: pafs.FileSystem, path: str, write) -> int:
    """Write a new version of `path` beside it and move it over the original."""
    partial = f"{path}{PARTIAL_SUFFIX}-{uuid.uuid4().hex[:12]}"
    with fs.open_output_stream(partial) as sink:
        write(sink)
    size = fs.get_file_info(partial).size
    fs.move(partial, path)
    return size


def note_erasure_in_manifest(fs: pafs.FileSystem, snapshot_dir: str, erasure_id: str, rows_removed: int, when: str) -> None:
    """Record in an export snapshot's manifest.json that an erasure removed rows from it (counts
    only). Snapshots without a manifest are left as they are."""
    path = f"{snapshot_dir}/manifest.json"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return
    with fs.open_input_stream(path) as stream:
        manifest = json.loads(stream.read().decode("utf-8"))
    entries = [entry for entry in manifest.get(ERASURES_KEY, []) if entry.get("erasure_id") != erasure_id]
    entries.append({"erasure_id": erasure_id, "rows_removed": rows_removed, "at": when})
    manifest[ERASURES_KEY] = entries
    body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    _replace(fs, path, lambda sink: sink.write(body))
