"""dpo_pairs, kto_examples, grpo_prompts: versioned training sets built from the labeled traces of
a rolling window of days (README.md, "Training exports")."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.assets.summaries import score_distribution
from trace_assets.exports.build import DPO, EXPORTS, GRPO, KTO, build_snapshot
from trace_assets.exports.example_pool import POOL_COLUMNS, build_pool
from trace_assets.exports.grpo import PromptGroup, prompt_groups
from trace_assets.exports.rules import ExportRules
from trace_assets.exports.snapshot import (
    EXPORTS_PREFIX,
    publish_snapshot,
    read_manifest,
    read_trace_ids,
    snapshot_days,
    snapshot_dir,
)
from trace_assets.exports.text_spool import SpooledValues, TextSpool
from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.partitions import daily_partitions
from trace_assets.resources.export_settings import ExportSettings
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.tables.labeled import LABELED_TABLE

LABELED_DATASET = dg.AssetKey("labeled_dataset")
DEFAULT_WINDOW_DAYS = 7
DESCRIPTIONS = {
    DPO: "DPO pairs (TRL standard and conversational, and OpenAI/Together preference JSONL) from the labeled traces "
    "of the window ending on the partition's day.",
    KTO: "KTO examples (preferred = True, dispreferred = False) from the labeled traces of the window ending on the "
    "partition's day.",
    GRPO: "GRPO prompts, one per prompt group, with contexts and the best-rewarded answer, from the labeled traces of "
    "the window ending on the partition's day.",
}


class MissingLabeledDaysError(RuntimeError):
    pass


def build_export_assets(window_days: int = DEFAULT_WINDOW_DAYS) -> dg.AssetsDefinition:
    """The three exports as one multi-asset (they share the window's read, prompt groups and
    de-duplication, the costly part; any subset can be materialized). Partition D depends on
    labeled_dataset's partitions D-(window_days-1) .. D."""
    window = dg.TimeWindowPartitionMapping(start_offset=-(window_days - 1), allow_nonexistent_upstream_partitions=True)
    specs = [
        dg.AssetSpec(
            name,
            deps=[dg.AssetDep(LABELED_DATASET, partition_mapping=window)],
            group_name="exports",
            kinds={"parquet", "trl"},
            description=DESCRIPTIONS[name],
            metadata={"window_days": window_days},
        )
        for name in EXPORTS
    ]

    @dg.multi_asset(
        specs=specs,
        name="training_exports",
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
        can_subset=True,
    )
    def training_exports(
        context: dg.AssetExecutionContext, trace_lake: TraceLake, iceberg: IcebergWarehouse, export_settings: ExportSettings
    ):
        day = date.fromisoformat(context.partition_key)
        rules = export_settings.rules(window_days)
        selected = [key.path[-1] for key in sorted(context.selected_asset_keys, key=lambda k: EXPORTS.index(k.path[-1]))]
        for export, result in export_window(context, day, selected, rules, trace_lake, iceberg, export_settings):
            yield dg.MaterializeResult(asset_key=export, metadata=result)

    return training_exports


