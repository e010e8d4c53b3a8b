"""erase_users: remove people from every file, table, export and Iceberg snapshot (GDPR Art. 17).

Launch it from the UI (Jobs -> erase_users -> Launchpad) or the CLI:

    dagster job launch -m trace_assets.definitions -j erase_users \\
        --config-json '{"ops": {"erase_user_data": {"config": {"user_ids": ["user-123"]}}}}'

The work is plain functions in governance/; this file only wires them to the resources.
"""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from trace_assets.governance.denylist import SALT_SETTING, SaltError
from trace_assets.governance.erasure import erase
from trace_assets.governance.erasure_log import REASONS, REQUEST, reason_checked
from trace_assets.governance.erasure_plan import ErasureTargets
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.tables.traces import TRACES_TABLE


class EraseUsersConfig(dg.Config):
    user_ids: list[str] = Field(default_factory=list, description="Langfuse user ids whose traces are erased.")
    trace_ids: list[str] = Field(
        default_factory=list, description="Trace ids erased as well (for traces without a user id)."
    )
    reason: str = Field(default=REQUEST, description=f"Why: one of {', '.join(REASONS)}.")
    orphan_min_age_minutes: int = Field(
        default=60,
        ge=0,
        description="Files no Iceberg snapshot references are deleted once this old (younger ones may belong "
        "to a commit in flight). Files that held the erased rows are deleted whatever their age.",
    )


@dg.op(name="erase_user_data", tags={"governance": "erasure"})
def erase_users_op(
    context: dg.OpExecutionContext, config: EraseUsersConfig, trace_lake: TraceLake, iceberg: IcebergWarehouse
) -> None:
    """Removes the users' rows from the lake (traces, labeled dataset, export snapshots), from every
    Iceberg table in the traces' namespace and from the snapshots that held them; records the
    erasure (hashes and counts only) in training_data.erasures, which keeps them out of later
    landings. Rerun it with the same ids to complete an erasure that stopped."""
    reason_checked(config.reason)
    targets = ErasureTargets.of(config.user_ids, config.trace_ids)
    if not trace_lake.erasure_salt:
        raise SaltError(f"{SALT_SETTING} is not set: erase_users hashes the erased ids with it for the audit log")
    report = erase(
        iceberg.catalog(),
        trace_lake.filesystem,
        trace_lake.root,
        targets,
        trace_lake.erasure_salt,
        config.reason,
        context.run_id,
        namespace=TRACES_TABLE.rsplit(".", 1)[0],
        orphan_min_age=timedelta(minutes=config.orphan_min_age_minutes),
    )
    outcome = report.outcome()
    # Counts and table names only: the ids are in the run config, never in logs or metadata.
    context.log.info(
        f"erased {report.subjects} subject(s), {report.trace_ids_found} trace(s): {outcome['rows_removed'] or 'no rows'}"
    )
    if report.completes:
        context.log.info(f"this run completes the interrupted erasure(s) {', '.join(report.completes)}")
    context.add_output_metadata(
        {
            "rows_removed": dg.MetadataValue.json(outcome["rows_removed"]),
            "traces_found": report.trace_ids_found,
            "files_rewritten": outcome["files_rewritten"],
            "bytes_rewritten": outcome["bytes_rewritten"],
            "snapshots_expired": outcome["snapshots_expired"],
            "files_deleted": outcome["files_deleted"],
            "export_snapshots_rewritten": len(report.lake.snapshots_touched),
            "tables_left_alone": dg.MetadataValue.json(report.tables_without_personal_data),
            "completes_erasures": dg.MetadataValue.json(report.completes),
        }
    )


@dg.job(
    name="erase_users",
    description="GDPR erasure: remove users (run config user_ids, optional trace_ids) from the lake, every "
    "Iceberg table and snapshot, and the export snapshots; log it in training_data.erasures.",
    tags={"governance": "erasure"},
)
def erase_users_job():
    erase_users_op()
