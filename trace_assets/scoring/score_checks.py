"""What the asset checks verify, as plain functions over a window's rows (README.md, "Checks")."""

import math

import pyarrow as pa

from trace_assets.scoring.context_budget import EXPECTED_ERROR_KINDS
from trace_assets.scoring.rewards import final_reward

MAX_EXAMPLES = 5


def invalid_scores(rows: pa.Table, score_columns: list[str], explained_by: list[str]) -> list[str]:
    """Rows where a score is NaN or outside [0, 1], or the main score (the first column) is null
    with nothing in `explained_by` saying why."""
    problems = []
    for row in rows.to_pylist():
        for column in score_columns:
            value = row[column]
            if value is not None and (not math.isfinite(value) or not 0.0 <= value <= 1.0):
                problems.append(f"{row['trace_id']}: {column} is {value!r}")
        if row[score_columns[0]] is None and not any(row.get(column) for column in explained_by):
            problems.append(f"{row['trace_id']}: {score_columns[0]} is null without an error or a reason")
    return problems


def error_rate(rows: pa.Table) -> float:
    """Share of rows whose scoring failed. Rows whose metrics do not apply, and rows with an
    expected error (a trace longer than the model's context), are not failures."""
    if rows.num_rows == 0:
        return 0.0
    kinds = rows.column("error_kind").to_pylist() if "error_kind" in rows.column_names else [None] * rows.num_rows
    failed = sum(1 for error, kind in zip(rows.column("error").to_pylist(), kinds) if error and kind not in EXPECTED_ERROR_KINDS)
    return failed / rows.num_rows


def coverage_gaps(consented_traces: pa.Table, rows: pa.Table) -> tuple[list[str], list[str]]:
    """(consented traces without a row, rows that are not a consented trace of the window)."""
    expected = set(consented_traces.column("id").to_pylist())
    present = set(rows.column("trace_id").to_pylist())
    return sorted(expected - present), sorted(present - expected)


def duplicate_ids(rows: pa.Table) -> list[str]:
    ids = rows.column("trace_id").to_pylist()
    seen, duplicates = set(), set()
    for trace_id in ids:
        (duplicates if trace_id in seen else seen).add(trace_id)
    return sorted(duplicates)


def reward_mismatches(rows: pa.Table, tolerance: float = 1e-9) -> list[str]:
    """Rows whose final_reward is not the formula over their own ragas_reward, judge_score and
    weights."""
    problems = []
    for row in rows.to_pylist():
        try:
            expected = final_reward(row["ragas_reward"], row["judge_score"], row["ragas_weight"], row["judge_weight"]).value
        except ValueError as error:  # weights no formula can use (e.g. summing to zero)
            problems.append(f"{row['trace_id']}: {error}")
            continue
        actual = row["final_reward"]
        if (expected is None) != (actual is None) or (
            expected is not None and not (math.isfinite(actual) and abs(expected - actual) <= tolerance)
        ):
            problems.append(f"{row['trace_id']}: final_reward {actual!r}, formula gives {expected!r}")
    return problems
