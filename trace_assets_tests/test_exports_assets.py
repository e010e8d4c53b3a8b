"""The export assets on the real graph: PostgreSQL -> lake -> Iceberg -> judge and ragas (loopback)
-> labeled_dataset for three days, then dpo_pairs, kto_examples and grpo_prompts materialized on
the same Dagster instance, with their blocking checks, loaded back with `datasets`."""

import json
import re

import dagster as dg
import datasets
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.assets.training_exports import MissingLabeledDaysError, build_export_assets
from trace_assets.export_checks import build_export_checks
from trace_assets.exports.snapshot import read_manifest
from trace_assets.io_managers.iceberg_window_io_manager import IcebergWindowIOManager
from trace_assets.resources.export_settings import ExportSettings
from trace_assets.resources.iceberg_warehouse import IcebergWarehouse
from trace_assets.resources.judge import JudgeResource
from trace_assets.resources.postgres_source import PostgresTraceSource
from trace_assets.resources.ragas_scorer import RagasResource
from trace_assets.resources.trace_lake import TraceLake
from trace_assets_tests.conftest import ADMIN_DATABASE_URL
from trace_assets_tests.langfuse_db import create_scratch_database, create_traces_table, drop_database, trace
from trace_assets_tests.materialize import INGEST, materialization_metadata
from trace_assets_tests.openai_server import OpenAIServer, chat_reply, error_reply
from trace_assets_tests.ragas_server import RagasScript

DAYS = ["2026-04-18", "2026-04-19", "2026-04-20"]
LABEL = [*INGEST, judge_scores, ragas_scores, labeled_dataset]
JUDGE_ONLY = {"ops": {"labeled_dataset": {"config": {"ragas_weight": 0.0, "judge_weight": 1.0}}}}
EXPORT_KEYS = ["dpo_pairs", "kto_examples", "grpo_prompts"]

S3_QUESTION = "Please explain step by step how I can enable object versioning on an existing S3 bucket from the AWS console"
KARPENTER = "What is Karpenter and when should I use it instead of managed node groups?"
EQUAL = "Which AWS regions support EKS Auto Mode today?"
KOREAN = "카르펜터와 EKS Auto Mode의 차이점은 무엇인가요?"


def answer(text: str, score: float) -> str:
    """An answer whose judge score is written in it (the scripted judge reads it back)."""
    return f"{text} [[score={score:.2f}]]"


def judge_script(path, body):
    prompt = body["messages"][0]["content"]
    if "broken" in prompt:
        return error_reply(500)
    return chat_reply(json.dumps({"score": float(re.search(r"\[\[score=([0-9.]+)\]\]", prompt).group(1)), "reasoning": "scripted"}))


