"""erase_users end to end, on a local lake and on moto S3, with pyiceberg's SQL catalog.

After the erasure every Parquet file is decoded (rows and footer statistics), every Iceberg
manifest and manifest list decoded as Avro (bounds included), every metadata and export file
read: none holds the erased user's text or ids. Time travel to every remaining snapshot finds
none of their rows, and a backfill of their days lands none."""

import json
from datetime import date

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.erasure_job import erase_users_job
from trace_assets.governance.denylist import identifying_columns, subject_hash
from trace_assets.governance.erasure_log import ERASURES_TABLE
from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.offline_scorer import OfflineJudge, OfflineRagas
from trace_assets.resources.trace_lake import TraceLake
from trace_assets_tests.avro_records import avro_records
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days

SALT = "test-salt-not-a-secret"
DAYS = ("2026-04-18", "2026-04-19")
ALICE = "alice-7f3e"
# Text that sorts first ("!!") and last ("~~") among every row, so Parquet footers and Iceberg
# manifests would carry it as the min / max bound of its column if anything kept old statistics.
ALICE_FIRST, ALICE_LAST = "!!ALICEFIRST", "~~ALICELAST"
GRAPH = [*INGEST, judge_scores, ragas_scores, labeled_dataset]


def _traces():
    rows = []
    for day in DAYS:
        for hour, user in enumerate([ALICE, "bob-11", "carol-22", ALICE, "bob-11"]):
            text = f"{ALICE_FIRST} Karpenter 질문 {day}" if user == ALICE else f"Karpenter question from {user}"
            answer = f"{ALICE_LAST} answer" if user == ALICE else "Karpenter provisions nodes for pods."
            rows.append(trace(f"{day} {hour:02d}:00:00", user_id=user, input=text, output=answer))
    return rows


@pytest.fixture(params=["local", "s3"])
def world(request, tmp_path, traces_table, source_for):
    """A lake and warehouse (local folder, or a moto S3 bucket with a SQL catalog on it) holding
    two days of traces, scores, labeled traces, a re-landed day (history), and an export snapshot."""
    if request.param == "local":
        lake = TraceLake(uri=str(tmp_path / "lake"), erasure_salt=SALT)
        warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg"))
        fs, roots = pafs.LocalFileSystem(), [str(tmp_path / "lake")]
    else:
        bucket = request.getfixturevalue("s3_bucket")
        request.getfixturevalue("iceberg_catalog_on_s3")
        endpoint = request.getfixturevalue("s3_endpoint")
        lake = TraceLake(uri=f"s3://{bucket}/lake", s3_endpoint_url=endpoint, erasure_salt=SALT)
        warehouse = IcebergWarehouse()
        fs, roots = lake.filesystem, [f"{bucket}/lake", f"{bucket}/warehouse"]
    rows = _traces()
    traces_table.insert(rows)
    resources = {
        "trace_source": source_for(traces_table),
        "trace_lake": lake,
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": OfflineJudge(),
        "ragas": OfflineRagas(),
    }
    for day in DAYS:
        materialize_days(resources, day, assets=GRAPH)
    materialize_days(resources, DAYS[0])  # history: the older snapshots of day one hold Alice too
    alice_ids = [row["id"] for row in rows if row["user_id"] == ALICE]
    bob_ids = [row["id"] for row in rows if row["user_id"] == "bob-11"]
    _write_export_snapshot(lake, alice_ids, bob_ids)
    return {"resources": resources, "lake": lake, "warehouse": warehouse, "fs": fs, "roots": roots, "alice": alice_ids, "bob": bob_ids}


def _write_export_snapshot(lake: TraceLake, alice_ids, bob_ids):
    """A DPO export snapshot as the exports write them: `trace_ids` per row, a line-aligned JSONL."""
    folder = f"{lake.root}/exports/dpo_pairs/snapshot=2026-04-19"
    lake.filesystem.create_dir(folder, recursive=True)
    rows = [
        {"prompt": f"{ALICE_FIRST} prompt", "chosen": f"{ALICE_LAST} good", "rejected": "bad", "trace_ids": [alice_ids[0], bob_ids[0]]},
        {"prompt": "Karpenter question", "chosen": "good", "rejected": "bad", "trace_ids": [bob_ids[1], bob_ids[0]]},
        {"prompt": "Only Alice", "chosen": "x", "rejected": "y", "trace_ids": [alice_ids[1], alice_ids[2]]},
    ]
    pq.write_table(pa.Table.from_pylist(rows), f"{folder}/train.parquet", filesystem=lake.filesystem)
    with lake.filesystem.open_output_stream(f"{folder}/train.jsonl") as out:
        out.write("".join(json.dumps({k: v for k, v in row.items() if k != "trace_ids"}) + "\n" for row in rows).encode())
    with lake.filesystem.open_output_stream(f"{folder}/manifest.json") as out:
        out.write(json.dumps({"asset": "dpo_pairs", "files": ["train.parquet", "train.jsonl"]}).encode())


