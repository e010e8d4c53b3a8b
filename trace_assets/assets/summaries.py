"""Asset metadata shared by the assets: row counts and windows in the shape the UI shows."""

from collections import Counter
from collections.abc import Sequence

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def window_text(window: dg.TimeWindow) -> str:
    return f"[{window.start.isoformat()}, {window.end.isoformat()}) UTC"


def rows_by_day_model_consent(rows: Counter) -> dg.MetadataValue:
    """A markdown table of row counts keyed by (day, model, consent)."""
    lines = ["| date | model | consent | rows |", "|---|---|---|---:|"]
    for (day, model, consent), count in sorted(rows.items(), key=lambda item: (str(item[0][0]), str(item[0][1]), item[0][2])):
        model_text = str(model).replace("|", "\\|")
        lines.append(f"| {day} | {model_text} | {str(consent).lower()} | {count} |")
    return dg.MetadataValue.md("\n".join(lines))


def score_distribution(scores: Sequence[float | None] | pa.Array | pa.ChunkedArray | np.ndarray) -> dg.MetadataValue:
    """How many traces have a score, their mean, and a ten-bucket histogram of scores in [0, 1].
    `scores` may be an Arrow column or a numpy array as well as a list: a day's million scores are
    counted without a Python object each."""
    column = scores if isinstance(scores, (pa.Array, pa.ChunkedArray)) else pa.array(scores, pa.float64())
    present = column.drop_null().cast(pa.float64()).to_numpy()
    # Truncated toward zero as int() does: a slightly negative score (-0.05) counts in 0.0-0.1.
    buckets = np.minimum(np.trunc(present * 10), 9)
    counts = np.bincount(buckets[buckets >= 0].astype(np.int64), minlength=10)
    lines = [
        f"scored: {len(present)} of {len(column)}; mean: {present.mean():.3f}" if len(present) else "no scores",
        "",
        "| range | traces |",
        "|---|---:|",
    ]
    lines += [f"| {b / 10:.1f}-{(b + 1) / 10:.1f} | {counts[b]} |" for b in range(10)]
    return dg.MetadataValue.md("\n".join(lines))


def value_counts(table: pa.Table, column: str) -> dict[str, int]:
    """How often each non-null value of `column` occurs."""
    counts = pc.value_counts(table.column(column).drop_null()).to_pylist() if table.num_rows else []
    return {count["values"]: count["counts"] for count in counts}


def column_sum(table: pa.Table, column: str) -> int:
    total = pc.sum(table.column(column)).as_py() if table.num_rows else None
    return total or 0
