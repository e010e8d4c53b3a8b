"""The checks' plain functions, read a batch at a time, find the same problems and say them in the
same words as the row-by-row definitions they replaced (kept here as the reference), across batch
boundaries."""

import math
import random

import pyarrow as pa
import pytest

from trace_assets.io_managers.trace_window import TableWindow
from trace_assets.scoring import score_checks
from trace_assets.scoring.context_budget import EXPECTED_ERROR_KINDS
from trace_assets.scoring.rewards import final_reward
from trace_assets.scoring.score_checks import (
    MAX_EXAMPLES,
    coverage_gaps,
    duplicate_ids,
    error_rate,
    invalid_scores,
    reward_mismatches,
    rows_not_in,
)


# The row-by-row definitions (trace_assets/scoring/score_checks.py before the checks streamed).
def reference_invalid_scores(rows: pa.Table, score_columns, explained_by) -> list[str]:
    problems = []
    for row in rows.to_pylist():
        for column in score_columns:
            value = row[column]
            if value is not None and (not math.isfinite(value) or not 0.0 <= value <= 1.0):
                problems.append(f"{row['trace_id']}: {column} is {value!r}")
        if row[score_columns[0]] is None and not any(row.get(column) for column in explained_by):
            problems.append(f"{row['trace_id']}: {score_columns[0]} is null without an error or a reason")
    return problems


def reference_error_rate(rows: pa.Table) -> float:
    if rows.num_rows == 0:
        return 0.0
    kinds = rows.column("error_kind").to_pylist() if "error_kind" in rows.column_names else [None] * rows.num_rows
    failed = sum(1 for error, kind in zip(rows.column("error").to_pylist(), kinds) if error and kind not in EXPECTED_ERROR_KINDS)
    return failed / rows.num_rows


