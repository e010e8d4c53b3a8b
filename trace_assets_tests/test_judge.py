"""The judge resource against a loopback OpenAI-compatible server: parsing, errors, retries."""

import email.utils
import itertools
import json
import threading
import time

import pytest

from trace_assets.resources.judge import JudgeRequest, JudgeResource
from trace_assets.scoring.judge_prompt import SEED_JUDGE_PROMPT, prompt_version
from trace_assets.scoring.judge_verdict import VerdictError, parse_verdict
from trace_assets_tests.openai_server import Reply, chat_reply, error_reply

QUESTION = JudgeRequest(question="EKS Auto Mode와 Karpenter의 차이점은?", answer="EKS Auto Mode는 ...")


@pytest.mark.parametrize(
    "content, score",
    [
        ('{"score": 0.85, "reasoning": "정확함"}', 0.85),
        ('<think>\nThe answer covers both.\n</think>\n{"score": 0.7, "reasoning": "ok"}', 0.7),
        ('```json\n{"score": 1, "reasoning": "perfect"}\n```', 1.0),
        ('Here is my verdict: {"score": 0.0, "reasoning": "wrong"} Hope that helps.', 0.0),
        ('<think>{"score": 0.1}</think>```\n{"score": 0.4, "reasoning": "x"}\n```', 0.4),
    ],
)
def test_verdicts_are_found_wherever_the_model_put_them(content, score):
    assert parse_verdict(content)[0] == score


@pytest.mark.parametrize(
    "content, kind",
    [
        ('{"score": 1.7, "reasoning": "great"}', "score_out_of_range"),
        ('{"score": -0.1, "reasoning": "bad"}', "score_out_of_range"),
        ('{"score": "high", "reasoning": "?"}', "score_not_a_number"),
        ('{"score": NaN, "reasoning": "?"}', "score_not_a_number"),
        ('{"score": true, "reasoning": "?"}', "score_not_a_number"),
        ('{"reasoning": "forgot"}', "score_missing"),
        ("I think it is quite good.", "unparseable_response"),
        ("<think>still thinking when max_tokens ran out", "empty_response"),
        ("", "empty_response"),
    ],
)
def test_a_bad_verdict_is_an_error_never_clamped(content, kind):
    with pytest.raises(VerdictError) as raised:
        parse_verdict(content)
    assert raised.value.kind == kind


def test_requests_carry_the_seed_settings_and_the_json_schema(openai_server):
    server = openai_server(lambda path, body: chat_reply('{"score": 0.85, "reasoning": "정확함"}', 321, 17))
    judge = JudgeResource(base_url=server.base_url)
    [verdict] = judge.judge([QUESTION])

    assert (verdict.score, verdict.reasoning, verdict.error) == (0.85, "정확함", None)
    assert (verdict.tokens_in, verdict.tokens_out) == (321, 17) and verdict.latency_ms > 0
    [body] = server.chat_requests()
    assert body["model"] == "qwen3-judge" and body["temperature"] == 0.1 and body["max_tokens"] == 200
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["score", "reasoning"]
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "**질문**: EKS Auto Mode와 Karpenter의 차이점은?" in body["messages"][0]["content"]
    assert judge.prompt_version == prompt_version(SEED_JUDGE_PROMPT)


def test_an_out_of_range_score_is_an_error_for_that_trace_only(openai_server):
    replies = iter(['{"score": 0.9, "reasoning": "a"}', '{"score": 9, "reasoning": "b"}'])
    server = openai_server(lambda path, body: chat_reply(next(replies)))
    verdicts = JudgeResource(base_url=server.base_url, max_concurrency=1).judge([QUESTION, QUESTION])
    assert [v.score for v in verdicts] == [0.9, None]
    assert verdicts[1].error_kind == "score_out_of_range" and "9" in verdicts[1].error


def arrival_gaps(script):
    """`script`, also recording when each request arrived; and the seconds between arrivals."""
    arrivals = []

    def timed(path, body):
        arrivals.append(time.monotonic())
        return script(path, body)

    return timed, lambda: [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]


def once_then_a_verdict(first: Reply):
    attempts = itertools.count()
    return lambda path, body: first if next(attempts) == 0 else chat_reply('{"score": 0.6, "reasoning": "fine"}')


# The first retry's own backoff is 0.375-0.5 s (0.5 s less up to 25% jitter): every wait asked
# for below is longer, so a client that ignored it would retry sooner than the bound asserted.
@pytest.mark.parametrize(
    "status, header, at_least_s",
    [
        (429, {"retry_after": "1"}, 0.95),
        (503, {"retry_after": "1.2"}, 1.15),
        (429, {"retry_after_ms": "1100"}, 1.05),
        # an HTTP-date has whole seconds: two seconds ahead is a wait of more than one
        (503, {"retry_after": lambda: email.utils.formatdate(time.time() + 2, usegmt=True)}, 0.95),
    ],
)
def test_the_server_s_retry_after_is_waited_for(openai_server, status, header, at_least_s):
    name, value = next(iter(header.items()))
    first = error_reply(status, **{name: value() if callable(value) else value})
    script, gaps = arrival_gaps(once_then_a_verdict(first))
    server = openai_server(script)
    [verdict] = JudgeResource(base_url=server.base_url).judge([QUESTION])
    assert verdict.score == 0.6 and len(server.chat_requests()) == 2
    [gap] = gaps()
    assert gap >= at_least_s, f"retried {gap:.2f} s after the reply, though it asked for {value}"


