"""Bad rows from a real (legacy, SQL_ASCII) PostgreSQL database: counted, named, never fatal."""

import dagster as dg
import pytest

from trace_assets_tests.conftest import ADMIN_DATABASE_URL
from trace_assets_tests.lake_files import landed_day
from trace_assets_tests.langfuse_db import create_scratch_database, create_traces_table, drop_database, trace
from trace_assets_tests.materialize import materialization_metadata, materialize_days


@pytest.fixture(scope="module")
def legacy_database():
    """A SQL_ASCII database: it stores whatever bytes an old client wrote, invalid UTF-8 included."""
    url = create_scratch_database(ADMIN_DATABASE_URL, encoding="SQL_ASCII")
    yield url
    drop_database(ADMIN_DATABASE_URL, url)


def test_bad_rows_are_rejected_counted_and_named_and_the_day_lands(legacy_database, source_for, local_resources, tmp_path):
    table = create_traces_table(legacy_database, strict=False)
    good = [trace("2026-04-18 01:00:00"), trace("2026-04-18 23:00:00")]
    no_id = trace("2026-04-18 02:00:00", id=None)
    no_timestamp = trace(None)
    array_metadata = trace("2026-04-18 03:00:00", metadata=["not", "an", "object"])
    string_metadata = trace("2026-04-18 04:00:00", metadata="just a string")
    huge = trace("2026-04-18 05:00:00", output="log line\n" * 400_000)  # 3.6 MB, over the 1 MiB cap set below
    table.insert(good + [no_id, no_timestamp, array_metadata, string_metadata, huge])
    bad_bytes_id = "bad-utf8-trace"
    table.execute(
        f"INSERT INTO \"{table.name}\" (id, timestamp, input, output, model, user_consent) VALUES "
        "(%s, '2026-04-18 06:00:00', convert_from('\\x6f6b20ff20c3'::bytea, 'SQL_ASCII'), 'answer', 'glm-5-32b', true)",
        (bad_bytes_id,),
    )

    instance = dg.DagsterInstance.ephemeral()
    result = materialize_days(local_resources(source_for(table), max_field_bytes=1 << 20), "2026-04-18", instance=instance)

    assert result.success
    assert sorted(landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist()) == sorted(r["id"] for r in good)
    metadata = materialization_metadata(result, "raw_traces")
    assert metadata["rows_rejected"] == 6
    assert metadata["rejections"] == {
        "invalid_utf8:input": {"rows": 1, "sample_ids": [bad_bytes_id]},
        "metadata_not_object": {"rows": 2, "sample_ids": [array_metadata["id"], string_metadata["id"]]},
        "missing_id": {"rows": 1, "sample_ids": ["<no id: row 2 of the day>"]},
        "missing_timestamp": {"rows": 1, "sample_ids": [no_timestamp["id"]]},
        "oversized_field:output": {"rows": 1, "sample_ids": [huge["id"]]},
    }
    warnings = [
        entry.user_message for entry in instance.all_logs(result.run_id) if entry.level >= 30 and entry.user_message
    ]
    assert any("rejected 5 rows" in message and huge["id"] in message for message in warnings)
    assert any("NULL timestamp" in message and no_timestamp["id"] in message for message in warnings)
    assert materialization_metadata(result, "iceberg_table")["dagster/row_count"] == 2


def test_the_default_field_cap_lands_a_multi_megabyte_row(legacy_database, source_for, local_resources, tmp_path):
    table = create_traces_table(legacy_database, strict=False)
    huge = trace("2026-04-18 05:00:00", output="log line\n" * 400_000)
    table.insert([huge])
    materialize_days(local_resources(source_for(table)), "2026-04-18")  # max_field_bytes: 64 MiB
    landed = landed_day(tmp_path / "lake", "2026-04-18")
    assert landed.column("output").to_pylist() == [huge["output"]]
