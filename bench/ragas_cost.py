"""Ragas cost per trace: LLM calls, embedding calls and prompt size for the three metrics as
configured (faithfulness, answer_relevancy with strictness 3, context_precision without
reference), counted on a scripted loopback server; and what score reuse saves when a day is
rerun with 5% new traces.

    python bench/ragas_cost.py --traces 40 --contexts 3
"""

import argparse
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from trace_assets.resources.ragas_scorer import RagasRequest, RagasResource
from trace_assets.scoring.scoring_plan import plan_scoring
from trace_assets_tests.openai_server import OpenAIServer
from trace_assets_tests.ragas_server import RagasScript

CONTEXTS = [
    "Karpenter is an open-source node autoscaler that launches right-sized EC2 instances. " * 6,
    "EKS Auto Mode extends AWS management to the data plane, operating Karpenter for you. " * 6,
    "NodePool resources describe the capacity Karpenter may launch and how to disrupt it. " * 6,
]


def traces(count: int, contexts: int, start: int = 0) -> pa.Table:
    day = datetime(2026, 4, 18, tzinfo=timezone.utc)
    return pa.table({
        "id": [f"trace-{i}" for i in range(start, start + count)],
        "timestamp": [day + timedelta(seconds=i) for i in range(start, start + count)],
        "input": ["What is the difference between EKS Auto Mode and Karpenter?"] * count,
        "output": [f"EKS Auto Mode is fully managed; with Karpenter you operate the autoscaler yourself. ({i})"
                   for i in range(start, start + count)],
        "contexts": [CONTEXTS[:contexts]] * count,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=40)
    parser.add_argument("--contexts", type=int, default=3)
    args = parser.parse_args()
    server = OpenAIServer(RagasScript())
    ragas = RagasResource(llm_base_url=server.base_url, embeddings_base_url=server.base_url, max_retries=0)
    day = traces(args.traces, args.contexts)
    requests = [RagasRequest(t["input"], t["output"], t["contexts"]) for t in day.to_pylist()]
    ragas.evaluate(requests)
    chats = [body for path, body in server.requests if path.endswith("/chat/completions")]
    embeds = [body for path, body in server.requests if path.endswith("/embeddings")]
    prompt_chars = sum(len(m["content"]) for body in chats for m in body["messages"])
    print(f"ragas cost, {args.traces} traces with {args.contexts} contexts each (strictness {ragas.strictness}, ragas' default)")
    print(f"  LLM calls per trace:        {len(chats) / args.traces:.1f} (2 faithfulness + {ragas.strictness} answer relevancy + {args.contexts} context precision)")
    print(f"  embedding calls per trace:  {len(embeds) / args.traces:.1f}")
    print(f"  prompt characters per trace: {prompt_chars / args.traces:,.0f} (about {prompt_chars / args.traces / 4:,.0f} tokens at 4 characters a token)")
    print(f"  prompt characters per call:  {prompt_chars / len(chats):,.0f} (ragas' instructions and few-shot examples dominate)")

    first_calls = len(server.requests)
    stored = pa.Table.from_pylist([
        {"trace_id": t["id"], "content_hash": h, "error": None, "scorer": ragas.scorer, "llm_model": ragas.llm_model,
         "embeddings_model": ragas.embeddings_model, "scorer_version": ragas.scorer_version}
        for t, h in zip(day.to_pylist(), plan_scoring(day, None, {}).hashes.to_pylist())
    ])
    new = max(1, args.traces // 20)
    rerun_day = pa.concat_tables([day.slice(0, args.traces - new), traces(new, args.contexts, start=10_000)])
    identity = {"scorer": ragas.scorer, "llm_model": ragas.llm_model, "embeddings_model": ragas.embeddings_model,
                "scorer_version": ragas.scorer_version}
    plan = plan_scoring(rerun_day, stored, identity)
    [fresh] = plan.fresh_traces(args.traces)
    ragas.evaluate([RagasRequest(t["input"], t["output"], t["contexts"]) for t in fresh])
    rerun_calls = len(server.requests) - first_calls
    print(f"  rerun with {new} of {args.traces} traces new ({new / args.traces:.0%}): {rerun_calls} requests "
          f"instead of {first_calls} ({rerun_calls / first_calls:.0%}); an unchanged rerun: 0")
    server.stop()


if __name__ == "__main__":
    main()
