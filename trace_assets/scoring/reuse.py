"""Score reuse: a stored score stands while nothing that determined it changed."""

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

KEY_BYTES = 16  # 128-bit fingerprints: a collision among a day's traces is not a practical event
KEY_DTYPE = f"S{KEY_BYTES}"


def fingerprints(values: Iterable[str]) -> np.ndarray:
    """A compact, fixed-width fingerprint of each string (blake2b, KEY_BYTES bytes)."""
    return np.array(
        [hashlib.blake2b(value.encode("utf-8"), digest_size=KEY_BYTES).digest() for value in values], dtype=KEY_DTYPE
    )


def score_keys(trace_ids: Iterable[str], content_hashes: Iterable[str]) -> np.ndarray:
    """The fingerprint of (trace_id, content_hash): a stored score is reused for the same key."""
    # content_hash is 64 hex characters: the pair is unambiguous without a separator
    return fingerprints(f"{digest}{trace_id}" for trace_id, digest in zip(trace_ids, content_hashes))


def reusable(batch: pa.RecordBatch, identity: dict[str, str]) -> pa.Array:
    """Which rows of a batch of stored scores (trace_id, content_hash, error and the identity
    columns it has) were scored by `identity` (scorer, model, prompt version, ...) without error.
    A row with an error is scored again; a table without an identity column reuses nothing."""
    mask = pc.is_null(batch.column("error"))
    for column, value in identity.items():
        if column not in batch.schema.names:
            return pa.array([False] * batch.num_rows)
        mask = pc.and_(mask, pc.fill_null(pc.equal(batch.column(column), value), False))
    return mask


def members(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of `keys` are in `sorted_keys` (sorted, unique)."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def buckets_of(keys: np.ndarray, buckets: int) -> np.ndarray:
    """Which of `buckets` each fingerprint falls in (its first two bytes, modulo `buckets`)."""
    if buckets == 1 or len(keys) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    raw = np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
    return (raw[:, 0].astype(np.int64) * 256 + raw[:, 1]) % buckets
