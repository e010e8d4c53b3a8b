"""The PostgreSQL TraceSource against the local server: windows, consent, streaming, injection."""

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets_tests.langfuse_db import trace

DAY = datetime(2026, 4, 18, tzinfo=timezone.utc)
NEXT_DAY = datetime(2026, 4, 19, tzinfo=timezone.utc)


def read_all(source, start=DAY, end=NEXT_DAY, consented_only=True) -> pa.Table:
    return pa.Table.from_batches(list(source.read_window(start, end, consented_only)))


def test_a_day_is_the_half_open_window_from_midnight_to_midnight(traces_table, source_for):
    rows = [
        trace("2026-04-17 23:59:59.999999"),
        trace("2026-04-18 00:00:00"),
        trace("2026-04-18 12:00:00"),
        trace("2026-04-18 23:59:59.999999"),
        trace("2026-04-19 00:00:00"),
    ]
    traces_table.insert(rows)
    landed = read_all(source_for(traces_table))
    assert landed.column("id").to_pylist() == [row["id"] for row in rows[1:4]]


def test_rows_without_output_are_left_out_as_in_the_seed(traces_table, source_for):
    kept, without_output = trace("2026-04-18 01:00:00"), trace("2026-04-18 02:00:00", output=None)
    traces_table.insert([kept, without_output])
    assert read_all(source_for(traces_table)).column("id").to_pylist() == [kept["id"]]


def test_rows_without_consent_are_not_read_unless_asked(traces_table, source_for):
    yes, no, unknown = (trace("2026-04-18 01:00:00", consent=c) for c in (True, False, None))
    traces_table.insert([yes, no, unknown])
    source = source_for(traces_table)
    assert read_all(source).column("id").to_pylist() == [yes["id"]]
    assert sorted(read_all(source, consented_only=False).column("id").to_pylist()) == sorted(
        [yes["id"], no["id"], unknown["id"]]
    )
    assert source.count_without_consent(DAY, NEXT_DAY) == {"glm-5-32b": 2}


def test_the_day_streams_in_batches_of_fetch_rows(traces_table, source_for):
    traces_table.insert([trace(f"2026-04-18 {hour:02d}:00:00") for hour in range(24)])
    batches = list(source_for(traces_table, fetch_rows=5).read_window(DAY, NEXT_DAY, True))
    assert [batch.num_rows for batch in batches] == [5, 5, 5, 5, 4]


def test_columns_come_out_with_the_seed_names_and_types(traces_table, source_for):
    row = trace("2026-04-18 03:15:00", metadata={"domain": "eks-documentation", "feedback_score": 4.5})
    traces_table.insert([row])
    landed = read_all(source_for(traces_table)).to_pylist()[0]
    assert landed["id"] == row["id"]
    assert landed["timestamp"].replace(tzinfo=None) == datetime(2026, 4, 18, 3, 15)
    assert landed["latency_ms"] == 850 and landed["user_consent"] is True
    assert '"feedback_score": 4.5' in landed["metadata"]


def test_renamed_columns_are_mapped_by_configuration(traces_table, source_for):
    traces_table.execute(f'ALTER TABLE "{traces_table.name}" RENAME COLUMN user_consent TO gdpr_consent')
    traces_table.execute(f'ALTER TABLE "{traces_table.name}" RENAME COLUMN "timestamp" TO created_at')
    traces_table.execute(
        f"INSERT INTO \"{traces_table.name}\" (id, created_at, output, model, gdpr_consent) "
        "VALUES (gen_random_uuid(), '2026-04-18 05:00', 'answer', 'glm-5-32b', true)"
    )
    source = source_for(traces_table, columns={"user_consent": "gdpr_consent", "timestamp": "created_at"})
    assert read_all(source).num_rows == 1


@pytest.mark.parametrize(
    "setting",
    [
        {"table": "traces; DROP TABLE traces"},
        {"table": 'traces" --'},
        {"table": "a.b.c"},
        {"columns": {"timestamp": "timestamp) OR (1=1"}},
        {"columns": {"not_a_column": "x"}},
    ],
)
def test_configuration_shaped_like_sql_is_rejected(setting, scratch_database):
    with pytest.raises(Exception, match="identifier|unknown trace columns"):
        PostgresTraceSource(database_url=scratch_database, **setting)


def test_window_bounds_are_bind_parameters_not_sql_text(traces_table, source_for):
    sql_text = source_for(traces_table).select_window_sql()
    assert "$1" in sql_text and "$2" in sql_text


def test_a_timestamptz_column_is_read_in_utc_whatever_the_offset_it_was_written_with(traces_table, source_for):
    traces_table.execute(f'ALTER TABLE "{traces_table.name}" ALTER COLUMN "timestamp" TYPE timestamptz USING "timestamp" AT TIME ZONE \'UTC\'')
    seoul_morning = trace("2026-04-18 08:30:00+09:00")  # 2026-04-17 23:30 UTC: the day before
    seoul_evening = trace("2026-04-19 08:59:59+09:00")  # 2026-04-18 23:59:59 UTC
    new_york = trace("2026-04-18 20:00:00-04:00")  # 2026-04-19 00:00 UTC: the day after
    traces_table.insert([seoul_morning, seoul_evening, new_york])
    landed = read_all(source_for(traces_table)).to_pylist()
    assert [row["id"] for row in landed] == [seoul_evening["id"]]
    assert landed[0]["timestamp"] == datetime(2026, 4, 18, 23, 59, 59, tzinfo=timezone.utc)
