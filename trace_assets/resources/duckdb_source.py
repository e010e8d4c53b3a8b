"""The embedded DuckDB database holding the bundled sample traces: the local default source."""

from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
from dagster_duckdb import DuckDBResource
from pydantic import Field

from trace_assets.resources.sql_trace_source import SqlTraceSource, quote_identifier
from trace_assets.sample_data import SAMPLE_TRACES_DUCKDB_COLUMNS, SAMPLE_TRACES_PATH


class DuckDBTraceSource(SqlTraceSource):
    """A `traces` table in DuckDB, with the same query as PostgreSQL. When the table is missing
    (the default in-memory database) it is created from the bundled sample traces."""

    duckdb: DuckDBResource
    load_bundled_sample: bool = Field(
        default=True, description="Create the table from the bundled sample traces when it does not exist."
    )

    def read_window(self, start: datetime, end: datetime, consented_only: bool) -> Iterator[pa.RecordBatch]:
        with self.duckdb.get_connection() as connection:
            self._prepare(connection)
            reader = connection.execute(self.select_window_sql(), [start, end, not consented_only]).to_arrow_reader(
                self.fetch_rows
            )
            yield from reader

    def _fetch_small(self, query: str, parameters: list) -> list[dict]:
        with self.duckdb.get_connection() as connection:
            self._prepare(connection)
            result = connection.execute(query, parameters)
            names = [column[0] for column in result.description]
            return [dict(zip(names, row)) for row in result.fetchall()]

    def _row_digest_sql(self, text_sql: str) -> str:
        return f"hash({text_sql})"

    def _prepare(self, connection) -> None:
        connection.execute("SET TimeZone = 'UTC'")
        schema, _, table = self.table.rpartition(".")
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = $1 AND ($2 = '' OR table_schema = $2)",
            [table, schema],
        ).fetchone()[0]
        if exists or not self.load_bundled_sample:
            return
        connection.execute(
            f"CREATE TABLE {quote_identifier(self.table)} AS "
            "SELECT * FROM read_json($1, format = 'newline_delimited', columns = "
            f"{SAMPLE_TRACES_DUCKDB_COLUMNS})",
            [str(SAMPLE_TRACES_PATH)],
        )
