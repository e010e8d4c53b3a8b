"""The whole graph: PostgreSQL -> lake -> Iceberg -> judge and ragas (loopback) -> labeled dataset,
with the blocking checks."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pandas
import pyarrow as pa
import pytest

from trace_assets.assets import labeled_dataset as labeled_dataset_module
from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.checks import build_checks
from trace_assets.partitions import daily_partitions
from trace_assets.resources.judge import JudgeResource
from trace_assets.resources.ragas_scorer import RagasResource
from trace_assets.tables.labeled import LABELED_SCHEMA, LABELED_TABLE
from trace_assets.tables.scores import JUDGE_SCORES_SCHEMA, JUDGE_SCORES_TABLE, RAGAS_SCORES_SCHEMA, RAGAS_SCORES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days
from trace_assets_tests.openai_server import chat_reply, error_reply
from trace_assets_tests.ragas_server import RagasScript

DAY = "2026-04-18"
CONTEXTS = ["Karpenter is an open-source node autoscaler.", "S3 buckets can be versioned."]
GRAPH = [*INGEST, judge_scores, ragas_scores, labeled_dataset]


def judge_script(path, body):
    prompt = body["messages"][0]["content"]
    if "broken" in prompt:
        return error_reply(500)
    score = 0.9 if "good answer" in prompt else 0.2
    return chat_reply(json.dumps({"score": score, "reasoning": "scripted"}))


class RagasByAnswer(RagasScript):
    """RagasScript, except that an answer saying "excellent" makes statements the contexts all
    support, and one saying "wrong" statements they never do."""

    def __call__(self, path, body):
        if path.endswith("/chat/completions"):
            system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
            quality = next((word for word in ("excellent", "wrong") if word in user), None)
            if quality and "StatementGeneratorOutput" in system:
                return chat_reply(json.dumps({"statements": [f"{quality} claim 1", f"{quality} claim 2"]}))
            if quality and "NLIStatementOutput" in system:
                verdict = int(quality == "excellent")
                claims = [{"statement": f"{quality} claim {k}", "reason": "scripted", "verdict": verdict} for k in (1, 2)]
                return chat_reply(json.dumps({"statements": claims}))
        return super().__call__(path, body)


@pytest.fixture
def graph(traces_table, source_for, local_resources, openai_server, tmp_path):
    judge_server, ragas_server = openai_server(judge_script), openai_server(RagasByAnswer())
    resources = local_resources(
        source_for(traces_table),
        judge=JudgeResource(base_url=judge_server.base_url, max_retries=0),
        ragas=RagasResource(llm_base_url=ragas_server.base_url, embeddings_base_url=ragas_server.base_url, max_retries=0),
    )

    def run(assets=GRAPH, checks=None, **kwargs):
        return materialize_days(resources, DAY, assets=[*assets, *(checks if checks is not None else build_checks())], **kwargs)

    return traces_table, judge_server, ragas_server, resources, run


def labeled_rows(resources) -> dict:
    rows = resources["iceberg"].catalog().load_table(LABELED_TABLE).scan().to_arrow().to_pylist()
    return {row["trace_id"]: row for row in rows}


def check_outcomes(result) -> dict:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_every_consented_trace_is_labeled_with_the_formula_and_its_band(graph, tmp_path):
    table, judge_server, ragas_server, resources, run = graph
    good = trace(f"{DAY} 01:00:00", output="a good answer", metadata={"contexts": CONTEXTS})
    weak = trace(f"{DAY} 02:00:00", output="a weak reply", metadata={"contexts": CONTEXTS})
    no_contexts = trace(f"{DAY} 03:00:00", output="a good answer", metadata={"domain": "eks"})
    refused = trace(f"{DAY} 04:00:00", consent=False, input="my private question", metadata={"contexts": CONTEXTS})
    unknown = trace(f"{DAY} 05:00:00", consent=None, input="another private question")
    excellent = trace(f"{DAY} 06:00:00", output="a good answer, excellent", metadata={"contexts": CONTEXTS})
    wrong = trace(f"{DAY} 07:00:00", output="a wrong reply", metadata={"contexts": ["S3 buckets can be versioned."]})
    table.insert([good, weak, no_contexts, refused, unknown, excellent, wrong])

    result = run()
    assert result.success and all(check_outcomes(result).values()), check_outcomes(result)

    rows = labeled_rows(resources)
    assert set(rows) == {good["id"], weak["id"], no_contexts["id"], excellent["id"], wrong["id"]}
    ragas_full = 0.5 * 2 / 3 + 0.3 * 0.6 + 0.2 * 1.0  # 2 of 3 statements, cosine 0.6, the one relevant context first
    assert rows[good["id"]]["ragas_reward"] == pytest.approx(ragas_full)
    assert rows[good["id"]]["final_reward"] == pytest.approx(0.6 * ragas_full + 0.4 * 0.9)
    assert rows[weak["id"]]["final_reward"] == pytest.approx(0.6 * ragas_full + 0.4 * 0.2)
    assert rows[no_contexts["id"]]["ragas_reward"] == pytest.approx(0.6)  # answer relevancy alone
    assert rows[good["id"]]["preference"] == "neutral" and rows[weak["id"]]["preference"] == "neutral"
    assert rows[no_contexts["id"]]["preference"] == "neutral"
    # every statement supported, the relevant context first: 0.5 + 0.3*0.6 + 0.2 = 0.88
    assert rows[excellent["id"]]["final_reward"] == pytest.approx(0.6 * 0.88 + 0.4 * 0.9)
    assert rows[excellent["id"]]["preference"] == "preferred"
    # no statement supported, no relevant context: 0.3*0.6 = 0.18
    assert rows[wrong["id"]]["final_reward"] == pytest.approx(0.6 * 0.18 + 0.4 * 0.2)
    assert rows[wrong["id"]]["preference"] == "dispreferred"
    metadata = materialization_metadata(result, "labeled_dataset")
    assert metadata["dagster/row_count"] == 5 and (metadata["neutral"], metadata["preferred"], metadata["dispreferred"]) == (3, 1, 1)
    assert metadata["without_final_reward"] == {}

    sent = [body for server in (judge_server, ragas_server) for _, body in server.requests]
    assert "private question" not in json.dumps(sent, ensure_ascii=False)

    # Weights are set per run (the launchpad's config of labeled_dataset): the judge alone...
    def weights(ragas_weight, judge_weight):
        return {"ops": {"labeled_dataset": {"config": {"ragas_weight": ragas_weight, "judge_weight": judge_weight}}}}

    materialize_days(resources, DAY, assets=GRAPH, selection=[labeled_dataset], run_config=weights(0, 2))
    judge_alone = labeled_rows(resources)
    assert {i: (r["final_reward"], r["ragas_weight"], r["judge_weight"]) for i, r in judge_alone.items()} == {
        i: (r["judge_score"], 0, 2) for i, r in rows.items()
    }
    # ...and none at all is refused before anything is written, naming the weights.
    refused_run = materialize_days(resources, DAY, assets=GRAPH, selection=[labeled_dataset], run_config=weights(0, 0),
                                   raise_on_error=False)
    assert not refused_run.success
    failures = [str(event.event_specific_data.error) for event in refused_run.all_events if event.is_step_failure]
    assert any("sum to zero" in failure for failure in failures), failures
    assert labeled_rows(resources) == judge_alone

    day_dir = tmp_path / "lake" / "labeled-dataset" / f"date={DAY}"
    assert [p.name for p in day_dir.iterdir()] == ["part-0.parquet"]
    assert len(pandas.read_parquet(day_dir)) == 5
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{day_dir}/*.parquet')").fetchall() == [(5,)]
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset("parquet", data_files=str(day_dir / "*.parquet"), split="train")
    assert len(loaded) == 5 and "final_reward" in loaded.column_names


def test_a_rerun_makes_no_requests_and_a_changed_trace_makes_only_its_own(graph):
    table, judge_server, ragas_server, resources, run = graph
    rows = [trace(f"{DAY} 0{h}:00:00", output="a good answer", metadata={"contexts": CONTEXTS}) for h in range(1, 4)]
    table.insert(rows)
    run()
    judge_calls, ragas_calls = len(judge_server.requests), len(ragas_server.requests)
    assert judge_calls == 3

    run()
    assert (len(judge_server.requests), len(ragas_server.requests)) == (judge_calls, ragas_calls)

    table.execute(f"UPDATE \"{table.name}\" SET output = 'a good answer, revised' WHERE id = %s", (rows[1]["id"],))
    run()
    assert len(judge_server.requests) == judge_calls + 1
    assert len(ragas_server.requests) - ragas_calls == ragas_calls // 3, "one trace's worth of ragas calls"

    # A revoked consent (the late-data sensor reruns the day): the trace leaves every score table
    # and the dataset, in Iceberg and in the lake, and nothing is asked about it.
    requests = len(judge_server.requests), len(ragas_server.requests)
    table.execute(f"UPDATE \"{table.name}\" SET user_consent = false WHERE id = %s", (rows[0]["id"],))
    run()
    assert (len(judge_server.requests), len(ragas_server.requests)) == requests
    catalog = resources["iceberg"].catalog()
    remaining = {row["id"] for row in rows[1:]}
    for name in (JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE, LABELED_TABLE):
        assert set(catalog.load_table(name).scan().to_arrow().column("trace_id").to_pylist()) == remaining, name
    lake_dataset = pandas.read_parquet(resources["trace_lake"].uri + f"/labeled-dataset/date={DAY}")
    assert set(lake_dataset["trace_id"]) == remaining


def test_too_many_judge_errors_block_the_day_from_the_dataset(graph):
    table, _, _, resources, run = graph
    # 2 of 9 traces cannot be judged: 22% > the 5% limit
    table.insert([trace(f"{DAY} 0{h}:00:00", output="broken" if h < 3 else "a good answer") for h in range(1, 10)])
    result = run(raise_on_error=False)
    assert check_outcomes(result)["judge_error_rate"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "judge_scores" in materialized and "labeled_dataset" not in materialized


def break_and_check(resources, table_name, schema, rows, check_name) -> bool:
    """Replace the day's rows of a table with `rows`, then run only the named check; did it pass?"""
    warehouse = resources["iceberg"]
    start = datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc)
    batches = pa.Table.from_pylist(rows, schema=schema).to_batches()
    warehouse.replace_window(
        warehouse.catalog().load_table(table_name), "timestamp", start, start + timedelta(days=1), schema, batches
    )
    checks = [check for check in build_checks() if next(iter(check.check_keys)).name == check_name]
    # Dagster finds a run's partitions from its assets; a run of checks alone has none, so the
    # run also materializes this empty asset of the same daily partitions.
    @dg.asset(partitions_def=daily_partitions)
    def partition_anchor() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    selection = dg.AssetSelection.checks(*checks) | dg.AssetSelection.assets(partition_anchor)
    job = dg.define_asset_job("only_the_check", selection=selection)
    defs = dg.Definitions(assets=[*GRAPH, partition_anchor], asset_checks=checks, jobs=[job], resources=resources)
    result = defs.resolve_job_def("only_the_check").execute_in_process(partition_key=DAY, raise_on_error=False)
    [outcome] = check_outcomes(result).items()
    assert outcome[0] == check_name
    return outcome[1]