def _erase(world, **config):
    return erase_users_job.execute_in_process(
        run_config={"ops": {"erase_user_data": {"config": {"orphan_min_age_minutes": 0, **config}}}},
        resources={"trace_lake": world["lake"], "iceberg": world["warehouse"]},
    )


def _everything_written(fs, roots) -> list[tuple[str, str]]:
    """(path, decoded content as text) of every file under `roots`."""
    found = []
    for root in roots:
        for info in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True)):
            if info.type != pafs.FileType.File:
                continue
            with fs.open_input_stream(info.path) as stream:
                data = stream.read()
            found.append((info.path, _decoded(info.path, data)))
    return found


def _decoded(path: str, data: bytes) -> str:
    if path.endswith(".parquet"):
        parquet = pq.ParquetFile(pa.BufferReader(data))
        statistics = []
        for group in range(parquet.metadata.num_row_groups):
            for column in range(parquet.metadata.num_columns):
                stats = parquet.metadata.row_group(group).column(column).statistics
                if stats is not None and stats.has_min_max:
                    statistics.append(f"{stats.min!r} {stats.max!r}")
        return json.dumps(parquet.read().to_pylist(), default=str, ensure_ascii=False) + " ".join(statistics)
    if path.endswith(".avro"):
        return repr(avro_records(data))
    if path.endswith(".db"):
        return data.decode("latin-1")  # the SQLite catalog: table names and metadata locations
    return data.decode("utf-8")


def _leaks(world) -> list[str]:
    needles = [ALICE, ALICE_FIRST, ALICE_LAST, *world["alice"]]
    return [path for path, text in _everything_written(world["fs"], world["roots"]) if any(n in text for n in needles)]


def _namespace_tables(warehouse):
    catalog = warehouse.catalog()
    return {".".join(identifier): catalog.load_table(identifier) for identifier in catalog.list_tables("training_data")}


def test_erase_users_removes_every_trace_of_the_user(world):
    assert _leaks(world), "the scan must see the user before the erasure, or it proves nothing"
    manifests_before = [p for p, text in _everything_written(world["fs"], world["roots"]) if p.endswith(".avro") and ALICE_FIRST[:10] in text]
    assert manifests_before, "Iceberg manifests keep string bounds: the scan decodes them"

    result = _erase(world, user_ids=[ALICE])
    assert result.success

    assert _leaks(world) == []
    for name, table in _namespace_tables(world["warehouse"]).items():
        columns = identifying_columns(f.name for f in table.schema().fields)
        for snapshot in table.snapshots():  # time travel to every snapshot that is left
            rows = table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=tuple(c for c in columns if c != "trace_ids")).to_arrow()
            for column in rows.column_names:
                assert not set(rows.column(column).to_pylist()) & {ALICE, *world["alice"]}, (name, snapshot.snapshot_id)

    # Everyone else is still there, in every table and in the export.
    tables = _namespace_tables(world["warehouse"])
    traces = tables["training_data.langfuse_traces"].scan().to_arrow()
    assert sorted(set(traces.column("user_id").to_pylist())) == ["bob-11", "carol-22"] and traces.num_rows == 6
    assert tables["training_data.labeled_traces"].scan().to_arrow().num_rows == 6
    assert tables["training_data.judge_scores"].scan().to_arrow().num_rows == 6
    export = pq.read_table(f"{world['lake'].root}/exports/dpo_pairs/snapshot=2026-04-19/train.parquet", filesystem=world["fs"])
    assert export.column("prompt").to_pylist() == ["Karpenter question"]
    with world["fs"].open_input_stream(f"{world['lake'].root}/exports/dpo_pairs/snapshot=2026-04-19/train.jsonl") as stream:
        lines = stream.read().decode().splitlines()
    assert [json.loads(line)["prompt"] for line in lines] == ["Karpenter question"]
    with world["fs"].open_input_stream(f"{world['lake'].root}/exports/dpo_pairs/snapshot=2026-04-19/manifest.json") as stream:
        manifest = json.loads(stream.read())
    assert manifest["erasures"][0]["rows_removed"] == 2 and manifest["files"] == ["train.parquet", "train.jsonl"]

    # The audit log: hashes and counts, no personal data, and the user denylisted.
    audit = tables[ERASURES_TABLE].scan().to_arrow().to_pylist()
    assert {row["status"] for row in audit} == {"started", "completed"}
    users = [row for row in audit if row["subject_kind"] == "user_id"]
    assert {row["subject_hash"] for row in users} == {subject_hash(SALT, ALICE)}
    traces = {row["subject_hash"] for row in audit if row["subject_kind"] == "trace_id"}
    assert traces == {subject_hash(SALT, trace_id) for trace_id in world["alice"]}
    completed = next(row for row in users if row["status"] == "completed")
    removed = json.loads(completed["rows_removed"])
    assert removed["lake/langfuse-traces"] == 4 and removed["training_data.langfuse_traces"] == 4
    assert removed["training_data.judge_scores"] == 4 and removed["training_data.labeled_traces"] == 4
    assert removed["lake/exports/dpo_pairs"] == 2
    assert ALICE not in json.dumps(audit, default=str)

    # A backfill of her days lands none of her traces, whatever the source still holds.
    for day in DAYS:
        landed = materialize_days(world["resources"], day)
        assert materialization_metadata(landed, "raw_traces")["erased_not_landed"] == 2
    assert _leaks(world) == []


