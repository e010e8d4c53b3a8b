"""Reading a window's stored scores into a plan, and storing the window's scores."""

from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.schema import Schema

from trace_assets.assets.summaries import window_text
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse, WindowCommit
from trace_assets.score_tables import BY_DAY
from trace_assets.scoring.scoring_plan import ScoringPlan, plan_scoring


@dataclass(frozen=True)
class ScoreTable:
    identifier: str
    iceberg_schema: Schema

    @property
    def arrow_schema(self) -> pa.Schema:
        return schema_to_pyarrow(self.iceberg_schema, include_field_ids=False)


def plan_window(
    iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, consented_traces: pa.Table, identity: dict, log
) -> ScoringPlan:
    """The window's traces, with the stored scores of `identity` that still hold."""
    stored = iceberg.read_window(table.identifier, "timestamp", window.start, window.end)
    plan = plan_scoring(consented_traces, stored, identity)
    fresh = len(plan.fresh)
    log.info(f"{len(plan.traces)} consented traces: {len(plan.traces) - fresh} scores reused, {fresh} to score")
    return plan


def store_window(iceberg: IcebergWarehouse, table: ScoreTable, window: dg.TimeWindow, rows: list[dict]) -> WindowCommit:
    """Replace the window's rows of the score table by `rows`, in one commit."""
    iceberg_table = iceberg.ensure_table(table.identifier, table.iceberg_schema, BY_DAY, {})
    scores = pa.Table.from_pylist(rows, schema=table.arrow_schema)
    return iceberg.replace_window(iceberg_table, "timestamp", window.start, window.end, table.arrow_schema, scores.to_batches())


def window_metadata(window: dg.TimeWindow, rows: list[dict], new_rows: dict) -> dict:
    """The metadata every score asset reports: its window, rows, and how many were scored anew."""
    return {
        "window": window_text(window),
        "dagster/row_count": len(rows),
        "scored": len(new_rows),
        "reused": len(rows) - len(new_rows),
    }