def test_each_check_fails_on_data_made_to_break_it(graph):
    table, _, _, resources, run = graph
    good = trace(f"{DAY} 01:00:00", output="a good answer", metadata={"contexts": CONTEXTS})
    other = trace(f"{DAY} 02:00:00", output="a good answer", metadata={"contexts": CONTEXTS})
    refused = trace(f"{DAY} 03:00:00", consent=False)
    table.insert([good, other, refused])
    run()
    catalog = resources["iceberg"].catalog()
    judge_rows = catalog.load_table(JUDGE_SCORES_TABLE).scan().to_arrow().to_pylist()
    ragas_rows = catalog.load_table(RAGAS_SCORES_TABLE).scan().to_arrow().to_pylist()
    labeled = list(labeled_rows(resources).values())
    judge_cases = {
        "judge_scores_are_scores": [
            [{**judge_rows[0], "judge_score": 1.5}, judge_rows[1]],
            [{**judge_rows[0], "judge_score": float("nan")}, judge_rows[1]],
            [{**judge_rows[0], "judge_score": None, "error": None}, judge_rows[1]],
        ],
        "judge_scores_cover_the_day": [[judge_rows[0]], judge_rows + [judge_rows[0]]],
        "judge_error_rate": [[{**row, "judge_score": None, "error": "http_500: down"} for row in judge_rows]],
    }
    ragas_cases = {
        "ragas_scores_are_scores": [
            [{**ragas_rows[0], "faithfulness": -0.5}, ragas_rows[1]],
            [{**ragas_rows[0], "ragas_reward": None, "error": None, "reward_note": None}, ragas_rows[1]],
        ],
        "ragas_scores_cover_the_day": [[ragas_rows[0]]],
        "ragas_error_rate": [[{**row, "ragas_reward": None, "error": "faithfulness: down"} for row in ragas_rows]],
    }
    labeled_cases = {
        "labeled_dataset_holds_only_consented_traces": [
            labeled + [{**labeled[0], "trace_id": refused["id"]}],
            labeled[:1] + [{**labeled[1], "consent": False}],
        ],
        "labeled_dataset_has_no_duplicate_traces": [labeled + [labeled[0]]],
        "final_reward_matches_the_formula": [[{**labeled[0], "final_reward": 0.99}, labeled[1]]],
    }
    for table_name, schema, intact, cases in (
        (JUDGE_SCORES_TABLE, JUDGE_SCORES_SCHEMA, judge_rows, judge_cases),
        (RAGAS_SCORES_TABLE, RAGAS_SCORES_SCHEMA, ragas_rows, ragas_cases),
        (LABELED_TABLE, LABELED_SCHEMA, labeled, labeled_cases),
    ):
        for check_name, broken_days in cases.items():
            for broken in broken_days:
                assert break_and_check(resources, table_name, schema, broken, check_name) is False, check_name
            assert break_and_check(resources, table_name, schema, intact, check_name) is True, check_name