def test_erasing_a_user_with_no_rows_is_logged_with_zero_counts(world):
    result = _erase(world, user_ids=["nobody-here"])
    assert result.success
    audit = _namespace_tables(world["warehouse"])[ERASURES_TABLE].scan().to_arrow().to_pylist()
    completed = [row for row in audit if row["status"] == "completed"]
    assert len(completed) == 1 and json.loads(completed[0]["rows_removed"]) == {}
    assert _namespace_tables(world["warehouse"])["training_data.langfuse_traces"].scan().to_arrow().num_rows == 10


def _local_world(tmp_path, traces_table, source_for, rows=None, **materialize_settings):
    lake = TraceLake(uri=str(tmp_path / "lake"), erasure_salt=SALT)
    warehouse = IcebergWarehouse(local_fallback_dir=str(tmp_path / "lake" / "iceberg"))
    rows = rows or _traces()
    traces_table.insert(rows)
    resources = {
        "trace_source": source_for(traces_table),
        "trace_lake": lake,
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": OfflineJudge(),
        "ragas": OfflineRagas(),
    }
    for day in DAYS:
        materialize_days(resources, day, assets=GRAPH, **materialize_settings)
    return {
        "resources": resources,
        "lake": lake,
        "warehouse": warehouse,
        "fs": pafs.LocalFileSystem(),
        "roots": [str(tmp_path / "lake")],
        "alice": [row["id"] for row in rows if row["user_id"] == ALICE],
        "rows": rows,
        "table": traces_table,
    }


def test_an_interrupted_erasure_is_completed_by_a_rerun_and_the_log_says_so(tmp_path, traces_table, source_for, monkeypatch):
    world = _local_world(tmp_path, traces_table, source_for)
    import trace_assets.governance.erasure as erasure

    real = erasure.erase_from_table
    done = []

    def dies_after_the_first_table(table, name, *args, **kwargs):
        if done:
            raise OSError("the pod was evicted")  # the machine going away halfway
        done.append(name)
        return real(table, name, *args, **kwargs)

    monkeypatch.setattr(erasure, "erase_from_table", dies_after_the_first_table)
    first = erase_users_job.execute_in_process(
        run_config={"ops": {"erase_user_data": {"config": {"user_ids": [ALICE], "orphan_min_age_minutes": 0}}}},
        resources={"trace_lake": world["lake"], "iceberg": world["warehouse"]},
        raise_on_error=False,
    )
    assert not first.success
    audit = _namespace_tables(world["warehouse"])[ERASURES_TABLE].scan().to_arrow().to_pylist()
    assert {row["status"] for row in audit} == {"started"}  # the log says it is not complete
    assert _leaks(world)  # some tables still hold her
    # Already denylisted: a landing meanwhile keeps her out.
    landed = materialize_days(world["resources"], DAYS[0])
    assert materialization_metadata(landed, "raw_traces")["erased_not_landed"] == 2

    monkeypatch.setattr(erasure, "erase_from_table", real)
    second = _erase(world, user_ids=[ALICE])
    assert second.success
    assert _leaks(world) == []
    audit = _namespace_tables(world["warehouse"])[ERASURES_TABLE].scan().to_arrow().to_pylist()
    completed = [row for row in audit if row["status"] == "completed" and row["subject_kind"] == "user_id"]
    assert len(completed) == 1 and completed[0]["note"] == f"completes interrupted erasure(s) {first.run_id}"


