"""What the asset checks verify, as plain functions over a window's rows (README.md, "Checks").

A day holds up to millions of rows, so each function reads its window a batch and the columns it
needs at a time (a `RowWindow`, or a pa.Table for a small one), finds the problems with Arrow
compute and numpy, and writes out only the first MAX_EXAMPLES as messages. Trace ids are compared
as 16-byte fingerprints (16 MB a million ids): an id whose fingerprint the other side lacks is
certainly missing there, so every id reported is a real one, read back as text; fingerprints that
repeat are confirmed duplicates only when their ids' text repeats. (Two ids with one fingerprint
could hide a gap: at 128 bits not a practical event among a day's ids, as for score reuse.)"""

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trace_assets.io_managers.trace_window import RowWindow, TableWindow
from trace_assets.scoring.context_budget import EXPECTED_ERROR_KINDS
from trace_assets.scoring.reuse import KEY_DTYPE, buckets_of, fingerprints, members
from trace_assets.scoring.rewards import final_reward

MAX_EXAMPLES = 5
ROWS_AT_ONCE = 16_384  # ids and scores, no text: ~1 MB a batch
CONFIRMED_AT_ONCE = 200_000  # rows whose id is held as text to confirm a duplicate (~30 MB with its count)


@dataclass(frozen=True)
class Problems:
    """What a check found wrong: how many problems, and the messages of the first MAX_EXAMPLES."""

    count: int = 0
    examples: tuple[str, ...] = ()

    @classmethod
    def listing(cls, messages: list[str]) -> "Problems":
        """Every message of a check that found them all at once."""
        return cls(len(messages), tuple(messages[:MAX_EXAMPLES]))

    def __add__(self, other: "Problems") -> "Problems":
        return Problems(self.count + other.count, (self.examples + other.examples)[:MAX_EXAMPLES])


@dataclass(frozen=True)
class Ids:
    """How many trace ids a check found, and the first MAX_EXAMPLES of them (which first: each
    function says)."""

    count: int = 0
    first: tuple[str, ...] = ()

    def saying(self, what: str) -> Problems:
        """The ids as problems: "<id>: <what>"."""
        return Problems(self.count, tuple(f"{trace_id}: {what}" for trace_id in self.first))


def invalid_scores(rows: RowWindow | pa.Table, score_columns: list[str], explained_by: list[str]) -> Problems:
    """Rows where a score is NaN or outside [0, 1], or the main score (the first column) is null
    with nothing in `explained_by` saying why; the examples in row order, a row's columns in order."""
    window = _as_window(rows)
    explaining = [column for column in explained_by if column in window.column_names]
    found = _Examples()
    for batch in window.batches(["trace_id", *score_columns, *explaining], ROWS_AT_ONCE):
        not_scores = [_not_a_score(batch.column(column)) for column in score_columns]
        explained = np.zeros(batch.num_rows, dtype=bool)
        for column in explaining:
            explained |= _non_empty(batch.column(column))
        unexplained = _null(batch.column(score_columns[0])) & ~explained
        count = sum(int(mask.sum()) for mask in not_scores) + int(unexplained.sum())
        wrong_rows = np.flatnonzero(np.logical_or.reduce([*not_scores, unexplained]))
        found.add(count, (
            problem for row in _rows(batch, wrong_rows) for problem in _score_problems(row, score_columns, explaining)
        ))
    return found.problems()


def _score_problems(row: dict, score_columns: list[str], explained_by: list[str]) -> list[str]:
    """One row's problems as messages (what `invalid_scores` counts, said of one row)."""
    problems = []
    for column in score_columns:
        value = row[column]
        if value is not None and (not math.isfinite(value) or not 0.0 <= value <= 1.0):
            problems.append(f"{row['trace_id']}: {column} is {value!r}")
    if row[score_columns[0]] is None and not any(row.get(column) for column in explained_by):
        problems.append(f"{row['trace_id']}: {score_columns[0]} is null without an error or a reason")
    return problems


def error_rate(rows: RowWindow | pa.Table) -> float:
    """Share of rows whose scoring failed. Rows whose metrics do not apply, and rows with an
    expected error (a trace longer than the model's context), are not failures."""
    window = _as_window(rows)
    kinds = ["error_kind"] if "error_kind" in window.column_names else []
    expected = pa.array(sorted(EXPECTED_ERROR_KINDS), pa.string())
    failed = total = 0
    for batch in window.batches(["error", *kinds], ROWS_AT_ONCE):
        failing = _non_empty(batch.column("error"))
        if kinds:
            kind = batch.column("error_kind").cast(pa.string())
            failing &= ~pc.fill_null(pc.is_in(kind, value_set=expected), False).to_numpy(zero_copy_only=False)
        failed += int(failing.sum())
        total += batch.num_rows
    return failed / total if total else 0.0