def test_labeling_in_batches_keeps_every_consented_trace_once_and_says_why_a_reward_is_missing(monkeypatch):
    monkeypatch.setattr(labeled_dataset_module, "LABELED_AT_ONCE", 2)
    day = datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc)
    ids = [f"t{i}" for i in range(5)]
    traces = pa.table({
        "id": ids, "timestamp": pa.array([day + timedelta(hours=i) for i in range(5)], pa.timestamp("us", tz="UTC")),
        "model": ["m"] * 5, "input": ["q"] * 5, "output": ["a"] * 5, "contexts": pa.array([None] * 5, pa.list_(pa.string())),
        "consent": [True, True, False, True, True],
    })
    judged = pa.Table.from_pylist([{"trace_id": i, "judge_score": None if i == "t1" else 1.0, "reasoning": "r",
                                    "error": "http_500: down" if i == "t1" else None, "judge_model": "j",
                                    "prompt_version": "v"} for i in ids])
    measured = pa.Table.from_pylist([{"trace_id": i, "faithfulness": 1.0, "answer_relevancy": 1.0, "context_precision": 1.0,
                                      "ragas_reward": 1.0, "reward_note": None, "error": None, "scorer_version": "s"}
                                     for i in ids if i != "t4"])
    dataset = labeled_dataset_module.label_traces(traces, judged, measured, labeled_dataset_module.RewardWeights())

    assert dataset.schema == LABELED_SCHEMA
    assert dataset.column("trace_id").to_pylist() == ["t0", "t1", "t3", "t4"]
    assert dataset.column("final_reward").to_pylist() == [1.0, None, 1.0, None]
    assert dataset.column("final_reward_note").to_pylist() == [None, "missing judge_score", None, "missing ragas_reward"]
    assert dataset.column("judge_error").to_pylist()[1] == "http_500: down"
    assert dataset.column("ragas_error").to_pylist()[3] == "no ragas score row"