def reference_reward_mismatches(rows: pa.Table, tolerance: float = 1e-9) -> list[str]:
    problems = []
    for row in rows.to_pylist():
        try:
            expected = final_reward(row["ragas_reward"], row["judge_score"], row["ragas_weight"], row["judge_weight"]).value
        except ValueError as error:
            problems.append(f"{row['trace_id']}: {error}")
            continue
        actual = row["final_reward"]
        if (expected is None) != (actual is None) or (
            expected is not None and not (math.isfinite(actual) and abs(expected - actual) <= tolerance)
        ):
            problems.append(f"{row['trace_id']}: final_reward {actual!r}, formula gives {expected!r}")
    return problems


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Batches of 7 rows: every case below spans many of them."""
    monkeypatch.setattr(score_checks, "ROWS_AT_ONCE", 7)


def ids(n: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def same_as_reference(found, reference: list[str]) -> None:
    assert (found.count, list(found.examples)) == (len(reference), reference[:MAX_EXAMPLES])


def test_an_intact_day_has_no_problems():
    n = 60
    scores = pa.table({"trace_id": ids(n), "judge_score": [i / n for i in range(n)], "error": [None] * n})
    assert invalid_scores(scores, ["judge_score"], ["error"]).count == 0
    missing, extra = coverage_gaps(pa.table({"id": ids(n)}), scores)
    assert (missing.count, extra.count, duplicate_ids(scores).count) == (0, 0, 0)
    assert error_rate(scores) == 0.0 and error_rate(scores.slice(0, 0)) == 0.0


def test_invalid_scores_are_found_and_said_as_before():
    rng = random.Random(7)
    n = 200
    rows = []
    for i, trace_id in enumerate(ids(n)):
        row = {"trace_id": trace_id, "ragas_reward": rng.random(), "faithfulness": rng.random(),
               "answer_relevancy": rng.random(), "context_precision": None, "error": None, "reward_note": None}
        kind = i % 23
        if kind == 3:
            row["faithfulness"] = float("nan")
        elif kind == 5:
            row["answer_relevancy"] = -0.0072  # a negative cosine that reached the table unclipped
        elif kind == 8:
            row["ragas_reward"], row["context_precision"] = None, float("inf")
        elif kind == 11:
            row["ragas_reward"], row["reward_note"] = None, "failed: faithfulness"  # explained
        elif kind == 13:
            row["ragas_reward"], row["error"] = None, ""  # an empty message explains nothing
        elif kind == 17:
            row["ragas_reward"], row["faithfulness"] = 1.5, 2.0
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    columns, explained_by = ["ragas_reward", "faithfulness", "answer_relevancy", "context_precision"], ["error", "reward_note"]
    reference = reference_invalid_scores(table, columns, explained_by)
    assert len(reference) > 20
    same_as_reference(invalid_scores(table, columns, explained_by), reference)
    # the examples come from wherever the first problems are, here from the middle of the day
    same_as_reference(invalid_scores(table.slice(100), columns, explained_by), reference_invalid_scores(table.slice(100), columns, explained_by))
    # a reason column the table does not have explains nothing
    judged = pa.table({"trace_id": ids(3), "judge_score": [None, 0.5, None], "error": [None, None, "http_500: down"]})
    assert invalid_scores(judged, ["judge_score"], ["error", "no_such_column"]).examples == ("t0000: judge_score is null without an error or a reason",)


@pytest.mark.parametrize("with_kinds", [True, False])
def test_error_rate_is_as_before_and_expected_errors_are_not_failures(with_kinds):
    n = 101
    errors = [("http_500: down" if i % 4 == 0 else "" if i % 9 == 0 else None) for i in range(n)]
    columns = {"trace_id": ids(n), "error": errors}
    if with_kinds:
        columns["error_kind"] = [("exceeds_judge_context" if i % 8 == 0 else "http_500" if e else None) for i, e in enumerate(errors)]
    table = pa.table(columns)
    assert error_rate(table) == reference_error_rate(table) and 0 < error_rate(table) < 1
    assert error_rate(TableWindow(table)) == error_rate(table)


def test_coverage_finds_missing_extra_and_twice_scored_traces_in_sorted_order():
    rng = random.Random(3)
    traces = ids(300)
    rng.shuffle(traces)
    scored = [t for t in traces if int(t[1:]) % 37 != 5] + ids(9, prefix="x") + ["t0002", "t0002", "t0150"]
    rng.shuffle(scored)
    missing, extra = coverage_gaps(pa.table({"id": traces}), pa.table({"trace_id": scored}))
    assert (missing.count, list(missing.first)) == (8, sorted(set(traces) - set(scored))[:MAX_EXAMPLES])
    assert (extra.count, list(extra.first)) == (9, [f"x{i:04d}" for i in range(5)])
    twice = duplicate_ids(pa.table({"trace_id": scored}))
    assert (twice.count, list(twice.first)) == (2, ["t0002", "t0150"])
    assert twice.saying("scored twice").examples == ("t0002: scored twice", "t0150: scored twice")
    # nothing scored at all: every trace missing, the first five of them named
    missing, extra = coverage_gaps(pa.table({"id": traces}), pa.table({"trace_id": pa.array([], pa.string())}))
    assert (missing.count, list(missing.first), extra.count) == (300, ids(5), 0)


def test_rows_outside_the_consented_traces_are_counted_per_row_in_row_order():
    consented = pa.table({"id": ids(50)})
    labeled = pa.table({"trace_id": ids(50)[:20] + ["refused-2", "refused-1", "refused-2"] + ids(50)[20:] + ["late"]})
    outside = rows_not_in(labeled, consented)
    assert (outside.count, list(outside.first)) == (4, ["refused-2", "refused-1", "refused-2", "late"])


def test_reward_mismatches_are_found_and_said_as_before():
    rng = random.Random(11)
    rows = []
    for i, trace_id in enumerate(ids(150)):
        ragas, judge = rng.random(), rng.random()
        row = {"trace_id": trace_id, "ragas_reward": ragas, "judge_score": judge, "ragas_weight": 0.6, "judge_weight": 0.4,
               "final_reward": (0.6 * ragas + 0.4 * judge) / 1.0}
        kind = i % 19
        if kind == 2:
            row["final_reward"] = 0.99
        elif kind == 4:
            row["judge_score"] = None  # null reward expected, a value stored
        elif kind == 6:
            row["judge_score"], row["final_reward"] = None, None  # as it should be
        elif kind == 9:
            row["ragas_weight"], row["judge_weight"] = 0.0, 0.0
        elif kind == 12:
            row["judge_weight"] = float("nan")
        elif kind == 14:
            row["final_reward"] = float("nan")
        elif kind == 16:
            row["ragas_reward"] = float("nan")
        elif kind == 18:
            row["final_reward"] = None
        rows.append(row)
    table = pa.Table.from_pylist(rows)
    reference = reference_reward_mismatches(table)
    assert len(reference) > 20
    same_as_reference(reward_mismatches(table), reference)
    same_as_reference(reward_mismatches(table.slice(40)), reference_reward_mismatches(table.slice(40)))


def test_a_day_scored_twice_over_is_confirmed_a_part_at_a_time(monkeypatch):
    monkeypatch.setattr(score_checks, "CONFIRMED_AT_ONCE", 9)  # 40 rows to confirm: 5 passes
    scored = ids(20) + list(reversed(ids(20))) + ids(3, prefix="once")
    twice = duplicate_ids(pa.table({"trace_id": scored}))
    assert (twice.count, list(twice.first)) == (20, ids(5))