def coverage_gaps(consented_traces: RowWindow | pa.Table, rows: RowWindow | pa.Table) -> tuple[Ids, Ids]:
    """(consented traces without a row, rows that are not a consented trace of the window), each
    the distinct ids, the first in sorted order."""
    expected = _distinct(np.sort(_keys(_as_window(consented_traces), "id")))
    present = _distinct(np.sort(_keys(_as_window(rows), "trace_id")))
    missing = expected[~members(present, expected)]
    extra = present[~members(expected, present)]
    return _ids_of(consented_traces, "id", missing), _ids_of(rows, "trace_id", extra)


def duplicate_ids(rows: RowWindow | pa.Table) -> Ids:
    """The trace ids on more than one row, the first in sorted order."""
    keys = np.sort(_keys(_as_window(rows), "trace_id"))
    repeated = _distinct(keys[1:][keys[1:] == keys[:-1]])
    if len(repeated) == 0:
        return Ids()
    # Confirmed on the text: the rows whose fingerprint repeats are read back, CONFIRMED_AT_ONCE
    # of them at most at a time (a day whose every row is there twice is a million of them).
    passes = math.ceil(int(members(repeated, keys).sum()) / CONFIRMED_AT_ONCE)
    del keys
    count, first = 0, pa.array([], pa.string())
    for part in range(passes):
        in_part = repeated[buckets_of(repeated, passes) == part]
        candidates = pa.chunked_array(
            [batch.column("trace_id").filter(pa.array(inside)).cast(pa.string())
             for batch, inside in _batches_with(rows, "trace_id", in_part)],
            pa.string(),
        )
        counts = pc.value_counts(candidates)
        twice = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        count += len(twice)
        first = _sorted_first(pa.concat_arrays([first, twice]))
    return Ids(count, tuple(first.to_pylist()))


def rows_not_in(rows: RowWindow | pa.Table, consented_traces: RowWindow | pa.Table) -> Ids:
    """The rows (by `trace_id`) that are not a consented trace of the window: one per row, a
    duplicate row twice, the first in row order."""
    consented = _distinct(np.sort(_keys(_as_window(consented_traces), "id")))
    found = _Examples()
    for batch, inside in _batches_with(rows, "trace_id", consented):
        outside = batch.column("trace_id").filter(pa.array(~inside))
        found.add(len(outside), outside[:MAX_EXAMPLES].to_pylist())
    return Ids(found.count, tuple(found.examples))


def reward_mismatches(rows: RowWindow | pa.Table, tolerance: float = 1e-9) -> Problems:
    """Rows whose final_reward is not the formula over their own ragas_reward, judge_score and
    weights; the examples in row order."""
    columns = ["trace_id", "ragas_reward", "judge_score", "ragas_weight", "judge_weight", "final_reward"]
    found = _Examples()
    for batch in _as_window(rows).batches(columns, ROWS_AT_ONCE):
        (ragas, has_ragas), (judge, has_judge) = _floats(batch.column("ragas_reward")), _floats(batch.column("judge_score"))
        (ragas_weight, has_rw), (judge_weight, has_jw) = _floats(batch.column("ragas_weight")), _floats(batch.column("judge_weight"))
        actual, has_actual = _floats(batch.column("final_reward"))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # what rewards.check_weights accepts: finite, not negative, a sum above zero
            usable = (
                has_rw & has_jw & np.isfinite(ragas_weight) & np.isfinite(judge_weight)
                & (ragas_weight >= 0) & (judge_weight >= 0) & (ragas_weight + judge_weight > 0)
            )
            has_expected = has_ragas & has_judge
            expected = (ragas_weight * ragas + judge_weight * judge) / (ragas_weight + judge_weight)
            differs = ~(np.isfinite(actual) & (np.abs(expected - actual) <= tolerance))
        wrong = ~usable | (has_expected != has_actual) | (has_expected & has_actual & differs)
        found.add(int(wrong.sum()), (
            problem for row in _rows(batch, np.flatnonzero(wrong)) if (problem := _reward_problem(row, tolerance))
        ))
    return found.problems()


