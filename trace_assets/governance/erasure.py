"""An erasure from end to end: audit log, lake files, Iceberg tables and their history.

Order, and why: the trace ids are gathered from the lake and the tables; the `started` rows go
into the audit log before anything is removed, so the subjects are denylisted (landing keeps them
out) and a rerun knows every trace id by its hash; the lake's files are rewritten; each Iceberg table is cleaned with its history;
the `completed` rows go in last. Every step is idempotent, so an erasure that stopped anywhere is
completed by running it again with the same ids, and the log says which erasure the rerun
completed.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import In

from trace_assets.governance.denylist import identifying_columns
from trace_assets.governance.erasure_log import (
    COMPLETED,
    ERASURES_ICEBERG_SCHEMA,
    ERASURES_TABLE,
    STARTED,
    interrupted,
    log_rows,
    reason_checked,
)
from trace_assets.governance.erasure_plan import ErasureTargets
from trace_assets.governance.iceberg_erasure import TableOutcome, erase_from_table
from trace_assets.governance.lake_erasure import (
    LakeOutcome,
    erase_from_file,
    note_erasure_in_manifest,
    parquet_files,
    partial_files,
)

STAGING = "_staging"


@dataclass
class ErasureReport:
    erasure_id: str
    subjects: int
    trace_ids_found: int
    lake: LakeOutcome
    tables: list[TableOutcome] = field(default_factory=list)
    tables_without_personal_data: list[str] = field(default_factory=list)
    completes: list[str] = field(default_factory=list)  # interrupted erasures this run completed

    def rows_removed(self) -> dict[str, int]:
        rows = {f"lake/{area}": n for area, n in self.lake.rows_removed.items()}
        rows.update({outcome.table: outcome.rows_removed for outcome in self.tables if outcome.rows_removed})
        return rows

    def outcome(self) -> dict:
        return {
            "rows_removed": self.rows_removed(),
            "files_rewritten": self.lake.files_rewritten,
            "bytes_rewritten": self.lake.bytes_rewritten,
            "snapshots_expired": sum(t.snapshots_expired for t in self.tables),
            "files_deleted": self.lake.files_deleted + sum(t.files_deleted for t in self.tables),
        }


def erase(
    catalog: Catalog,
    lake_fs: pafs.FileSystem,
    lake_root: str,
    targets: ErasureTargets,
    salt: str,
    reason: str,
    erasure_id: str,
    namespace: str = "training_data",
    orphan_min_age: timedelta = timedelta(hours=1),
) -> ErasureReport:
    reason_checked(reason)
    catalog.create_namespace_if_not_exists(ERASURES_TABLE.rsplit(".", 1)[0])
    audit = catalog.create_table_if_not_exists(ERASURES_TABLE, schema=ERASURES_ICEBERG_SCHEMA)
    user_hashes = {digest for _, digest in targets.subjects(salt)}
    open_erasures = {eid: set(hashes) for eid, hashes in interrupted(audit).items() if eid != erasure_id}
    completes = sorted(eid for eid, hashes in open_erasures.items() if user_hashes & hashes)
    targets.salt = salt
    targets.trace_hashes = set().union(*(open_erasures[eid] for eid in completes)) if completes else set()
    note = f"completes interrupted erasure(s) {', '.join(completes)}" if completes else None

    tables = {".".join(identifier): catalog.load_table(identifier) for identifier in catalog.list_tables(namespace)}
    tables.pop(ERASURES_TABLE, None)
    warehouse_dirs = tuple(_path_in(lake_fs, table.location()) for table in tables.values())
    _find_trace_ids(targets, tables, lake_fs, lake_root, warehouse_dirs)
    # Logged before anything is removed: from here on landing keeps them out, and a rerun after
    # an interruption knows every trace id of theirs by its hash.
    subjects = targets.subjects(salt)
    audit.append(log_rows(erasure_id, subjects, reason, STARTED, salt, note=note))

    report = ErasureReport(
        erasure_id, len(targets.user_ids) + len(targets.requested_trace_ids), len(targets.trace_ids), LakeOutcome(), completes=completes
    )
    _erase_lake(lake_fs, lake_root, targets, warehouse_dirs, report, orphan_min_age)
    for name, table in sorted(tables.items()):
        if not identifying_columns(f.name for f in table.schema().fields):
            report.tables_without_personal_data.append(name)
            continue
        report.tables.append(
            erase_from_table(table, name, targets.mask, targets.user_ids, targets.trace_ids, orphan_min_age)
        )
    # The audit table holds hashes only; its own history needs no cleaning.
    audit.refresh()
    audit.append(log_rows(erasure_id, subjects, reason, COMPLETED, salt, report.outcome(), note))
    return report


def _find_trace_ids(targets: ErasureTargets, tables: dict, fs, root: str, skip: tuple[str, ...]) -> None:
    """Every trace id of the erased users: from the tables and the lake's files with `user_id` (a
    day landed but not yet in the table counts too), and, when completing an interrupted erasure,
    every trace id anywhere that hashes to one it recorded."""
    users = sorted(targets.user_ids)
    for table in tables.values():
        names = {f.name for f in table.schema().fields}
        id_column = "id" if "id" in names else "trace_id" if "trace_id" in names else None
        if id_column is None or table.current_snapshot() is None:
            continue
        if users and "user_id" in names:
            rows = table.scan(row_filter=In("user_id", users), selected_fields=(id_column, "user_id")).to_arrow()
            targets.learn_traces(rows)
        if targets.trace_hashes:
            ids = table.scan(selected_fields=(id_column,)).to_arrow().column(id_column)
            targets.erased_traces([value for value in pc.unique(ids).to_pylist() if value is not None])
    for path in parquet_files(fs, root, skip):
        parquet = pq.ParquetFile(path, filesystem=fs)
        names = parquet.schema_arrow.names
        if users and "user_id" in names and ("id" in names or "trace_id" in names):
            targets.learn_traces(parquet.read(columns=["user_id", "id" if "id" in names else "trace_id"]))
        elif targets.trace_hashes and ("id" in names or "trace_id" in names):
            column = parquet.read(columns=["id" if "id" in names else "trace_id"]).column(0)
            targets.erased_traces([value for value in pc.unique(column).to_pylist() if value is not None])


def _erase_lake(fs, root: str, targets: ErasureTargets, skip, report: ErasureReport, orphan_min_age: timedelta) -> None:
    outcome = report.lake
    for leftover in partial_files(fs, root, skip):
        fs.delete_file(leftover)
    _clear_old_staging(fs, root, orphan_min_age, outcome)
    snapshot_rows: dict[str, int] = {}
    for path in parquet_files(fs, root, skip):
        removed, written, deleted = erase_from_file(fs, path, targets.mask)
        if not removed:
            continue
        area = _area(path[len(root) + 1 :])
        outcome.add_rows(area, removed)
        outcome.bytes_rewritten += written
        outcome.files_rewritten += 0 if deleted else 1
        outcome.files_deleted += 1 if deleted else 0
        if "/snapshot=" in path:
            folder = path.rsplit("/", 1)[0]
            snapshot_rows[folder] = snapshot_rows.get(folder, 0) + removed
    when = datetime.now(timezone.utc).isoformat()
    for folder, removed in snapshot_rows.items():
        note_erasure_in_manifest(fs, folder, report.erasure_id, removed, when)
        outcome.snapshots_touched.add(folder)


def _clear_old_staging(fs, root: str, orphan_min_age: timedelta, outcome: LakeOutcome) -> None:
    """Staging folders of landings that died (a running landing's is younger than the limit)."""
    newest = datetime.now(timezone.utc) - orphan_min_age
    for prefix in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
        staging = f"{prefix.path}/{STAGING}"
        if prefix.type != pafs.FileType.Directory or fs.get_file_info(staging).type != pafs.FileType.Directory:
            continue
        for info in fs.get_file_info(pafs.FileSelector(staging, recursive=True)):
            if info.type == pafs.FileType.File and (info.mtime is None or info.mtime.astimezone(timezone.utc) <= newest):
                fs.delete_file(info.path)
                outcome.files_deleted += 1


def _area(relative: str) -> str:
    """`langfuse-traces`, `labeled-dataset`, `exports/dpo_pairs`: where in the lake a file is."""
    parts = relative.split("/")
    return "/".join(parts[:2]) if parts[0] == "exports" and len(parts) > 2 else parts[0]


def _path_in(fs: pafs.FileSystem, location: str) -> str:
    """A table location as a path of the lake's filesystem (to leave the warehouse alone when it
    lives inside the lake)."""
    if location.startswith("file://"):
        return location[len("file://") :].rstrip("/")
    if "://" in location:
        return location.split("://", 1)[1].rstrip("/")
    return location.rstrip("/")