def window_traces() -> dict[str, list[dict]]:
    long_answer = "Open the S3 console, choose the bucket, open Properties, find Bucket Versioning, choose Edit, select Enable and save"
    days = {
        DAYS[0]: [
            trace(f"{DAYS[0]} 01:00:00", model="model-a", input=S3_QUESTION, output=answer(long_answer, 0.9)),
        ],
        DAYS[1]: [
            # the same question again (a near-duplicate: one word more), another model, a poor answer
            trace(f"{DAYS[1]} 02:00:00", model="model-b", input=S3_QUESTION + " please", output=answer("I am not sure, check the docs.", 0.2)),
            # and day 18's good answer again, word for word: a duplicate of an example already published
            trace(f"{DAYS[1]} 02:10:00", model="model-b", input=S3_QUESTION, output=answer(long_answer, 0.9)),
            # one answer from two models: the same text, the same reward
            trace(f"{DAYS[1]} 03:00:00", model="model-a", input=KARPENTER, output=answer("Karpenter is an open-source node autoscaler.", 0.85)),
            trace(f"{DAYS[1]} 03:30:00", model="model-b", input=KARPENTER, output=answer("Karpenter is an open-source node autoscaler.", 0.85)),
        ],
        DAYS[2]: [
            trace(f"{DAYS[2]} 01:00:00", model="model-a", input=EQUAL, output=answer("us-east-1 and eu-west-1.", 0.5)),
            trace(f"{DAYS[2]} 01:30:00", model="model-b", input=EQUAL, output=answer("Every commercial region.", 0.5)),
            trace(f"{DAYS[2]} 02:00:00", model="model-a", input=KOREAN, output=answer("카르펜터는 오픈 소스 노드 오토스케일러입니다.", 0.9)),
            trace(f"{DAYS[2]} 02:30:00", model="model-b", input=KOREAN, output=answer("모르겠습니다.", 0.1)),
            trace(f"{DAYS[2]} 03:00:00", model="model-a", consent=False, input="my private question", output=answer("private", 0.95)),
            trace(f"{DAYS[2]} 04:00:00", model="model-b", input="Is this judged?", output="broken " + answer("x", 0.9)),
            trace(f"{DAYS[2]} 05:00:00", model="model-a", input="long " * 1200, output=answer("a long answer", 0.9)),
        ],
    }
    for n in range(12):  # more prompt groups, so both splits get some
        question = f"How many pods can node type number {n} run with prefix delegation on?"
        days[DAYS[n % 3]] += [
            trace(f"{DAYS[n % 3]} 06:{n:02d}:00", model="model-a", input=question, output=answer(f"About {10 + n} pods on type {n}.", 0.95)),
            trace(f"{DAYS[n % 3]} 07:{n:02d}:00", model="model-b", input=question, output=answer(f"It depends on type {n}.", 0.25)),
        ]
    return days


@pytest.fixture(scope="module")
def labeled_window(tmp_path_factory):
    """Three labeled days on one Dagster instance, shared by the tests of this module."""
    database = create_scratch_database(ADMIN_DATABASE_URL)
    table = create_traces_table(database)
    rows = window_traces()
    table.insert([row for day in DAYS for row in rows[day]])
    judge_server, ragas_server = OpenAIServer(judge_script), OpenAIServer(RagasScript())
    lake = tmp_path_factory.mktemp("exports") / "lake"
    warehouse = IcebergWarehouse(local_fallback_dir=str(lake / "iceberg"))
    resources = {
        "trace_source": PostgresTraceSource(database_url=table.database_url, table=table.name),
        "trace_lake": TraceLake(uri=str(lake)),
        "iceberg": warehouse,
        "iceberg_io_manager": IcebergWindowIOManager(warehouse=warehouse),
        "judge": JudgeResource(base_url=judge_server.base_url, max_retries=0),
        "ragas": RagasResource(llm_base_url=ragas_server.base_url, embeddings_base_url=ragas_server.base_url, max_retries=0),
        "export_settings": ExportSettings(test_fraction=0.5, max_tokens=1000),
    }
    instance = dg.DagsterInstance.ephemeral()
    for day in DAYS:
        result = dg.materialize(LABEL, partition_key=day, resources=resources, instance=instance, run_config=JUDGE_ONLY)
        assert result.success
    yield resources, instance, lake, rows
    judge_server.stop()
    ragas_server.stop()
    drop_database(ADMIN_DATABASE_URL, database)


def export(resources, instance, day, window_days=7, settings=None, **kwargs):
    assets = build_export_assets(window_days)
    run_resources = {**resources, **({"export_settings": settings} if settings else {})}
    return dg.materialize(
        [*LABEL, assets, *build_export_checks()],
        selection=dg.AssetSelection.assets(*EXPORT_KEYS),
        partition_key=day,
        resources=run_resources,
        instance=instance,
        **kwargs,
    )


