"""Traces longer than the scoring model's context are not sent (scoring/context_budget.py): they
get the expected error `exceeds_judge_context`, which the error-rate checks do not count."""

import json

import pyarrow as pa
import pytest

from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.resources.ragas_scorer import RagasRequest, RagasResource
from trace_assets.scoring.context_budget import certainly_fits, server_root
from trace_assets.scoring.score_checks import error_rate
from trace_assets_tests.openai_server import chat_reply, error_reply
from trace_assets_tests.ragas_server import RagasScript
from trace_assets_tests.tokenize_reply import tokenize_reply

SENTENCE = "Karpenter launches right-sized nodes for pods that cannot be scheduled. "  # ~13 tokens, 72 bytes
SHORT = "What does Karpenter do?"
FITS_BUT_COUNTED = SENTENCE * 200  # 14 KB: over the byte bound, ~2,600 tokens: fits
TOO_LONG = SENTENCE * 1000  # 72 KB, ~13,000 tokens: does not fit 8192


def judge_fleet(serve_tokenize: bool = True):
    def script(path, body):
        if path == "/tokenize":
            return tokenize_reply(body) if serve_tokenize else error_reply(404)
        return chat_reply(json.dumps({"score": 0.7, "reasoning": "scripted"}))

    return script


def test_the_byte_bound_spares_short_traces_a_count():
    assert certainly_fits([SHORT, "an answer"], 200, 8192)
    assert not certainly_fits([FITS_BUT_COUNTED], 200, 8192)
    assert server_root("http://judge.svc/v1/") == "http://judge.svc" and server_root("http://judge.svc") == "http://judge.svc"


def test_the_judge_sends_what_fits_and_names_what_does_not(openai_server):
    server = openai_server(judge_fleet())
    judge = JudgeResource(base_url=server.base_url, max_retries=0)
    short, counted, too_long = judge.judge(
        [JudgeRequest(SHORT, "an answer"), JudgeRequest(FITS_BUT_COUNTED, "an answer"), JudgeRequest(TOO_LONG, "an answer")]
    )
    assert short.score == 0.7 and counted.score == 0.7
    assert too_long.score is None and too_long.error_kind == "exceeds_judge_context"
    assert "exceeds the model's context of 8,192 tokens" in too_long.error
    chats = [body["messages"][0]["content"] for body in server.chat_requests()]
    assert len(chats) == 2 and not any(TOO_LONG in chat for chat in chats)
    counted_prompts = [body for path, body in server.requests if path == "/tokenize"]
    assert len(counted_prompts) == 2 and not any(SHORT in m["content"] for b in counted_prompts for m in b["messages"])


def test_a_longer_context_sends_the_long_trace(openai_server):
    server = openai_server(judge_fleet())
    [verdict] = JudgeResource(base_url=server.base_url, max_retries=0, max_model_len=32768).judge([JudgeRequest(TOO_LONG, "an answer")])
    assert verdict.score == 0.7


def test_without_a_tokenize_endpoint_the_trace_is_sent_and_the_server_decides(openai_server):
    server = openai_server(judge_fleet(serve_tokenize=False))
    [verdict] = JudgeResource(base_url=server.base_url, max_retries=0).judge([JudgeRequest(TOO_LONG, "an answer")])
    assert verdict.score == 0.7 and len(server.chat_requests()) == 1


def test_ragas_does_not_send_a_trace_beyond_its_context(openai_server):
    ragas = RagasScript()
    server = openai_server(lambda path, body: tokenize_reply(body) if path == "/tokenize" else ragas(path, body))
    resource = RagasResource(llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0)
    fits, too_long = resource.evaluate([
        RagasRequest(SHORT, "Karpenter scales nodes.", ["Karpenter is a node autoscaler."]),
        RagasRequest(TOO_LONG, "Karpenter scales nodes.", ["Karpenter is a node autoscaler."]),
    ])
    assert fits.reward.value is not None and fits.error_kind is None
    assert too_long.error_kind == "exceeds_judge_context" and too_long.reward.value is None
    assert set(too_long.metrics.values()) == {None} and too_long.llm_calls == 0
    assert not any(TOO_LONG in json.dumps(body) for path, body in server.requests if path != "/tokenize")


@pytest.mark.parametrize("kinds, rate", [(["exceeds_judge_context", None, None, None], 0.0), (["http_500", None, None, None], 0.25)])
def test_an_expected_error_is_not_a_scoring_failure(kinds, rate):
    rows = pa.table({"error": [("an error" if kind else None) for kind in kinds], "error_kind": kinds})
    assert error_rate(rows) == rate
