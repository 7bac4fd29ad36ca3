"""Scripted models for the LLM planner: pydantic-ai's FunctionModel answering with a chosen plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import job, manifest, offer


def answer_model(answer: dict[str, Any] | Callable[[str], dict[str, Any]], calls: list[str] | None = None):
    """A FunctionModel whose structured output is ``answer`` (or ``answer(prompt)``)."""
    from pydantic_ai.messages import ModelResponse, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def fn(messages, info):
        prompt = "".join(getattr(p, "content", "") for m in messages for p in m.parts if isinstance(
            getattr(p, "content", None), str))
        if calls is not None:
            calls.append(prompt)
        body = answer(prompt) if callable(answer) else answer
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, json.dumps(body))])

    return FunctionModel(fn, model_name="scripted")


def placements(*rows: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    out = []
    for r in rows:
        p = {"jobId": r[0], "offerId": r[1], "rationale": "test"}
        if len(r) > 2:
            p["startTime"] = r[2]
        out.append(p)
    return {"placements": out}


@pytest.fixture
def chain():
    """a → b; spot is cheap, on-demand dear; a pool 'cap1' with capacity 1."""
    offers = [offer("spot", "spot", 0.3, lam=0.01), offer("od", "on-demand", 1.0),
              offer("euod", "on-demand", 1.2, region="eu-west-1")]
    return manifest([job("a", 1.0), job("b", 2.0, ["a"])], offers)
