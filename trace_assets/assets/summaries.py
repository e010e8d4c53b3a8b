"""Asset metadata shared by the assets: row counts and windows in the shape the UI shows."""

from collections import Counter

import dagster as dg
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


def score_distribution(scores: list[float | None]) -> dg.MetadataValue:
    """How many traces have a score, their mean, and a ten-bucket histogram of scores in [0, 1]."""
    present = sorted(score for score in scores if score is not None)
    buckets = Counter(min(int(score * 10), 9) for score in present)
    lines = [
        f"scored: {len(present)} of {len(scores)}; mean: {sum(present) / len(present):.3f}" if present else "no scores",
        "",
        "| range | traces |",
        "|---|---:|",
    ]
    lines += [f"| {b / 10:.1f}-{(b + 1) / 10:.1f} | {buckets.get(b, 0)} |" for b in range(10)]
    return dg.MetadataValue.md("\n".join(lines))


def value_counts(table: pa.Table, column: str) -> dict[str, int]:
    """How often each non-null value of `column` occurs."""
    counts = pc.value_counts(table.column(column).drop_null()).to_pylist() if table.num_rows else []
    return {count["values"]: count["counts"] for count in counts}


def column_sum(table: pa.Table, column: str) -> int:
    total = pc.sum(table.column(column)).as_py() if table.num_rows else None
    return total or 0
