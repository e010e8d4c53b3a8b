"""The report's columnar pieces against the plain definitions they replace at scale: answer sizes
from Arrow's buffers, the trailing window's bin counts and exact medians from two passes, the
consistency sample offered a batch at a time, and metadata feedback read with a text prefilter."""

import hashlib
import json
import random

import numpy as np
import pyarrow as pa
import pytest

from trace_assets.quality.consistency import HashSample, consistency_sample
from trace_assets.quality.correlation import spearman
from trace_assets.quality.day_rewards import DayRewards, answer_sizes
from trace_assets.quality.drift import bin_counts
from trace_assets.quality.feedback import FeedbackScale, feedback_from_metadata_batches
from trace_assets.quality.length_bias import answer_length, estimated_tokens
from trace_assets.quality.quality_table import REWARDS
from trace_assets.quality.trailing import TRAILING_COLUMNS, TrailingRewards

PIECES = ["abc", "답변", " ", "🙂", "é", "x" * 37, "\n", "0123", "数"]


def random_texts(rng: random.Random, n: int) -> list:
    return [None if rng.random() < 0.1 else "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def test_answer_sizes_count_as_the_plain_definitions_do_sliced_and_with_nulls():
    rng = random.Random(3)
    texts = random_texts(rng, 500)
    column = pa.array(texts, pa.string())
    for part, expected in ((column, texts), (column.slice(17, 300), texts[17:317])):
        characters, tokens = answer_sizes(part)
        assert characters.tolist() == [answer_length(t) for t in expected]
        assert tokens.tolist() == [estimated_tokens(t) for t in expected]
    assert [a.tolist() for a in answer_sizes(pa.array([], pa.string()))] == [[], []]
    assert [a.tolist() for a in answer_sizes(pa.nulls(3, pa.string()))] == [[0, 0, 0], [0, 0, 0]]


def labeled_rows(rng: random.Random, n: int, models: list) -> list[dict]:
    judge_values = [i / 10 for i in range(11)]  # a judge's discrete scale: medians on ties
    return [
        {"model": rng.choice(models), "final_reward": None if rng.random() < 0.05 else rng.random(),
         "judge_score": rng.choice(judge_values), "ragas_reward": rng.choice([None, 0.25, rng.random(), 1.0, 0.0])}
        for _ in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4001])
def test_trailing_summaries_are_the_whole_windows_counts_and_medians(n):
    rng = random.Random(n)
    rows = labeled_rows(rng, n, ["m1", "m2", None, "m|3"])
    table = pa.Table.from_pylist(rows, schema=pa.schema([("model", pa.string())] + [(r, pa.float64()) for r in REWARDS]))
    passes = []

    def batches():
        passes.append(1)
        return table.select(TRAILING_COLUMNS).to_batches(max_chunksize=97)

    trailing = TrailingRewards.of(batches)
    assert len(passes) == 2
    for model in [*{row["model"] for row in rows if row["model"] is not None}, None]:
        scope = [row for row in rows if model is None or row["model"] == model]
        assert trailing.rows(model) == len(scope)
        for reward in REWARDS:
            values = [row[reward] for row in scope if row[reward] is not None]
            summary = trailing.summary(model, reward)
            assert summary.count == len(values)
            assert summary.bins.tolist() == (bin_counts(values).tolist() if values else [0] * 10)
            assert summary.median == (float(np.median(values)) if values else None)  # exactly numpy's


def test_an_empty_trailing_window_has_no_rewards():
    trailing = TrailingRewards.of(lambda: iter(()))
    assert trailing.rows(None) == 0 and trailing.summary("m1", "final_reward").median is None
    assert trailing.summary(None, "judge_score").bins.sum() == 0


def test_the_sample_offered_in_batches_is_the_sample_of_the_whole_day():
    ids = [f"trace-{i}" for i in range(5000)]
    random.Random(1).shuffle(ids)
    for share, at_least in ((0.02, 20), (0.5, 20), (0.0, 20), (0.001, 0), (1.0, 0)):
        sample = HashSample(share, at_least, len(ids) + 100)
        for start in range(0, len(ids), 333):
            sample.offer(ids[start:start + 333])
        expected = sorted(ids, key=lambda i: hashlib.sha256(i.encode()).hexdigest())[:len(consistency_sample(ids, share, at_least))]
        assert sample.chosen() == expected
        assert consistency_sample(ids, share, at_least) == expected
    too_many = HashSample(0.1, 1, 10)
    too_many.offer(ids[:11])
    with pytest.raises(ValueError, match="11 traces were offered to a sample sized for a day of at most 10"):
        too_many.chosen()


def test_day_rewards_pair_each_trace_with_its_human_value():
    table = pa.Table.from_pylist([
        {"trace_id": "a", "model": "m1", "output": "가나", "final_reward": 0.5, "judge_score": None, "ragas_reward": 0.1},
        {"trace_id": "b", "model": None, "output": None, "final_reward": None, "judge_score": 1.0, "ragas_reward": 0.2},
        {"trace_id": "c", "model": "m1", "output": "abcdefgh", "final_reward": 0.9, "judge_score": 0.0, "ragas_reward": 0.3},
    ])
    day = DayRewards.of(table.to_batches(max_chunksize=2), {"c": 0.75, "zz": 0.1})
    assert day.traces == 3 and day.named_models() == ["m1"]
    assert day.of_model("m1").tolist() == [True, False, True] and day.of_model(None).all()
    assert np.isnan(day.human[:2]).all() and day.human[2] == 0.75
    assert day.length.tolist() == [2, 0, 8] and day.tokens.tolist() == [2, 0, 2]
    assert np.isnan(day.rewards["judge_score"][0]) and day.rewards["final_reward"][2] == 0.9


@pytest.mark.parametrize("key", ["feedback_score", 'rating "stars"', "평가"])
def test_metadata_feedback_read_with_the_prefilter_finds_what_parsing_every_row_finds(key):
    metadata = [{key: 4}, {"other": 1}, {key: "five"}, {"note": key}, {key: None}, {"nested": {key: 2}}, {key: 9}]
    batch = pa.RecordBatch.from_pylist([
        {"id": f"t{i}", "metadata_json": json.dumps(m, ensure_ascii=i % 2 == 0)} for i, m in enumerate(metadata)
    ])
    feedback, unusable = feedback_from_metadata_batches([batch.slice(0, 3), batch.slice(3)], key, FeedbackScale(1, 5))
    assert feedback.to_pylist() == [{"trace_id": "t0", "origin": f"metadata.{key}", "value": 4.0, "human": 0.75}]
    assert unusable == {f"metadata.{key}: not a number": 1, f"metadata.{key}: outside the scale 1..5": 1}


def test_spearman_is_scipys_on_ties_and_all():
    from scipy import stats

    rng = np.random.default_rng(5)
    for n in (3, 10, 1000, 50_000):
        x = rng.integers(0, 7, n).astype(float)  # many ties, as an 11-point judge gives
        y = np.where(rng.random(n) < 0.5, x, rng.random(n))
        assert spearman(x, y, ("x", "y")).value == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert spearman(x, -x, ("x", "y")).value == -1.0 and spearman(x, 2 * x + 1, ("x", "y")).value == 1.0
