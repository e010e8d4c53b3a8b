"""Judge client saturation: the seed's ThreadPoolExecutor(50) with the synchronous openai client
against our JudgeResource (asyncio, bounded concurrency), on a loopback OpenAI-compatible server
(its own process) that answers after a fixed latency with at most C requests in service at once
(the rest queue, as in vLLM's batch).

    python bench/judge_client.py --latency-ms 200 --capacity 1024

Prints achieved requests/s against the theoretical min(concurrency, C) / latency, and the
client's CPU seconds per request.
"""

import trace_assets  # noqa: F401  (first: it picks Arrow's allocator before pyarrow loads, as in a step process)

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from loopback_fleet import running_fleet  # noqa: E402


def seed_way(base_url: str, requests: int, workers: int) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)

    def judge(_):
        response = client.chat.completions.create(
            model="qwen3-judge", messages=[{"role": "user", "content": "question and answer"}], temperature=0.1, max_tokens=200
        )
        return json.loads(response.choices[0].message.content)["score"]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(judge, range(requests)))


def our_way(base_url: str, requests: int, concurrency: int) -> None:
    from trace_assets.resources.judge import JudgeRequest, JudgeResource

    verdicts = JudgeResource(base_url=base_url, max_concurrency=concurrency, max_retries=0).judge(
        [JudgeRequest("question", "answer")] * requests
    )
    failed = [v.error for v in verdicts if v.error]
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed, e.g. {failed[0]}")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    import os

    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(function, server_pid: int, *args) -> tuple[float, float, float]:
    """Wall seconds, this process's CPU seconds, the server's CPU seconds."""
    wall, cpu, server = time.perf_counter(), time.process_time(), process_cpu_seconds(server_pid)
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, process_cpu_seconds(server_pid) - server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--capacity", type=int, default=1024, help="requests the server serves at once")
    parser.add_argument("--seconds", type=float, default=8, help="target length of each measurement")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    with running_fleet(latency, args.capacity) as (server, base_url):
        import openai  # noqa: F401

        import trace_assets.resources.judge  # noqa: F401  (imports are not measured)

        print(f"judge client benchmark: latency {args.latency_ms:.0f} ms, server capacity {args.capacity}")
        print(f"  {'client':<32}{'requests':>9}{'req/s':>9}{'theory':>8}{'achieved':>10}{'CPU ms/req':>12}{'server CPU':>12}")
        runs = [("seed: ThreadPoolExecutor(50)", seed_way, 50), ("ours: JudgeResource(50)", our_way, 50),
                ("ours: JudgeResource(256)", our_way, 256)]
        for label, function, concurrency in runs:
            theoretical = min(concurrency, args.capacity) / latency
            requests = int(theoretical * args.seconds)
            function(base_url, min(requests, concurrency * 2), concurrency)  # warm up connections
            wall, cpu, server_cpu = timed(function, server.pid, base_url, requests, concurrency)
            rate = requests / wall
            print(f"  {label:<32}{requests:>9}{rate:>9.0f}{theoretical:>8.0f}{rate / theoretical:>9.0%}"
                  f"{cpu / requests * 1000:>12.2f}{server_cpu / wall:>11.0%}")
        print("  (server CPU: the loopback server's share of one core; near 100% it, not the client, is the limit)")


if __name__ == "__main__":
    main()
