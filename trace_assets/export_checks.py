"""Blocking checks of the training exports, on the files each snapshot published: consent, no
prompt group in both splits, DPO sides that differ and keep the margin, JSONL aligned with its
Parquet. Each failure means the export code is broken, not that the window's data is poor."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pyarrow.compute as pc
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from trace_assets.checks import check_result
from trace_assets.exports.build import DPO, EXPORTS
from trace_assets.exports.snapshot import EXPORTS_PREFIX, read_manifest, snapshot_dir
from trace_assets.exports.verify import (
    bad_pair_sides,
    groups_in_both_splits,
    margin_violations,
    misaligned_jsonl,
    snapshot_tables,
    trace_ids_of,
)
from trace_assets.partitions import daily_partitions
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.scoring.score_checks import Problems
from trace_assets.tables.labeled import LABELED_TABLE


def _snapshot(context, export: str, lake: TraceLake):
    folder = snapshot_dir(f"{lake.root}/{EXPORTS_PREFIX}/{export}", date.fromisoformat(context.partition_key))
    manifest = read_manifest(lake.filesystem, folder)
    if manifest is None:
        raise FileNotFoundError(f"{lake.location(folder)} has no manifest.json: materialize {export} for this day first")
    return folder, manifest, snapshot_tables(lake.filesystem, folder)


def _labeled(iceberg: IcebergWarehouse, manifest: dict, audit: bool = False):
    days = [date.fromisoformat(d) for d in manifest["window"]["source_days"]]
    if not days:
        return None
    start = datetime.combine(min(days), datetime.min.time(), timezone.utc)
    end = datetime.combine(max(days), datetime.min.time(), timezone.utc) + timedelta(days=1)
    return iceberg.read_window(LABELED_TABLE, "timestamp", start, end, audit_non_consented=audit)


def _check_specs(export: str):
    def consented(context: dg.AssetCheckExecutionContext, trace_lake: TraceLake, iceberg: IcebergWarehouse):
        _, manifest, tables = _snapshot(context, export, trace_lake)
        used = trace_ids_of(tables)
        labeled = _labeled(iceberg, manifest)
        consented_ids = set(labeled.column("trace_id").to_pylist()) if labeled is not None else set()
        refused = _labeled(iceberg, manifest, audit=True)
        refused_ids = set(refused.column("id").to_pylist()) if refused is not None else set()
        problems = [f"{i}: without consent" for i in sorted(used & refused_ids)]
        problems += [f"{i}: not a consented labeled trace of the window" for i in sorted(used - consented_ids - refused_ids)]
        return _listed_result(problems, "traces without consent", traces=len(used))

    def leak_free(context: dg.AssetCheckExecutionContext, trace_lake: TraceLake):
        _, _, tables = _snapshot(context, export, trace_lake)
        return _listed_result(groups_in_both_splits(tables), "prompt groups in both splits")

    checks = [
        dg.asset_check(
            asset=export, name=f"{export}_holds_only_consented_traces", blocking=True, partitions_def=daily_partitions,
            description="Every trace a row was built from is a consented labeled trace of the snapshot's window.",
        )(consented),
        dg.asset_check(
            asset=export, name=f"{export}_splits_share_no_prompt_group", blocking=True, partitions_def=daily_partitions,
            description="No prompt group, and no normalised prompt, is in both train and test.",
        )(leak_free),
    ]
    if export == DPO:

        def sides(context: dg.AssetCheckExecutionContext, trace_lake: TraceLake):
            folder, _, tables = _snapshot(context, export, trace_lake)
            problems = bad_pair_sides(tables) + misaligned_jsonl(trace_lake.filesystem, folder, tables)
            return _listed_result(problems, "pairs with an empty or repeated side, or misaligned JSONL")

        def margin(context: dg.AssetCheckExecutionContext, trace_lake: TraceLake, iceberg: IcebergWarehouse):
            _, manifest, tables = _snapshot(context, export, trace_lake)
            labeled = _labeled(iceberg, manifest)
            rewards = {}
            if labeled is not None:
                rows = labeled.filter(pc.is_valid(labeled["final_reward"])).select(["trace_id", "final_reward"])
                rewards = dict(zip(rows.column("trace_id").to_pylist(), rows.column("final_reward").to_pylist()))
            return _listed_result(margin_violations(tables, manifest["rules"]["margin"], rewards), "pairs under the margin")

        checks += [
            dg.asset_check(
                asset=export, name="dpo_pairs_sides_differ", blocking=True, partitions_def=daily_partitions,
                description="No pair has an empty side or two sides with the same text; each JSONL line is its "
                "Parquet row.",
            )(sides),
            dg.asset_check(
                asset=export, name="dpo_pairs_keep_the_margin", blocking=True, partitions_def=daily_partitions,
                description="chosen reward >= rejected reward + margin, in the rows and in labeled_traces.",
            )(margin),
        ]
    return checks


def build_export_checks() -> list[dg.AssetChecksDefinition]:
    return [check for export in EXPORTS for check in _check_specs(export)]


def _listed_result(problems: list[str], what: str, **metadata) -> dg.AssetCheckResult:
    """A check's result from the full list of what it found (an export's files are checked whole)."""
    return check_result(Problems.listing(problems), what, **metadata)