def test_a_retry_after_beyond_a_minute_is_not_waited_for(openai_server):
    script, gaps = arrival_gaps(once_then_a_verdict(error_reply(429, retry_after="75")))
    server = openai_server(script)
    [verdict] = JudgeResource(base_url=server.base_url).judge([QUESTION])
    assert verdict.score == 0.6
    [gap] = gaps()
    assert gap < 30, "a 75 s Retry-After was honoured: the 60 s cap is gone"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(openai_server, status):
    server = openai_server(once_then_a_verdict(error_reply(status)))
    [verdict] = JudgeResource(base_url=server.base_url, max_retries=1).judge([QUESTION])
    assert verdict.score == 0.6 and len(server.chat_requests()) == 2


def test_server_errors_and_timeouts_are_retried(openai_server):
    attempts = itertools.count()

    def script(path, body):
        attempt = next(attempts)
        if attempt == 0:
            return error_reply(500)
        if attempt == 1:
            return Reply(delay_s=1.0, body={})  # longer than the request timeout
        if attempt == 2:
            return Reply(drop_connection=True)
        return chat_reply('{"score": 0.3, "reasoning": "weak"}')

    server = openai_server(script)
    [verdict] = JudgeResource(base_url=server.base_url, request_timeout_s=0.3, max_retries=4).judge([QUESTION])
    assert verdict.score == 0.3 and len(server.chat_requests()) == 4


def test_exhausted_retries_give_an_error_and_the_other_traces_keep_their_scores(openai_server):
    def script(path, body):
        if "broken" in body["messages"][0]["content"]:
            return error_reply(503)
        return chat_reply('{"score": 0.8, "reasoning": "good"}')

    server = openai_server(script)
    requests = [QUESTION, JudgeRequest("broken question", "x"), QUESTION]
    verdicts = JudgeResource(base_url=server.base_url, max_retries=1).judge(requests)
    assert [v.score for v in verdicts] == [0.8, None, 0.8]
    assert verdicts[1].error_kind == "http_503" and "after retries" in verdicts[1].error
    broken = [b for b in server.chat_requests() if "broken" in b["messages"][0]["content"]]
    assert len(broken) == 2


@pytest.mark.parametrize(
    "reply, kind, says",
    [(Reply(delay_s=1.0, body={}), "timeout", "no reply within 0.3 s"), (Reply(drop_connection=True), "connection_error", "")],
)
def test_retries_exhausted_on_a_timeout_or_a_dropped_connection_name_their_kind(openai_server, reply, kind, says):
    server = openai_server(lambda path, body: reply)
    [verdict] = JudgeResource(base_url=server.base_url, request_timeout_s=0.3, max_retries=1).judge([QUESTION])
    assert (verdict.score, verdict.error_kind) == (None, kind)
    assert verdict.error.startswith(f"{kind}: ") and says in verdict.error and "after retries: 2 attempts" in verdict.error
    assert len(server.chat_requests()) == 2


def test_the_api_key_is_sent_as_a_bearer_token_and_nothing_when_there_is_none(openai_server):
    server = openai_server(lambda path, body: chat_reply('{"score": 0.5, "reasoning": "r"}'))
    JudgeResource(base_url=server.base_url, api_key="sk-fleet-token").judge([QUESTION])
    JudgeResource(base_url=server.base_url).judge([QUESTION])
    with_key, without_key = server.headers
    assert with_key["authorization"] == "Bearer sk-fleet-token"
    assert "authorization" not in without_key


def test_a_request_the_endpoint_rejects_is_not_retried(openai_server):
    server = openai_server(lambda path, body: error_reply(400))
    [verdict] = JudgeResource(base_url=server.base_url, max_retries=4).judge([QUESTION])
    assert verdict.score is None and verdict.error_kind == "http_400" and "status 400" in verdict.error
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize(
    "body, kind",
    [("<html>502 Bad Gateway</html>", "unparseable_reply"), ("[1, 2]", "unparseable_reply"),
     ({"choices": []}, "empty_response"), ({"choices": [{"message": None}], "usage": "lots"}, "empty_response")],
)
def test_a_garbage_reply_is_that_traces_error(openai_server, body, kind):
    server = openai_server(lambda path, request: Reply(body=body))
    [verdict] = JudgeResource(base_url=server.base_url).judge([QUESTION])
    assert (verdict.score, verdict.error_kind) == (None, kind) and verdict.error


def test_concurrency_is_bounded(openai_server):
    in_flight, peak = [0], [0]
    lock = threading.Lock()

    def script(path, body):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1
        return chat_reply(json.dumps({"score": 0.5, "reasoning": "r"}))

    server = openai_server(script)
    progress = []
    verdicts = JudgeResource(base_url=server.base_url, max_concurrency=4).judge(
        [QUESTION] * 20, on_progress=lambda done, total: progress.append((done, total))
    )
    assert all(v.score == 0.5 for v in verdicts)
    assert peak[0] == 4
    assert progress[-1] == (20, 20)
