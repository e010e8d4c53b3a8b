"""The bundled sample as a Langfuse v4 blob export lands as the bundled sample table does."""

from datetime import date, datetime, time, timedelta, timezone

from dagster_duckdb import DuckDBResource

from trace_assets.assets.raw_traces import land_day
from trace_assets.resources.duckdb_source import DuckDBTraceSource
from trace_assets.resources.langfuse_export_source import LangfuseExportSource
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.sample_data import SAMPLE_LANGFUSE_EXPORT_DIR

COLUMNS = ["id", "timestamp", "user_id", "session_id", "input", "output", "model", "latency_ms", "token_count", "consent", "contexts"]


def landed(source, lake_dir, day):
    lake = TraceLake(uri=str(lake_dir))
    landing = land_day(source, lake, day)
    rows = lake.traces_day(day).to_table(columns=COLUMNS + ["metadata_json", "messages"]).to_pylist()
    return landing, {row["id"]: row for row in rows}


def test_the_sample_export_lands_the_sample_traces(tmp_path):
    for day in (date(2026, 4, 18), date(2026, 4, 19), date(2026, 4, 20)):
        table_landing, from_table = landed(DuckDBTraceSource(duckdb=DuckDBResource(database=":memory:")), tmp_path / "a", day)
        export_landing, from_export = landed(LangfuseExportSource(export_uri=str(SAMPLE_LANGFUSE_EXPORT_DIR)), tmp_path / "b", day)
        assert set(from_export) == set(from_table)
        for trace_id, row in from_table.items():
            exported = from_export[trace_id]
            assert {c: exported[c] for c in COLUMNS} == {c: row[c] for c in COLUMNS}
            assert exported["messages"] is not None and exported["messages"].startswith('[{"role": "system"')
        assert export_landing.without_consent_not_landed == table_landing.without_consent_not_landed
        assert sum(export_landing.rows_by_model_consent.values()) == sum(table_landing.rows_by_model_consent.values())
