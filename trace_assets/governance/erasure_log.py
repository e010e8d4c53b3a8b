"""The audit log of erasures, `training_data.erasures`, which is also the denylist landing reads.

One row per erased subject (a user id, or a trace id erased on its own) and per step: `started`
when an erasure begins, `completed` when every file, table, export and snapshot is clean. A
`started` row without its `completed` row is an erasure that was interrupted; the subject is
denylisted from the moment it is `started`. No personal data: subjects are keyed hashes
(denylist.py), counts are numbers, and notes name tables and days, never rows.
"""

import json
from datetime import datetime, timezone

import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from trace_assets.governance.denylist import SALT_SETTING, Denylist, SaltError, salt_check

ERASURES_TABLE = "training_data.erasures"

REQUEST = "request"
CONSENT_WITHDRAWN = "consent_withdrawn"
REASONS = (REQUEST, CONSENT_WITHDRAWN)
STARTED, COMPLETED = "started", "completed"
USER, TRACE = "user_id", "trace_id"

ERASURES_ICEBERG_SCHEMA = Schema(
    NestedField(1, "erasure_id", StringType(), required=True),
    NestedField(2, "subject_kind", StringType(), required=True),
    NestedField(3, "subject_hash", StringType(), required=True),
    NestedField(4, "reason", StringType(), required=True),
    NestedField(5, "status", StringType(), required=True),
    NestedField(6, "recorded_at", TimestamptzType(), required=True),
    # JSON object: rows removed per place ("lake/langfuse-traces", "training_data.judge_scores",
    # "exports/dpo_pairs", ...), for the erasure as a whole.
    NestedField(7, "rows_removed", StringType(), required=False),
    NestedField(8, "files_rewritten", LongType(), required=False),
    NestedField(9, "bytes_rewritten", LongType(), required=False),
    NestedField(10, "snapshots_expired", LongType(), required=False),
    NestedField(11, "files_deleted", LongType(), required=False),
    NestedField(12, "salt_check", StringType(), required=True),
    NestedField(13, "note", StringType(), required=False),
)
ERASURES_SCHEMA = schema_to_pyarrow(ERASURES_ICEBERG_SCHEMA, include_field_ids=False)


def log_rows(
    erasure_id: str,
    subjects: list[tuple[str, str]],
    reason: str,
    status: str,
    salt: str,
    outcome: dict | None = None,
    note: str | None = None,
) -> pa.Table:
    """Audit rows for `subjects` ((kind, hash) pairs) at one step of an erasure."""
    outcome = outcome or {}
    now = datetime.now(timezone.utc)
    check = salt_check(salt)
    rows = [
        {
            "erasure_id": erasure_id,
            "subject_kind": kind,
            "subject_hash": digest,
            "reason": reason,
            "status": status,
            "recorded_at": now,
            "rows_removed": json.dumps(outcome["rows_removed"], sort_keys=True) if "rows_removed" in outcome else None,
            "files_rewritten": outcome.get("files_rewritten"),
            "bytes_rewritten": outcome.get("bytes_rewritten"),
            "snapshots_expired": outcome.get("snapshots_expired"),
            "files_deleted": outcome.get("files_deleted"),
            "salt_check": check,
            "note": note,
        }
        for kind, digest in subjects
    ]
    return pa.Table.from_pylist(rows, schema=ERASURES_SCHEMA)


def read_denylist(table: Table | None, salt: str | None) -> Denylist:
    """Every subject ever erased (started or completed). An empty log needs no salt; a log
    recorded with another salt is refused (its hashes would silently match nobody)."""
    if table is None:
        return Denylist(salt=salt)
    rows = table.scan(selected_fields=("subject_kind", "subject_hash", "salt_check")).to_arrow()
    if rows.num_rows == 0:
        return Denylist(salt=salt)
    if not salt:
        raise SaltError(
            f"{ERASURES_TABLE} lists erased users but {SALT_SETTING} is not set: set it to the salt the "
            "erasures were recorded with, or landing cannot keep them out"
        )
    checks = set(rows.column("salt_check").to_pylist())
    if checks != {salt_check(salt)}:
        raise SaltError(
            f"{SALT_SETTING} is not the salt {ERASURES_TABLE} was recorded with: erased users would land "
            "again. Restore the original salt from your secret store."
        )
    denylist = Denylist(salt=salt)
    for kind, digest in zip(rows.column("subject_kind").to_pylist(), rows.column("subject_hash").to_pylist()):
        (denylist.user_hashes if kind == USER else denylist.trace_hashes).add(digest)
    return denylist


def interrupted(table: Table | None) -> dict[str, list[str]]:
    """Erasures with a `started` row and no `completed` row: erasure id -> subject hashes."""
    if table is None:
        return {}
    rows = table.scan(selected_fields=("erasure_id", "subject_hash", "status")).to_arrow().to_pylist()
    completed = {(row["erasure_id"], row["subject_hash"]) for row in rows if row["status"] == COMPLETED}
    open_ones: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == STARTED and (row["erasure_id"], row["subject_hash"]) not in completed:
            open_ones.setdefault(row["erasure_id"], []).append(row["subject_hash"])
    return open_ones


def reason_checked(reason: str) -> str:
    if reason not in REASONS:
        raise ValueError(f"erasure reason {reason!r} is not one of {', '.join(REASONS)}")
    return reason
