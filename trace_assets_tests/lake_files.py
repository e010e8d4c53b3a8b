"""Reading back what landed, the way a user of the lake would."""

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

from trace_assets.ingest.hive_day import LAKE_PARTITIONING


def landed_files(lake: Path) -> list[str]:
    root = lake / "langfuse-traces"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def landed_day(lake: Path, day: str) -> pa.Table:
    return ds.dataset(
        lake / "langfuse-traces" / f"date={day}", format="parquet", partitioning=LAKE_PARTITIONING
    ).to_table()
