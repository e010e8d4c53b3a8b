"""expire_snapshots: the daily expiry of old Iceberg snapshots, and why it matters for consent.

When a trace's consent is withdrawn at the source, the late-data sensor (or the daily schedule)
reruns its day: the lake's day, the traces table, both score tables and the labeled traces are
replaced without it, and later export snapshots are built without it. The Iceberg snapshots
from before the rerun still hold it; this job expires every snapshot older than
TRACE_SNAPSHOT_RETENTION_DAYS (default 7) in every table of the namespace and deletes the files
only they referenced. A withdrawn trace is therefore gone from every snapshot at most that many
days (plus one tick of this schedule) after its day was landed again. For immediate removal,
run erase_users with reason consent_withdrawn.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg
from pydantic import Field

from trace_assets.governance.iceberg_erasure import snapshot_retention
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.traces import TRACES_TABLE


class ExpireSnapshotsConfig(dg.Config):
    retention_days: float = Field(default=7, ge=0, description="Snapshots younger than this are kept.")
    orphan_min_age_minutes: int = Field(
        default=60, ge=0, description="Unreferenced files younger than this are left (a commit may be in flight)."
    )


@dg.op(name="expire_old_snapshots", tags={"governance": "retention"})
def expire_snapshots_op(context: dg.OpExecutionContext, config: ExpireSnapshotsConfig, iceberg: IcebergWarehouse) -> None:
    """Expire the snapshots older than the retention in every table of the traces' namespace and
    delete the files only they referenced."""
    catalog = iceberg.catalog()
    namespace = TRACES_TABLE.rsplit(".", 1)[0]
    keep_since = datetime.now(timezone.utc) - timedelta(days=config.retention_days)
    expired = deleted = 0
    for identifier in catalog.list_tables(namespace) if catalog.namespace_exists(namespace) else []:
        table = catalog.load_table(identifier)
        table_expired, table_deleted = snapshot_retention(
            table, keep_since, timedelta(minutes=config.orphan_min_age_minutes)
        )
        context.log.info(f"{'.'.join(identifier)}: expired {table_expired} snapshots, deleted {table_deleted} files")
        expired += table_expired
        deleted += table_deleted
    context.add_output_metadata({"snapshots_expired": expired, "files_deleted": deleted, "kept_since": keep_since.isoformat()})


@dg.job(
    name="expire_snapshots",
    description="Expire Iceberg snapshots older than the retention and delete what only they held (how a "
    "withdrawn consent leaves the tables' history).",
    tags={"governance": "retention"},
)
def expire_snapshots_job():
    expire_snapshots_op()


def build_expiry_schedule(retention_days: int) -> dg.ScheduleDefinition:
    """Every day at 04:00 UTC, after the daily refresh has landed and scored yesterday."""
    return dg.ScheduleDefinition(
        name="daily_snapshot_expiry",
        job=expire_snapshots_job,
        cron_schedule="0 4 * * *",
        execution_timezone="UTC",
        run_config={"ops": {"expire_old_snapshots": {"config": {"retention_days": retention_days}}}},
    )