def test_a_window_exports_to_files_trainers_load_with_checks_passing(labeled_window):
    resources, instance, lake, rows = labeled_window
    result = export(resources, instance, DAYS[2])
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert result.success and len(checks) == 8 and all(checks.values()), checks

    folder = lake / "exports" / "dpo_pairs" / f"snapshot={DAYS[2]}"
    manifest = read_manifest_local(folder)
    assert manifest["window"]["source_days"] == DAYS
    assert manifest["window"]["missing_days"] == ["2026-04-14", "2026-04-15", "2026-04-16", "2026-04-17"]
    assert set(manifest["labeled_dataset"]["days"]) == set(DAYS)
    assert all(day["iceberg_snapshot_id"] for day in manifest["labeled_dataset"]["days"].values())
    counts = manifest["counts"]
    assert counts["without_final_reward"] == 1  # the judge failed on it
    assert counts["over_max_tokens"] == 1
    assert counts["exact_duplicates"] == 2  # Karpenter's answer from two models, the S3 answer on two days
    assert manifest["rules"]["margin"] == 0.2 and manifest["rules"]["window_days"] == 7

    pairs = [row for split in ("train", "test") for row in pq.read_table(folder / f"{split}.parquet").to_pylist()]
    by_prompt = {row["prompt"]: row for row in pairs}
    s3 = by_prompt.get(S3_QUESTION) or by_prompt[S3_QUESTION + " please"]  # near-duplicate prompts, two days
    assert "Bucket Versioning" in s3["chosen"] and s3["rejected"].startswith("I am not sure")  # across days
    assert s3["chosen_reward"] - s3["rejected_reward"] == pytest.approx(0.7)
    assert KOREAN in by_prompt and EQUAL not in by_prompt and KARPENTER not in by_prompt
    private = {row["id"] for row in rows[DAYS[2]] if row["user_consent"] is False}
    everything = {i for export_name in EXPORT_KEYS for i in trace_ids_in(lake / "exports" / export_name / f"snapshot={DAYS[2]}")}
    assert everything and not everything & private

    grpo = {row["prompt"]: row for split in ("train", "test") for row in pq.read_table(lake / "exports" / "grpo_prompts" / f"snapshot={DAYS[2]}" / f"{split}.parquet").to_pylist()}
    assert grpo[EQUAL]["rewards_all_equal"] is True and grpo[EQUAL]["answers"] == 2
    assert grpo[KOREAN]["rewards_all_equal"] is False and grpo[KOREAN]["reference_reward"] == pytest.approx(0.9)
    assert grpo[KOREAN]["contexts"] == ["Karpenter is a node autoscaler."]

    kto_manifest = read_manifest_local(lake / "exports" / "kto_examples" / f"snapshot={DAYS[2]}")
    kto_counts = kto_manifest["counts"]
    assert kto_counts["train_desirable"] + kto_counts["test_desirable"] > 0
    assert kto_counts["desirable_weight"] is not None

    for export_name in EXPORT_KEYS:
        snapshot = lake / "exports" / export_name / f"snapshot={DAYS[2]}"
        for config in ("standard", "conversational"):
            loaded = datasets.load_dataset(str(snapshot), config)  # the card's configs, as the Hub reads them
            assert set(loaded) == {"train", "test"} and loaded["train"].num_rows > 0 and loaded["test"].num_rows > 0
            train_groups, test_groups = set(loaded["train"]["prompt_group"]), set(loaded["test"]["prompt_group"])
            assert not train_groups & test_groups
    dpo_folder = lake / "exports" / "dpo_pairs" / f"snapshot={DAYS[2]}"
    openai = datasets.load_dataset("json", data_files={s: str(dpo_folder / f"conversational_{s}.jsonl") for s in ("train", "test")})
    assert set(openai["train"].column_names) == {"input", "preferred_output", "non_preferred_output"}

    metadata = materialization_metadata(result, "dpo_pairs")
    assert metadata["missing_days"] == ["2026-04-14", "2026-04-15", "2026-04-16", "2026-04-17"]
    assert sum(metadata["rows_by_split"].values()) == len(pairs)


