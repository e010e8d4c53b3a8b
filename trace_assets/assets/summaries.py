"""Asset metadata shared by the assets: row counts and windows in the shape the UI shows."""

from collections import Counter

import dagster as dg


def window_text(window: dg.TimeWindow) -> str:
    return f"[{window.start.isoformat()}, {window.end.isoformat()}) UTC"


def rows_by_day_model_consent(rows: Counter) -> dg.MetadataValue:
    """A markdown table of row counts keyed by (day, model, consent)."""
    lines = ["| date | model | consent | rows |", "|---|---|---|---:|"]
    for (day, model, consent), count in sorted(rows.items(), key=lambda item: (str(item[0][0]), str(item[0][1]), item[0][2])):
        model_text = str(model).replace("|", "\\|")
        lines.append(f"| {day} | {model_text} | {str(consent).lower()} | {count} |")
    return dg.MetadataValue.md("\n".join(lines))
