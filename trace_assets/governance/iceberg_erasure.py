"""Removing rows from an Iceberg table and from every snapshot that could bring them back.

1. The rows go in one copy-on-write delete (the data files that held them are rewritten).
2. Iceberg keeps the deleted files' entries, with their column statistics (min/max of strings,
   the first 16 characters of a text), in the delete snapshot's manifests. An empty append then
   makes a snapshot whose manifests leave those entries out.
3. Every snapshot that references a data file holding an erased row (as a live or a deleted
   entry) is expired, and every file no remaining snapshot references is deleted: data files,
   manifests, manifest lists, and the table's previous metadata files (they list the expired
   snapshots). Other snapshots, and time travel to them, stay.
4. Files in the table's folders that no snapshot references at all (left by writes that died)
   are deleted once older than `orphan_min_age`; younger ones may belong to a commit in flight.

Plain functions over pyiceberg; `snapshot_retention` (consent withdrawal) uses steps 3 and 4
with snapshots chosen by age instead of by content.
"""

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysFalse, BooleanExpression, In, Or
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

from trace_assets.governance.denylist import TRACE_IDS_COLUMN, identifying_columns


@dataclass
class TableOutcome:
    table: str
    rows_removed: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    note: str | None = None


def erasure_filter(columns: list[str], user_ids, trace_ids) -> BooleanExpression:
    expression: BooleanExpression = AlwaysFalse()
    for name in columns:
        values = sorted(user_ids) if name == "user_id" else sorted(trace_ids)
        if values and name != TRACE_IDS_COLUMN:
            expression = Or(expression, In(name, values))
    return expression


def erase_from_table(table: Table, name: str, mask_of, user_ids, trace_ids, orphan_min_age: timedelta) -> TableOutcome:
    """Remove the rows of `user_ids` / `trace_ids` from `table` and from its history."""
    outcome = TableOutcome(name)
    columns = identifying_columns(index.name for index in table.schema().fields)
    if TRACE_IDS_COLUMN in columns:
        outcome.note = "rows with a trace_ids list are not erased in Iceberg tables by this version"
        columns.remove(TRACE_IDS_COLUMN)
    row_filter = erasure_filter(columns, user_ids, trace_ids)
    if table.current_snapshot() is not None and not isinstance(row_filter, AlwaysFalse):
        id_column = [c for c in columns if c != "user_id"][:1] or columns[:1]
        outcome.rows_removed = table.scan(row_filter=row_filter, selected_fields=tuple(id_column)).to_arrow().num_rows
        if outcome.rows_removed:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Delete operation did not match any records")
                table.delete(row_filter)
            table.refresh()
    history = _History(table)
    tainted = _tainted_files(table, history, columns, mask_of)
    if not tainted:
        return outcome
    if _references(history, table.current_snapshot().snapshot_id, tainted):
        _empty_append(table)
    tainted_snapshots = [s.snapshot_id for s in table.snapshots() if _references(history, s.snapshot_id, tainted)]
    expired, deleted = expire(table, tainted_snapshots, orphan_min_age, history)
    outcome.snapshots_expired, outcome.files_deleted = expired, deleted
    return outcome


def snapshot_retention(table: Table, keep_since: datetime, orphan_min_age: timedelta) -> tuple[int, int]:
    """Expire the snapshots older than `keep_since` (never the current one) and delete what only
    they referenced: how traces whose consent was withdrawn leave the table's history."""
    cutoff = int(keep_since.timestamp() * 1000)
    old = [s.snapshot_id for s in table.snapshots() if s.timestamp_ms < cutoff]
    return expire(table, old, orphan_min_age)


def expire(table: Table, snapshot_ids: list[int], orphan_min_age: timedelta, history: "_History | None" = None) -> tuple[int, int]:
    """Expire `snapshot_ids` (the current snapshot is never expired), delete every file only they
    referenced and the table's previous metadata files, whatever their age, then the orphans
    older than `orphan_min_age`. Returns (snapshots expired, files deleted)."""
    history = history or _History(table)
    current = table.current_snapshot()
    ids = sorted({sid for sid in snapshot_ids if current is None or sid != current.snapshot_id})
    before = _referenced(table, history) | _previous_metadata(table)
    if ids:
        table.maintenance.expire_snapshots().by_ids(ids).commit()
        table.refresh()
    after = _referenced(table, history)
    fs, _ = _filesystem(table)
    deleted = 0
    for path in sorted({_normalised(p) for p in before} - {_normalised(p) for p in after}):
        if fs.get_file_info(path).type == pafs.FileType.File:
            fs.delete_file(path)
            deleted += 1
    return len(ids), deleted + _delete_orphans(table, after, orphan_min_age)