def test_a_window_joined_in_buckets_of_trace_ids_labels_the_same_rows(monkeypatch):
    """Past SCORE_ROWS_PER_BUCKET score rows the join goes a bucket of trace ids at a time (the
    traces read once a bucket): the same rows, reasons and rewards as one bucket."""
    day = datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc)
    ids = [f"t{i}" for i in range(40)]
    traces = pa.table({
        "id": ids, "timestamp": pa.array([day + timedelta(minutes=i) for i in range(40)], pa.timestamp("us", tz="UTC")),
        "model": ["m"] * 40, "input": [f"q{i}" for i in range(40)], "output": ["a"] * 40,
        "contexts": pa.array([None] * 40, pa.list_(pa.string())), "consent": [i % 9 != 0 for i in range(40)],
    })
    judged = pa.Table.from_pylist([{"trace_id": i, "judge_score": n / 40, "reasoning": f"why {i}", "error": None,
                                    "judge_model": "j", "prompt_version": "v"} for n, i in enumerate(ids) if n % 7])
    measured = pa.Table.from_pylist([{"trace_id": i, "faithfulness": 1.0, "answer_relevancy": 1.0, "context_precision": 1.0,
                                      "ragas_reward": n / 40, "reward_note": None, "error": None, "scorer_version": "s"}
                                     for n, i in enumerate(ids) if n % 5])
    weights = labeled_dataset_module.RewardWeights()

    def rows(table: pa.Table) -> list[dict]:
        return sorted(table.drop_columns(["labeled_at"]).to_pylist(), key=lambda row: row["trace_id"])

    whole = labeled_dataset_module.label_traces(traces, judged, measured, weights)
    monkeypatch.setattr(labeled_dataset_module, "SCORE_ROWS_PER_BUCKET", 8)
    monkeypatch.setattr(labeled_dataset_module, "LABELED_AT_ONCE", 3)
    labeler = labeled_dataset_module.Labeler(
        labeled_dataset_module.TableWindow(judged), labeled_dataset_module.TableWindow(measured), weights
    )
    bucketed = pa.Table.from_batches(list(labeler.labeled_batches(labeled_dataset_module.TableWindow(traces))))

    assert labeler.buckets == 5
    assert len(rows(whole)) == 35 and rows(bucketed) == rows(whole)
    assert {row["trace_id"]: row["judge_reasoning"] for row in rows(bucketed)}["t8"] == "why t8"
    assert labeler.summary().num_rows == 35


