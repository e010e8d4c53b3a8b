"""A stand-in for the judge fleet in its own process: an aiohttp server speaking the OpenAI chat
(and embeddings) API on loopback, answering after a fixed latency with at most `capacity`
requests in service at once (the rest queue, as in vLLM's batch). Judge prompts get a verdict;
with `ragas=True`, ragas' prompts get answers of the shape they ask for."""

import asyncio
import contextlib
import json
import multiprocessing
import signal
import socket
import time
from collections.abc import Iterator

VERDICT = json.dumps({"score": 0.8, "reasoning": "benchmark"})
JUDGE_REPLY = {
    "id": "bench", "object": "chat.completion", "created": 0, "model": "qwen3-judge",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": VERDICT}}],
    "usage": {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
}


def _serve(port: int, latency_s: float, capacity: int, ragas: bool) -> None:
    # A process started in the background (nohup, CI runners) ignores SIGINT, Dagster then copies
    # that onto SIGTERM, and a child inherits both: take the default back so terminate() works.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
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
        await serve_forever(app, port, backlog=4096)

    asyncio.run(main())


async def serve_forever(app, port: int, backlog: int = 128) -> None:
    """Serves the aiohttp `app` on loopback `port` until the process is stopped."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=backlog).start()
    await asyncio.Event().wait()


@contextlib.contextmanager
def running_fleet(latency_s: float, capacity: int = 100_000, ragas: bool = False) -> Iterator[tuple[multiprocessing.Process, str]]:
    """The server process and its OpenAI base URL; the process is stopped on leaving, however
    the block ends and whatever signal dispositions this process inherited."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = multiprocessing.Process(target=_serve, args=(port, latency_s, capacity, ragas), daemon=True)
    server.start()
    try:
        wait_until_listening(port, server)
        yield server, f"http://127.0.0.1:{port}/v1"
    finally:
        stop(server)


def stop(process: multiprocessing.Process, grace_s: float = 5) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `grace_s`: a SIGTERM can be
    ignored (an inherited disposition), a SIGKILL cannot, and multiprocessing joins daemonic
    children at exit, so one that outlives terminate() would hang the script."""
    process.terminate()
    process.join(grace_s)
    if process.is_alive():
        process.kill()
        process.join()


def wait_until_listening(port: int, server: multiprocessing.Process, timeout_s: float = 30, name: str = "the loopback fleet") -> None:
    """Returns once `server` (a child process) accepts connections on `port`; raises if it exits first or never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise RuntimeError(f"{name} exited with code {server.exitcode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout_s:.0f} s")