def _reward_problem(row: dict, tolerance: float) -> str | None:
    """One row's formula problem as a message (what `reward_mismatches` counts, said of one row)."""
    try:
        expected = final_reward(row["ragas_reward"], row["judge_score"], row["ragas_weight"], row["judge_weight"]).value
    except ValueError as error:  # weights no formula can use (e.g. summing to zero)
        return f"{row['trace_id']}: {error}"
    actual = row["final_reward"]
    if (expected is None) != (actual is None) or (
        expected is not None and not (math.isfinite(actual) and abs(expected - actual) <= tolerance)
    ):
        return f"{row['trace_id']}: final_reward {actual!r}, formula gives {expected!r}"
    return None


class _Examples:
    """A running count of problems and the first MAX_EXAMPLES messages (taken from a lazy
    iterable, so that a batch's messages are only written while examples are wanted)."""

    def __init__(self) -> None:
        self.count, self.examples = 0, []

    def add(self, count: int, messages: Iterable[str]) -> None:
        self.count += count
        for message in messages:
            if len(self.examples) >= MAX_EXAMPLES:
                break
            self.examples.append(message)

    def problems(self) -> Problems:
        return Problems(self.count, tuple(self.examples))


def _as_window(rows: RowWindow | pa.Table) -> RowWindow:
    return TableWindow(rows) if isinstance(rows, pa.Table) else rows


def _keys(window: RowWindow, column: str) -> np.ndarray:
    """The fingerprint of every row's `column`, in row order."""
    parts = [fingerprints(batch.column(column).to_pylist()) for batch in window.batches([column], ROWS_AT_ONCE)]
    return np.concatenate(parts) if parts else np.array([], dtype=KEY_DTYPE)


def _distinct(sorted_keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return sorted_keys
    return sorted_keys[np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])]


def _batches_with(rows: RowWindow | pa.Table, column: str, sorted_keys: np.ndarray) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """The window's `column` a batch at a time, with which of its rows have a key in `sorted_keys`."""
    for batch in _as_window(rows).batches([column], ROWS_AT_ONCE):
        yield batch, members(sorted_keys, fingerprints(batch.column(column).to_pylist()))


def _ids_of(rows: RowWindow | pa.Table, column: str, sorted_keys: np.ndarray) -> Ids:
    """The ids behind `sorted_keys` (distinct fingerprints of `column`): their count and the
    first MAX_EXAMPLES in sorted order, read back from the window only when there are any."""
    if len(sorted_keys) == 0:
        return Ids()
    first = pa.array([], pa.string())
    for batch, inside in _batches_with(rows, column, sorted_keys):
        if inside.any():
            more = batch.column(column).filter(pa.array(inside)).cast(pa.string())
            first = _sorted_first(pc.unique(pa.concat_arrays([first, more])))
    return Ids(len(sorted_keys), tuple(first.to_pylist()))


def _sorted_first(ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The MAX_EXAMPLES smallest of `ids` (distinct), sorted."""
    first = pc.take(ids, pc.array_sort_indices(ids)[:MAX_EXAMPLES])
    return first.combine_chunks() if isinstance(first, pa.ChunkedArray) else first


def _rows(batch: pa.RecordBatch, positions: np.ndarray) -> Iterator[dict]:
    """The rows at `positions` as dicts, one at a time (read only as far as they are wanted)."""
    for position in positions:
        yield batch.slice(int(position), 1).to_pylist()[0]


def _null(column: pa.Array) -> np.ndarray:
    return pc.is_null(column).to_numpy(zero_copy_only=False)


def _non_empty(column: pa.Array) -> np.ndarray:
    """Which values are set and not empty (a message, a reason)."""
    return pc.fill_null(pc.not_equal(column.cast(pa.string()), ""), False).to_numpy(zero_copy_only=False)


def _not_a_score(column: pa.Array) -> np.ndarray:
    """Which values are set and NaN, infinite or outside [0, 1]."""
    values = column.cast(pa.float64())
    outside = pc.or_(pc.is_nan(values), pc.or_(pc.less(values, 0.0), pc.greater(values, 1.0)))
    return pc.fill_null(outside, False).to_numpy(zero_copy_only=False)


def _floats(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(the values as float64, NaN where null; which are set)."""
    values = column.cast(pa.float64())
    return values.to_numpy(zero_copy_only=False), pc.is_valid(values).to_numpy(zero_copy_only=False)
