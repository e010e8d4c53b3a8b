"""The score histogram the UI shows, from a list or straight from Arrow and numpy columns."""

import numpy as np
import pyarrow as pa

from trace_assets.assets.summaries import score_distribution

SCORES = [0.0, 0.05, None, 0.1, 0.35, 0.99, 1.0, None, -0.04, 0.5]
EXPECTED = "\n".join([
    "scored: 8 of 10; mean: 0.369",
    "",
    "| range | traces |",
    "|---|---:|",
    "| 0.0-0.1 | 3 |",
    "| 0.1-0.2 | 1 |",
    "| 0.2-0.3 | 0 |",
    "| 0.3-0.4 | 1 |",
    "| 0.4-0.5 | 0 |",
    "| 0.5-0.6 | 1 |",
    "| 0.6-0.7 | 0 |",
    "| 0.7-0.8 | 0 |",
    "| 0.8-0.9 | 0 |",
    "| 0.9-1.0 | 2 |",
])


def test_the_histogram_counts_scores_in_tenths_and_leaves_out_the_missing():
    # 1.0 counts in the top bucket; a slightly negative cosine (-0.04) in the bottom one
    assert score_distribution(SCORES).value == EXPECTED


def test_an_arrow_column_or_a_numpy_array_gives_the_same_histogram():
    column = pa.array(SCORES, pa.float64())
    assert score_distribution(column).value == EXPECTED
    assert score_distribution(pa.chunked_array([column.slice(0, 4), column.slice(4)])).value == EXPECTED
    present = np.array([score for score in SCORES if score is not None])
    assert score_distribution(present).value.replace("scored: 8 of 8", "scored: 8 of 10") == EXPECTED


def test_a_window_without_scores_says_so():
    assert score_distribution([]).value.startswith("no scores")
    assert score_distribution(pa.nulls(3, pa.float64())).value.startswith("no scores\n")
    assert score_distribution([None, None]).value.startswith("no scores")
