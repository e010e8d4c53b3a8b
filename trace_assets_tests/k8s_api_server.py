"""A Kubernetes API server on loopback that answers the one call a K8sRunLauncher makes to launch a
run, `POST /apis/batch/v1/namespaces/{namespace}/jobs` (batch/v1 createNamespacedJob: 201 with
the created Job), and keeps every Job it was sent, so a test sees the run pod exactly as
dagster-k8s built it. Anything else is answered 404 with a Kubernetes Status, as a real server
answers an unknown path."""

import json
import re
import tempfile
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

_CREATE_JOB = re.compile(r"^/apis/batch/v1/namespaces/([a-z0-9-]+)/jobs$")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (the http.server hook name)
        match = _CREATE_JOB.match(self.path.split("?", 1)[0])
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not match or body.get("kind") != "Job":
            return self._answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "NotFound", "code": 404, "message": f"no route {self.path}"})
        body.setdefault("metadata", {})["namespace"] = match.group(1)
        self.server.jobs.append(body)
        self._answer(201, body)

    def do_GET(self):  # noqa: N802
        self._answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def kubernetes_api():
    """Yields (kubeconfig_path, jobs): a kubeconfig pointing at the server, and the list of Job
    bodies it has received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.jobs = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory() as folder:
        kubeconfig = Path(folder) / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "loopback",
            "clusters": [{"name": "loopback", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": "tester"}}],
        }))
        try:
            yield str(kubeconfig), server.jobs
        finally:
            server.shutdown()
            server.server_close()
