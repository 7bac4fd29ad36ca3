"""The google-genai transport, end to end at its HTTP boundary: constructed Gemini generateContent
responses (success, 429, 500, garbage) served through httpx.MockTransport to pydantic-ai's GoogleModel."""

from __future__ import annotations

import json
import logging
import time

import httpx2 as httpx
import pytest

from airflow_ai_scheduler.exceptions import LLMPlannerError
from airflow_ai_scheduler.planning.llm import LLMPlanner
from airflow_ai_scheduler.planning.llm.client import call_model
from airflow_ai_scheduler.planning.validate import validate
from tests.planning.llm.conftest import placements

KEY = "AIzaTESTKEY-not-real-000000000000000000"  # Google key shape, so the scrubber's pattern is exercised


def gemini_ok(body: dict, name: str = "final_result") -> dict:
    """A generateContent response whose single part calls pydantic-ai's output tool."""
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": name, "args": body}}]},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 812, "candidatesTokenCount": 96, "totalTokenCount": 908},
        "modelVersion": "gemini-2.5-flash",
    }


def gemini_error(code: int, status: str) -> dict:
    return {"error": {"code": code, "message": f"simulated {status}", "status": status}}


def google_model(responses: list[tuple[int, dict]], seen: list[httpx.Request] | None = None, delay: float = 0.0):
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    queue = list(responses)

    async def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(status, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=60)
    return GoogleModel("gemini-2.5-flash", provider=GoogleProvider(api_key=KEY, http_client=client))


def test_good_answer_over_gemini_http_is_accepted_with_usage(chain, caplog):
    seen: list[httpx.Request] = []
    planner = LLMPlanner(google_model([(200, gemini_ok(placements(("a", "spot"), ("b", "spot"))))], seen))
    with caplog.at_level(logging.DEBUG):
        plan = planner.plan(chain)
    ex = planner.last_exchange
    assert plan.status == "accepted" and not validate(chain, plan, chain.offers)
    assert {p.offer_id for p in plan.placements} == {"spot"}
    assert (ex.input_tokens, ex.output_tokens) == (812, 96)
    assert "generateContent" in str(seen[0].url)
    sent = json.dumps(json.loads(seen[0].content))
    assert "# Jobs (topological order)" in sent and "final_result" in sent  # prompt and output schema went out
    # the key travels only in the request header, never in what we store or log
    assert seen[0].headers.get("x-goog-api-key") == KEY
    blob = ex.model_dump_json() + plan.model_dump_json() + caplog.text
    assert KEY not in blob


def test_429_then_success_is_retried(chain):
    seen: list[httpx.Request] = []
    model = google_model([(429, gemini_error(429, "RESOURCE_EXHAUSTED")),
                          (200, gemini_ok(placements(("a", "spot"), ("b", "od"))))], seen)
    planner = LLMPlanner(model, backoff_seconds=0.01)
    plan = planner.plan(chain)
    assert plan.status == "accepted" and len(seen) == 2 and planner.last_exchange.attempts == 2


@pytest.mark.parametrize("status,name", [pytest.param(500, "INTERNAL", id="500"),
                                         pytest.param(503, "UNAVAILABLE", id="503")])
def test_persistent_5xx_falls_back_after_retries(chain, status, name, caplog):
    seen: list[httpx.Request] = []
    planner = LLMPlanner(google_model([(status, gemini_error(status, name))], seen), retries=2, backoff_seconds=0.01)
    with caplog.at_level(logging.WARNING):
        plan = planner.plan(chain)
    assert plan.status == "fallback" and not validate(chain, plan, chain.offers)
    assert len(seen) == 3
    assert f"HTTP {status}" in planner.last_exchange.reason
    assert KEY not in caplog.text + planner.last_exchange.model_dump_json()


def test_400_is_not_retried(chain):
    seen: list[httpx.Request] = []
    planner = LLMPlanner(google_model([(400, gemini_error(400, "INVALID_ARGUMENT"))], seen), backoff_seconds=0.01)
    assert planner.plan(chain).status == "fallback" and len(seen) == 1


def test_schema_invalid_output_falls_back(chain):
    bad = {"placements": [{"job": "a"}]}  # no jobId/offerId: pydantic rejects it, the agent's retry too
    planner = LLMPlanner(google_model([(200, gemini_ok(bad))]))
    plan = planner.plan(chain)
    assert plan.status == "fallback" and not validate(chain, plan, chain.offers)


def test_slow_server_times_out_within_margin(chain):
    model = google_model([(200, gemini_ok(placements(("a", "spot"), ("b", "spot"))))], delay=5.0)
    t0 = time.perf_counter()
    with pytest.raises(LLMPlannerError, match="timeout"):
        call_model(model, "prompt", timeout_seconds=0.5)
    assert time.perf_counter() - t0 < 0.5 + 0.5


def test_a_timeout_after_failed_attempts_names_the_last_error(chain):
    # retries of a 500 whose backoff runs past the timeout: the reason says why it kept retrying
    model = google_model([(500, gemini_error(500, "INTERNAL"))])
    with pytest.raises(LLMPlannerError, match=r"timeout: .*\(\d attempt\(s\); the last failed with HTTP 500\)"):
        call_model(model, "prompt", timeout_seconds=0.5, retries=2, backoff_seconds=2.0)
