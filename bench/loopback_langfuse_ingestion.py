"""A stand-in for Langfuse's batch ingestion endpoint in its own process: an aiohttp server on
loopback answering `POST /api/public/ingestion` as Langfuse does (Basic auth, 207 with a success
per event id), counting the score events it took by name without keeping them; `GET
/bench/stats` says what it took."""

import asyncio
import base64
import contextlib
import json
import multiprocessing
import signal
import socket
import urllib.request
from collections import Counter
from collections.abc import Iterator

from loopback_fleet import serve_forever, stop, wait_until_listening

PUBLIC_KEY, SECRET_KEY = "pk-lf-bench", "sk-lf-bench"


def _serve(port: int) -> None:
    # Take the default dispositions back: a background run's ignored SIGTERM would defeat stop().
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from aiohttp import web

    expected = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    taken: Counter = Counter()
    stats = {"requests": 0, "bytes": 0}

    async def ingestion(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.json_response({"message": "Invalid credentials"}, status=401)
        body = await request.read()
        stats["requests"] += 1
        stats["bytes"] += len(body)
        events = json.loads(body)["batch"]
        taken.update(event["body"]["name"] for event in events if event.get("type") == "score-create")
        return web.json_response({"successes": [{"id": event["id"], "status": 201} for event in events], "errors": []}, status=207)

    async def bench_stats(request: web.Request) -> web.Response:
        return web.json_response({**stats, "scores_by_name": dict(taken)})

    async def main() -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/api/public/ingestion", ingestion)
        app.router.add_get("/bench/stats", bench_stats)
        await serve_forever(app, port)

    asyncio.run(main())


@contextlib.contextmanager
def running_ingestion() -> Iterator[str]:
    """The server's base URL (LANGFUSE_HOST); the process is stopped on leaving."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        wait_until_listening(port, server, 60, "the loopback ingestion endpoint")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def ingestion_stats(host: str) -> dict:
    with urllib.request.urlopen(f"{host}/bench/stats", timeout=30) as answer:
        return json.loads(answer.read())
