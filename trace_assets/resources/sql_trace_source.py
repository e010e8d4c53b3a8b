"""What SQL sources share: the seed's `traces` table, queried with parameters and quoted identifiers."""

import re
from abc import abstractmethod
from collections.abc import Iterator
from datetime import date, datetime

import pyarrow as pa
from pydantic import Field, field_validator

from trace_assets.resources.trace_source import TraceSource
from trace_assets.tables.traces import SOURCE_COLUMNS

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")

# How each source column is selected: cast to the type the landing gate expects, so that a
# database whose ids are UUIDs or whose counts are smallints reads the same.
_SELECT_CASTS = {
    "id": "text",
    "user_id": "text",
    "session_id": "text",
    "input": "text",
    "output": "text",
    "model": "text",
    "latency_ms": "bigint",
    "token_count": "bigint",
    "metadata": "text",
    "user_consent": "boolean",
}


def quote_identifier(name: str) -> str:
    """`name` (optionally `schema.name`) as a quoted SQL identifier; anything but plain
    identifiers is refused, so configuration can never change a query's meaning."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ValueError(
            f"{name!r} is not a plain SQL identifier: use letters, digits, _ and $, "
            "optionally schema-qualified as schema.table"
        )
    return ".".join(f'"{part}"' for part in parts)


class SqlTraceSource(TraceSource):
    """A table shaped like the seed's `traces` table (README.md, "Trace sources").

    Every query is parameterised: window bounds and flags are bind parameters, and table and
    column names are validated identifiers, quoted.
    """

    table: str = Field(default="traces", description="The traces table, optionally schema-qualified.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Column names of your table for the seed's columns, where they differ "
        f"(keys: {', '.join(SOURCE_COLUMNS)}).",
    )
    fetch_rows: int = Field(
        default=2_000,
        gt=0,
        description="Rows per record batch: bounds memory whatever the day's size (2,000 realistic traces are "
        "~7 MB; larger batches cost memory and gain little, BENCHMARKS.md).",
    )

    @field_validator("table")
    @classmethod
    def _table_is_identifier(cls, table: str) -> str:
        quote_identifier(table)
        return table

    @field_validator("columns")
    @classmethod
    def _columns_are_identifiers(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(SOURCE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown trace columns {unknown}: the columns are {list(SOURCE_COLUMNS)}")
        for name in columns.values():
            quote_identifier(name)
        return columns

    @abstractmethod
    def read_window(self, start: datetime, end: datetime, consented_only: bool) -> Iterator[pa.RecordBatch]:
        """Traces with start <= timestamp < end and a non-null output, ordered by timestamp, in
        batches of at most `fetch_rows` rows with the columns SOURCE_COLUMNS. With
        `consented_only`, rows without consent (false or NULL) are not read at all."""

    @abstractmethod
    def _fetch_small(self, query: str, parameters: list) -> list[dict]:
        """Rows of a small parameterised query ($1, $2, ... placeholders)."""

    def count_without_consent(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Traces of the window without consent, by model, counted in the database."""
        rows = self._fetch_small(self.count_without_consent_sql(), [start, end])
        return {row["model"]: row["traces"] for row in rows}

    def rows_without_timestamp(self, consented_only: bool, samples: int = 5) -> tuple[int, list[str | None]]:
        """Traces whose timestamp is NULL: no day's window can hold them, so each run reports
        them (their count and a few ids) instead of leaving them out silently."""
        timestamp, output, consent = self._column("timestamp"), self._column("output"), self._column("user_consent")
        where = (
            f"FROM {quote_identifier(self.table)} WHERE {timestamp} IS NULL AND {output} IS NOT NULL "
            f"AND (CAST($1 AS boolean) OR COALESCE({consent}, false))"
        )
        count = self._fetch_small(f"SELECT count(*) AS traces {where}", [not consented_only])[0]["traces"]
        if not count:
            return 0, []
        ids = self._fetch_small(
            f"SELECT CAST({self._column('id')} AS text) AS id {where} LIMIT CAST($2 AS integer)",
            [not consented_only, samples],
        )
        return count, [row["id"] for row in ids]

    def _column(self, name: str) -> str:
        return quote_identifier(self.columns.get(name, name))

    def select_window_sql(self) -> str:
        """The window query; $1 and $2 are the bounds (timestamptz), $3 true to include rows
        without consent."""
        selected = ",\n  ".join(
            f"CAST({self._column(name)} AS {_SELECT_CASTS[name]}) AS {quote_identifier(name)}"
            if name in _SELECT_CASTS
            else f"{self._column(name)} AS {quote_identifier(name)}"
            for name in SOURCE_COLUMNS
        )
        timestamp, output, consent = self._column("timestamp"), self._column("output"), self._column("user_consent")
        return (
            f"SELECT\n  {selected}\nFROM {quote_identifier(self.table)}\n"
            f"WHERE {timestamp} >= CAST($1 AS timestamptz) AND {timestamp} < CAST($2 AS timestamptz)\n"
            f"  AND {output} IS NOT NULL\n"
            f"  AND (CAST($3 AS boolean) OR COALESCE({consent}, false))\n"
            f"ORDER BY {timestamp}"
        )

    @abstractmethod
    def _row_digest_sql(self, text_sql: str) -> str:
        """A 64-bit integer hash of the text expression `text_sql`, in this database's SQL."""

    def day_fingerprints(self, start: datetime, end: datetime) -> dict[date, str]:
        """A cheap fingerprint of each UTC day in [start, end) at the source: the count of traces
        (with a non-null output, as landed) and an order-independent digest (XOR of a hash) of
        their ids and consent. A late trace or a consent change alters its day's fingerprint;
        edits to an existing trace's text do not. Days without traces are absent."""
        timestamp, output, consent = self._column("timestamp"), self._column("output"), self._column("user_consent")
        identity = f"concat_ws('|', CAST({self._column('id')} AS text), coalesce(CAST({consent} AS text), 'null'))"
        rows = self._fetch_small(
            f"SELECT CAST({timestamp} AS date) AS day, count(*) AS traces, "
            f"CAST(bit_xor({self._row_digest_sql(identity)}) AS text) AS digest\n"
            f"FROM {quote_identifier(self.table)}\n"
            f"WHERE {timestamp} >= CAST($1 AS timestamptz) AND {timestamp} < CAST($2 AS timestamptz)\n"
            f"  AND {output} IS NOT NULL\n"
            "GROUP BY 1",
            [start, end],
        )
        return {row["day"]: f"{row['traces']}:{int(row['digest']) & 0xFFFFFFFFFFFFFFFF:016x}" for row in rows}

    def count_without_consent_sql(self) -> str:
        timestamp, output, consent = self._column("timestamp"), self._column("output"), self._column("user_consent")
        return (
            f"SELECT CAST({self._column('model')} AS text) AS model, count(*) AS traces\n"
            f"FROM {quote_identifier(self.table)}\n"
            f"WHERE {timestamp} >= CAST($1 AS timestamptz) AND {timestamp} < CAST($2 AS timestamptz)\n"
            f"  AND {output} IS NOT NULL AND NOT COALESCE({consent}, false)\n"
            "GROUP BY 1"
        )