def _previous_metadata(table: Table) -> set[str]:
    return {entry.metadata_file for entry in table.metadata.metadata_log}


class _History:
    """What each snapshot's manifests reference, each manifest list and manifest read once
    (they never change once written; a table's snapshots share most of their manifests)."""

    def __init__(self, table: Table):
        self.table = table
        self._manifests: dict[str, list] = {}
        self._data_files: dict[str, tuple[str, ...]] = {}

    def manifests(self, snapshot) -> list:
        if snapshot.manifest_list not in self._manifests:
            self._manifests[snapshot.manifest_list] = list(snapshot.manifests(self.table.io))
        return self._manifests[snapshot.manifest_list]

    def data_files(self, manifest) -> tuple[str, ...]:
        if manifest.manifest_path not in self._data_files:
            self._data_files[manifest.manifest_path] = tuple(
                entry.data_file.file_path for entry in manifest.fetch_manifest_entry(self.table.io, discard_deleted=False)
            )
        return self._data_files[manifest.manifest_path]

    def snapshot_files(self, snapshot_id: int):
        for manifest in self.manifests(self.table.snapshot_by_id(snapshot_id)):
            yield from self.data_files(manifest)


def _references(history: _History, snapshot_id: int, files: set[str]) -> bool:
    return any(path in files for path in history.snapshot_files(snapshot_id))


def _tainted_files(table: Table, history: "_History", columns: list[str], mask_of) -> set[str]:
    """Data files, in any snapshot, that hold a row `mask_of` selects."""
    if not columns:
        return set()
    seen: dict[str, bool] = {}
    for snapshot in table.snapshots():
        for path in history.snapshot_files(snapshot.snapshot_id):
            if path in seen:
                continue
            seen[path] = _file_holds(table, path, columns, mask_of)
    return {path for path, holds in seen.items() if holds}


def _file_holds(table: Table, path: str, columns: list[str], mask_of) -> bool:
    try:
        with table.io.new_input(path).open() as stream:
            parquet = pq.ParquetFile(stream)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            rows = parquet.read(columns=present)
    except FileNotFoundError:
        return False
    mask = mask_of(rows)
    return mask is not None and bool(pc.any(mask).as_py())


def _empty_append(table: Table) -> None:
    """A snapshot with the same live files and only live entries in its manifests."""
    with table.transaction() as transaction:
        with transaction.update_snapshot().fast_append():
            pass
    table.refresh()


def _referenced(table: Table, history: _History) -> set[str]:
    paths = {table.metadata_location}
    for snapshot in table.snapshots():
        paths.add(snapshot.manifest_list)
        for manifest in history.manifests(snapshot):
            paths.add(manifest.manifest_path)
            paths.update(history.data_files(manifest))
    for statistics in table.metadata.statistics:
        paths.add(statistics.statistics_path)
    return paths


def _delete_orphans(table: Table, referenced: set[str], orphan_min_age: timedelta) -> int:
    """Delete the files under the table's data/ and metadata/ folders that nothing `referenced`
    names and that are older than `orphan_min_age` (younger ones may be a commit in flight)."""
    referenced = {_normalised(path) for path in referenced}
    fs, root = _filesystem(table)
    newest = datetime.now(timezone.utc) - orphan_min_age
    deleted = 0
    for folder in ("data", "metadata"):
        base = f"{root}/{folder}"
        if fs.get_file_info(base).type == pafs.FileType.NotFound:
            continue
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
            if info.type != pafs.FileType.File or info.path in referenced:
                continue
            if info.mtime is not None and info.mtime.astimezone(timezone.utc) > newest:
                continue
            fs.delete_file(info.path)
            deleted += 1
    return deleted


def _filesystem(table: Table) -> tuple[pafs.FileSystem, str]:
    io = table.io if isinstance(table.io, PyArrowFileIO) else PyArrowFileIO(table.io.properties)
    scheme, netloc, path = PyArrowFileIO.parse_location(table.location())
    return io.fs_by_scheme(scheme, netloc), path.rstrip("/")


def _normalised(location: str) -> str:
    return PyArrowFileIO.parse_location(location)[2]