def export_window(context, day: date, exports: list[str], rules: ExportRules, lake: TraceLake, iceberg: IcebergWarehouse, settings: ExportSettings):
    """Build and publish the snapshot of `day` for each of `exports`; yields (export, metadata)."""
    window_days = [day - timedelta(days=offset) for offset in range(rules.window_days - 1, -1, -1)]
    first_partition = daily_partitions.start.date()
    window_days = [d for d in window_days if d >= first_partition]
    lineage = {d: _labeled_materialization(context.instance, d) for d in window_days}
    present = [d for d in window_days if lineage[d] is not None]
    missing = [d for d in window_days if lineage[d] is None]
    if missing:
        context.log.warning(f"labeled_dataset has no materialization for {', '.join(map(str, missing))}")
        if rules.missing_days == "fail":
            raise MissingLabeledDaysError(
                f"labeled_dataset is missing {', '.join(map(str, missing))} in the window {window_days[0]} .. {day}: "
                "materialize those days first, or set TRACE_EXPORT_MISSING_DAYS=skip to build from the days present"
            )
    if not present:
        raise MissingLabeledDaysError(
            f"labeled_dataset has no materialized day in the window {window_days[0]} .. {day}: materialize it first"
        )

    roots = {export: f"{lake.root}/{EXPORTS_PREFIX}/{export}" for export in exports}
    previous = {export: _previous_snapshot(lake, roots[export], day) for export in exports}
    anchor_days = sorted(
        {date.fromisoformat(d) for _, manifest, _ in previous.values() if manifest for d in manifest["window"]["source_days"]}
        - set(window_days)
    )
    published = {export: ids for export, (_, _, ids) in previous.items()}
    anyone_published = set().union(*published.values())

    table = iceberg.catalog().load_table(LABELED_TABLE)
    snapshot_id = table.current_snapshot().snapshot_id
    published_ids = pa.array(sorted(anyone_published), pa.string())

    def batches_read():  # lazily: one batch of Arrow at a time
        for d in present:
            yield from _read_day(table, snapshot_id, d, POOL_COLUMNS)
        for d in anchor_days:  # older days: only the traces a previous snapshot published
            for rows in _read_day(table, snapshot_id, d, POOL_COLUMNS):
                yield rows.filter(pc.is_in(rows["trace_id"], published_ids))

    eval_prompts = settings.eval_prompts(lake.filesystem)
    pool = build_pool(batches_read(), set(present), rules, eval_prompts)
    try:  # the pool's spooled conversations are deleted however the run ends
        base = {
            "snapshot": day.isoformat(),
            "built_at": datetime.now(timezone.utc).isoformat(),
            "window": {
                "first_day": window_days[0].isoformat(),
                "last_day": day.isoformat(),
                "source_days": [d.isoformat() for d in present],
                "missing_days": [d.isoformat() for d in missing],
                "missing_day_policy": rules.missing_days,
            },
            "labeled_dataset": {
                "table": LABELED_TABLE,
                "iceberg_snapshot_id_read": str(snapshot_id),
                "days": {d.isoformat(): lineage[d] for d in present},
            },
            "scorers": {name: dict(values) for name, values in pool.scorers.items()},
            "rules": rules.as_manifest(),
            "eval_set": {"path": settings.eval_set, "prompts": len(eval_prompts)} if settings.eval_set else None,
            "notes": dict(pool.notes),
            "run_id": context.run.run_id,
        }
        for export in exports:
            examples, removed = pool.published(published[export])
            previous_day, _, _ = previous[export]
            manifest = {
                **base,
                "previous_snapshot": previous_day.isoformat() if previous_day else None,
                "counts": {**pool.counts, **removed, "examples_after_deduplication": len(examples)},
            }
            groups = prompt_groups(examples) if export == GRPO else None  # built once: the contexts and the rows
            contexts = _contexts(table, snapshot_id, groups, pool.spool) if export == GRPO else None
            files = build_snapshot(export, examples, rules, manifest, contexts, groups)
            del examples, groups, contexts  # the snapshot's files hold what they need until written
            folder = snapshot_dir(roots[export], day)
            publish_snapshot(lake.filesystem, folder, files.files)
            _release_freed_arrow_memory()
            context.log.info(f"{export}: {files.rows_by_split} published to {lake.location(folder)}")
            metadata = _metadata(files, folder, lake, present, missing)
            del files  # one export's items at a time: the next export's are built after this
            yield export, metadata
    finally:
        pool.close()


