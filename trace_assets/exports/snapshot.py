"""Export snapshots on any pyarrow filesystem: `{lake}/exports/<asset>/snapshot=YYYY-MM-DD/`.

`publish_snapshot` is the one way a snapshot folder is written, by the export and by erasure:
every file goes to `<asset>/_staging/snapshot=YYYY-MM-DD/<token>/` first (readers skip `_`
folders), so a crash while writing leaves the previous snapshot as it was. Then the swap: on a
local disk the old folder is renamed away and the new one renamed in (two renames); on S3, which
has no rename, the old `manifest.json` is deleted first, the old files, then the new files are
copied in and `manifest.json` last. A folder without `manifest.json` is therefore an unfinished
swap (only a crash in the middle of it leaves one): `read_manifest` says None and the next run
of that snapshot rewrites it whole.
"""

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

EXPORTS_PREFIX = "exports"
MANIFEST = "manifest.json"
SNAPSHOT_FOLDER = "snapshot="


@dataclass(frozen=True)
class ParquetParts:
    """A Parquet file written a part at a time (one row group each), so that it is never whole in
    memory: `parts()` yields tables of `schema`."""

    schema: pa.Schema
    parts: Callable[[], Iterator[pa.Table]]

    def table(self) -> pa.Table:
        """The whole file as one table (small snapshots and tests)."""
        return pa.concat_tables([self.schema.empty_table(), *self.parts()])


@dataclass(frozen=True)
class TextParts:
    """A text file written a part at a time: `parts()` yields its bytes in order."""

    parts: Callable[[], Iterator[bytes]]

    def bytes(self) -> bytes:
        return b"".join(self.parts())


def snapshot_dir(asset_root: str, day: date) -> str:
    return f"{asset_root}/{SNAPSHOT_FOLDER}{day.isoformat()}"


def publish_snapshot(fs: pafs.FileSystem, folder: str, files: Mapping[str, object]) -> list[str]:
    """Replace the snapshot `folder` by `files` (name -> Arrow table written as Parquet, bytes
    written as they are, dict written as JSON, ParquetParts or TextParts written a part at a
    time, or a zero-argument function returning one of those, called when its file is written,
    in the mapping's order). `files` must hold
    `manifest.json`. Returns the names written."""
    if MANIFEST not in files:
        raise ValueError(f"a snapshot needs its {MANIFEST}: got {sorted(files)}")
    asset_root, name = folder.rstrip("/").rsplit("/", 1)
    staging_root = f"{asset_root}/_staging/{name}"
    _delete_dir(fs, staging_root)  # what a crashed run left
    staging = f"{staging_root}/{uuid.uuid4().hex}"
    fs.create_dir(staging, recursive=True)
    for file_name, content in files.items():
        _write(fs, f"{staging}/{file_name}", content)
    if isinstance(fs, pafs.LocalFileSystem):
        retired = f"{staging_root}/retired-{uuid.uuid4().hex}"
        if _exists(fs, folder):
            fs.move(folder, retired)
        fs.move(staging, folder)
    else:
        if _exists(fs, folder):
            if _exists(fs, f"{folder}/{MANIFEST}"):
                fs.delete_file(f"{folder}/{MANIFEST}")
            fs.delete_dir(folder)
        fs.create_dir(folder, recursive=True)
        for file_name in sorted(files, key=lambda n: n == MANIFEST):  # the manifest last
            fs.move(f"{staging}/{file_name}", f"{folder}/{file_name}")
    _delete_dir(fs, staging_root)
    return list(files)


def read_manifest(fs: pafs.FileSystem, folder: str) -> dict | None:
    """The snapshot's manifest, or None when the folder has none (absent or unfinished)."""
    path = f"{folder}/{MANIFEST}"
    if not _exists(fs, path):
        return None
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read().decode("utf-8"))


def snapshot_days(fs: pafs.FileSystem, asset_root: str) -> list[date]:
    """The days of the finished snapshots under `asset_root`, oldest first."""
    if not _exists(fs, asset_root):
        return []
    days = []
    for info in fs.get_file_info(pafs.FileSelector(asset_root)):
        base = info.base_name
        if info.type == pafs.FileType.Directory and base.startswith(SNAPSHOT_FOLDER):
            try:
                day = date.fromisoformat(base[len(SNAPSHOT_FOLDER):])
            except ValueError:
                continue
            if read_manifest(fs, info.path) is not None:
                days.append(day)
    return sorted(days)


def read_trace_ids(fs: pafs.FileSystem, folder: str) -> set[str]:
    """Every trace id a snapshot's Parquet files name (their `trace_ids` column)."""
    ids: set[str] = set()
    for info in fs.get_file_info(pafs.FileSelector(folder)):
        if info.base_name.endswith(".parquet"):
            column = pq.read_table(info.path, columns=["trace_ids"], filesystem=fs).column("trace_ids")
            for values in column.to_pylist():
                ids.update(values or [])
    return ids


def _write(fs: pafs.FileSystem, path: str, content) -> None:
    if callable(content):
        content = content()
    if isinstance(content, ParquetParts):
        with pq.ParquetWriter(path, content.schema, filesystem=fs, compression="zstd") as writer:
            for part in content.parts():
                writer.write_table(part)
        return
    if isinstance(content, TextParts):
        with fs.open_output_stream(path) as stream:
            for part in content.parts():
                stream.write(part)
        return
    if isinstance(content, pa.Table):
        pq.write_table(content, path, filesystem=fs, compression="zstd")
        return
    if isinstance(content, dict):
        content = json.dumps(content, indent=2, ensure_ascii=False, default=str).encode("utf-8")
    with fs.open_output_stream(path) as stream:
        stream.write(content)


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    if _exists(fs, path):
        fs.delete_dir(path)
