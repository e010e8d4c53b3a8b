"""raw_traces end to end: PostgreSQL -> hive-partitioned Parquet on a local lake."""


import pytest

from trace_assets.assets.raw_traces import raw_traces
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets_tests.lake_files import landed_day, landed_files
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import materialization_metadata, materialize_days


def test_only_consented_traces_land_by_default(traces_table, source_for, local_resources, tmp_path):
    consented = [trace("2026-04-18 01:00:00", model=m) for m in ("glm-5-32b", "qwen3-coder", "glm-5-32b")]
    refused = [trace("2026-04-18 02:00:00", consent=False), trace("2026-04-18 03:00:00", consent=None)]
    traces_table.insert(consented + refused)
    result = materialize_days(local_resources(source_for(traces_table)), "2026-04-18", assets=[raw_traces])

    assert sorted(landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist()) == sorted(
        row["id"] for row in consented
    )
    assert all("consent=true" in path for path in landed_files(tmp_path / "lake"))
    metadata = materialization_metadata(result, "raw_traces")
    assert metadata["dagster/row_count"] == 3
    assert metadata["without_consent_not_landed"] == 2
    assert "| 2026-04-18 | glm-5-32b | true | 2 |" in metadata["rows_by_day_model_consent"]
    assert metadata["files_written"] == 2 and metadata["bytes_written"] > 0


def test_traces_without_consent_land_under_consent_false_only_when_asked(
    traces_table, source_for, local_resources, tmp_path
):
    rows = [trace("2026-04-18 01:00:00"), trace("2026-04-18 02:00:00", consent=False), trace("2026-04-18 03:00:00", consent=None)]
    traces_table.insert(rows)
    resources = local_resources(source_for(traces_table), land_non_consented=True)
    materialize_days(resources, "2026-04-18", assets=[raw_traces])

    landed = landed_day(tmp_path / "lake", "2026-04-18")
    by_consent = {consent: sorted(ids) for consent, ids in _ids_by(landed, "consent").items()}
    assert by_consent == {True: [rows[0]["id"]], False: sorted([rows[1]["id"], rows[2]["id"]])}


def test_model_names_with_slash_space_and_equals_are_escaped_and_read_back(
    traces_table, source_for, local_resources, tmp_path
):
    models = ["Qwen/Qwen3-4B", "gpt oss 20b", "team=a/model"]
    traces_table.insert([trace("2026-04-18 01:00:00", model=m) for m in models])
    materialize_days(local_resources(source_for(traces_table)), "2026-04-18", assets=[raw_traces])

    files = landed_files(tmp_path / "lake")
    assert "date=2026-04-18/model=Qwen%2FQwen3-4B/consent=true/part-0.parquet" in files
    assert all(path.count("/") == 3 for path in files)
    assert sorted(landed_day(tmp_path / "lake", "2026-04-18").column("model").to_pylist()) == sorted(models)


def test_rematerializing_a_day_replaces_it_without_stale_files_or_duplicates(
    traces_table, source_for, local_resources, tmp_path
):
    traces_table.insert([trace("2026-04-18 01:00:00", model="glm-5-32b"), trace("2026-04-18 02:00:00", model="old-model")])
    traces_table.insert([trace("2026-04-19 01:00:00")])
    resources = local_resources(source_for(traces_table))
    materialize_days(resources, "2026-04-18", assets=[raw_traces])
    materialize_days(resources, "2026-04-19", assets=[raw_traces])
    first = landed_files(tmp_path / "lake")

    materialize_days(resources, "2026-04-18", assets=[raw_traces])
    assert landed_files(tmp_path / "lake") == first
    assert landed_day(tmp_path / "lake", "2026-04-18").num_rows == 2

    traces_table.execute(f"DELETE FROM \"{traces_table.name}\" WHERE model = 'old-model'")
    materialize_days(resources, "2026-04-18", assets=[raw_traces])
    assert not any("old-model" in path for path in landed_files(tmp_path / "lake"))
    assert landed_day(tmp_path / "lake", "2026-04-18").num_rows == 1
    assert landed_day(tmp_path / "lake", "2026-04-19").num_rows == 1, "other days are untouched"


class SourceThatDiesMidDay(PostgresTraceSource):
    """The real PostgreSQL source, with the connection lost after the first batch."""

    def read_window(self, start, end, consented_only):
        batches = super().read_window(start, end, consented_only)
        yield next(batches)
        raise ConnectionError("server closed the connection unexpectedly")


def test_a_crash_halfway_keeps_the_old_day_and_the_next_run_repairs_it(
    traces_table, source_for, local_resources, tmp_path
):
    traces_table.insert([trace(f"2026-04-18 {hour:02d}:00:00") for hour in range(6)])
    materialize_days(local_resources(source_for(traces_table, fetch_rows=2)), "2026-04-18", assets=[raw_traces])
    before = landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist()

    traces_table.insert([trace("2026-04-18 20:00:00")])
    dying = SourceThatDiesMidDay(database_url=traces_table.database_url, table=traces_table.name, fetch_rows=2)
    with pytest.raises(ConnectionError):
        materialize_days(local_resources(dying), "2026-04-18", assets=[raw_traces])
    assert landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist() == before

    materialize_days(local_resources(source_for(traces_table, fetch_rows=2)), "2026-04-18", assets=[raw_traces])
    repaired = landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist()
    assert len(repaired) == len(set(repaired)) == 7
    assert not (tmp_path / "lake" / "langfuse-traces" / "_staging" / "date=2026-04-18").exists()


def test_a_multi_day_range_lands_each_day_in_one_run(traces_table, source_for, local_resources, tmp_path):
    traces_table.insert([trace(f"2026-04-{day} 00:00:00") for day in (18, 19, 19, 20, 21)])
    result = materialize_days(local_resources(source_for(traces_table)), "2026-04-18", "2026-04-20", assets=[raw_traces])
    assert result.success
    counts = {day: landed_day(tmp_path / "lake", day).num_rows for day in ("2026-04-18", "2026-04-19", "2026-04-20")}
    assert counts == {"2026-04-18": 1, "2026-04-19": 2, "2026-04-20": 1}
    assert not (tmp_path / "lake" / "langfuse-traces" / "date=2026-04-21").exists()


def test_values_shaped_like_sql_land_as_text_and_the_source_is_untouched(traces_table, source_for, local_resources, tmp_path):
    """A trace's own values never become SQL text: the model (grouped and counted per model),
    the output and the id land as they are, with and without consent."""
    model = "glm'; DROP TABLE traces; --"
    landed = trace("2026-04-18 01:00:00", model=model, output="'); DELETE FROM traces; --")
    withheld = trace("2026-04-18 02:00:00", model=model, consent=False)
    traces_table.insert([landed, withheld])
    result = materialize_days(local_resources(source_for(traces_table)), "2026-04-18", assets=[raw_traces])

    [row] = landed_day(tmp_path / "lake", "2026-04-18").to_pylist()
    assert (row["id"], row["model"], row["output"]) == (landed["id"], model, landed["output"])
    assert materialization_metadata(result, "raw_traces")["without_consent_not_landed"] == 1
    assert traces_table.execute(f'SELECT count(*) FROM "{traces_table.name}"') == [(2,)]


def _ids_by(table, column) -> dict:
    grouped = {}
    for row in table.select(["id", column]).to_pylist():
        grouped.setdefault(row[column], []).append(row["id"])
    return grouped
