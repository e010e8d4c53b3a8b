"""The score rows of a batch of traces, found by trace id in a window's score rows held in blocks."""

import pyarrow as pa
import pytest

from trace_assets.io_managers.trace_window import TableWindow
from trace_assets.scoring import score_index as score_index_module
from trace_assets.scoring.reuse import buckets_of, fingerprints
from trace_assets.scoring.score_index import ScoreIndex

COLUMNS = ["judge_score", "reasoning", "judge_model"]


def judged(count: int) -> pa.Table:
    return pa.table({
        "trace_id": [f"t{i}" for i in range(count)],
        "judge_score": [i / count for i in range(count)],
        "reasoning": [f"why t{i} " * (i % 5) for i in range(count)],
        "judge_model": [f"judge-{i % 2}" for i in range(count)],
    })


@pytest.mark.parametrize("block_bytes", [1, 8 << 20])
def test_rows_come_back_in_the_order_asked_with_nulls_for_ids_without_a_row(monkeypatch, block_bytes):
    """Whether the rows sit in one block or in many, each trace id gets its own row."""
    monkeypatch.setattr(score_index_module, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(score_index_module, "SCORE_ROWS_AT_ONCE", 7)
    scores = judged(50)
    index = ScoreIndex.of(TableWindow(scores), COLUMNS, compact=["judge_model"])
    asked = ["t42", "nobody", "t0", "t7", "t42", "t49", "also-nobody", "t13"]

    rows, found = index.rows_for(asked)

    assert found.tolist() == [True, False, True, True, True, True, False, True]
    by_id = {row["trace_id"]: row for row in scores.to_pylist()}
    expected = [{name: by_id[i][name] for name in COLUMNS} if i in by_id else dict.fromkeys(COLUMNS) for i in asked]
    assert rows.cast(pa.schema([("judge_score", pa.float64()), ("reasoning", pa.string()), ("judge_model", pa.string())])).to_pylist() == expected
    assert len(index.blocks) == (8 if block_bytes == 1 else 1)  # 50 rows read 7 at a time


def test_a_bucket_holds_only_its_trace_ids(monkeypatch):
    monkeypatch.setattr(score_index_module, "BLOCK_BYTES", 300)
    monkeypatch.setattr(score_index_module, "SCORE_ROWS_AT_ONCE", 7)
    scores = judged(60)
    ids = scores.column("trace_id").to_pylist()
    bucket_of = dict(zip(ids, buckets_of(fingerprints(ids), 3)))

    for bucket in range(3):
        index = ScoreIndex.of(TableWindow(scores), COLUMNS, bucket=bucket, buckets=3)
        rows, found = index.rows_for(ids)
        assert found.tolist() == [bucket_of[i] == bucket for i in ids]
        assert rows.column("judge_score").to_pylist() == [i / 60 if bucket_of[f"t{i}"] == bucket else None for i in range(60)]


def test_no_score_rows_finds_nothing():
    index = ScoreIndex.of(TableWindow(judged(0)), COLUMNS)
    rows, found = index.rows_for(["t1", "t2"])
    assert rows is None and found.tolist() == [False, False]


def test_the_first_row_of_a_trace_id_is_the_one_found(monkeypatch):
    monkeypatch.setattr(score_index_module, "BLOCK_BYTES", 1)
    monkeypatch.setattr(score_index_module, "SCORE_ROWS_AT_ONCE", 2)
    scores = pa.concat_tables([judged(5), judged(5).set_column(1, "judge_score", pa.array([9.0] * 5))])
    rows, found = ScoreIndex.of(TableWindow(scores), COLUMNS).rows_for(["t3", "t1"])
    assert found.all() and rows.column("judge_score").to_pylist() == [3 / 5, 1 / 5]


def test_a_compact_column_of_nulls_only_in_many_blocks(monkeypatch):
    """A window whose notes are all null (a table in memory types them as null)."""
    monkeypatch.setattr(score_index_module, "BLOCK_BYTES", 1)
    monkeypatch.setattr(score_index_module, "SCORE_ROWS_AT_ONCE", 2)
    scores = judged(6).append_column("reward_note", pa.nulls(6))
    rows, found = ScoreIndex.of(TableWindow(scores), ["judge_score", "reward_note"], compact=["reward_note"]).rows_for(["t5", "t0"])
    assert found.all() and rows.to_pylist() == [{"judge_score": 5 / 6, "reward_note": None}, {"judge_score": 0.0, "reward_note": None}]
