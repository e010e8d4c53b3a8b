"""The Langfuse PostgreSQL database as a SQL TraceSource, read through ADBC (Arrow-native)."""

from collections.abc import Iterator
from datetime import datetime

import adbc_driver_postgresql.dbapi as adbc_postgres
import pyarrow as pa
from pydantic import Field

from trace_assets.resources.sql_trace_source import SqlTraceSource

_CURSOR = "trace_assets_window"


class PostgresTraceSource(SqlTraceSource):
    """Reads the seed's `traces` table from PostgreSQL (LANGFUSE_DATABASE_URL).

    The window query runs as a server-side cursor declared with bind parameters and is fetched
    `fetch_rows` at a time, so memory stays flat however large the day is. (ADBC streams a plain
    query through COPY, but COPY takes no parameters, and a parameterised query would be
    buffered whole.)
    """

    database_url: str = Field(description="libpq URI of the Langfuse database, e.g. postgresql://user@host:5432/langfuse.")

    def read_window(self, start: datetime, end: datetime, consented_only: bool) -> Iterator[pa.RecordBatch]:
        with self._connect() as connection:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DECLARE {_CURSOR} NO SCROLL CURSOR FOR {self.select_window_sql()}",
                    parameters=(start, end, not consented_only),
                )
            with connection.cursor() as cursor:
                cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
                # FETCH takes no bind parameters; fetch_rows is a validated positive int.
                fetch = f"FETCH FORWARD {int(self.fetch_rows)} FROM {_CURSOR}"
                while True:
                    cursor.execute(fetch)
                    rows = cursor.fetch_arrow_table()
                    if rows.num_rows == 0:
                        break
                    yield from rows.to_batches()
            connection.rollback()

    def _fetch_small(self, query: str, parameters: list) -> list[dict]:
        with self._connect() as connection, connection.cursor() as cursor:
            cursor.execute(query, parameters=tuple(parameters))
            rows = cursor.fetch_arrow_table().to_pylist()
            connection.rollback()
        return rows

    def _row_digest_sql(self, text_sql: str) -> str:
        return f"CAST(CAST('x' || substr(md5({text_sql}), 1, 16) AS bit(64)) AS bigint)"

    def _connect(self):
        connection = adbc_postgres.connect(self.database_url)
        with connection.cursor() as cursor:
            # The seed's column is a TIMESTAMP without time zone holding UTC: compare in UTC.
            cursor.execute("SET TIME ZONE 'UTC'")
        return connection
