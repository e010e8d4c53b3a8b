"""A stand-in for the judge fleet in its own process: an aiohttp server speaking the OpenAI chat
(and embeddings) API on loopback, answering after a fixed latency with at most `capacity`
requests in service at once (the rest queue, as in vLLM's batch). Judge prompts get a verdict;
with `ragas=True`, ragas' prompts get answers of the shape they ask for."""

import asyncio
import json
import multiprocessing
import socket
import time

VERDICT = json.dumps({"score": 0.8, "reasoning": "benchmark"})
JUDGE_REPLY = {
    "id": "bench", "object": "chat.completion", "created": 0, "model": "qwen3-judge",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": VERDICT}}],
    "usage": {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
}


def _serve(port: int, latency_s: float, capacity: int, ragas: bool) -> None:
    from aiohttp import web

    from trace_assets_tests.ragas_server import RagasScript

    script = RagasScript()

    async def main() -> None:
        slots = asyncio.Semaphore(capacity)

        async def answer(request: web.Request) -> web.Response:
            body = await request.json()
            async with slots:
                await asyncio.sleep(latency_s)
            if ragas and (request.path.endswith("/embeddings") or body["messages"][0]["role"] == "system"):
                return web.json_response(script(request.path, body).body)
            return web.json_response(JUDGE_REPLY)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        app.router.add_post("/v1/embeddings", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        await asyncio.Event().wait()

    asyncio.run(main())


def start_fleet(latency_s: float, capacity: int = 100_000, ragas: bool = False) -> tuple[multiprocessing.Process, str]:
    """The server process (terminate it when done) and its OpenAI base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = multiprocessing.Process(target=_serve, args=(port, latency_s, capacity, ragas), daemon=True)
    server.start()
    time.sleep(1.5)
    return server, f"http://127.0.0.1:{port}/v1"
