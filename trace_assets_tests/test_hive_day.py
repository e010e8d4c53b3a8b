"""Replacing a day of the hive lake, as plain functions on a local filesystem: file and row-group
limits, a NULL model, and a crash while the new day is being moved in."""

from datetime import date, datetime, timedelta, timezone

import fsspec.implementations.local
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from trace_assets.ingest.hive_day import LANDED_TRACES, FileLayout, read_day, replace_day, scan_batches
from trace_assets.resources.trace_lake import TraceLake
from trace_assets.tables.traces import LANDED_TRACE_SCHEMA
from trace_assets_tests.lake_files import landed_day, landed_files

DAY = date(2026, 4, 18)


def landed_rows(ids: list[str], models: list[str | None]) -> pa.RecordBatch:
    midnight = datetime(2026, 4, 18, tzinfo=timezone.utc)
    columns = {
        "id": ids, "timestamp": [midnight + timedelta(minutes=i) for i in range(len(ids))], "model": models,
        "consent": [True] * len(ids), "output": ["answer"] * len(ids),
    }
    return pa.RecordBatch.from_arrays(
        [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(len(ids), f.type) for f in LANDED_TRACE_SCHEMA],
        schema=LANDED_TRACE_SCHEMA,
    )


def test_the_readme_s_file_limits_are_the_defaults():
    layout = FileLayout()
    assert (layout.max_rows_per_file, layout.rows_per_group, layout.bytes_per_group) == (1_000_000, 128 * 1024, 8 << 20)
    assert TraceLake(uri="/lake").max_rows_per_file == 1_000_000


def test_max_rows_per_file_rolls_over_to_the_next_part_and_row_groups_stay_within_their_limit(tmp_path):
    lake = TraceLake(uri=str(tmp_path / "lake"), max_rows_per_file=5)
    batches = [landed_rows([f"t{i}"], ["glm-5-32b"]) for i in range(12)]
    lake.replace_traces_day(DAY, batches)

    files = landed_files(tmp_path / "lake")
    assert files == [f"date=2026-04-18/model=glm-5-32b/consent=true/part-{n}.parquet" for n in range(3)]
    folder = tmp_path / "lake" / "langfuse-traces" / "date=2026-04-18" / "model=glm-5-32b" / "consent=true"
    assert [pq.ParquetFile(folder / f"part-{n}.parquet").metadata.num_rows for n in range(3)] == [5, 5, 2]
    assert sorted(landed_day(tmp_path / "lake", "2026-04-18").column("id").to_pylist()) == sorted(f"t{i}" for i in range(12))


@pytest.mark.parametrize("layout", [FileLayout(rows_per_group=3), FileLayout(bytes_per_group=1)])
def test_a_row_group_is_cut_at_its_row_or_byte_limit(tmp_path, layout):
    limit = layout.rows_per_group if layout.bytes_per_group > 1 else 1  # one batch already holds more than a byte
    batches = [landed_rows([f"t{i}"], ["m"]) for i in range(8)]
    written = replace_day(pafs.LocalFileSystem(), str(tmp_path), DAY, batches, LANDED_TRACES, layout)
    [path] = written.paths
    metadata = pq.ParquetFile(tmp_path / "date=2026-04-18" / path).metadata
    groups = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    assert sum(groups) == 8 and max(groups) <= limit and len(groups) == -(-8 // limit)


def test_a_null_model_is_hive_s_default_partition_and_reads_back_as_null(tmp_path):
    replace_day(pafs.LocalFileSystem(), str(tmp_path / "langfuse-traces"), DAY,
                [landed_rows(["a", "b"], [None, "glm-5-32b"])])
    assert "date=2026-04-18/model=__HIVE_DEFAULT_PARTITION__/consent=true/part-0.parquet" in landed_files(tmp_path)
    rows = {row["id"]: row["model"] for row in landed_day(tmp_path, "2026-04-18").to_pylist()}
    assert rows == {"a": None, "b": "glm-5-32b"}


def test_scanning_a_day_in_batches_reads_what_the_dataset_reads(tmp_path):
    """Escaped and null models from the path, a column an older file lacks as null, every row once."""
    fs, root = pafs.LocalFileSystem(), str(tmp_path / "langfuse-traces")
    models = [None, "Qwen/Qwen3-4B", "gpt-oss 20b", "a=b"] * 25
    replace_day(fs, root, DAY, [landed_rows([f"t{i}" for i in range(100)], models)])
    older = f"{root}/date=2026-04-18/model=a%3Db/consent=true/part-0.parquet"
    pq.write_table(pq.read_table(older).drop_columns(["messages"]), older)  # landed before `messages` existed
    columns = ["id", "model", "consent", "messages", "output"]
    scanned = pa.Table.from_batches(list(scan_batches(read_day(fs, root, DAY), columns, rows_per_batch=7)))
    expected = read_day(fs, root, DAY).to_table(columns=columns)
    assert scanned.schema == expected.schema
    assert scanned.sort_by("id").equals(expected.sort_by("id"))
    assert scanned.num_rows == 100 and scanned.column("messages").null_count == 100
    assert {row["model"] for row in scanned.to_pylist()} == {None, "Qwen/Qwen3-4B", "gpt-oss 20b", "a=b"}
    assert sum(batch.num_rows for batch in scan_batches(read_day(fs, root, date(2026, 4, 19)), columns)) == 0


class MovesFailAfter(fsspec.implementations.local.LocalFileSystem):
    """The local disk, where every move after the first `moves` fails (a pod killed while the new
    day is being moved in)."""

    def __init__(self, moves: int):
        super().__init__()
        self.moves_left = moves

    def mv(self, *args, **kwargs):
        if self.moves_left == 0:
            raise OSError("the run was killed while committing the day")
        self.moves_left -= 1
        return super().mv(*args, **kwargs)


def test_a_crash_while_committing_leaves_no_duplicate_and_the_next_run_rewrites_the_day(tmp_path):
    root = str(tmp_path / "langfuse-traces")
    models = ["glm-5-32b", "qwen3-coder", "Qwen/Qwen3-4B"]
    replace_day(pafs.LocalFileSystem(), root, DAY, [landed_rows(["a", "b", "c"], models)])
    new_day = [landed_rows(["a", "b", "c", "d"], [*models, "glm-5-32b"])]

    dying = pafs.PyFileSystem(pafs.FSSpecHandler(MovesFailAfter(moves=1)))
    with pytest.raises(OSError, match="killed while committing"):
        replace_day(dying, root, DAY, new_day)
    partly = landed_day(tmp_path, "2026-04-18").column("id").to_pylist()
    assert 0 < len(partly) < 4 and len(partly) == len(set(partly)), "part of the new day, and no duplicate row"

    replace_day(pafs.LocalFileSystem(), root, DAY, new_day)
    assert sorted(landed_day(tmp_path, "2026-04-18").column("id").to_pylist()) == ["a", "b", "c", "d"]
    assert not (tmp_path / "langfuse-traces" / "_staging" / "date=2026-04-18").exists()
