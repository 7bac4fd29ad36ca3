"""A fake Gemini endpoint on 127.0.0.1 for the fault matrix (never a real LLM).

The ``pydanticai`` connection's host points the Gemini client here; the model name in the URL
(``/v1beta/models/<model>:generateContent``, chosen per DAG by ``ai_scheduler_llm_model``) picks the
behaviour. Every request's prompt is kept, so a test can compare it with the stored exchange.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 10.0
_JOB_LINE = re.compile(r'^("(?:[^"\\]|\\.)*") \| ')
#: what the fake answers with a valid plan chose: the deployment's on-demand fleet
FLEET = "local-on-demand"
RATIONALE = "<img src=x onerror=alert(1)> steady on-demand"


def job_ids(prompt: str) -> list[str]:
    """The jobIds of the prompt's job table (between the DATA markers, before the docs)."""
    block = prompt.split("<<<DATA:", 1)[1].split("<<<END DATA>>>", 1)[0].split("Job docs (data):")[0]
    return [json.loads(m.group(1)) for line in block.splitlines() if (m := _JOB_LINE.match(line))]


def _gemini(args: dict[str, Any]) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "final_result",
                                                                                 "args": args}}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 321, "candidatesTokenCount": 42, "totalTokenCount": 363}}


def answer(model: str, prompt: str) -> tuple[int, Any, float]:
    """(HTTP status, JSON body or raw text, delay in seconds) for a scenario."""
    jobs = job_ids(prompt)
    good = [{"jobId": j, "offerId": FLEET, "rationale": RATIONALE} for j in jobs]
    if model == "scenario-500":
        return 500, {"error": {"code": 500, "message": "simulated INTERNAL", "status": "INTERNAL"}}, 0.0
    if model == "scenario-garbage":
        return 200, "<html>this is not the JSON you are looking for", 0.0
    if model == "scenario-ghost-job":
        return 200, _gemini({"placements": [*good, {"jobId": "ghost_task", "offerId": FLEET, "rationale": "?"}]}), 0.0
    if model == "scenario-ghost-offer":  # the last job on an offer that does not exist
        return 200, _gemini({"placements": [*good[:-1], {**good[-1], "offerId": "aws-p5-48xlarge-made-up"}]}), 0.0
    if model == "scenario-slow":
        return 200, _gemini({"placements": good}), SLOW_SECONDS
    return 200, _gemini({"placements": good}), 0.0


@dataclass
class FakeLLM:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                model = self.path.split("/models/", 1)[-1].split(":", 1)[0]
                prompt = "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))
                fake.requests.append({"model": model, "prompt": prompt, "at": time.time(),
                                      "key": self.headers.get("x-goog-api-key")})
                status, out, delay = answer(model, prompt)
                if delay:
                    time.sleep(delay)
                raw = out.encode() if isinstance(out, str) else json.dumps(out).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html" if isinstance(out, str) else "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the slow scenario)

            def log_message(self, *args: Any) -> None:
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return None

        self._server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="fake-llm", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def prompts(self, model: str) -> list[str]:
        return [r["prompt"] for r in self.requests if r["model"] == model]
