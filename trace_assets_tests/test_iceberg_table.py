"""iceberg_table end to end on pyiceberg's SQL catalog: replacement, ranges, evolution, loading."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException, ValidationException

from trace_assets.partitions import daily_partitions
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, TRACES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days

DAY = datetime(2026, 4, 18, tzinfo=timezone.utc)


def table_rows(resources) -> pa.Table:
    return resources["iceberg"].catalog().load_table(TRACES_TABLE).scan().to_arrow()


def test_rematerializing_a_day_keeps_one_copy_in_one_commit(traces_table, source_for, local_resources):
    traces_table.insert([trace("2026-04-18 01:00:00"), trace("2026-04-18 02:00:00"), trace("2026-04-19 01:00:00")])
    resources = local_resources(source_for(traces_table))
    materialize_days(resources, "2026-04-18")
    materialize_days(resources, "2026-04-19")
    table = resources["iceberg"].catalog().load_table(TRACES_TABLE)
    commits_before = len(table.metadata.metadata_log)

    result = materialize_days(resources, "2026-04-18")
    table.refresh()
    assert len(table.metadata.metadata_log) == commits_before + 1, "one atomic commit per materialization"
    rows = table_rows(resources)
    assert rows.num_rows == 3 and len(set(rows.column("id").to_pylist())) == 3
    metadata = materialization_metadata(result, "iceberg_table")
    assert metadata["snapshot_id"] == str(table.current_snapshot().snapshot_id)
    assert metadata["dagster/row_count"] == 2


def test_a_multi_day_range_in_one_run_equals_day_by_day_runs(traces_table, source_for, local_resources, tmp_path_factory):
    traces_table.insert(
        [trace(f"2026-04-{day} {hour:02d}:00:00", model=model)
         for day in (18, 19, 20) for hour in (0, 11, 23) for model in ("glm-5-32b", "Qwen/Qwen3-4B")]
    )
    source = source_for(traces_table)
    ranged = local_resources(source)
    materialize_days(ranged, "2026-04-18", "2026-04-20")

    daily = local_resources(source, lake=tmp_path_factory.mktemp("daily") / "lake")
    for day in ("2026-04-18", "2026-04-19", "2026-04-20"):
        materialize_days(daily, day)

    ranged_rows, daily_rows = table_rows(ranged).sort_by("id"), table_rows(daily).sort_by("id")
    assert ranged_rows.num_rows == 18
    assert ranged_rows.equals(daily_rows)


def test_a_new_metadata_key_adds_a_column_and_older_rows_read_null(traces_table, source_for, local_resources):
    traces_table.insert([trace("2026-04-18 01:00:00", metadata={"domain": "eks-documentation"})])
    traces_table.insert(
        [trace("2026-04-19 01:00:00", metadata={"domain": "eks-documentation", "app_version": "2026.04.3", "feedback_score": 4.5})]
    )
    resources = local_resources(source_for(traces_table))
    materialize_days(resources, "2026-04-18")
    result = materialize_days(resources, "2026-04-19")

    schema = resources["iceberg"].catalog().load_table(TRACES_TABLE).schema()
    assert schema.find_field("metadata.app_version") and schema.find_field("metadata.feedback_score")
    rows = {row["timestamp"].day: row["metadata"] for row in table_rows(resources).to_pylist()}
    assert rows[18] == {"domain": "eks-documentation", "app_version": None, "feedback_score": None}
    assert rows[19] == {"domain": "eks-documentation", "app_version": "2026.04.3", "feedback_score": 4.5}
    assert materialization_metadata(result, "iceberg_table")["columns_added"] == [
        "metadata.app_version", "metadata.feedback_score",
    ]


def test_downstream_assets_load_only_the_windows_consented_rows(traces_table, source_for, local_resources):
    rows = [
        trace("2026-04-18 01:00:00"),
        trace("2026-04-18 02:00:00", consent=False),
        trace("2026-04-18 03:00:00", consent=None),
        trace("2026-04-19 01:00:00"),
    ]
    traces_table.insert(rows)
    loaded = {}

    @dg.asset(partitions_def=daily_partitions)
    def consented_traces(iceberg_table: pa.Table) -> dg.MaterializeResult:
        loaded["ids"] = iceberg_table.column("id").to_pylist()
        return dg.MaterializeResult()

    # Land even the rows without consent: the read must still leave them out.
    resources = local_resources(source_for(traces_table), land_non_consented=True)
    materialize_days(resources, "2026-04-18", "2026-04-19")
    assert table_rows(resources).num_rows == 4
    materialize_days(resources, "2026-04-18", assets=[*INGEST, consented_traces])
    assert loaded["ids"] == [rows[0]["id"]]


def test_an_asset_on_the_iceberg_io_manager_may_not_return_data(local_resources, traces_table, source_for):
    @dg.asset(io_manager_key="iceberg_io_manager")
    def returns_a_table() -> pa.Table:
        return pa.table({"a": [1]})

    with pytest.raises(TypeError, match="write through IcebergWarehouse"):
        dg.materialize([returns_a_table], resources=local_resources(source_for(traces_table)))


def test_the_table_is_partitioned_by_day_model_and_consent(traces_table, source_for, local_resources):
    traces_table.insert([trace("2026-04-18 01:00:00")])
    resources = local_resources(source_for(traces_table))
    materialize_days(resources, "2026-04-18")
    spec = resources["iceberg"].catalog().load_table(TRACES_TABLE).spec()
    assert [(field.name, str(field.transform)) for field in spec.fields] == [
        ("timestamp_day", "day"), ("model", "identity"), ("consent", "identity"),
    ]


def day_of_traces(day: datetime, count: int, version: str) -> list[pa.RecordBatch]:
    """`count` landed traces of `day`, one batch each."""
    return [
        pa.RecordBatch.from_arrays(
            [pa.array([value], f.type) if (value := {
                "id": f"{version}-{i}", "timestamp": day + timedelta(minutes=i), "model": "glm-5-32b", "consent": True,
            }.get(f.name)) is not None else pa.nulls(1, f.type) for f in LANDED_TRACE_SCHEMA],
            schema=LANDED_TRACE_SCHEMA,
        )
        for i in range(count)
    ]


def test_several_rows_per_append_chunks_are_one_commit(tmp_path):
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path), rows_per_append=2)
    table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
    commits_before = len(table.metadata.metadata_log)
    commit = warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                      day_of_traces(DAY, 5, "v1"))
    assert (commit.rows, commit.data_files) == (5, 1), "5 rows of one partition in chunks of 2: one data file"
    assert len(table.metadata.metadata_log) == commits_before + 1, "one commit (one new metadata file)"
    assert table.current_snapshot().snapshot_id == commit.snapshot_id
    assert table.scan().to_arrow().num_rows == 5
    snapshots_before = len(table.metadata.snapshots)
    commit = warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                      day_of_traces(DAY, 5, "v2"))
    assert len(table.metadata.snapshots) == snapshots_before + 2, "the delete and ONE append for all three chunks"
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [f"v2-{i}" for i in range(5)]


def test_chunks_are_cut_by_bytes_and_data_files_roll_over_at_the_table_s_target_size(tmp_path):
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path), bytes_per_append=1)
    table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
    commit = warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                      day_of_traces(DAY, 4, "v1"))
    assert (commit.rows, commit.data_files) == (4, 1), "four one-row chunks of one partition: one data file"
    with table.transaction() as transaction:
        transaction.set_properties({"write.target-file-size-bytes": "1"})
    commit = warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA,
                                      day_of_traces(DAY, 4, "v2"))
    assert (commit.rows, commit.data_files) == (4, 4), "every chunk is over the target size: a data file each"
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [f"v2-{i}" for i in range(4)]
    data_files = [task.file for task in table.scan().plan_files()]
    assert sum(f.record_count for f in data_files) == 4 and {f.partition[1] for f in data_files} == {"glm-5-32b"}


def test_a_window_whose_batches_fail_midway_leaves_the_table_as_it_was(tmp_path):
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path), rows_per_append=2)
    table = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
    warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA, day_of_traces(DAY, 3, "v1"))
    snapshot = table.current_snapshot().snapshot_id

    def dies_after_two_chunks():
        yield from day_of_traces(DAY, 4, "v2")  # two chunks appended inside the transaction
        raise ConnectionError("the lake stopped answering")

    with pytest.raises(ConnectionError):
        warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(days=1), LANDED_TRACE_SCHEMA, dies_after_two_chunks())
    reloaded = warehouse.catalog().load_table(TRACES_TABLE)
    assert reloaded.current_snapshot().snapshot_id == snapshot
    assert sorted(reloaded.scan().to_arrow().column("id").to_pylist()) == ["v1-0", "v1-1", "v1-2"]


def test_a_commit_that_loses_a_race_fails_and_leaves_the_winner_s_rows(tmp_path):
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path))
    stale = warehouse.ensure_table(TRACES_TABLE, TRACES_ICEBERG_SCHEMA, TRACES_PARTITION_SPEC, {})
    winner = warehouse.catalog().load_table(TRACES_TABLE)
    window = (DAY, DAY + timedelta(days=1))
    warehouse.replace_window(winner, "timestamp", *window, LANDED_TRACE_SCHEMA, day_of_traces(DAY, 2, "winner"))

    # pyiceberg retries on the new metadata, then refuses: the loser's window now holds data it never saw
    with pytest.raises((CommitFailedException, ValidationException)):
        warehouse.replace_window(stale, "timestamp", *window, LANDED_TRACE_SCHEMA, day_of_traces(DAY, 3, "loser"))
    rows = warehouse.catalog().load_table(TRACES_TABLE).scan().to_arrow().column("id").to_pylist()
    assert sorted(rows) == ["winner-0", "winner-1"]
