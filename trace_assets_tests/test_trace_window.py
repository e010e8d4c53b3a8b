"""TraceWindow: a window of an Iceberg table read in bounded batches, only its consented rows, the
columns asked for, columns an older data file lacks as nulls, and the snapshot it was handed."""

from datetime import datetime, timedelta, timezone

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import BooleanType, NestedField, StringType, TimestamptzType

from trace_assets.io_managers.trace_window import TraceWindow
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.tables.scores import BY_DAY

DAY = datetime(2026, 4, 18, tzinfo=timezone.utc)
SCHEMA = Schema(
    NestedField(1, "id", StringType(), required=True),
    NestedField(2, "timestamp", TimestamptzType(), required=True),
    NestedField(3, "input", StringType(), required=False),
    NestedField(4, "consent", BooleanType(), required=True),
)


def rows(first: int, count: int, start: datetime, redaction: bool = False) -> pa.Table:
    columns = {
        "id": [f"t{first + i}" for i in range(count)],
        "timestamp": pa.array([start + timedelta(minutes=i) for i in range(count)], pa.timestamp("us", tz="UTC")),
        "input": [f"question {first + i}" for i in range(count)],
        "consent": [(first + i) % 4 != 0 for i in range(count)],
    }
    if redaction:
        columns["redaction"] = ["rules-v2"] * count
    return pa.table(columns)


def test_a_window_reads_its_consented_rows_in_bounded_batches_across_schema_versions(tmp_path):
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path))
    table = warehouse.ensure_table("training_data.window_test", SCHEMA, BY_DAY, {})
    end = DAY + timedelta(days=1)
    # the day in two commits: the second adds `redaction` (the first commit's file lacks it); the next day apart
    warehouse.replace_window(table, "timestamp", DAY, DAY + timedelta(hours=12), rows(0, 1, DAY).schema, rows(0, 30, DAY).to_batches())
    later = rows(30, 20, DAY + timedelta(hours=13), redaction=True)
    warehouse.replace_window(table, "timestamp", DAY + timedelta(hours=12), end, later.schema, later.to_batches())
    warehouse.replace_window(table, "timestamp", end, end + timedelta(days=1), rows(0, 1, end).schema, rows(100, 10, end).to_batches())

    window = TraceWindow.of(warehouse.catalog().load_table("training_data.window_test"), "timestamp", DAY, end)
    # a commit after the window was handed over is not seen by it
    warehouse.replace_window(table, "timestamp", DAY, end, later.schema, rows(500, 5, DAY, redaction=True).to_batches())
    batches = list(window.batches(["id", "redaction"], rows_per_batch=7))

    read = pa.Table.from_batches(batches).to_pylist()
    expected = [i for i in range(50) if i % 4 != 0]
    assert sorted(int(row["id"][1:]) for row in read) == expected, "consented rows of the window only, each once"
    assert all(batch.num_rows <= 7 for batch in batches) and batches[0].schema.names == ["id", "redaction"]
    redaction = {row["id"]: row["redaction"] for row in read}
    assert redaction["t1"] is None and redaction["t31"] == "rules-v2", "a column the older file lacks reads as null"
    assert "redaction" in window.column_names and window.rows_at_most() >= len(expected)
    assert sorted(window.rows_with("id", ["t5", "t8", "t33"], ["id", "input"]).to_pylist(), key=str) == [
        {"id": "t33", "input": "question 33"}, {"id": "t5", "input": "question 5"}
    ], "t8 has no consent"
    morning = list(window.between(DAY, DAY + timedelta(hours=12)).batches(["id"]))
    assert sorted(int(i[1:]) for b in morning for i in b.column("id").to_pylist()) == [i for i in range(30) if i % 4]