def _labeled_materialization(instance: dg.DagsterInstance, day: date) -> dict | None:
    """The latest materialization of labeled_dataset for `day`: its run and Iceberg snapshot."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=LABELED_DATASET, asset_partitions=[day.isoformat()]), limit=1
    ).records
    if not records:
        return None
    metadata = records[0].asset_materialization.metadata if records[0].asset_materialization else {}
    snapshot = metadata.get("snapshot_id")
    return {
        "run_id": records[0].run_id,
        "materialized_at": datetime.fromtimestamp(records[0].timestamp, timezone.utc).isoformat(),
        "iceberg_snapshot_id": snapshot.value if snapshot is not None else None,
    }


def _previous_snapshot(lake: TraceLake, asset_root: str, day: date) -> tuple[date | None, dict | None, set[str]]:
    """The latest finished snapshot before `day`: its day, manifest and the trace ids it published."""
    earlier = [d for d in snapshot_days(lake.filesystem, asset_root) if d < day]
    if not earlier:
        return None, None, set()
    folder = snapshot_dir(asset_root, earlier[-1])
    return earlier[-1], read_manifest(lake.filesystem, folder), read_trace_ids(lake.filesystem, folder)


def _read_day(table, snapshot_id: int, day: date, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The consented rows of `day` (`columns` of them), at the one Iceberg snapshot the whole
    export reads, in TraceWindow's batches of 2,000 rows (pyiceberg's own batch reader hands over
    a data file whole: a day's texts at once), so only one batch of Arrow is held beside the
    examples."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    yield from TraceWindow(table, "timestamp", start, start + timedelta(days=1), snapshot_id).batches(columns)
    _release_freed_arrow_memory()


def _release_freed_arrow_memory() -> None:
    """Hand the memory Arrow's allocator (mimalloc) keeps after a day's read back to the system:
    it keeps freed pages for reuse, which over a week's reads grew the process by ~20 MB a day of
    5,000 traces with nothing alive in them (bench/exports.py)."""
    pa.default_memory_pool().release_unused()


def _contexts(table, snapshot_id: int, groups: list[PromptGroup], spool: TextSpool) -> SpooledValues:
    """Retrieved contexts of each GRPO group's reference trace, read a day and a batch at a time
    into the spool. The traces are picked out of each batch in Arrow: an Iceberg `In` filter of
    a day's tens of thousands of ids cost more memory than the contexts themselves. The
    contexts are keyed by the references' own trace id strings (not a second copy of each)."""
    by_day: dict[date, dict[str, str]] = {}
    for group in groups:
        trace_id = group.reference.trace_id
        by_day.setdefault(group.reference.day, {})[trace_id] = trace_id
    contexts = SpooledValues(spool)
    for d in sorted(by_day):
        ids = by_day.pop(d)
        wanted = pa.array(list(ids), pa.string())
        for batch in _read_day(table, snapshot_id, d, ["trace_id", "contexts"]):
            rows = batch.filter(pc.is_in(batch.column("trace_id"), wanted))
            for trace_id, values in zip(rows.column("trace_id").to_pylist(), rows.column("contexts").to_pylist()):
                contexts.put(ids[trace_id], values)
    return contexts


def _metadata(files, folder: str, lake: TraceLake, present: list[date], missing: list[date]) -> dict:
    metadata = {
        "dagster/row_count": sum(files.rows_by_split.values()),
        "rows_by_split": dg.MetadataValue.json(files.rows_by_split),
        "rows_by_model": dg.MetadataValue.json(dict(sorted(files.rows_by_model.items()))),
        "counts": dg.MetadataValue.json(files.counts),
        "kept_reward_distribution": score_distribution(files.kept_rewards),
        "source_days": dg.MetadataValue.json([d.isoformat() for d in present]),
        "missing_days": dg.MetadataValue.json([d.isoformat() for d in missing]),
        "location": dg.MetadataValue.path(lake.location(folder)),
    }
    if files.pairs_by_models:
        metadata["pairs_by_models"] = dg.MetadataValue.json(dict(sorted(files.pairs_by_models.items())))
    return metadata