def test_the_best_and_worst_examples_are_those_of_the_whole_day_when_batches_are_narrowed(monkeypatch):
    """The labeler keeps each batch's best and worst rows and narrows them as it goes: the
    examples are still the day's best and worst."""
    day = datetime.fromisoformat(DAY).replace(tzinfo=timezone.utc)
    ids = [f"t{i}" for i in range(60)]
    traces = pa.table({
        "id": ids, "timestamp": pa.array([day + timedelta(minutes=i) for i in range(60)], pa.timestamp("us", tz="UTC")),
        "model": ["m"] * 60, "input": [f"q{i}" for i in range(60)], "output": ["a"] * 60,
        "contexts": pa.array([None] * 60, pa.list_(pa.string())), "consent": [True] * 60,
    })
    rewards = [((n * 37) % 60) / 60 for n in range(60)]  # scattered over the batches
    judged = pa.Table.from_pylist([{"trace_id": i, "judge_score": r, "reasoning": "r", "error": None, "judge_model": "j",
                                    "prompt_version": "v"} for i, r in zip(ids, rewards)])
    measured = pa.Table.from_pylist([{"trace_id": i, "faithfulness": 1.0, "answer_relevancy": 1.0, "context_precision": 1.0,
                                      "ragas_reward": r, "reward_note": None, "error": None, "scorer_version": "s"}
                                     for i, r in zip(ids, rewards)])
    monkeypatch.setattr(labeled_dataset_module, "LABELED_AT_ONCE", 4)
    monkeypatch.setattr(labeled_dataset_module, "EXAMPLE_BATCHES_KEPT", 3)
    labeler = labeled_dataset_module.Labeler(
        labeled_dataset_module.TableWindow(judged), labeled_dataset_module.TableWindow(measured), labeled_dataset_module.RewardWeights()
    )
    list(labeler.labeled_batches(labeled_dataset_module.TableWindow(traces)))

    best, worst = labeler.best_and_worst()
    assert len(labeler._examples) < 3
    by_reward = sorted(zip(rewards, ids))
    assert [row["trace_id"] for row in best] == [i for _, i in by_reward[::-1][:3]]
    assert [row["trace_id"] for row in worst] == [i for _, i in by_reward[:3]]
