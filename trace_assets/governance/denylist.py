"""The denylist: who was erased, as keyed hashes, and the rows of a batch that belong to them.

An erased user id (or a trace id erased on its own) is kept only as a keyed BLAKE2b hash with a
secret salt (TRACE_ERASURE_SALT): the audit log holds no personal data, and without the salt a
list of candidate ids cannot be hashed and compared against it. Landing hashes the distinct user
ids of each batch (a few hundred, not one per trace) and drops the rows of denylisted users and
denylisted trace ids.
"""

import hashlib
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

SALT_SETTING = "TRACE_ERASURE_SALT"
_SALT_CHECK_MESSAGE = b"trace_assets erasure salt check"


class SaltError(ValueError):
    pass


def subject_hash(salt: str, value: str) -> str:
    """The keyed hash the denylist stores for a user id or a trace id."""
    return hashlib.blake2b(value.encode("utf-8"), key=_key(salt), digest_size=32).hexdigest()


def salt_check(salt: str) -> str:
    """A value recorded with every erasure that tells whether a later run hashes with the same
    salt (it reveals nothing about the salt)."""
    return hashlib.blake2b(_SALT_CHECK_MESSAGE, key=_key(salt), digest_size=16).hexdigest()


def _key(salt: str) -> bytes:
    if not salt:
        raise SaltError(
            f"{SALT_SETTING} is not set: erasure and the denylist need a secret salt to hash user ids "
            f"(any long random string, e.g. `openssl rand -hex 32`, kept in your secret store)"
        )
    key = salt.encode("utf-8")
    # BLAKE2b takes keys of at most 64 bytes: a longer salt is hashed down to one.
    return key if len(key) <= 64 else hashlib.blake2b(key, digest_size=64).digest()


@dataclass
class Denylist:
    """Hashed user ids and trace ids that must never land again."""

    user_hashes: set[str] = field(default_factory=set)
    trace_hashes: set[str] = field(default_factory=set)
    salt: str | None = None

    def __bool__(self) -> bool:
        return bool(self.user_hashes or self.trace_hashes)

    def drop_denied(self, batch: pa.RecordBatch | pa.Table) -> tuple[pa.RecordBatch | pa.Table, int]:
        """`batch` without the rows of denylisted users or trace ids, and how many were dropped."""
        denied = self.mask(batch)
        if denied is None:
            return batch, 0
        count = pc.sum(denied).as_py() or 0
        return (batch.filter(pc.invert(denied)), count) if count else (batch, 0)

    def mask(self, rows: pa.RecordBatch | pa.Table) -> pa.Array | None:
        """Which of `rows` (with `user_id` and/or `id` / `trace_id` / `trace_ids` columns) belong to
        a denylisted subject; None when none can."""
        if not self or rows.num_rows == 0:
            return None
        return subject_mask(
            rows,
            lambda users: [u for u in users if self._hash(u) in self.user_hashes] if self.user_hashes else [],
            lambda traces: [t for t in traces if self._hash(t) in self.trace_hashes] if self.trace_hashes else [],
        )

    def _hash(self, value: str) -> str:
        return subject_hash(self.salt or "", value)


# Columns that name whose a row is, in every table and file the project writes: a trace's own
# `id` (traces), `trace_id` (scores, labeled traces), `trace_ids` (export rows built from several
# traces) and `user_id`.
TRACE_ID_COLUMNS = ("id", "trace_id")
TRACE_IDS_COLUMN = "trace_ids"
USER_COLUMN = "user_id"


def identifying_columns(names) -> list[str]:
    """The columns of a table (by name) that tell whose its rows are."""
    names = set(names)
    found = [USER_COLUMN] if USER_COLUMN in names else []
    if "trace_id" in names:
        found.append("trace_id")
    elif "id" in names:
        found.append("id")
    if TRACE_IDS_COLUMN in names:
        found.append(TRACE_IDS_COLUMN)
    return found


def subject_mask(rows, erased_users, erased_traces) -> pa.Array | None:
    """Mask of `rows` whose user or trace is erased. `erased_users(distinct user ids)` and
    `erased_traces(distinct trace ids)` return the erased ones among what they are given; they
    see each distinct value once (a day has a few hundred users, not a million)."""
    columns = identifying_columns(rows.schema.names)
    if not columns:
        return None
    mask = pa.array([False] * rows.num_rows, pa.bool_())
    for name in columns:
        column = rows.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if name == TRACE_IDS_COLUMN:
            flat = pc.list_flatten(column)
            erased = erased_traces([value for value in pc.unique(flat).to_pylist() if value is not None])
            if erased:
                parents = pc.list_parent_indices(column)
                hit_rows = pc.unique(pc.filter(parents, pc.fill_null(pc.is_in(flat, pa.array(erased, flat.type)), False)))
                hits = [False] * rows.num_rows
                for row in hit_rows.to_pylist():
                    hits[row] = True
                mask = pc.or_(mask, pa.array(hits, pa.bool_()))
            continue
        distinct = [value for value in pc.unique(column).to_pylist() if value is not None]
        erased = (erased_users if name == USER_COLUMN else erased_traces)(distinct)
        if erased:
            mask = pc.or_(mask, pc.fill_null(pc.is_in(column, pa.array(erased, column.type)), False))
    return mask
