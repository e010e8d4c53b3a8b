"""A Langfuse-shaped PostgreSQL table for tests: the seed's `traces` table in a scratch database."""

import uuid
from dataclasses import dataclass
from itertools import count

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

SEED_COLUMNS = (
    "id", "timestamp", "user_id", "session_id", "input", "output", "model",
    "latency_ms", "token_count", "metadata", "user_consent",
)

# The seed's DDL; `strict=False` gives a legacy table (text ids, no constraints) that can hold the
# bad rows a real database accumulates.
_STRICT_ID = "id UUID PRIMARY KEY"
_LOOSE_ID = "id TEXT"

_ids = count(1)


def trace(timestamp: str, model: str = "glm-5-32b", consent: bool | None = True, **fields) -> dict:
    """One trace row; `fields` override any column (metadata as a Python object)."""
    n = next(_ids)
    row = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"trace-{n}")),
        "timestamp": timestamp,
        "user_id": f"user-{n % 7}",
        "session_id": f"session-{n % 3}",
        "input": f"EKS Auto Mode와 Karpenter의 차이점은? ({n})",
        "output": "EKS Auto Mode는 AWS 완전 관리형 노드 그룹이며...",
        "model": model,
        "latency_ms": 850,
        "token_count": 512,
        "metadata": {"domain": "eks-documentation", "contexts": ["Karpenter is a node autoscaler."]},
        "user_consent": consent,
    }
    row.update(fields)
    return row


@dataclass
class TracesTable:
    """A traces table in a scratch database, and how to fill it."""

    database_url: str
    name: str

    def insert(self, rows: list[dict]) -> None:
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(self.name),
            sql.SQL(", ").join(map(sql.Identifier, SEED_COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(SEED_COLUMNS)),
        )
        values = [
            tuple(Jsonb(row[c]) if c == "metadata" and row[c] is not None else row[c] for c in SEED_COLUMNS)
            for row in rows
        ]
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.cursor().executemany(statement, values)

    def execute(self, query: sql.Composable | str, params=None) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []


def create_traces_table(database_url: str, strict: bool = True, name: str | None = None) -> TracesTable:
    """The seed's table under `name` (default: a fresh unique name)."""
    name = name or f"traces_{uuid.uuid4().hex[:10]}"
    ddl = sql.SQL(
        "CREATE TABLE {} (" + (_STRICT_ID if strict else _LOOSE_ID) + ", timestamp TIMESTAMP, user_id TEXT, "
        "session_id TEXT, input TEXT, output TEXT, model TEXT, latency_ms INT, token_count INT, "
        "metadata JSONB, user_consent BOOLEAN)"
    ).format(sql.Identifier(name))
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(ddl)
    return TracesTable(database_url, name)


def create_scratch_database(admin_url: str, encoding: str = "UTF8") -> str:
    name = f"trace_assets_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} ENCODING {} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0").format(
                sql.Identifier(name), sql.Literal(encoding)
            )
        )
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