def test_a_missing_day_fails_the_run_when_so_configured(labeled_window):
    resources, instance, lake, _ = labeled_window
    with pytest.raises(MissingLabeledDaysError, match="2026-04-17.*TRACE_EXPORT_MISSING_DAYS=skip"):
        export(resources, instance, DAYS[2], settings=ExportSettings(missing_days="fail"))
    result = export(resources, instance, DAYS[2], window_days=3, settings=ExportSettings(missing_days="fail", test_fraction=0.5))
    assert result.success  # 18..20 are all there


def test_an_example_already_published_from_an_older_day_is_not_published_again(labeled_window):
    resources, instance, lake, rows = labeled_window
    settings = ExportSettings(test_fraction=0.5, max_tokens=1000)
    assert export(resources, instance, DAYS[0], window_days=1, settings=settings).success
    first = trace_ids_in(lake / "exports" / "kto_examples" / f"snapshot={DAYS[0]}")
    assert rows[DAYS[0]][0]["id"] in first  # the S3 answer of day 18

    # day 19's window (one day) holds day 18's S3 answer again, from another trace: left out
    assert export(resources, instance, DAYS[1], window_days=1, settings=settings).success
    second = read_manifest_local(lake / "exports" / "kto_examples" / f"snapshot={DAYS[1]}")
    assert second["previous_snapshot"] == DAYS[0]
    assert second["counts"]["duplicates_of_previous_snapshot"] == 1
    repeated = rows[DAYS[1]][1]["id"]
    published = trace_ids_in(lake / "exports" / "kto_examples" / f"snapshot={DAYS[1]}")
    assert repeated not in published and published and not published & first


def read_manifest_local(folder):
    return read_manifest(pafs.LocalFileSystem(), str(folder))


def trace_ids_in(folder) -> set[str]:
    return {i for path in folder.glob("*.parquet") for ids in pq.read_table(path).column("trace_ids").to_pylist() for i in ids}


def test_snapshots_publish_to_an_s3_lake_and_load_from_it(labeled_window, s3_bucket, s3_endpoint):
    resources, instance, _, _ = labeled_window
    s3_lake = TraceLake(uri=f"s3://{s3_bucket}/lake", s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    result = export(
        {**resources, "trace_lake": s3_lake}, instance, DAYS[2], settings=ExportSettings(test_fraction=0.5, max_tokens=1000)
    )
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert result.success and len(checks) == 8 and all(checks.values()), checks
    fs, folder = s3_lake.filesystem, f"{s3_bucket}/lake/exports/dpo_pairs/snapshot={DAYS[2]}"
    assert read_manifest(fs, folder)["window"]["source_days"] == DAYS
    names = {info.base_name for info in fs.get_file_info(pafs.FileSelector(folder))}
    assert {"train.parquet", "conversational_test.jsonl", "README.md", "manifest.json"} <= names
    pairs = pq.read_table(f"{folder}/train.parquet", filesystem=fs)
    assert pairs.num_rows > 0 and "trace_ids" in pairs.column_names


def test_an_evaluation_set_keeps_its_prompts_out_of_every_export(labeled_window, tmp_path):
    resources, instance, lake, _ = labeled_window
    eval_set = tmp_path / "heldout.jsonl"
    eval_set.write_text(json.dumps({"prompt": KOREAN, "answer": "held out"}, ensure_ascii=False) + "\n")
    settings = ExportSettings(test_fraction=0.5, max_tokens=1000, eval_set=str(eval_set))
    assert export(resources, instance, DAYS[2], settings=settings).success
    for export_name in EXPORT_KEYS:
        folder = lake / "exports" / export_name / f"snapshot={DAYS[2]}"
        manifest = read_manifest_local(folder)
        assert manifest["counts"]["in_eval_set"] == 2 and manifest["eval_set"] == {"path": str(eval_set), "prompts": 1}
        prompts = {row["prompt"] for path in folder.glob("*.parquet") if not path.name.startswith("conv") for row in pq.read_table(path).to_pylist()}
        assert KOREAN not in prompts and prompts
