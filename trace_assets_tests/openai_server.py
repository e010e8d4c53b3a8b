"""A real HTTP server on loopback that speaks the OpenAI API, answered by a test's script."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: dict | str | None = None
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0
    drop_connection: bool = False


def chat_reply(content: str, prompt_tokens: int = 120, completion_tokens: int = 30) -> Reply:
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "qwen3-judge",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def error_reply(status: int, **headers) -> Reply:
    return Reply(status=status, body={"error": {"message": f"status {status}", "type": "test"}}, headers=headers)


class OpenAIServer:
    """`script(path, body) -> Reply` answers each POST; every request is recorded in `requests`,
    its headers in `headers` (same order)."""

    def __init__(self, script: Callable[[str, dict], Reply]):
        self.script = script
        self.requests: list[tuple[str, dict]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    server.requests.append((self.path, body))
                    server.headers.append({name.lower(): value for name, value in self.headers.items()})
                reply = server.script(self.path, body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop_connection:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name.replace("_", "-"), str(value))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def chat_requests(self) -> list[dict]:
        with self._lock:
            return [body for path, body in self.requests if path.endswith("/chat/completions")]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