def test_a_withdrawn_consent_leaves_every_table_at_the_next_run_and_history_at_expiry(tmp_path, traces_table, source_for):
    world = _local_world(tmp_path, traces_table, source_for)
    withdrawn = world["alice"][0]
    world["table"].execute("UPDATE {} SET user_consent = false WHERE id = %s".format(world["table"].name), (withdrawn,))
    materialize_days(world["resources"], DAYS[0], assets=GRAPH)  # what the late-data sensor requests

    tables = _namespace_tables(world["warehouse"])
    for name, id_column in [
        ("training_data.langfuse_traces", "id"),
        ("training_data.judge_scores", "trace_id"),
        ("training_data.ragas_scores", "trace_id"),
        ("training_data.labeled_traces", "trace_id"),
    ]:
        assert withdrawn not in tables[name].scan().to_arrow().column(id_column).to_pylist(), name
    lake_ids = [
        value
        for path, text in _everything_written(world["fs"], [f"{world['lake'].root}/langfuse-traces"])
        for value in [withdrawn]
        if value in text
    ]
    assert lake_ids == []
    # Older snapshots still hold it until they expire.
    history = tables["training_data.langfuse_traces"]
    assert any(
        withdrawn in history.scan(snapshot_id=s.snapshot_id, selected_fields=("id",)).to_arrow().column("id").to_pylist()
        for s in history.snapshots()
    )

    from trace_assets.snapshot_expiry_job import expire_snapshots_job

    expired = expire_snapshots_job.execute_in_process(
        run_config={"ops": {"expire_old_snapshots": {"config": {"retention_days": 0, "orphan_min_age_minutes": 0}}}},
        resources={"iceberg": world["warehouse"]},
    )
    assert expired.success
    for name, table in _namespace_tables(world["warehouse"]).items():
        columns = [c for c in identifying_columns(f.name for f in table.schema().fields) if c != "user_id"]
        for snapshot in table.snapshots():
            rows = table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=tuple(columns)).to_arrow()
            assert all(withdrawn not in rows.column(c).to_pylist() for c in rows.column_names), name
    assert not [path for path, text in _everything_written(world["fs"], world["roots"]) if withdrawn in text]


def test_erase_users_reaches_the_snapshots_the_export_assets_published(tmp_path, traces_table, source_for):
    import dagster as dg

    from trace_assets.assets.training_exports import build_export_assets
    from trace_assets.exports.verify import misaligned_jsonl, snapshot_tables
    from trace_assets.resources.export_settings import ExportSettings

    instance = dg.DagsterInstance.ephemeral()  # the exports read which days were labeled from it
    world = _local_world(tmp_path, traces_table, source_for, instance=instance)
    resources = {**world["resources"], "export_settings": ExportSettings(test_fraction=0.5, max_tokens=1000)}
    published = dg.materialize(
        [*GRAPH, build_export_assets(7)],
        selection=dg.AssetSelection.assets("dpo_pairs", "kto_examples", "grpo_prompts"),
        partition_key=DAYS[1],
        resources=resources,
        instance=instance,
    )
    assert published.success
    exports = f"{world['lake'].root}/exports"
    assert [path for path, text in _everything_written(world["fs"], [exports]) if ALICE_FIRST in text]

    assert _erase(world, user_ids=[ALICE]).success
    assert _leaks(world) == []
    folders = {
        info.path.rsplit("/", 1)[0]
        for info in world["fs"].get_file_info(pafs.FileSelector(exports, recursive=True))
        if info.path.endswith("manifest.json")
    }
    assert folders
    for folder in folders:  # still what the exports' own check accepts: JSONL lines aligned with rows
        assert misaligned_jsonl(world["fs"], folder, snapshot_tables(world["fs"], folder)) == []
